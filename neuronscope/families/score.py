"""Statistics of one orientation tuning curve sampled evenly over a period (360 for curves,
180 for lines): preferred orientation, width, selectivity and echo."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ECHO_WINDOW = 45.0  # an echo peaks within this many degrees of the preferred orientation + 180


@dataclass(frozen=True)
class Peak:
    orientation: float  # preferred orientation in [0, period), degrees
    width: float        # full width at half height of the main lobe, degrees
    selectivity: float  # (max - mean) / max: 0 for a flat curve, near 1 for a narrow peak over a zero base
    echo: float         # height of a secondary peak near orientation + 180, as a fraction of the main one


def tuning_peak(orientations, curve, period: float = 360.0) -> Peak:
    """Analyse `curve` sampled at evenly spaced `orientations` (degrees) covering one `period`.

    The main lobe is the run of samples around the maximum that stays above half height
    (halfway between the curve's minimum and maximum); its width is interpolated linearly at
    the crossings and the preferred orientation is the lobe's circular mean weighted by the
    height above half. Selectivity needs values whose zero is meaningful (SDs from the dataset
    mean): an echo lowers it only by its share of the mean. Echo (360-degree period only): the
    highest local maximum outside the lobe within `ECHO_WINDOW` of orientation + 180, as a
    fraction of the lobe's height above the curve's minimum.
    """
    theta = np.asarray(orientations, np.float64)
    c = np.asarray(curve, np.float64)
    n = len(c)
    step = period / n
    k = int(np.argmax(c))
    lo, hi = float(c.min()), float(c[k])
    selectivity = float((hi - c.mean()) / hi) if hi > 0 else 0.0
    if not hi > lo:
        return Peak(float(theta[k] % period), period, selectivity, 0.0)
    half = (lo + hi) / 2
    left = right = 0
    while left < n - 1 and c[(k - left - 1) % n] >= half:
        left += 1
    while left + right < n - 1 and c[(k + right + 1) % n] >= half:
        right += 1
    lobe = (k + np.arange(-left, right + 1)) % n
    if len(lobe) == n:
        width = period
    else:
        width = (left + right) * step + step * (_crossing(c, k - left, -1, half) + _crossing(c, k + right, 1, half))
    phase = 2 * np.pi / period
    weights = c[lobe] - half + 1e-12
    orientation = np.angle(np.sum(weights * np.exp(1j * phase * theta[lobe]))) / phase % period
    echo = 0.0
    if period == 360.0:
        inside = np.zeros(n, bool)
        inside[lobe] = True
        near = angular_distance(theta, orientation + 180) <= ECHO_WINDOW
        local_max = (c >= np.roll(c, 1)) & (c >= np.roll(c, -1))
        candidates = near & ~inside & local_max
        if candidates.any():
            echo = float((c[candidates].max() - lo) / (hi - lo))
    return Peak(float(orientation), float(min(width, period)), selectivity, echo)


def _crossing(c: np.ndarray, last: int, direction: int, half: float) -> float:
    """Fraction of a step past sample `last` (inside the lobe) at which the curve falls to `half`."""
    n = len(c)
    inside, outside = c[last % n], c[(last + direction) % n]
    return float((inside - half) / (inside - outside)) if inside > outside else 0.0


def angular_distance(a, b, period: float = 360.0):
    """|a - b| on a circle of `period` degrees (elementwise)."""
    d = (np.asarray(a, np.float64) - np.asarray(b, np.float64)) % period
    return np.minimum(d, period - d)


def coverage_gaps(orientations, period: float = 360.0) -> np.ndarray:
    """Gaps (degrees) between consecutive preferred orientations around the circle, in order."""
    o = np.sort(np.asarray(orientations, np.float64) % period)
    if len(o) == 0:
        return np.array([period])
    return np.diff(np.append(o, o[0] + period))
