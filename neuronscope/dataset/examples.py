"""Mergeable, deterministic dataset examples per unit: extremes and a stratified random sample.

A sample is identified by its global id, gid = image_index * positions + position, which does not
depend on batching or sharding. Extremes are ordered by (value descending, gid ascending), so
ties (e.g. the many zeros after a ReLU) resolve the same way everywhere. The random sample is a
bottom-k sketch: every (unit, sample) gets a pseudo-random key from a bijective hash of its gid
and the seed, and each (unit, stratum) keeps the `per_stratum` samples with the smallest keys;
that is a uniform sample without replacement, and the union of two sketches reduced to the
smallest keys is the sketch of the union, so shards merge exactly.
"""

from __future__ import annotations

import numpy as np
import torch

EMPTY = np.iinfo(np.int64).max  # key and gid of an empty slot; sorts after every real one


def mix64(x) -> np.ndarray:
    """SplitMix64's finaliser (wrapping uint64 arithmetic): a bijection, so distinct inputs get distinct keys."""
    x = np.array(x, np.uint64, ndmin=1)
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def position_keys(gids: np.ndarray, seed: int) -> np.ndarray:
    """int64 key per gid; unique per gid for a fixed seed."""
    offset = mix64((seed + 0x9E3779B97F4A7C15) % 2**64)
    return mix64(np.asarray(gids, np.int64).view(np.uint64) ^ offset).view(np.int64)


def unit_keys(units: int, seed: int) -> np.ndarray:
    """int64 per unit, XORed into the position keys: a different, still unique, order per unit."""
    return mix64(np.arange(units, dtype=np.uint64) ^ mix64(~np.uint64(seed % 2**64))).view(np.int64)


def _best(values: torch.Tensor, gids: torch.Tensor, k: int):
    """Per row, the k entries with the largest value, ties by smallest gid, in that order."""
    order = torch.argsort(gids, dim=1, stable=True)
    values, gids = values.gather(1, order), gids.gather(1, order)
    order = torch.argsort(values, dim=1, descending=True, stable=True)[:, :k]
    return values.gather(1, order), gids.gather(1, order)


def _smallest_per_group(groups: torch.Tensor, keys: torch.Tensor, r: int):
    """(row, column) of the r smallest keys of each group in each row; keys are distinct within a row."""
    by_key = torch.argsort(keys, dim=1)
    grouped = groups.gather(1, by_key)
    by_group = torch.argsort(grouped, dim=1, stable=True)
    grouped = grouped.gather(1, by_group)
    rank = torch.arange(keys.shape[1], device=keys.device) - torch.searchsorted(grouped, grouped)
    row, j = (rank < r).nonzero(as_tuple=True)
    return row, by_key.gather(1, by_group)[row, j]


class Extremes:
    """The k largest values per unit with their gids (use negated values for the k smallest)."""

    def __init__(self, value: torch.Tensor, gid: torch.Tensor):
        self.value, self.gid = value, gid

    @classmethod
    def empty(cls, units: int, k: int, device) -> Extremes:
        return cls(torch.full((units, k), -torch.inf, device=device),
                   torch.full((units, k), EMPTY, dtype=torch.int64, device=device))

    def update(self, values: torch.Tensor, gids: torch.Tensor) -> None:
        """values (C, M) float32, gids (M,) int64."""
        units, k = self.value.shape
        # Only values at least the current k-th best can enter; once warmed up they are few per unit.
        unit, col = (values >= self.value[:, -1:]).nonzero(as_tuple=True)
        if unit.numel() > 4 * units * k:
            return self._update_dense(values, gids)
        rank = torch.arange(unit.numel(), device=unit.device) - torch.searchsorted(unit, unit)
        width = int(rank.max()) + 1 if rank.numel() else 0
        if width > 4 * k:  # e.g. the many zeros of a unit after a ReLU
            return self._update_dense(values, gids)
        new_values = torch.full((units, width), -torch.inf, device=values.device)
        new_gids = torch.full((units, width), EMPTY, dtype=torch.int64, device=values.device)
        new_values[unit, rank] = values[unit, col]
        new_gids[unit, rank] = gids[col]
        self._keep(new_values, new_gids)

    def _update_dense(self, values: torch.Tensor, gids: torch.Tensor) -> None:
        k = min(self.value.shape[1], values.shape[1])
        threshold = torch.topk(values, k, dim=1).values[:, -1:]
        above = values > threshold
        tie = values == threshold
        needed = k - above.sum(1, keepdim=True)
        chosen = above | (tie & (tie.cumsum(1) <= needed))
        cols = chosen.nonzero(as_tuple=True)[1].view(values.shape[0], k)
        self._keep(values.gather(1, cols), gids[cols])

    def merge(self, other: Extremes) -> None:
        self._keep(other.value, other.gid)

    def _keep(self, values: torch.Tensor, gids: torch.Tensor) -> None:
        values, gids = torch.cat([self.value, values], 1), torch.cat([self.gid, gids], 1)
        self.value, self.gid = _best(values, gids, self.value.shape[1])


