"""Circuit editing: the original model never changes; edits match computations from the raw weights."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from neuronscope.circuits import Ablation, Replacement, WeightEdit
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
    with effnet.edit(**edits) as edited:
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
    with effnet.edit(weights=[WeightEdit("block5", "block6_expand", EARLY, LATE, sign="negative")]) as edited:
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
    edit = WeightEdit("block5_depthwise", "block6_expand", EARLY, LATE, sign="positive")
    with effnet.edit(weights=[edit]) as edited:
        got = capture(edited, images, "block6_expand")
        assert "expanded path" in edited.log[0]
    torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)


def test_ablation_sets_values(effnet, images):
    before = capture(effnet, images, "block6_expand")
    with effnet.edit(ablate=[Ablation("block6_expand", [3, 7], [0.5, -2.0]), Ablation("block6_expand", [9])]) as e:
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
    with effnet.edit(replace=[rebuild]) as e:
        rebuilt = capture(e, images, "block6_depthwise")
    torch.testing.assert_close(rebuilt, before, atol=1e-5, rtol=1e-5)
    shifted = kernels.roll(1, dims=-1)  # misaligned kernels must not pass
    misaligned = Replacement("block6_depthwise", units, "block6_expand", kernels=shifted, bias=bias)
    with effnet.edit(replace=[misaligned]) as e:
        assert not torch.allclose(capture(e, images, "block6_depthwise"), before, atol=1e-3)


def test_replacement_by_function(effnet, images):
    with torch.no_grad():
        source = effnet.capture(images, ["block5"])["block5"]
    fn = lambda s: F.avg_pool2d(s[:, :2], 1) * 3  # noqa: E731
    with effnet.edit(replace=[Replacement("block6_expand", [0, 1], "block5", fn=fn)]) as e:
        got = capture(e, images, "block6_expand")
    torch.testing.assert_close(got[:, :2], source[:, :2] * 3)


def test_edit_errors(effnet):
    with pytest.raises(NeuronscopeError, match="no single convolution"):
        with effnet.edit(weights=[WeightEdit("block5_depthwise", "block6_expand", [0], [0], path="direct")]):
            pass
    with pytest.raises(NeuronscopeError, match="sign"):
        with effnet.edit(weights=[WeightEdit("block5", "block6_expand", sign="neg")]):
            pass
    with pytest.raises(NeuronscopeError, match="either fn or kernels"):
        with effnet.edit(replace=[Replacement("block6_expand", [0], "block5")]):
            pass
    with effnet.edit(ablate=[Ablation("block5", [0])]) as edited:
        with pytest.raises(NeuronscopeError, match="do not nest"):
            with edited.edit(ablate=[Ablation("block5", [1])]):
                pass
