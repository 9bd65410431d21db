"""Optimising only what the objective sees: the receptive-field window gives the same values,
gradients and renders as the whole image; fixed-size models get their one input size."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import neuronscope as ns
from neuronscope.errors import NeuronscopeError
from neuronscope.optvis import visualize
from neuronscope.optvis.crop import FieldCrop

LAYER = "block6_expand"


@pytest.mark.parametrize("size", [121, 128, 137, 143, 150, 159])
def test_window_gives_the_whole_images_value_and_gradient(effnet, size):
    crop = FieldCrop(effnet, {LAYER: [None, (3, 4)]})
    window = crop.window(size, size)
    assert window is not None and (window.y1 - window.y0) * (window.x1 - window.x0) < 0.9 * size * size  # a saving
    x = torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(size), requires_grad=True)
    whole = effnet.capture(x, [LAYER], pre_relu=True)[LAYER]
    part = window.place(effnet.capture(window.crop(x), [LAYER], pre_relu=True))[LAYER]
    assert part.shape == whole.shape
    g = whole.shape[-1]
    for y, xx in [((g - 1) // 2, (g - 1) // 2), (3, 4)]:
        torch.testing.assert_close(part[:, 7, y, xx], whole[:, 7, y, xx], rtol=1e-4, atol=1e-4)
        (gw,) = torch.autograd.grad(whole[:, 7, y, xx].sum(), x, retain_graph=True)
        (gp,) = torch.autograd.grad(part[:, 7, y, xx].sum(), x, retain_graph=True)
        torch.testing.assert_close(gp, gw, rtol=1e-3, atol=1e-5)
        outside = torch.ones_like(gw)
        outside[..., window.y0:window.y1, window.x0:window.x1] = 0
        assert (gw * outside).abs().sum() == 0  # the whole image's gradient lies inside the window


@pytest.fixture()
def one_thread():
    """With several threads a convolution's rounding can depend on the batch size, and Adam's
    normalised first steps amplify rounding; one thread makes batch and single runs comparable."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_cropped_render_equals_uncropped_and_batched_equals_single(effnet, one_thread):
    ids = [f"{LAYER}:309", f"{LAYER}:115@2,5"]
    kwargs = {"steps": 6, "size": 112, "progress": False}
    cropped = visualize(effnet, ids, **kwargs)
    torch.testing.assert_close(cropped, visualize(effnet, ids, crop=False, **kwargs), rtol=0, atol=2e-4)
    for i, n in enumerate(ids):
        torch.testing.assert_close(cropped[i], visualize(effnet, n, **kwargs)[0], rtol=0, atol=2e-4)


class FixedSize(nn.Module):
    """A model that, like a ViT with fixed position embeddings, accepts 32 x 32 inputs only."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x):
        if tuple(x.shape[-2:]) != (32, 32):
            raise NeuronscopeError(f"input must be 32 x 32, got {tuple(x.shape[-2:])}")
        return self.conv(x)


def test_fixed_size_resizes_every_transformed_image_back():
    model = ns.wrap(FixedSize(), layers=["conv"], input_size=32)
    with pytest.raises(NeuronscopeError, match="32 x 32"):
        visualize(model, "conv:1@16,16", steps=2, size=32, progress=False)  # the transforms change the size
    images = visualize(model, "conv:1@16,16", steps=4, size=48, fixed_size=32, progress=False)
    assert images.shape == (1, 3, 48, 48)
    assert not torch.allclose(images, visualize(model, "conv:1@16,16", steps=0, size=48, fixed_size=32, progress=False))


def test_transforming_only_the_window_renders_as_the_whole_image(effnet, monkeypatch):
    """Once a window is checked, each step transforms only the window's pixels; two steps render
    the same images as transforming the whole image (to float rounding, which Adam amplifies
    over many steps)."""
    from neuronscope.optvis import render
    from neuronscope.optvis import transforms as T

    regions = []
    apply = T.Planned.apply
    monkeypatch.setattr(T.Planned, "apply", lambda self, images, region=None:
                        regions.append(region) or apply(self, images, region))
    transforms = [T.Pad(6), T.RandomRotate([4.0, -6.0]), T.Jitter(3)]
    kwargs = dict(steps=3, size=112, seed=2, transforms=transforms, progress=False)
    windowed = visualize(effnet, [f"{LAYER}:7", f"{LAYER}:30"], **kwargs)
    assert any(r is not None for r in regions)
    monkeypatch.setattr(render, "TRANSFORM_WINDOW", False)
    whole = visualize(effnet, [f"{LAYER}:7", f"{LAYER}:30"], **kwargs)
    torch.testing.assert_close(windowed, whole, rtol=0, atol=1e-4)


def test_a_window_that_disagrees_with_the_whole_image_is_dropped(effnet, monkeypatch):
    """The check compares the window's targeted values with the whole image's (on the batch's
    first image: the window is the same for all); a window shifted by one stride fails it and is
    never used again, a right one passes."""
    from neuronscope.optvis import crop as C

    monkeypatch.setattr(C, "_WINDOWS", {})
    monkeypatch.setattr(C, "_CHECKED", set())
    cropper = FieldCrop(effnet, {LAYER: [None]})
    x = torch.rand(3, 3, 150, 150, generator=torch.Generator().manual_seed(9))

    def capture(images, layers):
        return effnet.capture(images, layers, pre_relu=True)

    good = cropper.window(150, 150)
    shifted = C.Window(good.y0 + 16, good.y1 + 16, good.x0, good.x1, good.pads)
    assert not cropper.check(x, shifted, capture)
    assert cropper.window(150, 150) is None and not cropper.checked(150, 150)
    C._WINDOWS.clear()
    assert cropper.check(x, cropper.window(150, 150), capture) and cropper.checked(150, 150)
