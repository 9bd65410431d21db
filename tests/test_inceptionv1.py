"""InceptionV1 against an independent, straightforward implementation of the same graph."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import neuronscope as ns

MIXED = ["mixed3a", "mixed3b", "mixed4a", "mixed4b", "mixed4c", "mixed4d", "mixed4e", "mixed5a", "mixed5b"]


def tf_pad(x, k, s, value=0.0):
    """TensorFlow SAME: output ceil(n/s); missing pixels split with the extra one after."""
    pads = []
    for n in (x.shape[-1], x.shape[-2]):
        need = max((-(-n // s) - 1) * s + k - n, 0)
        pads += [need // 2, need - need // 2]
    return F.pad(x, pads, value=value)


def reference_forward(sd, images):
    """Every layer's pre-activation, written directly from the reference description."""
    out = {}

    def conv(name, x, stride=1):
        w, b = sd[f"{name}_pre_relu_conv.weight"], sd[f"{name}_pre_relu_conv.bias"]
        return F.conv2d(tf_pad(x, w.shape[-1], stride), w, b, stride=stride)

    def pool(x, stride):
        return F.max_pool2d(tf_pad(x, 3, stride, float("-inf")), 3, stride)

    def lrn(x):  # PyTorch's LRN divides alpha by size: TF alpha 1e-4 over 11 channels -> 0.0011
        return F.local_response_norm(x, size=11, alpha=9.999999747378752e-05 * 11, beta=0.5, k=2.0)

    x = images * 255 - 117
    out["conv2d0"] = conv("conv2d0", x, 2)
    x = lrn(pool(F.relu(out["conv2d0"]), 2))
    out["conv2d1"] = conv("conv2d1", x)
    out["conv2d2"] = conv("conv2d2", F.relu(out["conv2d1"]))
    x = pool(lrn(F.relu(out["conv2d2"])), 2)
    for name in MIXED:
        if name in ("mixed4a", "mixed5a"):
            x = pool(x, 2)
        p1 = conv(f"{name}_1x1", x)
        b3 = conv(f"{name}_3x3_bottleneck", x)
        p3 = conv(f"{name}_3x3", F.relu(b3))
        b5 = conv(f"{name}_5x5_bottleneck", x)
        p5 = conv(f"{name}_5x5", F.relu(b5))
        pp = conv(f"{name}_pool_reduce", pool(x, 1))
        out.update({f"{name}_1x1": p1, f"{name}_3x3_bottleneck": b3, f"{name}_3x3": p3,
                    f"{name}_5x5_bottleneck": b5, f"{name}_5x5": p5, f"{name}_pool_reduce": pp})
        out[name] = torch.cat([p1, p3, p5, pp], 1)
        x = F.relu(out[name])
    out["logits"] = F.linear(x.mean((2, 3)), sd["softmax2_pre_activation_matmul.weight"],
                             sd["softmax2_pre_activation_matmul.bias"])
    return out


def test_parameters_equal_published_file(inception, inception_shapes):
    ours = {k: list(v.shape) for k, v in inception.net.state_dict().items()}
    assert ours == inception_shapes
    assert inception.parameter_count() == 7_066_380


