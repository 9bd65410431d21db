"""`Family`: the one type for a family of units of one layer (curve or line detectors), however
it was made (found by `find_family`, typed on the command line, read from JSON, built in code).

    Family.parse("379:0,385:45", layer="mixed3b")   # UNIT:DEG,...  UNIT,...  FILE.json  FILE.json:NAME
    Family.of([(379, 0.0), (385, 45.0)])           # pairs, units, {unit: deg}, a saved dict, a Family
    Family.load("family.json"); family.save("family.json")
    family.units, family.orientations, len(family), family.ordered()

Orientations are degrees, counter-clockwise, y up; a line family's are modulo 180 (`period`).
A family may be empty (`len(family) == 0`); code that needs members says so with `require()`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from neuronscope.errors import NeuronscopeError
from neuronscope.families.score import coverage_gaps

KINDS = ("curve", "line")
TEXT_HELP = "UNIT:DEG,UNIT:DEG,..., UNIT,UNIT,..., a family JSON file or FILE:NAME for one family of a file"


@dataclass(frozen=True)
class Member:
    """One unit of a family; the measurements are None when the family was given, not found."""

    unit: int
    orientation_deg: float | None = None
    peak_z: float | None = None     # peak response, dataset SDs
    width_deg: float | None = None  # full width at half height of the orientation tuning
    echo: float | None = None       # secondary peak near orientation + 180 (curves), fraction of the main one


@dataclass(eq=False)
class Family:
    """Units of `layer` forming a `kind` ("curve" or "line") family, with what is known of them.

    `model`, `position`, `unit_label`, `scores` (per unit of the layer, every score and whether
    it passed) and `tunings` (the sweeps the scores came from) are set by `find_family`.
    """

    members: tuple[Member, ...] = ()
    layer: str | None = None
    kind: str = "curve"
    name: str = ""  # default "<kind>s"
    model: str | None = None
    position: tuple[int, int] | None = None
    unit_label: str | None = None
    scores: dict[str, np.ndarray] | None = field(default=None, repr=False)
    tunings: dict | None = field(default=None, repr=False)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise NeuronscopeError(f"kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        self.members = tuple(m if isinstance(m, Member) else Member(**m) for m in self.members)
        self.name = self.name or f"{self.kind}s"
        units = [m.unit for m in self.members]
        if len(set(units)) != len(units):
            raise NeuronscopeError(f"family {self.name!r} lists a unit twice")
        given = [m.orientation_deg is not None for m in self.members]
        if any(given) and not all(given):
            raise NeuronscopeError(f"family {self.name!r} gives orientations for some units only")

    # -- what it holds -----------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.members)

    def __iter__(self):
        return iter(self.members)

    @property
    def units(self) -> tuple[int, ...]:
        return tuple(m.unit for m in self.members)

    @property
    def orientations(self) -> tuple[float, ...] | None:
        """Each member's preferred orientation (degrees), or None when they are not known."""
        if not self.oriented:
            return None
        return tuple(float(m.orientation_deg) for m in self.members)

    @property
    def oriented(self) -> bool:
        return bool(self.members) and self.members[0].orientation_deg is not None

    @property
    def period(self) -> float:
        return 360.0 if self.kind == "curve" else 180.0

    @property
    def gaps(self) -> np.ndarray:
        """Gaps between neighbouring members' orientations, around the circle (or half circle)."""
        return coverage_gaps(self.orientations or [], self.period)

    def require(self, what: str = "") -> Family:
        """This family, or an error when it has no members (`what`: how to give one instead)."""
        if not self.members:
            where = f" in {self.layer}" if self.layer else ""
            raise NeuronscopeError(f"found no {self.kind} family{where}" + (f"; {what}" if what else ""))
        return self

    def require_orientations(self) -> tuple[float, ...]:
        self.require()
        if not self.oriented:
            raise NeuronscopeError(f"family {self.name!r} needs a preferred orientation for every unit")
        return self.orientations

    def ordered(self) -> Family:
        """The same family sorted by preferred orientation (itself if it has none)."""
        if not self.oriented:
            return self
        return replace(self, members=tuple(sorted(self.members, key=lambda m: m.orientation_deg % self.period)))

    # -- making one ----------------------------------------------------------------------
    @classmethod
    def from_units(cls, units, orientations=None, *, layer: str | None = None, kind: str = "curve",
                   name: str = "") -> Family:
        """A family of `units` with optional `orientations` (one per unit, degrees)."""
        units = [int(u) for u in units]
        if orientations is None:
            orientations = [None] * len(units)
        elif len(orientations) != len(units):
            raise NeuronscopeError(f"family {name or kind + 's'!r} has {len(units)} units but "
                                   f"{len(orientations)} orientations")
        return cls(tuple(Member(u, None if o is None else float(o)) for u, o in zip(units, orientations)),
                   layer, kind, name)

    @classmethod
    def of(cls, description, name: str = "", layer: str | None = None) -> Family:
        """A family from a `Family` (returned as is), a saved family's dict, a dict unit -> degrees,
        a list of units or a list of (unit, degrees) pairs."""
        if isinstance(description, Family):
            return description if layer is None or description.layer else replace(description, layer=layer)
        if isinstance(description, Mapping) and "members" in description:
            return cls._from_dict(description, name, layer)
        if isinstance(description, Mapping):
            pairs = list(description.items())
        else:
            try:
                pairs = [(item, None) if _is_int(item) else tuple(item) for item in description]
            except TypeError:
                raise NeuronscopeError(f"cannot read family {name!r} from {description!r}") from None
        try:
            units = [int(u) for u, _ in pairs]
            given = [None if o is None else float(o) for _, o in pairs]
        except (TypeError, ValueError):
            raise NeuronscopeError(f"family {name!r}: expected units or (unit, orientation) pairs") from None
        return cls(tuple(Member(u, o) for u, o in zip(units, given)), layer, "curve", name)

    @classmethod
    def parse(cls, text: str, layer: str | None = None, *, kind: str = "curve", name: str = "") -> Family:
        """A family from command-line text: UNIT:DEG,..., UNIT,..., a JSON file, or FILE:NAME."""
        text = str(text).strip()
        path, sep, key = text.rpartition(":")
        if text and (Path(text).is_file() or text.endswith(".json")):
            return cls.load(text, layer=layer)
        if sep and Path(path).is_file():
            return cls.load(path, key, layer=layer)
        try:
            pairs = [(int(u), float(o) if colon else None)
                     for u, colon, o in (item.strip().partition(":") for item in text.split(",") if item.strip())]
        except ValueError:
            pairs = None
        if not pairs:
            raise NeuronscopeError(f"bad family {text!r}: expected {TEXT_HELP} that exists")
        return cls(tuple(Member(u, o) for u, o in pairs), layer, kind, name).require()

    @classmethod
    def load(cls, path, key: str | None = None, layer: str | None = None) -> Family:
        """The one family of a JSON file (a saved family, or name -> description), or the one named `key`."""
        found = load_families(path, layer)
        if key is None and len(found) == 1:
            return next(iter(found.values()))
        if key not in found:
            raise NeuronscopeError(f"{path} holds {len(found)} families; name one with FILE:NAME "
                                   f"({', '.join(found)})")
        return found[key]

    @classmethod
    def _from_dict(cls, data: Mapping, name: str = "", layer: str | None = None) -> Family:
        try:
            members = tuple(Member(**m) for m in data["members"])
        except TypeError as exc:
            raise NeuronscopeError(f"family {name!r}: bad member ({exc})") from None
        position = data.get("position")
        return cls(members, data.get("layer") or layer, data.get("kind", "curve"), data.get("name") or name,
                   data.get("model"), tuple(position) if position else None, data.get("unit_of_peak"))

    # -- saving and showing ------------------------------------------------------------
    def to_dict(self) -> dict:
        out = {"name": self.name, "model": self.model, "layer": self.layer, "kind": self.kind,
               "members": [asdict(m) for m in self.members]}
        if self.position is not None:
            out["position"] = list(self.position)
        if self.unit_label is not None:
            out["unit_of_peak"] = self.unit_label
        if self.oriented:
            out["max_gap_deg"] = round(float(self.gaps.max()), 1)
        return out

    def save(self, json_path) -> list[Path]:
        """Write the JSON and, for a found family, its radial tuning figure beside it (`<stem>_radial.png`)."""
        path = Path(json_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=1) + "\n")
        if not self.tunings:
            return [path]
        from neuronscope.tuning import figures

        tuning = self.tunings["curves" if self.kind == "curve" else "lines"]
        figure = path.with_name(f"{path.stem}_radial.png")
        figures.save(figures.plot_radial(tuning, list(self.units)), figure)
        return [path, figure]

    def __repr__(self) -> str:
        where = " ".join(str(x) for x in (self.model, self.layer) if x)
        shown = ", ".join(_member_text(m) for m in self.members[:8])
        more = f", ... ({len(self) - 8} more)" if len(self) > 8 else ""
        return f"<Family {self.name}{' of ' + where if where else ''}: {len(self)} units [{shown}{more}]>"

    def _repr_html_(self) -> str:
        from neuronscope.notebook import table_html

        cols = ["unit", "orientation_deg", "peak_z", "width_deg", "echo"]
        known = [c for c in cols if any(getattr(m, c) is not None for m in self.members)] or ["unit"]
        gap = f", largest gap {self.gaps.max():.0f}°" if self.oriented else ""
        return table_html(known, [[getattr(m, c) for c in known] for m in self.members],
                          f"{self.name} of {self.layer or '?'}: {len(self)} units{gap}")


def load_families(source, layer: str | None = None) -> dict[str, Family]:
    """Families by name from a dict or a JSON file holding name -> description, or one saved family."""
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.exists():
            raise NeuronscopeError(f"family file {path} does not exist")
        try:
            data = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise NeuronscopeError(f"family file {path} is not JSON: {exc}") from None
        if isinstance(data, Mapping) and "members" in data:
            family = Family.of(data, path.stem, layer)
            return {family.name: family}
        source = data
    if not isinstance(source, Mapping):
        raise NeuronscopeError("families must be given as name -> units")
    return {str(k): Family.of(v, str(k), layer) for k, v in source.items()}


def _is_int(x) -> bool:
    try:
        return int(x) == x and not isinstance(x, (tuple, list, str))
    except (TypeError, ValueError):
        return False


def _member_text(m: Member) -> str:
    return str(m.unit) if m.orientation_deg is None else f"{m.unit}:{m.orientation_deg:g}°"
