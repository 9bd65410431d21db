"""The render loop on planted models (known optimum); EfficientNet-Lite0 in test_optvis_superstimulus."""

import contextlib

import numpy as np
import pytest
import torch
from torch import nn

import neuronscope as ns
from neuronscope.errors import NeuronscopeError
from neuronscope.optvis import objectives as O
from neuronscope.optvis import visualize

K = 15  # arc detector kernel size


def arc_template(k=K, radius=5.0, width=1.2):
    """A binary "∩" arc (radius 5, about 2.4 px thick, centre of curvature below the middle),
    made zero-mean."""
    c = (k - 1) / 2
    yy, xx = np.mgrid[0:k, 0:k].astype(float)
    cy = c + radius / 2
    on = (np.abs(np.hypot(yy - cy, xx - c) - radius) < width) & (yy < cy)
    return on - on.mean()


@pytest.fixture(scope="module")
def arc_model():
    conv = nn.Conv2d(3, 1, K, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor(arc_template(), dtype=torch.float32).expand(1, 3, K, K))
    return ns.wrap(nn.Sequential(conv))


@pytest.fixture(scope="module")
def small_model():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 5, padding=2), nn.ReLU(), nn.Conv2d(8, 3, 3, padding=1))
    with torch.no_grad():  # scaled so a few steps of Adam at lr 0.05 visibly change the units
        net[0].weight.mul_(10)
        net[2].weight.mul_(3)
    return ns.wrap(net, layers={"0": "relu", "2": None})


def central_crop_corr(image, template):
    """Correlation of the grey image under the central output position's receptive field (an
    unpadded conv of n - K + 1 outputs: position (n - K) // 2 sees input rows/cols from there)
    with the template."""
    grey = image.mean(0).numpy()
    start = (grey.shape[0] - K) // 2
    crop = grey[start:start + K, start:start + K]
    return np.corrcoef(crop.ravel(), template.ravel())[0, 1]


def test_planted_arc_detector_renders_its_arc(arc_model):
    # A linear unit's optimum under a [0, 1] image is the template's sign pattern, whose correlation
    # with this binary template is exactly 1; a random image's correlation has sd 1 / sqrt(225) ~
    # 0.067. Without transforms the receptive field is fixed, so the render must come close to the
    # optimum (0.93 measured at 32 steps): > 0.8. With the standard transforms the arc is rendered
    # under random shifts of up to +-6 px (in a 32 px image) and smeared (0.46 measured): > 0.3,
    # still 4.5 sd above chance.
    template = arc_template()
    fixed = visualize(arc_model, "0:0", steps=32, size=32, transforms=None, progress=False)[0]
    assert central_crop_corr(fixed, template) > 0.8
    assert central_crop_corr(fixed, template[::-1]) < 0.5  # a "∪" is a different arc
    robust = visualize(arc_model, "0:0", steps=32, size=32, progress=False)[0]
    assert central_crop_corr(robust, template) > 0.3
    inhibiting = visualize(arc_model, "0:0", steps=32, size=32, transforms=None, negative=True, progress=False)[0]
    assert central_crop_corr(inhibiting, template) < -0.8


def test_same_seed_same_image_and_batched_equals_single(small_model):
    ids = ["2:0", "2:1", "2:2"]
    kwargs = dict(steps=8, size=24, progress=False)
    batched = visualize(small_model, ids, **kwargs)
    assert batched.shape == (3, 3, 24, 24)
    assert torch.equal(batched, visualize(small_model, ids, **kwargs))
    assert not torch.allclose(batched, visualize(small_model, ids, seed=1, **kwargs))
    for i, n in enumerate(ids):  # image i depends only on neuron i: rendering alone changes nothing
        assert torch.allclose(batched[i], visualize(small_model, n, **kwargs)[0], atol=1e-4)
    assert not torch.allclose(batched[0], batched[1], atol=1e-2)


