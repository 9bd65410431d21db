"""`wrap` on real architectures, each built here (torchvision does not import beside this torch):
resnet blocks with in-place ReLU and a shared ReLU module, googlenet's functional in-place ReLU,
squeeze-excite, a patch-token transformer with a class token, and other activations."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import neuronscope as ns
from neuronscope.circuits import expanded_weights
from neuronscope.errors import NeuronscopeError


# -- architectures -------------------------------------------------------------------
class BasicBlock(nn.Module):
    """torchvision's resnet BasicBlock: one in-place ReLU module used twice, `out += identity`."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
                           if stride != 1 or cin != cout else None)

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


class ResNet18Like(nn.Module):
    """resnet18's geometry (7x7/2 stem, 3x3/2 max-pool, four stages of two blocks) at small widths."""

    def __init__(self, widths=(4, 8, 8, 8)):
        super().__init__()
        torch.manual_seed(0)
        self.conv1 = nn.Conv2d(3, widths[0], 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin, stages = widths[0], []
        for i, w in enumerate(widths):
            stride = 1 if i == 0 else 2
            stages.append(nn.Sequential(BasicBlock(cin, w, stride), BasicBlock(w, w, 1)))
            cin = w
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, 10)
        _randomise_bn(self)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def _randomise_bn(net):
    g = torch.Generator().manual_seed(1)
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.2)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.randn(m.num_features, generator=g))
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.5)
    net.eval()


def field(specs):
    """Receptive field (size, stride, start) of a chain of (kernel, stride, padding), by the textbook recursion."""
    size, stride, start = 1, 1, 0
    for k, s, p in specs:
        size, start, stride = size + (k - 1) * stride, start - p * stride, stride * s
    return size, stride, start


RESNET_STEM = [(7, 2, 3), (3, 2, 1)]
RESNET_STAGE = {1: [(3, 1, 1)] * 4, 2: [(3, 2, 1)] + [(3, 1, 1)] * 3}


def resnet_field(stages: int):
    return field(RESNET_STEM + RESNET_STAGE[1] + RESNET_STAGE[2] * (stages - 1))


class BasicConv2d(nn.Module):
    """googlenet's BasicConv2d: the ReLU is a functional, in-place call."""

    def __init__(self, cin, cout, k, bias=False):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, padding=k // 2, bias=bias)

    def forward(self, x):
        return F.relu(self.conv(x), inplace=True)


