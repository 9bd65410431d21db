"""`Family`, the one family type: built from every description, parsed from the command line,
saved and loaded, shown briefly; empty families exist and refuse only where members are needed."""

from __future__ import annotations

import json

import pytest

from neuronscope.errors import NeuronscopeError
from neuronscope.families import Family, Member, load_families


def test_family_from_every_description(tmp_path):
    found = Family((Member(5, 30.0, 6.2, 40.0, 0.1),), "L")
    assert Family.of(found) is found and Family.of(found).units == (5,)
    saved = {"layer": "L", "kind": "line", "members": [{"unit": 2, "orientation_deg": 10},
                                                       {"unit": 1, "orientation_deg": 170}]}
    g = Family.of(saved)
    assert g.period == 180.0 and g.layer == "L" and g.ordered().units == (2, 1)
    assert Family.of([4, 5]).orientations is None and not Family.of([4, 5]).oriented
    assert Family.of([(4, 90), (5, 0)]).ordered().units == (5, 4)
    assert Family.of({"7": 10.0}).units == (7,) and Family.of({"7": 10.0}).orientations == (10.0,)
    assert Family.from_units([3, 1], [350, 10], kind="line").ordered().orientations == (10.0, 350.0)
    path = tmp_path / "fams.json"
    path.write_text(json.dumps({"early": [1, 2], "late": {"3": 45}}))
    loaded = load_families(path, "mixed3a")
    assert loaded["early"].units == (1, 2) and loaded["late"].orientations == (45.0,)
    assert loaded["late"].layer == "mixed3a" and loaded["late"].name == "late"
    with pytest.raises(NeuronscopeError, match="twice"):
        Family.of([1, 1])
    with pytest.raises(NeuronscopeError, match="some units only"):
        Family.of([(1, 10), (2, None)])
    with pytest.raises(NeuronscopeError, match="does not exist"):
        load_families(tmp_path / "missing.json")
    with pytest.raises(NeuronscopeError, match="kind"):
        Family((), kind="blob")


def test_parse_text_files_and_names(tmp_path):
    f = Family.parse("379:0, 385:45.5,12:-90", layer="mixed3b")
    assert f.units == (379, 385, 12) and f.orientations == (0.0, 45.5, -90.0) and f.layer == "mixed3b"
    assert Family.parse("4,5,6").orientations is None
    for bad in ("0:zero", "a:b", "", "1:2:3"):
        with pytest.raises(NeuronscopeError, match="bad family"):
            Family.parse(bad)
    with pytest.raises(NeuronscopeError, match="does not exist"):
        Family.parse(str(tmp_path / "nowhere.json"))
    two = tmp_path / "two.json"
    two.write_text(json.dumps({"a": [[1, 10]], "b": {"2": 20}}))
    assert Family.parse(f"{two}:b").units == (2,) and Family.parse(f"{two}:b").name == "b"
    with pytest.raises(NeuronscopeError, match="name one"):
        Family.parse(str(two))
    with pytest.raises(NeuronscopeError, match="name one"):
        Family.parse(f"{two}:c")


def test_save_load_round_trip_and_short_repr(tmp_path):
    members = tuple(Member(u, float(u * 7 % 360), 5.0 + u, 30.0, 0.0) for u in range(200))
    family = Family(members, "block6_expand", model="efficientnet_lite0", position=(7, 7), unit_label="SDs")
    (path,) = family.save(tmp_path / "f.json")  # no tunings: no figure
    doc = json.loads(path.read_text())
    assert doc["layer"] == "block6_expand" and doc["position"] == [7, 7] and len(doc["members"]) == 200
    back = Family.load(path)
    assert back.members == family.members and back.model == "efficientnet_lite0" and back.position == (7, 7)
    assert Family.parse(str(path)).units == family.units
    text = repr(family)
    assert len(text) < 200 and "200 units" in text and "block6_expand" in text
    page = family._repr_html_()
    assert page.count("<tr>") == 201 and "<td>7</td>" in page


def test_empty_family_is_a_family_and_refuses_where_members_are_needed():
    empty = Family((), "mixed3b")
    assert len(empty) == 0 and empty.units == () and empty.orientations is None
    assert empty.gaps.tolist() == [360.0]
    with pytest.raises(NeuronscopeError, match="found no curve family in mixed3b; give one"):
        empty.require("give one")
    with pytest.raises(NeuronscopeError, match="found no"):
        empty.require_orientations()
    with pytest.raises(NeuronscopeError, match="preferred orientation"):
        Family.of([1, 2]).require_orientations()


def test_model_facts_come_from_the_spec(inception, effnet):
    from neuronscope.aann.layer import source_layer
    from neuronscope.models.zoo import MODELS

    assert (inception.default_source, inception.layer_prefix) == ("mixed3a", "mixed")
    assert source_layer(effnet, "block6_expand") == MODELS["efficientnet_lite0"].default_source == "block4_expand"
    assert effnet.layer_prefix == ""
    with pytest.raises(NeuronscopeError, match="no default source layer"):
        source_layer(effnet, "block5")
