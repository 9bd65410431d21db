"""Automatic discovery of curve (and line) detector families in a layer.

    family = find_family(model, "block6_expand", kind="curve")
    [(m.unit, m.orientation_deg) for m in family.members]; family.gaps.max()
    family.save("family.json")      # the JSON and family_radial.png beside it
"""

from neuronscope.families.find import Family, Member, find_family, score_units
from neuronscope.families.score import Peak, angular_distance, coverage_gaps, tuning_peak

__all__ = ["Family", "Member", "Peak", "angular_distance", "coverage_gaps", "find_family", "score_units",
           "tuning_peak"]
