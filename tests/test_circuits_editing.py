"""Circuit editing: the original model never changes; edits match computations from the raw weights."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from neuronscope.circuits import Ablation, Replacement, WeightEdit, edit
from neuronscope.errors import NeuronscopeError

EARLY, LATE = list(range(0, 40)), list(range(100, 140))


def bn_scale(bn):
    return bn.weight / torch.sqrt(bn.running_var + bn.eps)


@pytest.fixture(scope="module")
def images():
    return torch.rand(2, 3, 96, 96, generator=torch.Generator().manual_seed(0))


def capture(model, images, layer):
    with torch.no_grad():
        return model.capture(images, [layer], pre_relu=True)[layer]


def test_original_is_unchanged_during_and_after(effnet, images):
    before_state = {k: v.clone() for k, v in effnet.net.state_dict().items()}
    before = capture(effnet, images, "block6_expand")
    edits = dict(weights=[WeightEdit("block5", "block6_expand", EARLY, LATE, sign="negative")],
                 ablate=[Ablation("block5", [1, 2])])
    with edit(effnet, **edits) as edited:
        changed = capture(edited, images, "block6_expand")
        torch.testing.assert_close(capture(effnet, images, "block6_expand"), before, rtol=0, atol=0)
        assert all(torch.equal(v, before_state[k]) for k, v in effnet.net.state_dict().items())
    assert not torch.allclose(changed, before)
    torch.testing.assert_close(capture(effnet, images, "block6_expand"), before, rtol=0, atol=0)
    assert all(torch.equal(v, before_state[k]) for k, v in effnet.net.state_dict().items())


def test_direct_edit_zeroes_negative_weights_of_the_1x1_conv(effnet):
    block = effnet.net._blocks[6]
    weight = block._expand_conv.weight.detach()[:, :, 0, 0]
    effective = weight * bn_scale(block._bn0)[:, None]
    want = weight.clone()
    sub = want[LATE][:, EARLY]
    sub[effective[LATE][:, EARLY] < 0] = 0
    want[torch.tensor(LATE)[:, None], torch.tensor(EARLY)[None]] = sub
    with edit(effnet, weights=[WeightEdit("block5", "block6_expand", EARLY, LATE, sign="negative")]) as edited:
        got = edited.net._blocks[6]._expand_conv.weight.detach()[:, :, 0, 0]
        assert "convolution _blocks.6._expand_conv" in edited.log[0]
    torch.testing.assert_close(got, want, rtol=0, atol=0)
    assert (got != weight).sum() == (sub != weight[LATE][:, EARLY]).sum() > 100


def test_expanded_path_edit_matches_composed_weights(effnet, images):
    """block5_depthwise (post-ReLU6) -> project -> bn -> (+ residual) -> expand -> bn is linear: exact."""
    b5, b6 = effnet.net._blocks[5], effnet.net._blocks[6]
    project = b5._project_conv.weight[:, :, 0, 0] * bn_scale(b5._bn2)[:, None]
    expand = b6._expand_conv.weight[:, :, 0, 0] * bn_scale(b6._bn0)[:, None]
    composed = (expand @ project).detach()  # (480, 240)
    removed = torch.zeros_like(composed)
    block = composed[LATE][:, EARLY]
    removed[torch.tensor(LATE)[:, None], torch.tensor(EARLY)[None]] = torch.where(block > 0, block, 0)
    with torch.no_grad():
        acts = effnet.capture(images, ["block5_depthwise", "block6_expand"], pre_relu=False)
        pre = effnet.capture(images, ["block6_expand"], pre_relu=True)["block6_expand"]
    want = pre - torch.einsum("ts,nsyx->ntyx", removed, acts["block5_depthwise"])
    change = WeightEdit("block5_depthwise", "block6_expand", EARLY, LATE, sign="positive")
    with edit(effnet, weights=[change]) as edited:
        got = capture(edited, images, "block6_expand")
        assert "expanded path" in edited.log[0]
    torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)


def test_scaled_edits_match_the_scaled_weights(effnet, images):
    """scale 0.5 on the direct path scales exactly the chosen weights; scale 2 on the expanded path
    adds the chosen weights' contribution once more (linear 1x1 path: exact)."""
    block = effnet.net._blocks[6]
    weight = block._expand_conv.weight.detach()[:, :, 0, 0]
    effective = weight * bn_scale(block._bn0)[:, None]
    with edit(effnet, weights=[WeightEdit("block5", "block6_expand", EARLY, LATE, sign="negative", scale=0.5)]) as e:
        got = e.net._blocks[6]._expand_conv.weight.detach()[:, :, 0, 0]
        assert "by 0.5 in convolution" in e.log[0]
    rows, cols = torch.tensor(LATE)[:, None], torch.tensor(EARLY)[None]
    chosen = torch.zeros_like(weight, dtype=torch.bool)
    chosen[rows, cols] = effective[rows, cols] < 0
    torch.testing.assert_close(got, torch.where(chosen, weight * 0.5, weight), rtol=0, atol=0)
    with torch.no_grad():
        source = effnet.capture(images, ["block5"])["block5"]
        pre = effnet.capture(images, ["block6_expand"], pre_relu=True)["block6_expand"]
    extra = torch.where(chosen, effective, 0.0)  # scale 2: once more what the chosen weights carry
    want = pre + torch.einsum("ts,nsyx->ntyx", extra, source)
    change = WeightEdit("block5", "block6_expand", EARLY, LATE, sign="negative", scale=2.0, path="expanded")
    with edit(effnet, weights=[change]) as e:
        torch.testing.assert_close(capture(e, images, "block6_expand"), want, atol=1e-4, rtol=1e-4)
        assert "by 2 through the expanded path" in e.log[0]


