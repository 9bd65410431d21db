"""Decomposed feature visualisation: linearised gradients against the planted weights, the
batched per-position render, the faded spatial figure, default layers, and the CLI."""

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import neuronscope as ns
from neuronscope.cli import main
from neuronscope.errors import NeuronscopeError
from neuronscope.optvis import objectives as O
from neuronscope.optvis import visualize
from neuronscope.optvis.decompose import decompose, decompose_layer, default_layers, footprint_box, gradient_field
from neuronscope.optvis.param import FourierImage


@pytest.fixture(scope="module")
def planted():
    """conv 3->4 (3x3) -> ReLU -> max-pool 2 -> conv 4->2 (3x3); the first conv's bias of -100
    kills its ReLU on every image, so only the linearised model passes a gradient back."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 2, 3, padding=1))
    with torch.no_grad():
        net[0].bias.fill_(-100.0)
    return ns.wrap(net, layers={"0": "relu", "2": None, "3": None})


def hand_gradients(net, unit=1, y=3, x=3):
    """d out[unit, y, x] / d (pool output, conv0 output) for 16 px inputs: the second conv's
    kernel placed around (y, x) of the 8x8 grid, then spread evenly over each 2x2 pooling window."""
    w = net[3].weight.detach().numpy()[unit]  # (4, 3, 3)
    pooled = np.zeros((4, 8, 8))
    pooled[:, y - 1:y + 2, x - 1:x + 2] = w
    return pooled, np.repeat(np.repeat(pooled, 2, axis=1), 2, axis=2) / 4


def test_linearised_gradient_is_the_planted_weights(planted):
    _, conv0 = hand_gradients(planted.net)
    assert np.allclose(gradient_field(planted, "3:1", "0", input_size=16).numpy(), conv0, atol=1e-6)
    with torch.no_grad():  # without linearising, the dead ReLU would block every gradient
        acts = planted.capture(torch.rand(1, 3, 16, 16), ["0"], pre_relu=True)["0"]
    assert (acts < 0).all()
    with pytest.raises(NeuronscopeError):
        gradient_field(planted, "0:1", "3", input_size=16)  # a later layer
    with pytest.raises(NeuronscopeError):
        gradient_field(planted, "3:1", "nope", input_size=16)


def test_decomposition_renders_each_position_and_fades_tiles(planted, tmp_path):
    _, conv0 = hand_gradients(planted.net)
    box = conv0[:, 4:10, 4:10]  # pooled positions 2..4 -> conv0 rows/cols 4..9
    norms = np.linalg.norm(box, axis=0)
    threshold = float(np.quantile(norms / norms.max(), 0.25))
    kwargs = dict(steps=12, size=12, seed=3, input_size=16, pre_relu=True, transforms=None, progress=False)
    result = decompose_layer(planted, "3:1", "0", min_norm=threshold, **kwargs)
    assert result.origin == (4, 4)
    assert np.allclose(result.gradient.numpy(), box, atol=1e-6)
    rendered = norms >= threshold * norms.max()
    assert 0 < (~rendered).sum() and np.array_equal(result.rendered.numpy(), rendered)
    assert result.images.shape == (6, 6, 3, 12, 12)
    assert torch.all(result.images[~result.rendered] == 0)
    assert repr(result) == f"<LayerDecomposition 3:1 on 0: 6x6 positions, {rendered.sum()} rendered>"
    assert result._repr_html_().count("<img") == 1  # the figure, inline in a notebook

    # tile k is the visualisation of position k's unit gradient direction alone (noise seed + k)
    positions = np.argwhere(rendered)
    for k in (0, len(positions) - 1):
        y, x = positions[k]
        vector = box[:, y, x] / norms[y, x]
        alone = visualize(planted, O.direction("0", vector, "center"), steps=12, size=12,
                          seed=3, param=FourierImage(12, seeds=[3 + k]), transforms=None, progress=False)
        assert torch.allclose(result.images[y, x], alone[0], atol=1e-5)

    # and it serves its own direction better than any other position's tile does
    tiles = result.images[result.rendered]
    with torch.no_grad():
        centre = planted.capture(tiles, ["0"], pre_relu=True)["0"][:, :, 5, 5]  # 12 px -> 12x12 grid
    directions = torch.tensor(box[:, rendered].T / norms[rendered][:, None], dtype=torch.float32)
    scores = directions @ centre.T  # [direction k, tile j]
    other = (directions @ directions.T < 0.999).float()  # positions in one pooling window share a direction
    rivals = (scores - 1e9 * (1 - other)).max(dim=1).values
    assert other.any(dim=1).all() and torch.all(scores.diagonal() > rivals)

    figure = result.figure(gap=1).numpy()
    assert figure.shape == (3, 6 * 13 + 1, 6 * 13 + 1)
    alpha = norms / norms.max()
    for y, x in ((0, 0), (2, 3), *np.argwhere(~rendered)[:1]):
        cell = figure[:, 1 + 13 * y:13 + 13 * y, 1 + 13 * x:13 + 13 * x]
        expected = alpha[y, x] * result.images[y, x].numpy() + 1 - alpha[y, x] if rendered[y, x] else 1.0
        assert np.allclose(cell, expected, atol=1e-6)

    result.save(tmp_path)
    with Image.open(tmp_path / "0.png") as im:
        assert im.size == (79, 79)
    data = np.load(tmp_path / "0.npz")
    assert str(data["neuron"]) == "3:1" and np.allclose(data["gradient"], box, atol=1e-6)


def test_default_layers_and_footprints(effnet, inception):
    # block6_expand's central position (6, 6) at 224 px sees pixels [70, 153) (field 83, stride 16,
    # start -26); block3's fields (35 px, stride 8, start -10) inside it are positions 10..16
    assert footprint_box(effnet, "block6_expand", "block3") == (10, 10, 7, 7)
    support = gradient_field(effnet, "block6_expand:3", "block3").norm(dim=0) > 0
    rows, cols = support.any(dim=1).nonzero().ravel(), support.any(dim=0).nonzero().ravel()
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (10, 16, 10, 16)
    assert footprint_box(effnet, "block6_expand", "block5")[2:] == (1, 1)  # 1x1 convolutions only
    assert default_layers(effnet, "block6_expand") == ["block3", "block4"]
    assert default_layers(inception, "mixed3b") == ["conv2d2", "mixed3a"]
    with pytest.raises(NeuronscopeError):
        default_layers(effnet, "stem")
    with pytest.raises(NeuronscopeError):
        decompose(effnet, "block6_expand:3", layers=[])


def test_decompose_cli(tmp_path, capsys):
    out = tmp_path / "dec"
    assert main(["decompose", "efficientnet_lite0", "block6_expand:3", "--out", str(out), "--layers", "block4",
                 "--steps", "1", "--size", "16"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["block4.npz", "block4.png"]
    with Image.open(out / "block4.png") as im:
        assert im.size == (3 * 17 + 1, 3 * 17 + 1)  # 3x3 positions, 1 px between and around
    assert "block4: 3x3 positions" in capsys.readouterr().out
    for bad in (["--layers", "block7"], ["--layers", "nope"]):
        code = main(["decompose", "efficientnet_lite0", "block6_expand:3", "--out", str(tmp_path / "bad"),
                     "--steps", "1", *bad])
        err = capsys.readouterr().err
        assert code == 2 and err.startswith("error:") and err.count("\n") == 1
