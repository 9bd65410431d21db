"""Image parameterisations: the Fourier image of a known spectrum, the colour matrix against
ImageNet's colour statistics, and seeded initialisation."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from neuronscope.errors import NeuronscopeError
from neuronscope.optvis import param as P

SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "imagenet-sample"


def test_fourier_image_of_a_single_frequency_is_the_analytic_cosine():
    h, w, ky, kx, amp = 12, 10, 2, 3, 0.3
    p = P.FourierImage((h, w), seeds=[0], decorrelate=False, output="clamp")
    with torch.no_grad():
        p.spectrum.zero_()
        p.spectrum[0, :, ky, kx, 0] = amp  # real part of one coefficient, in every channel
    # inverse orthonormal 2-D DFT of a coefficient c and its Hermitian mirror: 2c/sqrt(hw) cos(...)
    f = np.hypot(ky / h, kx / w)
    m, n = np.mgrid[0:h, 0:w]
    expected = (amp / f) * 2 / np.sqrt(h * w) * np.cos(2 * np.pi * (ky * m / h + kx * n / w)) / 4
    image = p().detach().numpy()[0]
    assert np.abs(expected).max() < 0.4  # stays inside the clamp around the mean colour
    for c, mean in enumerate(P.COLOR_MEAN):
        assert np.allclose(image[c], expected + mean, atol=1e-5)


def test_spectrum_scale_is_one_over_frequency():
    s = P.spectrum_scale(16, 8).numpy()
    assert s.shape == (16, 5)
    assert np.isclose(s[0, 0], 16)  # DC: frequency floored at 1/max(h, w)
    assert np.isclose(s[0, 3], 8 / 3) and np.isclose(s[4, 0], 4) and np.isclose(s[12, 0], 4)  # 12 = -4 / 16
    assert np.isclose(P.spectrum_scale(16, 8, decay_power=2).numpy()[4, 2], 1 / (0.25 ** 2 + 0.25 ** 2))


def test_colour_matrix_is_the_square_root_of_imagenet_colour_covariance():
    m = P.color_matrix().double().numpy()
    assert np.isclose(np.linalg.norm(m, axis=0).max(), 1)
    cols = m / np.linalg.norm(m, axis=0)
    # U sqrt(S) has orthogonal columns; the published digits are rounded to 0.01, which leaves a
    # cosine of 0.11 between the two short columns (norms 0.13 and 0.06)
    assert np.abs(cols.T @ cols - np.eye(3)).max() < 0.15
    files = sorted(SAMPLE.glob("*.jpg"))[::10]
    if not files:
        pytest.skip("shared ImageNet sample not available")
    pixels = np.concatenate([np.asarray(Image.open(f).convert("RGB").resize((32, 32)), dtype=np.float64).reshape(-1, 3)
                             for f in files]) / 255
    cov = np.cov(pixels.T)
    # measured: max difference 0.005 for these 100 images; swapping red and blue gives 0.027,
    # using the transposed matrix 0.64
    assert np.abs(cov / np.linalg.norm(cov) - m @ m.T / np.linalg.norm(m @ m.T)).max() < 0.015


def test_decorrelated_colours_map_back_to_rgb():
    target = torch.rand(1, 3, 4, 4, generator=torch.Generator().manual_seed(0)) * 0.8 + 0.1
    inverse = np.linalg.inv(P.color_matrix().double().numpy())
    logits = np.log(target.double().numpy() / (1 - target.double().numpy()))
    p = P.PixelImage(4, seeds=[0])
    with torch.no_grad():
        p.pixels.copy_(torch.from_numpy(np.einsum("ij,njhw->nihw", inverse, logits)))
    assert torch.allclose(p(), target, atol=1e-5)


@pytest.mark.parametrize("kind", ["fourier", "pixel"])
def test_seeded_initialisation(kind):
    a = P.make_param(kind, 16, seeds=[5, 7])()
    assert a.shape == (2, 3, 16, 16) and 0 <= a.min() and a.max() <= 1
    assert torch.equal(a, P.make_param(kind, 16, seeds=[5, 7])())
    assert torch.equal(a[1], P.make_param(kind, 16, seeds=[7])()[0])  # image i depends only on seeds[i]
    assert not torch.equal(a[0], a[1])


def test_outputs_at_zero_and_bad_names():
    p = P.PixelImage(3, seeds=[0, 1], output="sigmoid")
    with torch.no_grad():
        p.pixels.zero_()
    assert torch.allclose(p(), torch.full((2, 3, 3, 3), 0.5))
    q = P.PixelImage(3, seeds=[0], output="clamp")
    with torch.no_grad():
        q.pixels.zero_()
    assert torch.allclose(q()[0, :, 1, 1], torch.tensor(P.COLOR_MEAN))
    with pytest.raises(NeuronscopeError):
        P.PixelImage(3, seeds=[0], output="tanh")
    with pytest.raises(NeuronscopeError):
        P.make_param("wavelet", 8, seeds=[0])