def test_redirected_relu_starts_a_dead_unit(small_model):
    net = nn.Sequential(nn.Conv2d(3, 2, 3))
    with torch.no_grad():
        net[0].bias.fill_(-100.0)  # unit dead on every [0, 1] image
    dead = ns.wrap(net, layers={"0": "relu"})
    kwargs = dict(size=16, transforms=None, pre_relu=False, progress=False)
    start = visualize(dead, "0:0", steps=0, **kwargs)
    stuck = visualize(dead, "0:0", steps=8, redirect_steps=0, **kwargs)
    assert torch.equal(stuck, start)  # the ordinary ReLU gradient is zero: nothing moves
    moved = visualize(dead, "0:0", steps=8, **kwargs)

    def centre(images):
        with torch.no_grad():
            return dead.capture(images, ["0"], pre_relu=True)["0"][0, 0, 6, 6]  # central of 14x14

    assert centre(moved) > centre(start) + 0.1


def test_diversity_layout_and_effect(small_model):
    kwargs = dict(steps=16, size=24, transforms=None, progress=False)
    plain = visualize(small_model, ["2:0", "2:1"], diversity=2, diversity_weight=0, **kwargs)
    assert plain.shape == (4, 3, 24, 24)  # neuron-major: neuron 0's two images, then neuron 1's
    # each neuron's first image starts from the seed's noise: it is that neuron's single render
    assert torch.allclose(plain[0], visualize(small_model, "2:0", **kwargs)[0], atol=1e-4)
    assert torch.allclose(plain[2], visualize(small_model, "2:1", **kwargs)[0], atol=1e-4)
    # Gram matrices of near-grey images are all alike (cosine ~1): only a large weight separates
    # them within 16 steps (measured: summed similarity 2.00 -> 1.27 at weight 100)
    diverse = visualize(small_model, ["2:0", "2:1"], diversity=2, diversity_weight=100, **kwargs)

    def similarity(images):
        with torch.no_grad():
            acts = small_model.capture(images, ["2"])
        return float(O.diversity("2", [0, 1])(acts).sum() + O.diversity("2", [2, 3])(acts).sum())

    assert np.isclose(similarity(plain), 2, atol=1e-3)  # 2 groups of 2 images: at most 2 * (1/2 + 1/2)
    assert similarity(diverse) < 1.8


def test_objective_targets_and_snapshots(small_model, tmp_path):
    objective = O.neuron("2", 1, batch=1) + O.channel("0", 0, batch=0) + 1e-3 * O.total_variation()
    images = visualize(small_model, objective, steps=4, size=16, progress=False, save_every=2, out_dir=tmp_path)
    assert images.shape == (2, 3, 16, 16)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grid.png", "step_00002.png", "step_00004.png"]
    with pytest.raises(NeuronscopeError):
        visualize(small_model, [], steps=1)
    with pytest.raises(NeuronscopeError):
        visualize(small_model, "2:7", steps=1)  # layer 2 has 3 units
    with pytest.raises(NeuronscopeError):
        visualize(small_model, "2:0", steps=1, save_every=1)


def test_the_loop_freezes_the_weights_and_gives_them_back(small_model, monkeypatch):
    """During the loop the network's parameters take no gradient (the image alone is optimised);
    afterwards they are as before, and the images equal those of a loop that left them alone."""
    from neuronscope.optvis import render

    seen = []
    before = [p.requires_grad for p in small_model.net.parameters()]
    assert any(before)
    frozen = visualize(small_model, ["2:0", "2:1"], steps=3, size=32, progress=False,
                       callback=lambda step, param: seen.append(any(p.requires_grad for p in
                                                                        small_model.net.parameters())))
    assert seen == [False] * 3
    assert [p.requires_grad for p in small_model.net.parameters()] == before
    monkeypatch.setattr(render, "frozen", lambda model: contextlib.nullcontext())
    torch.testing.assert_close(frozen, visualize(small_model, ["2:0", "2:1"], steps=3, size=32, progress=False),
                               rtol=0, atol=1e-6)