class StratifiedSample:
    """Per unit and stratum, the `per_stratum` samples with the smallest keys, sorted by key."""

    def __init__(self, key: torch.Tensor, gid: torch.Tensor, value: torch.Tensor):
        self.key, self.gid, self.value = key, gid, value  # each (C, S, r)

    @classmethod
    def empty(cls, units: int, strata: int, per_stratum: int, device) -> StratifiedSample:
        shape = (units, strata, per_stratum)
        return cls(
            torch.full(shape, EMPTY, dtype=torch.int64, device=device),
            torch.full(shape, EMPTY, dtype=torch.int64, device=device),
            torch.full(shape, torch.nan, device=device),
        )

    def update(self, strata: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, gids: torch.Tensor) -> None:
        """strata, keys, values: (C, M); gids: (M,)."""
        units, n_strata, r = self.key.shape
        threshold = self.key[:, :, -1].gather(1, strata)  # largest kept key, EMPTY while not full
        unit, col = (keys <= threshold).nonzero(as_tuple=True)
        if unit.numel() > 4 * self.key.numel():  # the first chunks: most values could still enter
            unit, col = _smallest_per_group(strata, keys, r)
        if unit.numel():
            group = unit * n_strata + strata[unit, col]
            self._keep(group, keys[unit, col], gids[col], values[unit, col])

    def merge(self, other: StratifiedSample) -> None:
        units, n_strata, r = other.key.shape
        group = torch.arange(units * n_strata, device=self.key.device).repeat_interleave(r)
        self._keep(group, other.key.reshape(-1), other.gid.reshape(-1), other.value.reshape(-1))

    def _keep(self, group, key, gid, value) -> None:
        """Merge entries of the given (unit * strata + stratum) groups into those groups' slots."""
        units, n_strata, r = self.key.shape
        affected = torch.unique(group)  # only these groups change
        old = [t.view(-1, r)[affected].view(-1) for t in (self.key, self.gid, self.value)]
        group = torch.cat([affected.repeat_interleave(r), group])
        key = torch.cat([old[0], key])
        order = torch.argsort(key, stable=True)  # (stable sorts are also the fast ones with many EMPTY keys)
        order = order[torch.argsort(group[order], stable=True)]
        group, key = group[order], key[order]
        rank = torch.arange(group.numel(), device=group.device) - torch.searchsorted(group, group)
        keep = (rank < r) & (key != EMPTY)
        row, slot, source = torch.searchsorted(affected, group[keep]), rank[keep], order[keep]
        for name, kept, fill in (("key", key[keep], EMPTY), ("gid", torch.cat([old[1], gid])[source], EMPTY),
                                 ("value", torch.cat([old[2], value])[source], torch.nan)):
            rows = torch.full((affected.numel(), r), fill, dtype=kept.dtype, device=kept.device)
            rows[row, slot] = kept
            getattr(self, name).view(-1, r)[affected] = rows
