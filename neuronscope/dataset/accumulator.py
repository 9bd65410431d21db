"""Every streaming statistic of one layer, updated one chunk at a time on the activations' device.

The state is a dict of numpy arrays (what `stats.npz` stores); any two states over disjoint
chunks of the same run settings merge into exactly the state of a run over both.
"""

from __future__ import annotations

import numpy as np
import torch

from neuronscope.dataset.examples import Extremes, StratifiedSample, position_keys, unit_keys
from neuronscope.dataset.moments import Block, MomentTree, blocks_from_state


class LayerAccumulator:
    """Moments, sign counts, min/max, fixed-range histogram (see histogram.py), extremes and a
    stratified sample (see examples.py) of every unit; strata are equal groups of histogram bins."""

    def __init__(self, lo, hi, *, bins: int, strata: int, per_stratum: int, top_k: int, seed: int, device="cpu"):
        self.device = torch.device(device)
        self.lo = torch.as_tensor(np.asarray(lo, np.float64), device=self.device)
        self.hi = torch.as_tensor(np.asarray(hi, np.float64), device=self.device)
        units = self.lo.numel()
        self.bins, self.strata, self.seed = bins, strata, seed
        self.moments = MomentTree()
        self.positive = torch.zeros(units, dtype=torch.int64, device=self.device)
        self.min = torch.full((units,), torch.inf, device=self.device)
        self.max = torch.full((units,), -torch.inf, device=self.device)
        self.hist = torch.zeros(units, bins + 2, dtype=torch.int64, device=self.device)
        self.top = Extremes.empty(units, top_k, self.device)
        self.bottom = Extremes.empty(units, top_k, self.device)  # holds negated values
        self.samples = StratifiedSample.empty(units, strata, per_stratum, self.device)
        self._unit_keys = torch.from_numpy(unit_keys(units, seed)).to(self.device)

    @property
    def units(self) -> int:
        return self.lo.numel()

    def update(self, chunk: int, values: torch.Tensor, gids: np.ndarray) -> None:
        """Count chunk number `chunk`: values (C, M) float32 on this device, gids (M,) int64."""
        values = values.contiguous()  # reductions then run in one fixed memory order
        units, count = values.shape
        if count == 0:
            zeros = torch.zeros(units, dtype=torch.float64, device=self.device)
            self.moments.add(Block(chunk, chunk + 1, 0, zeros, zeros))
            return
        wide = values.double()
        mean = wide.mean(1)
        self.moments.add(Block(chunk, chunk + 1, count, mean, (wide - mean[:, None]).square().sum(1)))
        self.positive += (values > 0).sum(1)
        self.min = torch.minimum(self.min, values.amin(1))
        self.max = torch.maximum(self.max, values.amax(1))

        width = (self.hi - self.lo) / self.bins
        index = ((wide - self.lo[:, None]) / width[:, None]).floor_().clamp_(-1, self.bins).long() + 1
        del wide
        offsets = torch.arange(units, device=self.device)[:, None] * (self.bins + 2)
        self.hist += torch.bincount((index + offsets).view(-1), minlength=self.hist.numel()).view_as(self.hist)

        gid = torch.from_numpy(np.ascontiguousarray(gids, np.int64)).to(self.device)
        self.top.update(values, gid)
        self.bottom.update(-values, gid)
        stratum = (index - 1).clamp_(0, self.bins - 1).div_(self.bins // self.strata, rounding_mode="floor")
        del index
        keys = torch.from_numpy(position_keys(gids, self.seed)).to(self.device)[None, :] ^ self._unit_keys[:, None]
        self.samples.update(stratum, keys, values, gid)

    def merge(self, other: LayerAccumulator) -> None:
        self.moments = MomentTree(self.moments.blocks + other.moments.blocks)
        self.positive += other.positive
        self.min = torch.minimum(self.min, other.min)
        self.max = torch.maximum(self.max, other.max)
        self.hist += other.hist
        self.top.merge(other.top)
        self.bottom.merge(other.bottom)
        self.samples.merge(other.samples)

    def state(self) -> dict[str, np.ndarray]:
        blocks = self.moments.blocks
        units = self.units

        def cpu(t):  # a copy: the tensors keep changing in place
            return t.detach().cpu().numpy().copy()

        return {
            "moment_range": np.array([[b.start, b.end] for b in blocks], np.int64).reshape(-1, 2),
            "moment_n": np.array([b.n for b in blocks], np.int64),
            "moment_mean": np.stack([cpu(b.mean) for b in blocks]) if blocks else np.zeros((0, units)),
            "moment_m2": np.stack([cpu(b.m2) for b in blocks]) if blocks else np.zeros((0, units)),
            "positive": cpu(self.positive),
            "min": cpu(self.min),
            "max": cpu(self.max),
            "hist": cpu(self.hist),
            "hist_lo": cpu(self.lo),
            "hist_hi": cpu(self.hi),
            "top_value": cpu(self.top.value),
            "top_gid": cpu(self.top.gid),
            "bottom_value": -cpu(self.bottom.value),
            "bottom_gid": cpu(self.bottom.gid),
            "sample_key": cpu(self.samples.key),
            "sample_gid": cpu(self.samples.gid),
            "sample_value": cpu(self.samples.value),
        }

    @classmethod
    def from_state(cls, state: dict, *, seed: int, device="cpu") -> LayerAccumulator:
        units, strata, per_stratum = state["sample_key"].shape
        acc = cls(
            state["hist_lo"], state["hist_hi"], bins=state["hist"].shape[1] - 2, strata=strata,
            per_stratum=per_stratum, top_k=state["top_value"].shape[1], seed=seed, device=device,
        )

        def tensor(name):
            return torch.from_numpy(np.array(state[name])).to(acc.device)

        acc.moments.blocks = blocks_from_state(state, lambda a: torch.from_numpy(np.array(a)).to(acc.device))
        acc.positive, acc.min, acc.max, acc.hist = tensor("positive"), tensor("min"), tensor("max"), tensor("hist")
        acc.top = Extremes(tensor("top_value"), tensor("top_gid"))
        acc.bottom = Extremes(-tensor("bottom_value"), tensor("bottom_gid"))
        acc.samples = StratifiedSample(tensor("sample_key"), tensor("sample_gid"), tensor("sample_value"))
        return acc

