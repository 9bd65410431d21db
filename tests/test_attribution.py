"""Attribution to an earlier layer: against weights times activations computed here, layer by layer."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import neuronscope as ns
from neuronscope.attribution import attribute, previous_layer
from neuronscope.dataset import compute_stats, plot_quilt
from neuronscope.dataset.crops import example_crop, inside_box
from neuronscope.dataset.quilt import _window
from neuronscope.errors import NeuronscopeError
from tests.test_dataset import SIZE, Tiny, folder, one_thread  # noqa: F401 - fixtures


class Bottleneck(nn.Module):
    """conv 3x3 -> ReLU -> 1x1 bottleneck -> ReLU -> conv 3x3, as in an Inception branch."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 6, 3, padding=1)
        self.r1 = nn.ReLU()
        self.c2 = nn.Conv2d(6, 4, 1)
        self.r2 = nn.ReLU()
        self.c3 = nn.Conv2d(4, 5, 3, padding=1)

    def forward(self, x):
        return self.c3(self.r2(self.c2(self.r1(self.c1(x))))).mean((2, 3))


def _images(n, size, seed=0):
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


def _window_sum(kernel, h, y, x, pad):
    """(C, H, W): kernel (C, k, k) times h (C, H, W) over the k x k window at (y, x), zero elsewhere."""
    out = torch.zeros_like(h)
    k = kernel.shape[-1]
    for dy in range(k):
        for dx in range(k):
            sy, sx = y + dy - pad, x + dx - pad
            if 0 <= sy < h.shape[1] and 0 <= sx < h.shape[2]:
                out[:, sy, sx] = kernel[:, dy, dx] * h[:, sy, sx]
    return out


def test_wrapped_path_is_weight_times_activation_through_the_bottleneck():
    torch.manual_seed(0)
    net = Bottleneck()
    model = ns.wrap(net, layers={"c1": "relu", "c2": "relu", "c3": None})
    x = _images(2, 8)
    positions = [(1, 1), (0, 7)]
    with torch.no_grad():
        h1 = torch.relu(net.c1(x))
        pre2 = net.c2(h1)
        h2 = torch.relu(pre2)
        out = net.c3(h2)
    assert previous_layer(model, "c3", 8) == "c2" and previous_layer(model, "c2", 8) == "c1"
    w3, b3 = net.c3.weight[2].detach(), net.c3.bias[2].item()
    w2, b2 = net.c2.weight[:, :, 0, 0].detach(), net.c2.bias.detach()

    direct = attribute(model, "c3:2", x, positions)  # source c2: nothing non-linear in between
    assert direct.source == "c2" and direct.positions == positions
    expanded = torch.einsum("kyx,kc->cyx", w3, w2)
    for i, (y, xx) in enumerate(positions):
        torch.testing.assert_close(direct.values[i], _window_sum(w3, h2[i], y, xx, 1))
        assert direct.actual[i].item() == pytest.approx(out[i, 2, y, xx].item(), abs=1e-5)
        assert direct.baseline[i].item() == pytest.approx(b3, abs=1e-6)
    torch.testing.assert_close(direct.values.sum((1, 2, 3)) + direct.baseline, direct.actual)

    through = attribute(model, "c3:2", x, positions, source="c1")  # the 1x1 bottleneck's weights expanded
    assert (pre2 < 0).any()  # so the linearised path really differs from the network
    for i, (y, xx) in enumerate(positions):
        torch.testing.assert_close(through.values[i], _window_sum(expanded, h1[i], y, xx, 1))
        bias = b3 + _taps(w3, b2, y, xx, 8).item()
        assert through.baseline[i].item() == pytest.approx(bias, abs=1e-5)
    torch.testing.assert_close(through.values.sum((1, 2, 3)) + through.baseline, through.linear)
    torch.testing.assert_close(through.actual, direct.actual)
    assert through.by_unit.shape == (2, 6) and through.by_position.shape == (2, 8, 8)
    top = through.top_units(0, 3)
    by_unit = through.values[0].sum((1, 2))
    assert [v for _, v in top] == pytest.approx(sorted(by_unit.tolist(), reverse=True)[:3])
    assert all(by_unit[u].item() == pytest.approx(v) for u, v in top)


