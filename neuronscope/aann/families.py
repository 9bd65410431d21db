"""The families an artificial layer is built from and compared with: given, or found."""

from __future__ import annotations

from pathlib import Path

from neuronscope.circuits.groups import UnitGroup, as_group, load_groups
from neuronscope.errors import NeuronscopeError

# the layer below each built-in model's curve layer whose families the artificial units read
DEFAULT_SOURCES = {"inceptionv1": "mixed3a", "efficientnet_lite0": "block4_expand"}


def default_source(model, target: str) -> str:
    """The source layer for `target`: the built-in default for the model's curve layer."""
    if target == model.default_layer and model.name in DEFAULT_SOURCES:
        return DEFAULT_SOURCES[model.name]
    raise NeuronscopeError(f"no default source layer for {model.name} {target}; name one (--from)")


def read_family(text: str, name: str, layer: str | None = None) -> UnitGroup:
    """A family with orientations from a JSON file (a saved `find_family` result, or anything
    `circuits.groups.load_groups` reads, holding one family) or inline "unit:deg,unit:deg"."""
    path = Path(text)
    if path.suffix == ".json" or path.exists():
        groups = load_groups(path, layer)
        if len(groups) != 1:
            raise NeuronscopeError(f"{path} holds {len(groups)} families; expected one")
        group = next(iter(groups.values()))
    else:
        try:
            pairs = [item.split(":") for item in text.split(",") if item.strip()]
            group = as_group([(int(u), float(t)) for u, t in pairs], name, layer)
        except ValueError:
            raise NeuronscopeError(f"bad family {text!r}; expected UNIT:DEG,UNIT:DEG,... or a JSON file") from None
    group.require_orientations()
    return group


def found_family(model, layer: str, kind: str) -> UnitGroup | None:
    """The `kind` family of `layer` found by `neuronscope.families.find_family` (None if empty)."""
    from neuronscope.families import find_family

    family = find_family(model, layer, kind=kind)
    return as_group(family, f"{kind}s", layer) if family.members else None
