"""Shared fixtures: the reference facts and sample images in ../shared, and a random InceptionV1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
SAMPLE = SHARED / "data" / "imagenet-sample"
REFERENCE = SHARED / "reference"


@pytest.fixture(scope="session")
def shared() -> Path:
    assert SAMPLE.is_dir(), f"tests need the shared data at {SHARED}"
    return SHARED


@pytest.fixture(scope="session")
def inception_shapes(shared) -> dict[str, list[int]]:
    return json.loads((REFERENCE / "inception5h_state_dict_shapes.json").read_text())


def random_state_dict(shapes: dict, seed: int = 0) -> dict[str, torch.Tensor]:
    """Weights of the given shapes, scaled like a trained net (unit-variance activations)."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for key, shape in shapes.items():
        if key.endswith("weight"):
            fan_in = max(1, int(torch.tensor(shape[1:]).prod()))
            out[key] = torch.randn(shape, generator=g) * (2.0 / fan_in) ** 0.5
        else:
            out[key] = torch.randn(shape, generator=g) * 0.1
    return out


@pytest.fixture(scope="session")
def inception_file(tmp_path_factory, inception_shapes) -> Path:
    path = tmp_path_factory.mktemp("weights") / "inception5h.pth"
    torch.save(random_state_dict(inception_shapes), path)
    return path


@pytest.fixture(scope="session")
def inception(inception_file):
    import neuronscope as ns

    return ns.load_model("inceptionv1", weights=inception_file)


@pytest.fixture(scope="session")
def effnet():
    import neuronscope as ns

    return ns.load_model("efficientnet_lite0")
