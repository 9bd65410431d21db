"""Joint tuning curves: rotate each unit's top dataset examples and record every unit.

For unit i, its top examples (from a `neuronscope.dataset` result in whole-image or crop
mode) are rotated about their receptive field's centre through 360 degrees; the rotated
images are sampled straight onto the probe's input window (bilinear, reflecting at the image
border), so a rotation costs one small render. Rotating by `a` counter-clockwise turns a
feature of orientation `o` into `o + a`, so with unit i's preferred orientation `p_i` the
responses of unit j to i's examples at rotation `a` are its tuning at orientation `p_i + a`.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from neuronscope.dataset.sources import open_item
from neuronscope.errors import NeuronscopeError
from neuronscope.images import standard_view
from neuronscope.tuning.probe import Probe
from neuronscope.tuning.result import Tuning
from neuronscope.tuning.sweeps import describe
from neuronscope.tuning.units import units_of


def example_images(stats, unit: int, count: int) -> tuple[torch.Tensor, list[tuple[float, float]]]:
    """The `count` top examples of `unit`: (k, 3, S, S) images as the statistics saw them, and the
    centre (row, col) of each example's receptive field."""
    settings, source = stats.manifest["settings"], stats.manifest["source"]
    field = stats.receptive_field
    images, centres = [], []
    for ex in stats.top(unit)[:count]:
        item = open_item(source["kind"], source["root"], ex.image_id)
        images.append(standard_view(item, settings["resize"], settings["size"]))
        centres.append(field.center(ex.y, ex.x))
    if not images:
        raise NeuronscopeError(f"the statistics hold no examples of unit {unit}")
    return torch.stack(images), centres


def rotated_windows(probe: Probe, image: torch.Tensor, centre, angles_deg: torch.Tensor) -> torch.Tensor:
    """(len(angles), 3, h, w): `image` rotated by each angle (CCW, y up) about `centre` (row, col),
    sampled onto the probe's window so that `centre` lands on the probe's field centre."""
    h, w = probe.size
    cy, cx = probe.center
    rows = torch.arange(h, dtype=torch.float32).view(h, 1) - cy
    cols = torch.arange(w, dtype=torch.float32).view(1, w) - cx
    a = torch.deg2rad(angles_deg.float()).view(-1, 1, 1)
    cos, sin = torch.cos(a), torch.sin(a)
    # window offset (x = col, y = -row) rotated back by -a gives the source offset
    x, y = cols, -rows
    sx = cos * x + sin * y
    sy = -sin * x + cos * y
    src_col, src_row = centre[1] + sx, centre[0] - sy
    H, W = image.shape[-2:]
    grid = torch.stack([2 * src_col / (W - 1) - 1, 2 * src_row / (H - 1) - 1], dim=-1)
    batch = image.unsqueeze(0).expand(len(angles_deg), -1, -1, -1)
    return F.grid_sample(batch, grid, mode="bilinear", padding_mode="reflection", align_corners=True)


def joint_tuning(probe: Probe, preferred: dict[int, float], stats, *, examples: int = 4, step_deg: float = 1.0,
                 batch_size: int = 256, progress: bool = False) -> Tuning:
    """For each unit i in `preferred` (unit -> preferred orientation, e.g. a family's members),
    the mean response of every unit j to i's `examples` top dataset examples rotated in
    `step_deg` steps, re-indexed by stimulus orientation p_i + rotation. Result axes:
    example_unit (i) x orientation_deg; last axis j. Average over i for the joint curve.
    `progress`: a bar over the units whose examples are rotated."""
    from tqdm.auto import tqdm

    units = [int(u) for u in preferred]
    angles = torch.arange(0.0, 360.0, step_deg)
    orientation = angles.numpy().astype(np.float64)
    raw = np.zeros((len(units), len(angles), len(units)))
    for i, unit in enumerate(tqdm(units, desc="joint tuning", unit="unit", disable=not progress)):
        images, centres = example_images(stats, unit, examples)
        total = torch.zeros(len(angles), len(units))
        for image, centre in zip(images, centres):
            for start in range(0, len(angles), batch_size):
                windows = rotated_windows(probe, image, centre, angles[start:start + batch_size]).to(probe.device)
                total[start:start + batch_size] += probe.evaluate(windows, units).float().cpu()
        mean = (total / len(images)).double().numpy()
        shift = int(round(preferred[unit] / step_deg))  # rotation a shows orientation p_i + a
        raw[i] = np.roll(mean, shift, axis=0)
    meta = {**describe(probe), "examples": examples, "step_deg": step_deg,
            "preferred_deg": {str(u): float(p) for u, p in preferred.items()}}
    return Tuning("joint", {"example_unit": np.asarray(units, np.float64), "orientation_deg": orientation}, raw,
                  units, units_of(stats), probe.model.activations[probe.layer], meta)
