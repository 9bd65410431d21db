"""The linear approximation for any `nn.Module`, as a torch function mode.

Inside `LinearMode()`, every call of a ReLU-like activation is the identity (whether it comes
from a module such as `nn.ReLU(inplace=True)`, a functional call such as
`F.relu(x, inplace=True)`, or a tensor method `x.relu_()`), hard-sigmoid is its linear part
`x / 6 + 1/2`, and max-pools are average-pools over the same windows, padding excluded (the
built-in networks do the same in `ops`). With `local=True` global mixing is cut as well: global
poolings (a spatial mean, sum or max, or adaptive pooling to 1 x 1) keep their value but carry
no gradient, and attention lets each token keep its own value, so the gradient of a position
shows its local path alone (receptive fields, expanded weights).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from neuronscope.errors import NeuronscopeError

_IDENTITY = {F.relu, F.relu_, torch.relu, torch.relu_, torch.Tensor.relu, torch.Tensor.relu_,
             F.relu6, F.hardtanh, F.hardtanh_, F.leaky_relu, F.leaky_relu_, torch.nn.functional.elu,
             F.elu_, F.gelu, F.silu, F.mish, F.hardswish, F.rrelu, F.celu, F.selu}
_MAX_POOLS = {F.max_pool1d, F.max_pool2d, torch.max_pool2d, torch.max_pool1d}
_ADAPTIVE_MAX = {F.adaptive_max_pool2d, F.adaptive_max_pool1d}
_REDUCTIONS = {torch.mean, torch.Tensor.mean, torch.sum, torch.Tensor.sum, torch.amax, torch.Tensor.amax}
_SOFTMAX = {F.softmax, torch.softmax, torch.Tensor.softmax}


def _arg(args, kwargs, index, name, default=None):
    if name in kwargs:
        return kwargs[name]
    return args[index] if len(args) > index else default


def _avg_pool(args, kwargs, dims: int):
    x = args[0]
    k = _arg(args, kwargs, 1, "kernel_size")
    s = _arg(args, kwargs, 2, "stride") or k
    p = _arg(args, kwargs, 3, "padding", 0)
    dilation = _arg(args, kwargs, 4, "dilation", 1)
    ceil = _arg(args, kwargs, 5, "ceil_mode", False)
    if _arg(args, kwargs, 6, "return_indices", False):
        raise NeuronscopeError("a max-pool that returns its indices cannot be linearised")
    if any(d != 1 for d in ((dilation,) * dims if isinstance(dilation, int) else dilation)):
        raise NeuronscopeError("a dilated max-pool cannot be linearised (no average-pool counterpart)")
    pool = F.avg_pool1d if dims == 1 else F.avg_pool2d
    return pool(x, k, s, p, ceil_mode=ceil, count_include_pad=False)


def _is_global_reduction(args, kwargs) -> bool:
    x = args[0]
    dims = _arg(args, kwargs, 1, "dim")
    if not isinstance(x, torch.Tensor) or dims is None:
        return False
    dims = {d % x.dim() for d in ((dims,) if isinstance(dims, int) else dims)}
    if x.dim() == 4:  # (N, C, H, W): over both spatial axes
        return {2, 3} <= dims
    return x.dim() == 3 and dims == {1}  # (N, tokens, D): over the tokens


class LinearMode(TorchFunctionMode):
    """See the module docstring."""

    def __init__(self, local: bool = False):
        super().__init__()
        self.local = local

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in _IDENTITY:
            return args[0]
        if func is F.hardsigmoid:
            return args[0] / 6 + 0.5
        if func in _MAX_POOLS:
            return _avg_pool(args, kwargs, 1 if func in (F.max_pool1d, torch.max_pool1d) else 2)
        if func in _ADAPTIVE_MAX:
            out = _arg(args, kwargs, 1, "output_size")
            if _arg(args, kwargs, 2, "return_indices", False):
                raise NeuronscopeError("a max-pool that returns its indices cannot be linearised")
            pool = F.adaptive_avg_pool1d if func is F.adaptive_max_pool1d else F.adaptive_avg_pool2d
            result = pool(args[0], out)
            return result.detach() if self.local and _is_one(out) else result
        if self.local:
            if func is F.adaptive_avg_pool2d and _is_one(_arg(args, kwargs, 1, "output_size")):
                return func(*args, **kwargs).detach()
            if func in _REDUCTIONS and _is_global_reduction(args, kwargs):
                return func(*args, **kwargs).detach()
            if func is F.scaled_dot_product_attention:
                return _arg(args, kwargs, 2, "value")
            if func in _SOFTMAX:
                x = args[0]
                if x.dim() >= 2 and x.shape[-1] == x.shape[-2] > 1:  # token x token attention weights
                    return torch.eye(x.shape[-1], dtype=x.dtype, device=x.device).expand_as(x)
            if func is F.multi_head_attention_forward:
                return _own_values(args, kwargs), None
        return func(*args, **kwargs)


def _is_one(size) -> bool:
    return size == 1 or (isinstance(size, (tuple, list)) and all(s == 1 for s in size))


def _own_values(args, kwargs):
    """`nn.MultiheadAttention` with each token attending to itself only: out_proj(v_proj(value))."""
    names = ("query", "key", "value", "embed_dim_to_check", "num_heads", "in_proj_weight", "in_proj_bias",
             "bias_k", "bias_v", "add_zero_attn", "dropout_p", "out_proj_weight", "out_proj_bias")
    a = {**dict(zip(names, args)), **kwargs}
    value, e = a["value"], a["embed_dim_to_check"]
    if a.get("use_separate_proj_weight"):
        w, b = a["v_proj_weight"], None if a["in_proj_bias"] is None else a["in_proj_bias"][2 * e:]
    else:
        w, b = a["in_proj_weight"][2 * e:], None if a["in_proj_bias"] is None else a["in_proj_bias"][2 * e:]
    return F.linear(F.linear(value, w, b), a["out_proj_weight"], a["out_proj_bias"])