def _taps(w3, b2, y, x, n):
    """The bottleneck's bias carried through the in-bounds taps of the 3x3 conv at (y, x)."""
    total = torch.zeros(())
    for dy in range(3):
        for dx in range(3):
            if 0 <= y + dy - 1 < n and 0 <= x + dx - 1 < n:
                total = total + (w3[:, dy, dx] * b2).sum()
    return total


def test_efficientnet_block5_to_block6_expand_is_the_batchnorm_folded_1x1_conv(effnet):
    x = _images(2, 64)
    positions = [(1, 2), (3, 0)]
    assert previous_layer(effnet, "block6_expand", 64) == "block5"
    a = attribute(effnet, "block6_expand:7", x, positions)
    block = effnet.net._blocks[6]
    bn = block._bn0
    scale = (bn.weight / torch.sqrt(bn.running_var + bn.eps)).detach()
    weight = block._expand_conv.weight[:, :, 0, 0].detach() * scale[:, None]
    bias = (bn.bias - bn.running_mean * scale).detach()
    with torch.no_grad():
        h = effnet.capture(x, ["block5"])["block5"]  # block outputs have no activation
        pre = effnet.capture(x, ["block6_expand"], pre_relu=True)["block6_expand"]
    for i, (y, xx) in enumerate(positions):
        expected = torch.zeros_like(h[i])
        expected[:, y, xx] = weight[7] * h[i, :, y, xx]
        torch.testing.assert_close(a.values[i], expected, rtol=1e-5, atol=1e-6)
        assert a.baseline[i].item() == pytest.approx(bias[7].item(), abs=1e-5)
        assert a.actual[i].item() == pytest.approx(pre[i, 7, y, xx].item(), abs=1e-5)
    torch.testing.assert_close(a.values.sum((1, 2, 3)) + a.baseline, a.actual, rtol=1e-5, atol=1e-4)