class FunctionalNet(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.a = BasicConv2d(3, 4, 3)
        self.b = BasicConv2d(4, 5, 3)
        self.c = BasicConv2d(5, 6, 1)

    def forward(self, x):
        return self.c(F.max_pool2d(self.b(self.a(x)), 3, 1, 1)).mean((2, 3))


class SqueezeExcite(nn.Module):
    def __init__(self, c, hidden):
        super().__init__()
        self.fc1, self.fc2 = nn.Conv2d(c, hidden, 1), nn.Conv2d(hidden, c, 1)

    def forward(self, x):
        gate = torch.sigmoid(self.fc2(F.relu(self.fc1(F.adaptive_avg_pool2d(x, 1)))))
        return x * gate


class SENet(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv1 = nn.Conv2d(3, 4, 3, 2, 1)
        self.se = SqueezeExcite(4, 2)
        self.conv2 = nn.Conv2d(4, 5, 3, 1, 1)
        self.conv3 = nn.Conv2d(5, 6, 5, 2, 2)
        self.head = nn.Linear(6, 3)

    def forward(self, x):
        x = self.se(F.relu(self.conv1(x)))
        x = self.conv3(F.relu(self.conv2(x)))
        return self.head(x.mean((2, 3)))


class Block(nn.Module):
    """A pre-norm transformer block, attention written out (q k^T, softmax, times v)."""

    def __init__(self, d):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.mlp = nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Linear(2 * d, d))

    def forward(self, x):
        q, k, v = self.qkv(self.norm1(x)).chunk(3, dim=-1)
        attn = (q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5).softmax(dim=-1)
        x = x + self.proj(attn @ v)
        return x + self.mlp(self.norm2(x))


class TinyViT(nn.Module):
    """Patch embedding (4 px patches), a class token, position embeddings for a 32 px input."""

    def __init__(self, d=8, patch=4, size=32):
        super().__init__()
        torch.manual_seed(0)
        self.patch_embed = nn.Conv2d(3, d, patch, patch)
        self.cls_token = nn.Parameter(torch.randn(1, 1, d))
        self.pos_embed = nn.Parameter(torch.randn(1, 1 + (size // patch) ** 2, d) * 0.1)
        self.blocks = nn.Sequential(Block(d), Block(d))
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, 5)

    def forward(self, x):
        x = self.patch_embed(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(len(x), -1, -1), x], dim=1) + self.pos_embed
        return self.head(self.norm(self.blocks(x))[:, 0])


# -- 1. captured values are never changed by in-place operations later on -------------
def test_inplace_relu_does_not_change_captured_pre_relu_values():
    model = ns.wrap(ResNet18Like())
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        alone = model.capture(x, ["layer2.0.bn1"])["layer2.0.bn1"]
        both = model.capture(x, ["layer2.0.bn1", "layer3"], pre_relu=True)
        net = model.net
        y = net.layer1(net.maxpool(net.relu(net.bn1(net.conv1(x)))))
        want = net.layer2[0].bn1(net.layer2[0].conv1(y))
    assert want.min() < 0  # so a ReLU applied in place would show
    torch.testing.assert_close(alone, want)
    torch.testing.assert_close(both["layer2.0.bn1"], want)


# -- 6. a module called twice ---------------------------------------------------------
def test_module_called_twice_is_captured_per_call():
    model = ns.wrap(ResNet18Like())
    assert "layer1.0.relu#1" in model.layers and "layer1.0.relu#2" in model.layers
    assert "layer1.0.relu" not in model.layers
    with pytest.raises(NeuronscopeError, match=r"runs 2 times.*layer1\.0\.relu#1, layer1\.0\.relu#2"):
        ns.wrap(ResNet18Like(), layers=["layer1.0.relu"])
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        got = model.capture(x, ["layer1.0.relu#1", "layer1.0.relu#2", "layer1.0"])
        block = model.net.layer1[0]
        y = model.net.maxpool(model.net.relu(model.net.bn1(model.net.conv1(x))))
        first = F.relu(block.bn1(block.conv1(y)))
    torch.testing.assert_close(got["layer1.0.relu#1"], first)
    torch.testing.assert_close(got["layer1.0.relu#2"], got["layer1.0"])  # the second call is the block's output
    assert model.layers.index("layer1.0.relu#1") < model.layers.index("layer1.0.bn2") < model.layers.index(
        "layer1.0.relu#2")


# -- 2. receptive fields, exact for any size ------------------------------------------
@pytest.mark.parametrize("layer,stages", [("layer1", 1), ("layer3", 3), ("layer4", 4)])
def test_receptive_field_exact_when_larger_than_the_input(layer, stages):
    """resnet18: layer3 211 px / 16 (was 202 / 7), layer4 435 px / 32 (was 224 / 0) at 224 px."""
    model = ns.wrap(ResNet18Like())
    size, stride, start = resnet_field(stages)
    assert (layer, size, stride) in {("layer1", 43, 4), ("layer3", 211, 16), ("layer4", 435, 32)}
    for n in (224, 100) if layer == "layer1" else (224,):
        rf = model.receptive_field(layer, n)
        assert rf.size == (size, size) and rf.stride == (stride, stride) and rf.start == (start, start), n
        assert rf.grid == model.layer_shapes(n, [layer])[layer][-2:] and not rf.global_dependence


def test_squeeze_excite_is_global_with_its_local_field_beside_it():
    model = ns.wrap(SENet())
    rf = model.receptive_field("conv3", 64)
    assert rf.global_dependence
    assert (rf.size[0], rf.stride[0], rf.start[0]) == field([(3, 2, 1), (3, 1, 1), (5, 2, 2)])
    before = model.receptive_field("conv1", 64)
    assert not before.global_dependence and before.size == (3, 3) and before.stride == (2, 2)
    pooled = model.receptive_field("se.fc1", 64)  # after the global pooling: no local field at all
    assert pooled.global_dependence and pooled.size == (64, 64)


def test_expanded_weights_through_squeeze_excite_hold_the_gate():
    """conv1 -> ReLU (identity) -> x * gate -> conv2: with the gate held at its value for a zero
    source, sigmoid(W2 (W1 0 + b1) + b2), the kernel is conv2's weight times the gate, per source unit."""
    model = ns.wrap(SENet())
    se, w2 = model.net.se, model.net.conv2.weight.detach()
    with torch.no_grad():
        gate = torch.sigmoid(se.fc2.weight[:, :, 0, 0] @ se.fc1.bias + se.fc2.bias)
    kernels = expanded_weights(model, "conv1", "conv2")
    torch.testing.assert_close(kernels, w2 * gate[None, :, None, None])


# -- 3. functional in-place ReLU and identically zero results -------------------------
def test_expanded_weights_reach_functional_inplace_relu():
    """a -> F.relu_ -> b.conv -> F.relu_ -> max-pool -> c.conv (1x1): the kernel from a.conv to c.conv is
    sum_m w_c[t, m] * (w_b[m, s] convolved with the 3x3 average of valid pixels) -- away from borders,
    a 3x3 mean: so kernel[t, s] = sum_m w_c[t, m, 0, 0] * (w_b[m, s] (*) ones(3, 3) / 9)."""
    model = ns.wrap(FunctionalNet(), layers=["a.conv", "b.conv", "c.conv"])
    wb, wc = model.net.b.conv.weight.detach(), model.net.c.conv.weight.detach()[:, :, 0, 0]
    box = F.conv_transpose2d(wb, torch.ones(1, 1, 3, 3).expand(wb.shape[1], 1, 3, 3) / 9, groups=wb.shape[1])
    want = torch.einsum("tm,mshw->tshw", wc, box)
    got = expanded_weights(model, "a.conv", "c.conv")
    assert got.shape == want.shape == (6, 4, 5, 5)
    torch.testing.assert_close(got, want)


def test_identically_zero_expanded_weights_are_refused():
    net = FunctionalNet()
    with torch.no_grad():
        net.c.conv.weight[2].zero_()  # unit 2 reads nothing
    model = ns.wrap(net, layers=["a.conv", "c.conv"])
    assert expanded_weights(model, "a.conv", "c.conv", units=[1, 2])[0].any()
    with pytest.raises(NeuronscopeError, match="identically zero"):
        expanded_weights(model, "a.conv", "c.conv", units=[2])


# -- 4. token layers -------------------------------------------------------------------
def test_token_layers_are_a_grid_with_the_class_token_apart():
    model = ns.wrap(TinyViT(), input_size=32)
    assert "blocks.0#cls" in model.layers and "blocks.0" in model.layers
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        got = model.capture(x, ["blocks.0", "blocks.0#cls"])
        net = model.net
        t = net.patch_embed(x).flatten(2).transpose(1, 2)
        tokens = net.blocks[0](torch.cat([net.cls_token.expand(2, -1, -1), t], 1) + net.pos_embed)
    assert got["blocks.0"].shape == (2, 8, 8, 8)
    torch.testing.assert_close(got["blocks.0"][:, :, 2, 5], tokens[:, 1 + 2 * 8 + 5])  # row 2, column 5
    torch.testing.assert_close(got["blocks.0#cls"], tokens[:, 0])
    # interventions on the grid reach the network: the class token reads the patch tokens in blocks.1
    zeroed = model.capture(x, ["logits"], interventions={"blocks.0": lambda v: v * 0})["logits"]
    with torch.no_grad():
        t0 = torch.cat([tokens[:, :1], torch.zeros_like(tokens[:, 1:])], 1)
        want = net.head(net.norm(net.blocks[1](t0))[:, 0])
    torch.testing.assert_close(zeroed, want)
    rf = model.receptive_field("blocks.1", 32)
    assert rf.global_dependence and rf.size == (4, 4) and rf.stride == (4, 4) and rf.start == (0, 0)
    assert rf.grid == (8, 8)


def test_non_grid_layers_are_refused_with_what_is_supported():
    model = ns.wrap(TinyViT(), input_size=32)
    with pytest.raises(NeuronscopeError, match="feature map .* or a token grid"):
        model.receptive_field("head", 32)


# -- 7. other activations ---------------------------------------------------------------
ACTS = {"gelu": (nn.GELU, F.gelu), "silu": (nn.SiLU, F.silu), "hardswish": (nn.Hardswish, F.hardswish),
        "hardsigmoid": (nn.Hardsigmoid, F.hardsigmoid)}


@pytest.mark.parametrize("name", sorted(ACTS))
def test_other_activations_in_layers_and_linearisation(name):
    module, fn = ACTS[name]
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), module(), nn.Conv2d(4, 2, 1))
    model = ns.wrap(net, layers={"0": name, "2": None})
    x = torch.rand(1, 3, 8, 8) * 4 - 2
    with torch.no_grad():
        pre = model.capture(x, ["0"], pre_relu=True)["0"]
        post = model.capture(x, ["0"])["0"]
        torch.testing.assert_close(post, fn(pre))
        with ns.linearized():
            lin = model(x)
    stand_in = pre / 6 + 0.5 if name == "hardsigmoid" else pre  # the identity, or hard-sigmoid's linear part
    torch.testing.assert_close(lin, net[2](stand_in))


def test_linearisation_reaches_functional_calls():
    class Net(nn.Module):
        def forward(self, x):
            return F.max_pool2d(F.silu(F.gelu(x.relu_())), 2)

    x = torch.tensor([[[[-1.0, 3.0], [1.0, 1.0]]]]).expand(1, 3, 2, 2).clone()
    with ns.linearized():
        out = ns.wrap(Net())(x)
    torch.testing.assert_close(out, torch.full((1, 3, 1, 1), 1.0))  # mean of (-1, 3, 1, 1)
