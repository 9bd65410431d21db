"""The notebook layer: results show themselves briefly (short repr, HTML table or inline image),
`ns.show` draws image tensors, and `dir(ns)` lists what `ns.<name>` reaches."""

from __future__ import annotations

import base64
import io
import re
import subprocess
import sys
import types

import numpy as np
import pytest
import torch
from PIL import Image

import neuronscope as ns
from neuronscope.circuits.equivariance import equivariance
from neuronscope.circuits.views import FamilyMatrix
from neuronscope.families import Family, Member
from neuronscope.notebook import Images, as_batch, show
from neuronscope.surgery import Condition, SurgeryResult
from neuronscope.tuning import Tuning, Units


def _pngs(page: str) -> list[np.ndarray]:
    return [np.asarray(Image.open(io.BytesIO(base64.b64decode(d))))
            for d in re.findall(r'src="data:image/png;base64,([^"]+)"', page)]


def test_show_draws_each_image_exactly():
    images = torch.rand(3, 3, 10, 12, generator=torch.Generator().manual_seed(0))
    grid = show(images, labels=["a", "b", "c"])  # outside a notebook: the grid itself
    assert isinstance(grid, Images) and repr(grid) == "<Images: 3 of 10x12>"
    page = grid._repr_html_()
    shown = _pngs(page)
    assert len(shown) == 3 and all("<figcaption>" + x in page for x in "abc")
    for got, want in zip(shown, images):
        np.testing.assert_array_equal(got, (want * 255).round().byte().permute(1, 2, 0).numpy())
    assert as_batch(np.zeros((10, 12, 3), np.uint8)).shape == (1, 3, 10, 12)   # HWC array
    assert as_batch(torch.ones(10, 12)).shape == (1, 3, 10, 12)                 # grey
    assert as_batch(torch.ones(2, 10, 12, 3)).shape == (2, 3, 10, 12)           # NHWC
    with pytest.raises(ns.NeuronscopeError):
        show(torch.ones(2, 5, 10, 12))
    with pytest.raises(ns.NeuronscopeError):
        show(images, labels=["a"])


def test_show_displays_inline_in_a_notebook(monkeypatch):
    shown = []
    ipython = types.ModuleType("IPython")
    ipython.get_ipython = lambda: object()
    display = types.ModuleType("IPython.display")
    display.display = shown.append
    monkeypatch.setitem(sys.modules, "IPython", ipython)
    monkeypatch.setitem(sys.modules, "IPython.display", display)
    assert show(torch.zeros(3, 4, 4)) is None
    assert len(shown) == 1 and len(_pngs(shown[0]._repr_html_())) == 1


def test_results_have_short_reprs_and_html():
    family = Family(tuple(Member(u, float(u), 5.0, 40.0, 0.2) for u in range(500)), "mixed3b",
                    scores={"peak_z": np.zeros(500)})
    assert len(repr(family)) < 200 and family._repr_html_().count("<tr>") == 501
    units = Units(np.zeros(4), np.ones(4), "SDs")
    tuning = Tuning("curves", {"orientation_deg": np.arange(0, 360, 10.0), "radius": np.array([5.0, 10.0])},
                    np.random.default_rng(0).normal(size=(36, 2, 2)), [1, 3], units, "relu",
                    {"model": "m", "layer": "L"})
    assert repr(tuning) == "<Tuning curves of m:L: 36 orientation_deg x 2 radius; units 1, 3>"
    assert len(_pngs(tuning._repr_html_())) == 1
    n = 40
    correct = {"unchanged": torch.arange(n) < 30, "ablated": torch.arange(n) < 10}
    result = SurgeryResult("m", "L", [Condition("unchanged", (), "none"), Condition("ablated", (1,), "mean")],
                           correct, correct, n_boot=50)
    assert repr(result) == "<SurgeryResult m L, 40 images, top-5: unchanged 75.0%, ablated 25.0%>"
    assert "75.0%" in result._repr_html_() and "25.0%" in result._repr_html_()


def test_equivariance_repr_is_short():
    theta = torch.arange(0, 360, 45.0)
    src = Family.from_units(range(8), theta.tolist())
    kernels = torch.randn(8, 8, 5, 5, generator=torch.Generator().manual_seed(0))
    e = equivariance(FamilyMatrix("a", "b", src, src, kernels), 45.0, shuffles=3)
    assert repr(e).startswith("<Equivariance: correlation") and len(repr(e)) < 160
    assert "correlation" in e._repr_html_()


def test_dir_lists_lazy_names_without_importing_them():
    code = ("import sys, neuronscope as ns; d = dir(ns); "
            "assert {'experiments', 'circuits', 'show', 'visualize', 'notebook'} <= set(d), d; "
            "assert 'neuronscope.circuits' not in sys.modules and 'neuronscope.experiments' not in sys.modules; "
            "assert callable(ns.show) and callable(ns.visualize)")
    subprocess.run([sys.executable, "-c", code], check=True)