def test_depthwise_edit_scales_each_unit_own_kernel(effnet, images):
    """block6_expand -> block6_depthwise is a depthwise 3x3 conv + batch-norm: unit u only reads
    unit u, so an edit of units 5, 6 (sources 5, 6, 7) scales their own kernels, and the edited
    value is scale * (value - bias) + bias; the expanded path gives the same (the path is linear)."""
    block = effnet.net._blocks[6]
    conv = block._depthwise_conv
    assert conv.groups == conv.in_channels == 480
    scale = bn_scale(block._bn1)
    bias = (block._bn1.bias - block._bn1.running_mean * scale).detach()[:, None, None]
    before = capture(effnet, images, "block6_depthwise")
    outputs = {}
    for path in ("direct", "expanded"):
        change = WeightEdit("block6_expand", "block6_depthwise", [5, 6, 7], [5, 6], scale=0.25, path=path)
        with edit(effnet, weights=[change]) as e:
            outputs[path] = capture(e, images, "block6_depthwise")
            if path == "direct":
                w = e.net._blocks[6]._depthwise_conv.weight.detach()
                assert "scaled 18 weights" in e.log[0]  # 2 kernels of 3x3; none between groups
    original = conv.weight.detach()
    torch.testing.assert_close(w[[5, 6]], original[[5, 6]] * 0.25, rtol=0, atol=0)
    keep = [u for u in range(480) if u not in (5, 6)]
    torch.testing.assert_close(w[keep], original[keep], rtol=0, atol=0)
    want = before.clone()
    want[:, [5, 6]] = 0.25 * (before[:, [5, 6]] - bias[[5, 6]]) + bias[[5, 6]]
    torch.testing.assert_close(outputs["direct"], want, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(outputs["expanded"], want, atol=1e-4, rtol=1e-4)


def test_grouped_conv_edit_scales_the_right_entries():
    """groups=2 (3 outputs, 2 inputs per group): target 0 reads inputs 0-1, target 4 reads 2-3, so
    sources 1, 2 -> targets 0, 4 touch grouped weight[0, 1] and weight[4, 0] only."""
    import neuronscope as ns

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 1), torch.nn.ReLU(), torch.nn.Conv2d(4, 6, 3, padding=1, groups=2))
    model = ns.wrap(net, layers={"0": "relu", "2": None}, name="grouped")
    x = torch.rand(2, 3, 12, 12)
    with edit(model, weights=[WeightEdit("0", "2", [1, 2], [0, 4], scale=0.5)]) as e:
        got = e.net[2].weight.detach()
        out = capture(e, x, "2")
    want = net[2].weight.detach().clone()
    want[0, 1] *= 0.5
    want[4, 0] *= 0.5
    torch.testing.assert_close(got, want, rtol=0, atol=0)
    with torch.no_grad():
        independent = F.conv2d(torch.relu(net[0](x)), want, net[2].bias, padding=1, groups=2)
    torch.testing.assert_close(out, independent, rtol=1e-5, atol=1e-6)


