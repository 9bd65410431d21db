"""Groups of units ("families") as the circuit views take them, from whatever describes them.

A group is a list of units of one layer, optionally with each unit's preferred orientation
(degrees, counter-clockwise, y up). Accepted descriptions: a `neuronscope.families.Family`, the
JSON it saves (`{"layer": ..., "members": [{"unit": u, "orientation_deg": o}, ...]}`), a list of
units, a list of (unit, orientation) pairs, or a dict unit -> orientation. Several groups come
as a dict name -> description, or a JSON file holding one. On the command line a family is
`UNIT:DEG,UNIT:DEG,...`, `UNIT,UNIT,...`, a JSON file, or `FILE:NAME` for one group of a file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from neuronscope.errors import NeuronscopeError


@dataclass(frozen=True)
class UnitGroup:
    name: str
    units: tuple[int, ...]
    orientations: tuple[float, ...] | None = None  # one per unit, degrees
    layer: str | None = None
    period: float = 360.0  # 180 for line families

    def __post_init__(self):
        if not self.units:
            raise NeuronscopeError(f"family {self.name!r} has no units")
        if len(set(self.units)) != len(self.units):
            raise NeuronscopeError(f"family {self.name!r} lists a unit twice")
        if self.orientations is not None and len(self.orientations) != len(self.units):
            raise NeuronscopeError(f"family {self.name!r} has {len(self.units)} units but "
                                   f"{len(self.orientations)} orientations")

    @property
    def oriented(self) -> bool:
        return self.orientations is not None

    def ordered(self) -> "UnitGroup":
        """The same group sorted by preferred orientation (unchanged if it has none)."""
        if not self.oriented:
            return self
        pairs = sorted(zip(self.units, self.orientations), key=lambda p: p[1] % self.period)
        return UnitGroup(self.name, tuple(u for u, _ in pairs), tuple(o for _, o in pairs), self.layer, self.period)

    def require_orientations(self) -> tuple[float, ...]:
        if not self.oriented:
            raise NeuronscopeError(f"family {self.name!r} needs a preferred orientation for every unit")
        return self.orientations


def as_group(description, name: str = "family", layer: str | None = None) -> UnitGroup:
    """One `UnitGroup` from any accepted description (see the module docstring)."""
    if isinstance(description, UnitGroup):
        return description
    if hasattr(description, "members"):  # a neuronscope.families.Family
        members = [(m.unit, m.orientation_deg) for m in description.members]
        return _from_pairs(name, members, description.layer, getattr(description, "period", 360.0))
    if isinstance(description, Mapping) and "members" in description:  # a saved Family
        members = [(m["unit"], m.get("orientation_deg")) for m in description["members"]]
        period = 180.0 if description.get("kind") == "line" else 360.0
        return _from_pairs(description.get("name", name), members, description.get("layer", layer), period)
    if isinstance(description, Mapping):
        return _from_pairs(name, list(description.items()), layer)
    try:
        items = list(description)
        pairs = [(item, None) if _is_int(item) else tuple(item) for item in items]
    except TypeError:
        raise NeuronscopeError(f"cannot read family {name!r} from {description!r}") from None
    return _from_pairs(name, pairs, layer)


def load_groups(source, layer: str | None = None) -> dict[str, UnitGroup]:
    """Groups by name from a dict or a JSON file: name -> description, or one saved Family."""
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.exists():
            raise NeuronscopeError(f"family file {path} does not exist")
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise NeuronscopeError(f"family file {path} is not JSON: {exc}") from None
        if isinstance(data, Mapping) and "members" in data:  # a saved Family: "curves" or "lines"
            name = f"{data['kind']}s" if "kind" in data else path.stem
            return {name: as_group(data, name, layer)}
        source = data
    if not isinstance(source, Mapping):
        raise NeuronscopeError("families must be given as name -> units")
    return {str(k): as_group(v, str(k), layer) for k, v in source.items()}


def _is_int(x) -> bool:
    try:
        return int(x) == x and not isinstance(x, (tuple, list, str))
    except (TypeError, ValueError):
        return False


def _from_pairs(name, pairs, layer, period: float = 360.0) -> UnitGroup:
    try:
        units = tuple(int(u) for u, _ in pairs)
        given = [o for _, o in pairs]
    except (TypeError, ValueError):
        raise NeuronscopeError(f"family {name!r}: expected units or (unit, orientation) pairs") from None
    if all(o is None for o in given):
        return UnitGroup(name, units, None, layer, period)
    if any(o is None for o in given):
        raise NeuronscopeError(f"family {name!r} gives orientations for some units only")
    return UnitGroup(name, units, tuple(float(o) for o in given), layer, period)


def parse_group(text: str, name: str = "family", layer: str | None = None) -> UnitGroup:
    """A family from the command line (see the module docstring)."""
    path, sep, key = text.rpartition(":")
    if Path(text).exists():
        found, key = load_groups(text, layer), None
    elif sep and Path(path).exists():
        found = load_groups(path, layer)
    else:
        try:
            pairs = [(int(u), float(o) if o else None) for u, _, o in (item.partition(":") for item in text.split(","))]
        except ValueError:
            raise NeuronscopeError(f"family {text!r}: expected UNIT:DEG,..., UNIT,... or a JSON file that "
                                   f"exists") from None
        return _from_pairs(name, pairs, layer)
    if key is None and len(found) == 1:
        return next(iter(found.values()))
    if key not in found:
        raise NeuronscopeError(f"{text}: name one of its families with FILE:NAME ({', '.join(found)})")
    return found[key]


def family_for(model, layer: str, given=None, images=None, **find) -> UnitGroup:
    """`given` (any description or command-line text) as a group of `layer`, else the curve family
    that `neuronscope.families.find_family` finds there (dataset SDs over `images`)."""
    if given is not None:
        return parse_group(given, "family", layer) if isinstance(given, str) else as_group(given, "family", layer)
    from neuronscope.families import find_family

    family = find_family(model, layer, find.pop("kind", "curve"), images=images, **find)
    if not family.members:
        raise NeuronscopeError(f"found no curve family in {layer}; pass one explicitly")
    return as_group(family, "curves", layer)
