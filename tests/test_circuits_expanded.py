"""Expanded weights against independent computations: convolution, weight algebra, finite differences."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import neuronscope as ns
from neuronscope.circuits import expanded_weights
from neuronscope.errors import NeuronscopeError


class Branchy(nn.Module):
    """a -> (3x3 conv + batch-norm) + (1x1 conv) -> ReLU -> 3x3 stride-2 conv c."""

    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(3, 4, 3)
        self.b1 = nn.Sequential(nn.Conv2d(4, 5, 3, padding=1), nn.BatchNorm2d(5))
        self.b2 = nn.Conv2d(4, 5, 1)
        self.merge = nn.Identity()
        self.relu = nn.ReLU()
        self.c = nn.Conv2d(5, 6, 3, stride=2)

    def forward(self, x):
        a = self.a(x)
        return self.c(self.relu(self.merge(self.b1(a) + self.b2(a))))


def branchy_model():
    torch.manual_seed(0)
    net = Branchy()
    bn = net.b1[1]
    bn.running_mean.uniform_(-1, 1)
    bn.running_var.uniform_(0.5, 2)
    bn.weight.data.uniform_(-2, 2)
    return ns.wrap(net, layers=["a", "merge", "c"])


def test_linear_model_is_reproduced_by_convolving_with_expanded_kernels():
    model = branchy_model()
    kernels = expanded_weights(model, "a", "c")
    assert kernels.shape == (6, 4, 5, 5)  # 3x3 on a 3x3: five source positions per side
    x = torch.rand(2, 3, 40, 40)
    with ns.linearized(), torch.no_grad():
        acts = model.capture(x, ["a", "c"], pre_relu=True)
        constant = model.capture(x, ["c"], interventions={"a": torch.zeros_like})["c"]  # the bias path
    # target position y sees merge rows 2y..2y+2, which see source rows 2y-1..2y+3 (b1 pads by 1)
    rebuilt = F.conv2d(F.pad(acts["a"], (1, 1, 1, 1)), kernels, stride=2) + constant
    inner = (slice(None), slice(None), slice(1, -1), slice(1, -1))  # away from the padded border
    torch.testing.assert_close(rebuilt[inner], acts["c"][inner], atol=1e-4, rtol=1e-4)


def test_inception_1x1_path_is_the_conv_weight(inception):
    kernels = expanded_weights(inception, "mixed3a", "mixed3b_1x1")
    weight = inception.net.mixed3b_1x1_pre_relu_conv.weight
    assert kernels.shape == (128, 256, 1, 1)
    torch.testing.assert_close(kernels, weight, atol=1e-6, rtol=1e-5)


def test_inception_5x5_path_composes_bottleneck_and_5x5(inception):
    kernels = expanded_weights(inception, "mixed3a", "mixed3b_5x5", units=[0, 7, 95])
    bottleneck = inception.net.mixed3b_5x5_bottleneck_pre_relu_conv.weight[:, :, 0, 0]
    conv = inception.net.mixed3b_5x5_pre_relu_conv.weight[[0, 7, 95]]
    torch.testing.assert_close(kernels, torch.einsum("omyx,ms->osyx", conv, bottleneck), atol=1e-5, rtol=1e-4)


def test_inception_concatenated_layer_holds_each_branch(inception):
    """mixed3b channels: 1x1 (0-127), 3x3 (128-319), 5x5 (320-415), pool_reduce (416-479)."""
    units = [3, 200, 400, 450]
    kernels = expanded_weights(inception, "mixed3a", "mixed3b", units=units)
    assert kernels.shape == (4, 256, 5, 5)
    net = inception.net
    want = torch.zeros(4, 256, 5, 5)
    want[0, :, 2, 2] = net.mixed3b_1x1_pre_relu_conv.weight[3, :, 0, 0]
    b3 = net.mixed3b_3x3_bottleneck_pre_relu_conv.weight[:, :, 0, 0]
    want[1, :, 1:4, 1:4] = torch.einsum("myx,ms->syx", net.mixed3b_3x3_pre_relu_conv.weight[200 - 128], b3)
    b5 = net.mixed3b_5x5_bottleneck_pre_relu_conv.weight[:, :, 0, 0]
    want[2] = torch.einsum("myx,ms->syx", net.mixed3b_5x5_pre_relu_conv.weight[400 - 320], b5)
    # the 3x3 max-pool becomes a 3x3 mean away from borders
    want[3, :, 1:4, 1:4] = net.mixed3b_pool_reduce_pre_relu_conv.weight[450 - 416, :, 0, 0, None, None] / 9
    torch.testing.assert_close(kernels, want, atol=1e-5, rtol=1e-4)


def test_inception_skipping_layers_matches_finite_difference(inception):
    """conv2d2 -> mixed3b crosses LRN, max-pool and mixed3a: check linearity by a forward difference."""
    units = [5, 379]
    kernels = expanded_weights(inception, "conv2d2", "mixed3b", units=units)
    assert kernels.shape == (2, 192, 19, 19)  # fields 19 and 91 px at stride 4: (91 - 19) / 4 + 1
    size = 94
    rf = inception.receptive_field("mixed3b", size)
    cy, cx = rf.central_position()
    top = (rf.box(cy, cx)[0] - inception.receptive_field("conv2d2", size).start[0]) // 4
    grid = inception.layer_shapes(size)["conv2d2"]
    delta = 0.1 * torch.randn(1, *grid, generator=torch.Generator().manual_seed(1))
    x = torch.zeros(1, 3, size, size)
    with ns.linearized(), torch.no_grad():
        base = inception.capture(x, ["mixed3b"], interventions={"conv2d2": torch.zeros_like})["mixed3b"]
        moved = inception.capture(x, ["mixed3b"], interventions={"conv2d2": lambda v: delta})["mixed3b"]
    change = (moved - base)[0, units, cy, cx]
    window = delta[0, :, top:top + 19, top:top + 19]
    torch.testing.assert_close((kernels * window).sum(dim=(1, 2, 3)), change, atol=1e-3, rtol=1e-3)


def test_efficientnet_1x1_expand_folds_batch_norm(effnet):
    block = effnet.net._blocks[6]
    kernels = expanded_weights(effnet, "block5", "block6_expand")
    bn = block._bn0
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    assert kernels.shape == (480, 80, 1, 1)
    torch.testing.assert_close(kernels, block._expand_conv.weight * scale[:, None, None, None], atol=1e-6, rtol=1e-5)


def test_efficientnet_depthwise_kernels_are_diagonal(effnet):
    block = effnet.net._blocks[6]
    units = [0, 17, 479]
    kernels = expanded_weights(effnet, "block6_expand", "block6_depthwise", units=units)
    bn = block._bn1
    scale = (bn.weight / torch.sqrt(bn.running_var + bn.eps))[units]
    want = torch.zeros(3, 480, 3, 3)
    want[range(3), units] = block._depthwise_conv.weight[units, 0] * scale[:, None, None]
    torch.testing.assert_close(kernels, want, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("source, shape", [("block4", (40, 3, 3)), ("block5", (80, 1, 1))])
def test_batching_and_packing_do_not_change_kernels(effnet, source, shape):
    """One unit per backward pass from the central position vs many units per element at many positions."""
    units = list(range(0, 480, 40))
    one = expanded_weights(effnet, source, "block6_expand", units=units, batch_size=1, pack=False)
    many = expanded_weights(effnet, source, "block6_expand", units=units, batch_size=40)
    assert one.shape == (len(units), *shape)  # block4: 40 units; block5's 3x3 depthwise spans 3 positions
    torch.testing.assert_close(one, many, atol=1e-6, rtol=1e-5)


def test_packing_with_branches_beside_the_source(inception):
    """A source inside a concatenation runs one image per batch element; packing still agrees."""
    units = [0, 150, 330, 470]
    one = expanded_weights(inception, "mixed3b_3x3_bottleneck", "mixed3b", units=units, batch_size=1, pack=False)
    many = expanded_weights(inception, "mixed3b_3x3_bottleneck", "mixed3b", units=units, batch_size=3)
    torch.testing.assert_close(one, many, atol=1e-6, rtol=1e-5)
    assert one[0].abs().max() == 0 and one[3].abs().max() == 0 and one[1].abs().max() > 0  # only the 3x3 branch


def test_bad_pairs_and_units_are_user_errors(effnet):
    with pytest.raises(NeuronscopeError, match="does not come after"):
        expanded_weights(effnet, "block6_expand", "block5")
    with pytest.raises(NeuronscopeError, match="480 units"):
        expanded_weights(effnet, "block5", "block6_expand", units=[480])
    with pytest.raises(NeuronscopeError, match="unknown layer"):
        expanded_weights(effnet, "block5", "nope")
