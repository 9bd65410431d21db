"""`wrap`: any nn.Module gets capture, early stopping, activations and receptive fields."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import neuronscope as ns
from neuronscope.errors import NeuronscopeError


def small_net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 6, 5, stride=2, padding=2),
                         nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 3))


def test_capture_by_module_name_with_activation():
    net = small_net()
    model = ns.wrap(net, layers={"0": "relu", "2": "relu"})
    x = torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        pre = model.capture(x, ["0", "2", "logits"], pre_relu=True)
        post = model.capture(x, ["0", "2"])
        want0 = net[0](x)
        want2 = net[2](torch.relu(want0))
    torch.testing.assert_close(pre["0"], want0)
    torch.testing.assert_close(pre["2"], want2)
    torch.testing.assert_close(post["2"], torch.relu(want2))
    torch.testing.assert_close(pre["logits"], net(x))


def test_stops_after_deepest_layer():
    net = small_net()
    calls = []
    model = ns.wrap(net)  # (wrapping runs the net once, to list its layers)
    net[6].register_forward_hook(lambda *a: calls.append(1))
    model.capture(torch.rand(1, 3, 8, 8), ["2"])
    assert calls == []


def test_preprocess_is_applied():
    net = nn.Sequential(nn.Identity())
    model = ns.wrap(net, preprocess=lambda x: x * 2 - 1)
    out = model.capture(torch.full((1, 3, 2, 2), 0.25), ["0"])["0"]
    assert torch.allclose(out, torch.full((1, 3, 2, 2), -0.5))


def test_interventions_replace_values():
    net = small_net()
    model = ns.wrap(net)
    x = torch.rand(1, 3, 8, 8)
    zeroed = model.capture(x, ["logits"], interventions={"2": lambda v: v * 0})["logits"]
    torch.testing.assert_close(zeroed, net[6](torch.zeros(1, 6)))


def test_measured_receptive_field_is_analytic():
    """Two convs: 3x3 (pad 1) then 5x5 stride 2 (pad 2): size 3 + 4 = 7, stride 2, start -1 - 2 = -3."""
    model = ns.wrap(small_net())
    rf = model.receptive_field("2", 32)
    assert rf.grid == (16, 16)
    assert rf.size == (7, 7) and rf.stride == (2, 2) and rf.start == (-3, -3)


def test_unknown_layer_lists_layers():
    with pytest.raises(NeuronscopeError, match="unknown layer 'nope'.*layers are: 0, 1, 2"):
        ns.wrap(small_net()).capture(torch.rand(1, 3, 8, 8), ["nope"])


def test_linearized_swaps_relu_and_maxpool():
    net = nn.Sequential(nn.ReLU(), nn.MaxPool2d(2))
    model = ns.wrap(net)
    x = torch.tensor([[[[-1.0, 3.0], [1.0, 1.0]]]]).expand(1, 3, 2, 2)
    with ns.linearized():
        out = model(x)
    torch.testing.assert_close(out, torch.full((1, 3, 1, 1), 1.0))  # mean of (-1, 3, 1, 1)
    assert isinstance(net[0], nn.ReLU)  # restored afterwards


def test_relu_layer_is_captured_while_linearized():
    net = nn.Sequential(nn.Conv2d(3, 2, 1), nn.ReLU())
    x = -torch.ones(1, 3, 2, 2)
    with ns.linearized():
        out = ns.wrap(net).capture(x, ["1"])["1"]
    torch.testing.assert_close(out, net[0](x))  # identity in place of the ReLU, and still captured
