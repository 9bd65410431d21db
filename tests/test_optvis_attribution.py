"""Attribution visualisation on a planted model (hand-computed fields, an analytic optimum) and
the quilt of dataset examples beside their visualisations."""

import numpy as np
import pytest
import torch
from torch import nn

import neuronscope as ns
from neuronscope.dataset import compute_stats
from neuronscope.errors import NeuronscopeError
from neuronscope.optvis.attribution_vis import attribution_fields, attribution_quilt, attribution_visualization
from neuronscope.optvis.param import PixelImage


@pytest.fixture(scope="module")
def planted():
    """Layer "0" copies the image (a 1x1 identity convolution, ReLU after it); layer "2" is a
    3x3 convolution of it with weights W, so an attribution is |image x W| around the target."""
    net = nn.Sequential(nn.Conv2d(3, 3, 1, bias=False), nn.ReLU(), nn.Conv2d(3, 2, 3, padding=1, bias=False))
    with torch.no_grad():
        net[0].weight.copy_(torch.eye(3).view(3, 3, 1, 1))
        net[2].weight.copy_(torch.randn(2, 3, 3, 3, generator=torch.Generator().manual_seed(0)))
    return ns.wrap(net, layers={"0": "relu", "2": None})


def test_fields_are_image_times_weight_around_the_target(planted):
    images = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    attribution = ns.attribution.attribute(planted, "2:1", images, positions=[(3, 4), (0, 7)])
    fields = attribution_fields(planted, attribution, 8).numpy()
    w = planted.net[2].weight.detach().numpy()[1]
    x = np.pad(images.numpy(), ((0, 0), (0, 0), (1, 1), (1, 1)))  # zeros beyond the border
    assert fields.shape == (2, 3, 3, 3)
    assert np.allclose(fields[0], np.abs(x[0, :, 3:6, 4:7] * w), atol=1e-6)
    assert np.allclose(fields[1], np.abs(x[1, :, 0:3, 7:10] * w), atol=1e-6)  # corner: centre kept at (1, 1)
    assert np.all(fields[1][:, 0] == 0) and np.all(fields[1][:, :, 2] == 0)


def test_visualisation_brightens_exactly_the_attributed_pixels(planted):
    # The objective is sum field * relu(pixel) over the field's 3x3 window at the grid's centre, so
    # a pixel value rises where the field is positive and nothing else moves: with independent
    # (not decorrelated) colour channels, those pixels go to 1 while the rest keep the initial grey.
    image = torch.ones(3, 8, 8)
    image[0, 2:5, 3:6] = torch.tensor([[0.0, 1, 0], [1, 0, 1], [0, 1, 1]])  # no red: no attribution there
    param = PixelImage(7, seeds=[0], decorrelate=False)
    result = attribution_visualization(planted, "2:0", image, positions=(3, 4), steps=150, param=param,
                                       transforms=None, schedule="constant", progress=False)  # 150 full-lr steps
    rendered = result.images[0].numpy()
    attributed = result.fields[0].numpy() > 0
    assert (~attributed).sum() == 4
    window = rendered[:, 2:5, 2:5]  # the central 3x3 of a 7x7 grid
    assert np.all(window[attributed] > 0.97)
    assert np.allclose(window[~attributed], 0.5, atol=0.01)
    outside = np.ones((7, 7), bool)
    outside[2:5, 2:5] = False
    assert np.allclose(rendered[:, outside], 0.5, atol=0.01)
    default = attribution_visualization(planted, "2:0", image, steps=1, progress=False)
    assert default.images.shape == (1, 3, 3, 3)  # the target's receptive field


def test_quilt_pairs_top_examples_with_their_visualisations(planted, shared):
    paths = sorted((shared / "data" / "imagenet-sample").glob("*.jpg"))[:4]
    stats = compute_stats(planted, "2", paths, resize=40, size=32, figures="none", progress=False, workers=0)
    quilt, result = attribution_quilt(planted, stats, 1, count=3, per_row=2, thumb=16, steps=2, size=8,
                                      progress=False)
    top = stats.top(1)[:3]
    # the attribution re-ran the unit on each loaded example at its position: same value as the run
    assert np.allclose(result.attribution.actual.numpy(), [ex.value for ex in top], atol=1e-4)
    assert result.attribution.positions == [(ex.y, ex.x) for ex in top]
    assert result.images.shape == (3, 3, 8, 8)
    assert quilt.shape == (3, 2 * 18 + 2, 4 * 18 + 2)  # 2 rows of 2 (example, visualisation) pairs
    assert torch.all(quilt[:, 20:36, 38:72] == 1)  # the missing fourth pair is blank
    with pytest.raises(NeuronscopeError):
        attribution_quilt(planted, stats, 5, steps=1, progress=False)
    with pytest.raises(NeuronscopeError):
        attribution_quilt(ns.load_model("efficientnet_lite0"), stats, 1, steps=1, progress=False)