@pytest.mark.parametrize("size", [(224, 224), (227, 201)])
def test_every_layer_matches_reference(inception, inception_file, size):
    sd = torch.load(inception_file, weights_only=True)
    images = torch.rand(2, 3, *size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = reference_forward(sd, images)
        names = list(expected)
        pre = inception.capture(images, names, pre_relu=True)
        post = inception.capture(images, names, pre_relu=False)
    for name in names:
        scale = expected[name].abs().max()
        torch.testing.assert_close(pre[name], expected[name], atol=1e-4 * scale, rtol=1e-4, msg=name)
        want_post = expected[name] if name == "logits" else F.relu(expected[name])
        torch.testing.assert_close(post[name], want_post, atol=1e-4 * scale, rtol=1e-4, msg=name)


def test_lrn_matches_tensorflow_formula():
    from neuronscope.models.inceptionv1 import local_response_norm

    x = torch.randn(1, 20, 3, 3, generator=torch.Generator().manual_seed(2)) * 30
    want = torch.empty_like(x)
    for c in range(20):
        lo, hi = max(0, c - 5), min(20, c + 6)
        want[:, c] = x[:, c] / (2.0 + 1e-4 * x[:, lo:hi].pow(2).sum(1)) ** 0.5
    torch.testing.assert_close(local_response_norm(x), want, rtol=1e-5, atol=1e-6)


def test_fixed_paddings_at_224():
    from neuronscope.models.ops import same_padding

    assert same_padding(224, 7, 2) == (2, 3)  # conv2d0
    assert same_padding(112, 3, 2) == (0, 1)  # maxpool0
    assert same_padding(28, 5, 1) == (2, 2)
    assert same_padding(113, 3, 2) == (1, 1)  # odd sizes pad both sides


def test_shapes_at_224(inception):
    shapes = inception.layer_shapes(224)
    assert shapes["conv2d0"] == (64, 112, 112)
    assert shapes["mixed3b"] == (480, 28, 28)
    assert shapes["mixed4a"] == (508, 14, 14)
    assert shapes["mixed5b"] == (1024, 7, 7)
    assert shapes["logits"] == (1008,)
    assert inception.labels[449] == "tench" and inception.labels[0].startswith("(unused")


def test_capture_stops_at_deepest_layer(inception, monkeypatch):
    called = []
    head = inception.net.mixed4a_1x1_pre_relu_conv
    monkeypatch.setattr(head, "forward", lambda x: called.append(1) or torch.zeros(0))
    with torch.no_grad():
        acts = inception.capture(torch.rand(1, 3, 64, 64), ["mixed3b", "conv2d0"])
    assert not called
    assert set(acts) == {"mixed3b", "conv2d0"}


def test_neuron_379_is_channel_59_of_5x5_branch(inception):
    images = torch.rand(1, 3, 96, 96, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        acts = inception.capture(images, ["mixed3b", "mixed3b_5x5"], pre_relu=True)
    torch.testing.assert_close(acts["mixed3b"][:, 379], acts["mixed3b_5x5"][:, 59])


@pytest.mark.parametrize("layer", ["conv2d0", "conv2d2", "mixed3a", "mixed3b", "mixed4a"])
@pytest.mark.parametrize("size", [224, 161])
def test_receptive_field_matches_impulse_response(inception, layer, size):
    """The computed field equals the input pixels a position's gradient reaches (ReLUs linearised)."""
    rf = inception.receptive_field(layer, size)
    x = torch.rand(1, 3, size, size, requires_grad=True)
    with ns.linearized():
        out = inception.capture(x, [layer], pre_relu=True)[layer]
    assert out.shape[-2:] == rf.grid
    for y, xx in [rf.central_position(), (0, 0), (rf.grid[0] - 1, rf.grid[1] - 2)]:
        (grad,) = torch.autograd.grad(out[0, :, y, xx].sum(), x, retain_graph=True)
        support = grad[0].abs().sum(0) > 0
        rows, cols = support.any(1).nonzero()[:, 0], support.any(0).nonzero()[:, 0]
        top, left, bottom, right = rf.box(y, xx)
        assert (rows.min().item(), rows.max().item()) == (max(top, 0), min(bottom, size) - 1)
        assert (cols.min().item(), cols.max().item()) == (max(left, 0), min(right, size) - 1)


def test_receptive_field_size_mixed3b(inception):
    rf = inception.receptive_field("mixed3b", 224)
    assert rf.stride == (8, 8)
    # conv2d0 7 (stride 2) -> pool 3 (stride 4) -> conv2d2 3 -> pool 3 (stride 8) -> 3a 5x5 -> 3b 5x5
    assert rf.size[0] == 7 + 2 * 2 + 2 * 4 + 2 * 4 + 4 * 8 + 4 * 8 == 91
    assert math.isclose(rf.center(*rf.central_position())[0], (224 - 1) / 2, abs_tol=8)