def test_inception_mixed3b_expands_the_5x5_bottleneck_from_mixed3a(inception):
    x = _images(1, 96, seed=1)
    net = inception.net
    with torch.no_grad():
        h = inception.capture(x, ["mixed3a"])["mixed3a"][0]  # after its ReLU
    assert previous_layer(inception, "mixed3b", 96) == "mixed3a"  # not one of mixed3b's own branches
    curve = attribute(inception, "mixed3b:379", x, positions=(5, 6))  # channel 59 of the 5x5 branch
    assert curve.source == "mixed3a"
    w5 = net.mixed3b_5x5_pre_relu_conv.weight[59].detach()
    wb = net.mixed3b_5x5_bottleneck_pre_relu_conv.weight[:, :, 0, 0].detach()
    bb = net.mixed3b_5x5_bottleneck_pre_relu_conv.bias.detach()
    expected = _window_sum(torch.einsum("kyx,kc->cyx", w5, wb), h, 5, 6, 2)
    torch.testing.assert_close(curve.values[0], expected, rtol=1e-4, atol=1e-4)
    bias = net.mixed3b_5x5_pre_relu_conv.bias[59] + torch.einsum("kyx,k->", w5, bb)  # (5, 6) is interior
    assert curve.baseline.item() == pytest.approx(bias.item(), rel=1e-4, abs=1e-3)

    plain = attribute(inception, "mixed3b:17", x, positions=(0, 11), source="mixed3a")  # the 1x1 branch
    w1 = net.mixed3b_1x1_pre_relu_conv.weight[17, :, 0, 0].detach()
    expected = torch.zeros_like(h)
    expected[:, 0, 11] = w1 * h[:, 0, 11]
    torch.testing.assert_close(plain.values[0], expected, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(plain.values.sum() + plain.baseline, plain.actual, rtol=1e-4, atol=1e-3)


def test_a_vector_layer_and_bad_requests(effnet):
    x = _images(2, 64)
    assert previous_layer(effnet, "logits", 64) == "avgpool"
    a = attribute(effnet, "logits:3", x)
    with torch.no_grad():
        pooled = effnet.capture(x, ["avgpool"])["avgpool"]
    fc = effnet.net._fc
    torch.testing.assert_close(a.values, fc.weight[3].detach() * pooled)
    torch.testing.assert_close(a.baseline, fc.bias[3].detach().expand(2))
    assert a.positions is None and a.by_unit.shape == (2, 1280)
    with pytest.raises(NeuronscopeError):
        _ = a.by_position
    for kwargs in ({"source": "block7"}, {"positions": (4, 0)}, {"positions": [(0, 0)] * 3}):
        with pytest.raises(NeuronscopeError):
            attribute(effnet, "block6_expand:7", x, source=kwargs.get("source", "block5"),
                      positions=kwargs.get("positions"))
    with pytest.raises(NeuronscopeError, match="units"):
        attribute(effnet, "block6_expand:999", x, source="block5")
    with pytest.raises(NeuronscopeError):
        previous_layer(effnet, "stem", 64)


def test_quilt_heatmaps_cover_every_contributing_position(folder, tmp_path):  # noqa: F811
    torch.manual_seed(0)
    model = ns.wrap(Tiny(), layers={"conv1": "relu", "conv2": "relu"}, name="tiny")
    stats = compute_stats(model, "conv2", folder, resize=SIZE, size=SIZE, batch_size=4, workers=0, figures="none",
                          progress=False, per_stratum=2)
    examples = [e for row in stats.samples(1) for e in row]
    images = torch.stack([torch.from_numpy(np.array(Image.open(folder / e.image_id))).permute(2, 0, 1).float() / 255
                          for e in examples])
    a = attribute(model, "conv2:1", images, [(e.y, e.x) for e in examples])
    assert a.source == "conv1"
    maps = a.by_position.numpy()
    source_field, target_field = model.receptive_field("conv1", SIZE), model.receptive_field("conv2", SIZE)
    for e, m in zip(examples, maps):
        # conv2 (3x3, stride 2, on conv1's stride-2 grid) sees input pixels 4y-3..4y+3; the crop shown is
        # that 7-px window moved inside the 32-px image, and conv1 position k is centred on pixel 2k
        top, left = (min(max(4 * c - 3, 0), SIZE - 7) for c in (e.y, e.x))
        assert inside_box(target_field, e.y, e.x) == (top, left, top + 7, left + 7)
        crop = example_crop(stats, e, images[examples.index(e)], inside=True)
        torch.testing.assert_close(crop, images[examples.index(e)][:, top:top + 7, left:left + 7])
        rows, cols = (np.arange((s + 1) // 2, (s + 6) // 2 + 1) for s in (top, left))
        window = _window((top, left, top + 7, left + 7), source_field, m)
        np.testing.assert_array_equal(window, m[np.ix_(rows, cols)])
        assert np.nansum(window) == pytest.approx(m.sum(), rel=1e-5, abs=1e-6)  # every contributing position
    plain = plot_quilt(stats, 1, tmp_path / "plain.png", per_row=2, thumb=16)
    shown = plot_quilt(stats, 1, tmp_path / "attr.png", per_row=2, thumb=16, attribution=True, model=model)
    assert shown.axes[0].images[0].get_array().shape[0] > plain.axes[0].images[0].get_array().shape[0]
    assert "conv1" in shown.axes[0].get_title()
    mosaic = shown.axes[0].images[0].get_array()
    assert not (mosaic == round(0.6 * 255)).all(-1).any()  # no grey: neither padding nor positions off the grid