def test_ablation_sets_values(effnet, images):
    before = capture(effnet, images, "block6_expand")
    with edit(effnet, ablate=[Ablation("block6_expand", [3, 7], [0.5, -2.0]), Ablation("block6_expand", [9])]) as e:
        got = capture(e, images, "block6_expand")
    assert torch.all(got[:, 3] == 0.5) and torch.all(got[:, 7] == -2.0) and torch.all(got[:, 9] == 0)
    keep = [u for u in range(480) if u not in (3, 7, 9)]
    torch.testing.assert_close(got[:, keep], before[:, keep], rtol=0, atol=0)


def test_replacement_by_own_kernels_reproduces_units(effnet, images):
    """A 3x3 depthwise unit rebuilt from block6_expand (post-ReLU6) by its folded weights: exact, borders too."""
    block = effnet.net._blocks[6]
    units = [5, 200]
    scale = bn_scale(block._bn1)
    kernels = torch.zeros(2, 480, 3, 3)
    kernels[range(2), units] = (block._depthwise_conv.weight[units, 0] * scale[units, None, None]).detach()
    bias = (block._bn1.bias - block._bn1.running_mean * scale)[units].detach()
    before = capture(effnet, images, "block6_depthwise")
    rebuild = Replacement("block6_depthwise", units, "block6_expand", kernels=kernels, bias=bias)
    with edit(effnet, replace=[rebuild]) as e:
        rebuilt = capture(e, images, "block6_depthwise")
    torch.testing.assert_close(rebuilt, before, atol=1e-5, rtol=1e-5)
    shifted = kernels.roll(1, dims=-1)  # misaligned kernels must not pass
    misaligned = Replacement("block6_depthwise", units, "block6_expand", kernels=shifted, bias=bias)
    with edit(effnet, replace=[misaligned]) as e:
        assert not torch.allclose(capture(e, images, "block6_depthwise"), before, atol=1e-3)


def test_replacement_by_function(effnet, images):
    with torch.no_grad():
        source = effnet.capture(images, ["block5"])["block5"]
    fn = lambda s: F.avg_pool2d(s[:, :2], 1) * 3  # noqa: E731
    with edit(effnet, replace=[Replacement("block6_expand", [0, 1], "block5", fn=fn)]) as e:
        got = capture(e, images, "block6_expand")
    torch.testing.assert_close(got[:, :2], source[:, :2] * 3)


def test_edit_errors(effnet):
    with pytest.raises(NeuronscopeError, match="no single convolution"):
        with edit(effnet, weights=[WeightEdit("block5_depthwise", "block6_expand", [0], [0], path="direct")]):
            pass
    with pytest.raises(NeuronscopeError, match="sign"):
        with edit(effnet, weights=[WeightEdit("block5", "block6_expand", sign="neg")]):
            pass
    with pytest.raises(NeuronscopeError, match="either fn or kernels"):
        with edit(effnet, replace=[Replacement("block6_expand", [0], "block5")]):
            pass
    with edit(effnet, ablate=[Ablation("block5", [0])]) as edited:
        with pytest.raises(NeuronscopeError, match="do not nest"):
            with edit(edited, ablate=[Ablation("block5", [1])]):
                pass
