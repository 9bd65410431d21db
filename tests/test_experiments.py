"""Experiments as Python calls: what a command does, a notebook can do, with results that
summarise, save and display themselves."""

from __future__ import annotations

import numpy as np
import pytest

from neuronscope.errors import NeuronscopeError
from neuronscope.experiments import circuit_experiment, sectors, tune
from neuronscope.families import Family


def test_sectors_split_by_orientation():
    family = Family.from_units([1, 2, 3, 4, 5], [10, 100, 95, 359, 200], layer="L")
    split = sectors(family, 4)
    assert {k: v.units for k, v in split.items()} == {"0-90°": (1,), "90-180°": (2, 3), "180-270°": (5,),
                                                      "270-360°": (4,)}
    assert all(f.layer == "L" for f in split.values())
    lines = sectors(Family.from_units([1, 2], [10, 170], kind="line"), 2)
    assert {k: v.units for k, v in lines.items()} == {"0-90°": (1,), "90-180°": (2,)}
    with pytest.raises(NeuronscopeError):
        sectors(family, 0)


def test_tune_returns_what_the_command_saves(effnet, tmp_path):
    (result,) = tune(effnet, ["block6_expand:36", "block6_expand:455"], ("curves", "lines"), step=90, radii=2)
    curves = result.tunings["curves"]
    assert result.layer == "block6_expand" and result.units == [36, 455] and set(result.tunings) == {"curves", "lines"}
    for u in (36, 455):  # the preferred curve is the argmax of the unit's z-scores
        z = curves.z[..., curves.column(u)]
        o, r = np.unravel_index(np.argmax(z), z.shape)
        assert result.preferred[u] == (curves.axes["orientation_deg"][o], curves.axes["radius"][r] / 83)
    names = {p.name for p in result.save(tmp_path)}
    assert {"curves.npz", "curves_heatmaps.png", "lines_radial.png"} <= names
    assert len(repr(result)) < 200 and "<img" in result._repr_html_()
    with pytest.raises(NeuronscopeError, match="unknown experiment"):
        tune(effnet, ["block6_expand:36"], ("curvy",))


def test_circuit_experiment_displays_itself(effnet):
    early = Family.parse("28:38.6,26:217.8,0:250.7", "block5")
    late = Family.parse("36:4.1,455:18.7,391:180.2", "block6_expand")
    result = circuit_experiment(effnet, "block5", "block6_expand", early, late, shuffles=5, top=3)
    assert result.matrix.source.units == (28, 26, 0) and len(result.downstream.units) == 3
    assert result.summary()["from"] == "block5" and "equivariance correlation" in repr(result)
    assert result._repr_html_().count("<img") == 2


def test_commands_are_thin_and_import_no_other_command():
    """Shared options live in cli/options.py and analyses in neuronscope.experiments: a command
    module imports neither another command nor another command's helpers."""
    import ast
    from pathlib import Path

    import neuronscope.cli.commands as commands

    folder = Path(commands.__file__).parent
    modules = sorted(p for p in folder.glob("*.py") if p.name != "__init__.py")
    assert len(modules) > 20
    for path in modules:
        for node in ast.walk(ast.parse(path.read_text())):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else (
                [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            for name in names:
                assert not name.startswith("neuronscope.cli.commands"), f"{path.name} imports {name}"
