"""EfficientNet-Lite0 (accuracy against the reference measurement, layers, geometry) and Lite1/Lite2."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

import neuronscope as ns


def test_accuracy_matches_reference(shared):
    """The reference measured top-1 87.5% / top-5 97.0% with this preprocessing and crop."""
    sample = shared / "data" / "imagenet-sample"
    out = subprocess.run([sys.executable, "-m", "neuronscope", "eval", "efficientnet_lite0", "--images", str(sample),
                          "--labels", str(sample / "labels.csv"), "--label-column", "index_1000",
                          "--batch-size", "100"], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "top1=0.875 top5=0.970 n=1000"


def test_layers_and_shapes(effnet):
    shapes = effnet.layer_shapes(224)
    assert shapes["block6_expand"] == (480, 14, 14)  # the 1x1 expansion of 80 channels, stride 16
    assert shapes["block5_depthwise"] == (240, 14, 14)
    assert shapes["block0_depthwise"] == (32, 112, 112) and "block0_expand" not in shapes  # expand ratio 1
    assert shapes["head"] == (1280, 7, 7) and shapes["logits"] == (1000,)
    assert effnet.labels[0] == "tench" and len(effnet.labels) == 1000
    assert effnet.default_layer == "block6_expand"


def test_pre_and_post_activation(effnet):
    images = torch.rand(2, 3, 96, 96, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        pre = effnet.capture(images, ["block6_expand", "block6"], pre_relu=True)
        post = effnet.capture(images, ["block6_expand", "block6"])
    torch.testing.assert_close(post["block6_expand"], F.relu6(pre["block6_expand"]))
    torch.testing.assert_close(post["block6"], pre["block6"])  # the projection has no activation
    assert pre["block6_expand"].min() < 0  # so the ReLU6 comparison above is not vacuous


def test_block_expand_is_bn_of_1x1_conv(effnet):
    """block6_expand computed by hand from the previous block's output and the raw weights."""
    images = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        acts = effnet.capture(images, ["block5", "block6_expand"], pre_relu=True)
        blk = effnet.net._blocks[6]
        bn = blk._bn0
        y = F.conv2d(acts["block5"], blk._expand_conv.weight)
        want = (y - bn.running_mean[:, None, None]) / torch.sqrt(bn.running_var[:, None, None] + 1e-3)
        want = want * bn.weight[:, None, None] + bn.bias[:, None, None]
    torch.testing.assert_close(acts["block6_expand"], want, rtol=1e-4, atol=1e-4)


def test_gradients_flow_through_capture(effnet):
    x = torch.rand(1, 3, 64, 64, requires_grad=True)
    effnet.capture(x, ["block6_expand"], pre_relu=True)["block6_expand"][0, 10].sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_receptive_field_matches_impulse_response(effnet):
    for layer in ["block5_depthwise", "block6_expand", "block8"]:
        rf = effnet.receptive_field(layer, 224)
        x = torch.rand(1, 3, 224, 224, requires_grad=True)
        with ns.linearized():
            out = effnet.capture(x, [layer], pre_relu=True)[layer]
        y, xx = rf.central_position()
        (grad,) = torch.autograd.grad(out[0, :, y, xx].sum(), x)
        support = grad[0].abs().sum(0) > 0
        rows, cols = support.any(1).nonzero()[:, 0], support.any(0).nonzero()[:, 0]
        top, left, bottom, right = rf.box(y, xx)
        assert (rows.min().item(), rows.max().item() + 1) == (top, bottom), layer
        assert (cols.min().item(), cols.max().item() + 1) == (left, right), layer


@pytest.mark.parametrize("name,size,channels", [("efficientnet_lite1", 240, 480), ("efficientnet_lite2", 260, 528)])
def test_lite1_and_lite2_load_offline_and_classify(shared, name, size, channels):
    """Strict weight loading, their own input size, and accuracy on the first 100 sample images in
    the evaluation view at that size (the full 1,000: README; a wrong layout or scaling gives ~0)."""
    from neuronscope.evaluate import accuracy, read_labels

    model = ns.load_model(name)
    assert model.input_size == size and model.default_layer == "block8_expand"
    assert model.layer_shapes(size, ["block8_expand"])["block8_expand"] == (channels, -(-size // 16), -(-size // 16))
    sample = shared / "data" / "imagenet-sample"
    rows = read_labels(sample / "labels.csv", "index_1000")[:100]
    acc = accuracy(model, sample, rows, batch_size=50, progress=False)
    assert acc.n == 100 and acc.top1 >= 0.7 and acc.top5 >= 0.9
