"""InceptionV1 ("inception5h"), exactly as the TensorFlow graph the Circuits articles studied.

SAME padding from the input size, -inf max-pool padding, TensorFlow's LRN constants, branch
order 1x1 / 3x3 / 5x5 / pool_reduce, a 1008-way head, and input scaling `x * 255 - 117`.
Parameter names equal those of the published PyTorch state dict, so it loads with strict=True.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from neuronscope.models import ops

# name: (in, 1x1, 3x3_bottleneck, 3x3, 5x5_bottleneck, 5x5, pool_reduce)
MIXED = {
    "mixed3a": (192, 64, 96, 128, 16, 32, 32),
    "mixed3b": (256, 128, 128, 192, 32, 96, 64),
    "mixed4a": (480, 192, 96, 204, 16, 48, 64),
    "mixed4b": (508, 160, 112, 224, 24, 64, 64),
    "mixed4c": (512, 128, 128, 256, 24, 64, 64),
    "mixed4d": (512, 112, 144, 288, 32, 64, 64),
    "mixed4e": (528, 256, 160, 320, 32, 128, 128),
    "mixed5a": (832, 256, 160, 320, 48, 128, 128),
    "mixed5b": (832, 384, 192, 384, 48, 128, 128),
}
POOL_BEFORE = {"mixed4a": "maxpool4", "mixed5a": "maxpool10"}
BRANCHES = ("1x1", "3x3_bottleneck", "3x3", "5x5_bottleneck", "5x5", "pool_reduce")
NUM_CLASSES = 1008
INPUT_MEAN = 117.0

# TensorFlow LRN attributes read from the graph: depth_radius 5, bias 2, alpha 1e-4 (float32), beta 0.5.
LRN_RADIUS, LRN_BIAS, LRN_ALPHA, LRN_BETA = 5, 2.0, 9.999999747378752e-05, 0.5


def local_response_norm(x: torch.Tensor) -> torch.Tensor:
    """TensorFlow LRN: x / (bias + alpha * sum of squares over 2*radius+1 channels) ** beta."""
    sq = F.pad(x.pow(2).unsqueeze(1), (0, 0, 0, 0, LRN_RADIUS, LRN_RADIUS)).squeeze(1)
    window = 2 * LRN_RADIUS + 1
    sums = F.avg_pool3d(sq.unsqueeze(1), (window, 1, 1), stride=1, divisor_override=1).squeeze(1)
    return x / (LRN_BIAS + LRN_ALPHA * sums).pow(LRN_BETA)


def _conv(cin: int, cout: int, k: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, stride=stride, padding=0)


class InceptionV1Net(nn.Module):
    """The network; `forward(x, tap)` expects already-scaled input (see `preprocess`)."""

    def __init__(self):
        super().__init__()
        self.conv2d0_pre_relu_conv = _conv(3, 64, 7, stride=2)
        self.conv2d1_pre_relu_conv = _conv(64, 64, 1)
        self.conv2d2_pre_relu_conv = _conv(64, 192, 3)
        for name, (cin, c1, c3b, c3, c5b, c5, cp) in MIXED.items():
            for branch, a, b, k in (("1x1", cin, c1, 1), ("3x3_bottleneck", cin, c3b, 1), ("3x3", c3b, c3, 3),
                                    ("5x5_bottleneck", cin, c5b, 1), ("5x5", c5b, c5, 5), ("pool_reduce", cin, cp, 1)):
                setattr(self, f"{name}_{branch}_pre_relu_conv", _conv(a, b, k))
        self.softmax2_pre_activation_matmul = nn.Linear(1024, NUM_CLASSES)

    @staticmethod
    def layer_activations() -> dict[str, str | None]:
        acts: dict[str, str | None] = {"conv2d0": "relu", "maxpool0": None, "localresponsenorm0": None,
                                       "conv2d1": "relu", "conv2d2": "relu", "localresponsenorm1": None,
                                       "maxpool1": None}
        for name in MIXED:
            if name in POOL_BEFORE:
                acts[POOL_BEFORE[name]] = None
            acts.update({f"{name}_{b}": "relu" for b in BRANCHES})
            acts[name] = "relu"
        acts["avgpool0"] = None
        acts["logits"] = None
        return acts

    def _mixed(self, name: str, x, tap):
        def conv(branch, inp):
            return tap(f"{name}_{branch}", ops.conv(inp, getattr(self, f"{name}_{branch}_pre_relu_conv")))

        p1 = conv("1x1", x)
        p3 = conv("3x3", ops.relu(conv("3x3_bottleneck", x)))
        p5 = conv("5x5", ops.relu(conv("5x5_bottleneck", x)))
        pp = conv("pool_reduce", ops.max_pool(x, 3, 1))
        return ops.relu(tap(name, ops.cat([p1, p3, p5, pp])))

    def forward(self, x, tap):
        x = ops.relu(tap("conv2d0", ops.conv(x, self.conv2d0_pre_relu_conv)))
        x = tap("maxpool0", ops.max_pool(x, 3, 2))
        x = tap("localresponsenorm0", ops.pointwise(local_response_norm, x))
        x = ops.relu(tap("conv2d1", ops.conv(x, self.conv2d1_pre_relu_conv)))
        x = ops.relu(tap("conv2d2", ops.conv(x, self.conv2d2_pre_relu_conv)))
        x = tap("localresponsenorm1", ops.pointwise(local_response_norm, x))
        x = tap("maxpool1", ops.max_pool(x, 3, 2))
        for name in MIXED:
            if name in POOL_BEFORE:
                x = tap(POOL_BEFORE[name], ops.max_pool(x, 3, 2))
            x = self._mixed(name, x, tap)
        x = tap("avgpool0", ops.global_avg_pool(x))
        return tap("logits", ops.linear(x, self.softmax2_pre_activation_matmul))


def preprocess(images: torch.Tensor) -> torch.Tensor:
    """RGB in [0, 1] -> the graph's input scale."""
    return images * 255.0 - INPUT_MEAN
