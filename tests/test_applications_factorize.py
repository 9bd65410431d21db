"""NMF of activations: recovery of known factors, NNLS against scipy, and saved groups applied to
an image used in fitting reproduce its fitted map."""

import numpy as np
import pytest
import torch
from scipy.optimize import nnls

from neuronscope.applications import factorize as FZ
from neuronscope.errors import NeuronscopeError


def _known(seed=0, n=400, c=24, k=3):
    rng = np.random.default_rng(seed)
    h = np.zeros((k, c))
    for j in range(k):  # each factor owns some channels alone (separable, so NMF is unique) and shares others
        h[j, j * 6:(j + 1) * 6] = rng.uniform(0.5, 1.5, 6)
        h[j, 18:] = rng.uniform(0, 0.5, c - 18)
    w = rng.exponential(1.0, (n, k)) * (rng.random((n, k)) < 0.5)
    w[:k] = np.eye(k) * 3  # pure positions for every factor
    return w, h


def _cos(a, b):
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def test_nmf_recovers_known_factors_up_to_order_and_scale():
    w_true, h_true = _known()
    x = w_true @ h_true
    w, h = FZ.nmf(x, 3, seed=0, max_iter=2000, tol=1e-8)
    assert h.shape == (3, 24) and np.allclose(np.linalg.norm(h, axis=1), 1)
    for j in range(3):  # every true direction and its map are matched by one found factor
        sims = [_cos(h_true[j], h[i]) for i in range(3)]
        best = int(np.argmax(sims))
        assert sims[best] > 0.999
        assert _cos(w_true[:, j], w[:, best]) > 0.999
        # scale: the found map carries the true one times the true direction's norm
        assert np.allclose(w[:, best], w_true[:, j] * np.linalg.norm(h_true[j]), rtol=0.02, atol=0.02)
    energies = (w ** 2).sum(0)
    assert (np.diff(energies) <= 0).all()  # ordered by share, largest first


def test_project_is_nonnegative_least_squares():
    rng = np.random.default_rng(1)
    d = rng.uniform(0, 1, (4, 15))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    x = rng.normal(0, 1, (30, 15)) + rng.uniform(0, 1, (30, 4)) @ d
    ours = FZ.project(x, d, max_iter=5000, tol=1e-12)
    for row, w in zip(x, ours):
        ref, _ = nnls(d.T, row)
        assert np.allclose(w, ref, atol=1e-6)
    assert (ours == 0).any()  # the case includes active constraints


def test_bad_input_is_refused():
    with pytest.raises(NeuronscopeError, match="k must be"):
        FZ.nmf(np.ones((5, 3)), 4)
    with pytest.raises(NeuronscopeError, match="all zero"):
        FZ.nmf(np.zeros((5, 3)), 2)
    with pytest.raises(NeuronscopeError, match="non-negative"):
        FZ.Groups("m", "l", -np.ones((2, 3)))


def _images(n, size=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):  # blocks of colour on noise: parts for NMF to separate
        img = torch.rand(3, size, size, generator=g) * 0.3
        y, x = torch.randint(0, size // 2, (2,), generator=g).tolist()
        img[:, y:y + size // 2, x:x + size // 2] = torch.rand(3, 1, 1, generator=g)
        out.append(img)
    return out


def test_saved_groups_applied_to_a_fitted_image_reproduce_its_map(effnet, tmp_path):
    images = _images(3)
    fact = FZ.factorize_images(effnet, images, layer="block5_expand", k=3, seed=0, max_iter=1000)
    assert fact.maps[0].shape == (3, 8, 8) and len(fact.maps) == 3
    assert fact.upsampled(1).shape == (3, 64, 64)
    acts = [effnet.capture(img[None], ["block5_expand"])["block5_expand"][0].detach() for img in images]
    x = np.concatenate([a.double().flatten(1).T.numpy() for a in acts])
    w = np.concatenate([m.reshape(3, -1).T for m in fact.maps])
    assert np.linalg.norm(x - w @ fact.groups.directions) / np.linalg.norm(x) == pytest.approx(fact.error, abs=1e-9)
    assert fact.error < 0.9
    path = fact.groups.save(tmp_path / "groups.json")
    loaded = FZ.Groups.load(path)
    assert loaded.layer == "block5_expand" and loaded.names == ["group0", "group1", "group2"]
    found = FZ.find_groups(effnet, loaded, images[0])
    scale = np.abs(fact.maps[0]).max()
    assert np.abs(found - fact.maps[0]).max() < 1e-3 * scale  # measured 1.1e-4 (the fit runs in float32)


def test_one_image_factorisation_and_figure(effnet):
    image = _images(1, size=96, seed=3)[0]
    fact = FZ.factorize(effnet, image, layer="block5_expand", k=2)
    assert fact.maps[0].shape == (2, 12, 12) and fact.k == 2
    overlay = FZ.colour_overlay(image, fact.upsampled(0))
    assert overlay.shape == (96, 96, 3) and 0 <= overlay.min() and overlay.max() <= 1
    fig = FZ.plot_factorization([image], fact.maps, ["test"], fact.groups)
    assert len(fig.axes) == 4
    with pytest.raises(NeuronscopeError, match="negative values"):
        FZ.factorize(effnet, image, layer="block5", k=2)  # a linear bottleneck output
