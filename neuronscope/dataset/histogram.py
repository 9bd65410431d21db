"""Per-unit fixed-bin histograms: choosing the range, and reading quantiles and tails from them.

Each unit has `bins` equal bins over [lo, hi) plus an underflow and an overflow bin (columns 0 and
bins + 1). The range is fixed before counting, from the calibration chunk (the first chunk of the
whole source with a readable image, whatever the shard): its [min, max] widened by `margin` times
its span on each side. Every shard and resumed run therefore counts into identical bins, so
histograms merge by addition and exactly; values outside the range are still counted, and the
exact min and max are kept separately.
"""

from __future__ import annotations

import numpy as np


def calibrated_range(amin: np.ndarray, amax: np.ndarray, margin: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """[lo, hi] per unit from the calibration chunk's min and max (a constant unit gets a small span)."""
    amin, amax = np.asarray(amin, np.float64), np.asarray(amax, np.float64)
    floor = 1e-3 * np.maximum(1.0, np.maximum(np.abs(amin), np.abs(amax)))
    span = np.maximum(amax - amin, floor)
    return amin - margin * span, amax + margin * span


def bin_edges(lo: np.ndarray, hi: np.ndarray, bins: int) -> np.ndarray:
    """(C, bins + 1) edges of the in-range bins."""
    width = (hi - lo) / bins
    return lo[:, None] + width[:, None] * np.arange(bins + 1)


def quantiles(hist, lo, hi, vmin, vmax, q) -> np.ndarray:
    """(C, len(q)) quantiles, linear within a bin; the outer bins span [min, lo) and [hi, max]."""
    q = np.atleast_1d(np.asarray(q, np.float64))
    edges = bin_edges(lo, hi, hist.shape[1] - 2)
    vmin, vmax = np.asarray(vmin, np.float64), np.asarray(vmax, np.float64)
    out = np.full((hist.shape[0], q.size), np.nan)
    for unit, counts in enumerate(hist):
        total = counts.sum()
        if total == 0:
            continue
        ext = np.clip(np.concatenate([[vmin[unit]], edges[unit], [vmax[unit]]]), vmin[unit], vmax[unit])
        cum = np.cumsum(counts)
        target = q * total
        j = np.minimum(np.searchsorted(cum, target, side="left"), len(counts) - 1)
        j = np.maximum(j, np.argmax(counts > 0))  # q = 0 lands in the first non-empty bin
        before = cum[j] - counts[j]
        frac = np.clip((target - before) / np.maximum(counts[j], 1), 0.0, 1.0)
        out[unit] = ext[j] + frac * (ext[j + 1] - ext[j])
    return out


def tail_fits(hist, lo, hi, tail: float = 0.05) -> dict[str, np.ndarray]:
    """Exponential fits of both tails of each unit's histogram.

    A tail starts at the bin edge beyond which at most `tail` of the values lie. For exponential
    values beyond a threshold u, the index of the equal-width bin they fall in is geometric, so
    the grouped maximum-likelihood rate is closed form; the under/overflow bin enters as values
    censored at the range's end: q = T / (T + n_in), rate = -ln(q) / width, with T the summed
    bin indices (overflow counted at its first index) and n_in the in-range tail count.
    Returns per unit: left/right `rate` (1 / activation units, nan when not fittable), the
    `start` of each tail and its `mass` (fraction of all values in it), enough to draw the fit
    p(x) = mass * rate * exp(-rate * |x - start|).
    """
    hist = np.asarray(hist, np.int64)
    bins = hist.shape[1] - 2
    width = (np.asarray(hi, np.float64) - np.asarray(lo, np.float64)) / bins
    edges = bin_edges(np.asarray(lo, np.float64), np.asarray(hi, np.float64), bins)
    out = {}
    for side in ("left", "right"):
        counts = hist if side == "right" else hist[:, ::-1]
        side_edges = edges if side == "right" else edges[:, ::-1]
        rate, start, mass = (np.full(hist.shape[0], np.nan) for _ in range(3))
        for unit, row in enumerate(counts):
            total = row.sum()
            if total == 0:
                continue
            # tail_from[i]: values in in-range bin i (row index i + 1) and beyond
            tail_from = np.cumsum(row[::-1])[::-1][1:-1]
            eligible = np.nonzero(tail_from <= tail * total)[0]
            if eligible.size == 0 or tail_from[eligible[0]] == 0:
                continue
            first = eligible[0]
            inside, censored = row[first + 1 : bins + 1], row[bins + 1]
            t = np.dot(np.arange(inside.size), inside) + censored * inside.size
            n_in = inside.sum()
            if n_in == 0 or t == 0:
                continue
            rate[unit] = -np.log(t / (t + n_in)) / width[unit]
            start[unit] = side_edges[unit, first]
            mass[unit] = tail_from[first] / total
        out[f"{side}_rate"], out[f"{side}_start"], out[f"{side}_mass"] = rate, start, mass
    return out
