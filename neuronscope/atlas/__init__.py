"""A local Microscope: a static, browsable site of every unit of chosen layers of a model.

    result = build_atlas(model, ["block4_expand", "block6_expand"], "images/", "site", units="0-31")
    build_atlas(model, layers, images, "site", ray="local")   # the same tasks on Ray (optional extra)

The work is split into tasks (see `neuronscope.atlas.tasks`), kept in `<site>.work/`; a rerun
runs only what is missing or out of date, and every path gives byte-identical site files.
"""

from neuronscope.atlas.build import BuildResult, build_atlas, parse_units
from neuronscope.atlas.tasks import Settings, Task, plan

__all__ = ["BuildResult", "Settings", "Task", "build_atlas", "parse_units", "plan"]
