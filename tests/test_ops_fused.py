"""The convolution fast path (padding inside the convolution, eval batch-norm folded into its
weights) against padding first and normalising after, written out independently; and ReLU6 in
place only where nothing holds the value."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import neuronscope as ns
from neuronscope.models import efficientnet, ops


def reference_conv(x, module, bn=None):
    """SAME padding as a padded copy, the plain convolution, then batch-norm by its formula."""
    (t, b), (l, r) = (ops.same_padding(x.shape[-2], module.kernel_size[0], module.stride[0]),
                      ops.same_padding(x.shape[-1], module.kernel_size[1], module.stride[1]))
    y = F.conv2d(F.pad(x, (l, r, t, b)), module.weight, module.bias, module.stride, 0, 1, module.groups)
    if bn is None:
        return y
    if bn.training:
        return bn(y)
    shape = (1, -1, 1, 1)
    return ((y - bn.running_mean.view(shape)) / torch.sqrt(bn.running_var.view(shape) + bn.eps)
            * bn.weight.view(shape) + bn.bias.view(shape))


def _bn(c, generator):
    bn = nn.BatchNorm2d(c, eps=1e-3).eval()
    with torch.no_grad():
        bn.weight.copy_(torch.rand(c, generator=generator) * 2 - 0.5)
        bn.bias.copy_(torch.randn(c, generator=generator))
        bn.running_mean.copy_(torch.randn(c, generator=generator))
        bn.running_var.copy_(torch.rand(c, generator=generator) * 3 + 0.01)
    return bn


@pytest.mark.parametrize("k, stride, groups, size, bias", [(1, 1, 1, 14, False), (3, 1, 8, 15, False),
                                                            (3, 2, 8, 16, False), (5, 2, 8, 15, True),
                                                            (5, 1, 1, 9, True), (3, 2, 1, 17, False)])
@pytest.mark.parametrize("with_bn", [False, True])
def test_fused_conv_matches_pad_conv_then_batch_norm(k, stride, groups, size, bias, with_bn):
    g = torch.Generator().manual_seed(k * 100 + stride * 10 + size)
    conv = nn.Conv2d(8, 16 if groups == 1 else 8, k, stride=stride, groups=groups, bias=bias)
    bn = _bn(conv.out_channels, g) if with_bn else None
    x = torch.randn(3, 8, size, size, generator=g)
    for layout in (torch.contiguous_format, torch.channels_last):
        got = ops.conv(x.to(memory_format=layout), conv, bn)
        want = reference_conv(x, conv, bn)
        assert got.shape == want.shape
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_training_batch_norm_is_not_folded():
    """Batch statistics cannot be folded: a training-mode batch-norm normalises by the batch."""
    g = torch.Generator().manual_seed(1)
    conv, bn = nn.Conv2d(4, 6, 3, bias=False), _bn(6, g).train()
    x = torch.randn(5, 4, 10, 10, generator=g)
    got = ops.conv(x, conv, bn)
    torch.testing.assert_close(got.mean(dim=(0, 2, 3)), bn.bias.detach(), atol=1e-5, rtol=0)
    torch.testing.assert_close(got, reference_conv(x, conv, bn), rtol=1e-5, atol=1e-5)


def test_efficientnet_activations_and_gradients_match_the_unfused_network(monkeypatch):
    """Every layer up to the logits, and the input gradient feature visualisation follows, agree
    with the network run through the reference (padded copy, separate batch-norm) to 1e-4 of
    each layer's spread."""
    model = ns.load_model("efficientnet_lite0")
    x = torch.rand(2, 3, 96, 96, generator=torch.Generator().manual_seed(0), requires_grad=True)
    layers = ["stem", "block1_depthwise", "block3_expand", "block6_expand", "block10", "logits"]

    def run():
        acts = model.capture(x, layers, pre_relu=True)
        grad, = torch.autograd.grad(acts["block6_expand"][:, 7, 2, 3].sum(), x)
        return {k: v.detach() for k, v in acts.items()}, grad

    fast, fast_grad = run()
    monkeypatch.setattr(ops, "conv", reference_conv)
    monkeypatch.setattr(efficientnet, "activated", out_of_place)
    slow, slow_grad = run()
    for name in layers:
        spread = slow[name].std().item()
        assert spread > 0
        torch.testing.assert_close(fast[name], slow[name], rtol=0, atol=1e-4 * spread)
    assert slow_grad.abs().max() > 0
    torch.testing.assert_close(fast_grad, slow_grad, rtol=0, atol=1e-4 * slow_grad.abs().max().item())


def out_of_place(tap, name, value):
    return ops.relu6(tap(name, value))


def test_in_place_relu6_never_touches_a_value_someone_holds(monkeypatch):
    """ReLU6 runs in place only on layers nobody records or intervenes on: recorded pre-ReLU
    values keep their negatives, and an intervention that keeps the tensor it is given sees it
    unclamped, exactly as with the out-of-place activation."""
    model = ns.load_model("efficientnet_lite0")
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    kept = {}

    def keep(value):
        kept["block2_expand"] = value
        return value

    layers = ["block1_depthwise", "block3_expand", "block4"]
    got = model.capture(x, layers, pre_relu=True, interventions={"block2_expand": keep})
    ref_kept = {}

    def ref_keep(value):
        ref_kept["v"] = value.clone()
        return value

    monkeypatch.setattr(efficientnet, "activated", out_of_place)
    want = model.capture(x, layers, pre_relu=True, interventions={"block2_expand": ref_keep})
    assert kept["block2_expand"].min() < 0 and got["block1_depthwise"].min() < 0
    torch.testing.assert_close(kept["block2_expand"], ref_kept["v"], rtol=0, atol=0)
    for name in layers:
        torch.testing.assert_close(got[name], want[name], rtol=0, atol=0)
