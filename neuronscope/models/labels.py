"""Human-readable ImageNet class names for each model's outputs."""

from __future__ import annotations

import csv
from functools import cache
from importlib import resources


@cache
def _classes() -> list[dict[str, str]]:
    text = resources.files("neuronscope.models").joinpath("imagenet_classes.tsv").read_text()
    return list(csv.DictReader(text.splitlines(), delimiter="\t"))


def imagenet_1000() -> list[str]:
    """The standard 1000-class order (sorted WordNet ids)."""
    return [row["name"] for row in sorted(_classes(), key=lambda r: int(r["index_1000"]))]


def inception5h(size: int = 1008) -> list[str]:
    """InceptionV1's 1008 outputs; 0 and 1001-1007 are unused by the graph."""
    names = [f"(unused {i})" for i in range(size)]
    for row in _classes():
        names[int(row["index_inception5h"])] = row["name"]
    return names
