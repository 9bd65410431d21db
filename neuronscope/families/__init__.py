"""Families of units: the one `Family` type, and automatic discovery of curve (and line)
detector families in a layer.

    family = find_family(model, "block6_expand", kind="curve")     # a Family, possibly empty
    family.units, family.orientations, family.gaps.max()
    family.save("family.json")      # the JSON and family_radial.png beside it
    Family.parse("379:0,385:45", layer="mixed3b"); Family.load("family.json")
"""

from neuronscope.families.family import KINDS, Family, Member, load_families
from neuronscope.families.find import find_family, score_units
from neuronscope.families.score import Peak, angular_distance, coverage_gaps, tuning_peak

__all__ = ["KINDS", "Family", "Member", "Peak", "angular_distance", "coverage_gaps", "find_family",
           "load_families", "score_units", "tuning_peak"]
