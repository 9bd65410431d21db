"""Views of expanded weights checked against EfficientNet's folded 1x1 weights; equivariance on planted layers."""

from __future__ import annotations


import numpy as np
import pytest
import torch

from neuronscope.circuits import figures, views
from neuronscope.circuits.equivariance import equivariance, rotate_kernels
from neuronscope.families import Family
from neuronscope.errors import NeuronscopeError
from neuronscope.tuning.figures import save


@pytest.fixture(scope="module")
def folded(effnet):
    """block5 -> block6_expand is one 1x1 conv and a batch-norm: (480, 80) effective weights."""
    block = effnet.net._blocks[6]
    bn = block._bn0
    return (block._expand_conv.weight[:, :, 0, 0] * (bn.weight / torch.sqrt(bn.running_var + bn.eps))[:, None]).detach()


@pytest.fixture(scope="module")
def kernels(effnet):
    from neuronscope.circuits import expanded_weights

    return expanded_weights(effnet, "block5", "block6_expand")


A = Family.from_units((3, 1, 2), (90.0, 270.0, 0.0), name="A")
B = Family.from_units((10, 11, 12, 13), (45.0, 0.0, 300.0, 180.0), name="B")


def test_neuron_inputs_order_and_strongest(effnet, folded):
    inputs = views.neuron_inputs(effnet, "block6_expand:7", "block5")
    w = folded[7]
    assert inputs.order()[:5] == torch.argsort(w.abs(), descending=True)[:5].tolist()
    pos = inputs.strongest(3, "positive")
    assert [u for u, _ in pos] == torch.argsort(w, descending=True)[:3].tolist()
    neg = inputs.strongest(2, "negative")
    assert [u for u, _ in neg] == torch.argsort(w)[:2].tolist()
    assert neg[0][1] == pytest.approx(float(w.min()), rel=1e-4)


def test_family_matrix_is_ordered_by_orientation(effnet, folded, kernels):
    m = views.family_matrix(effnet, "block5", A, "block6_expand", B, kernels=kernels)
    assert m.source.units == (2, 3, 1) and m.target.units == (11, 10, 13, 12)
    torch.testing.assert_close(m.summed, folded[[11, 10, 13, 12]][:, [2, 3, 1]], atol=1e-6, rtol=1e-5)


def test_contributions_by_measure(effnet, folded):
    fams = {"A": A, "low": Family.from_units(range(10, 30), name="low")}
    w = folded[5]
    rest = [u for u in range(80) if u not in (3, 1, 2) and not 10 <= u < 30]
    c = views.family_contributions(effnet, "block6_expand:5", "block5", fams, "positive")
    want = {"A": float(w[[3, 1, 2]].clamp_min(0).sum()), "low": float(w[10:30].clamp_min(0).sum()),
            "other": float(w[rest].clamp_min(0).sum())}
    assert c.names[-1] == "other" and abs(c.values[0]) >= abs(c.values[1])
    assert dict(zip(c.names, c.values)) == pytest.approx(want, rel=1e-4)
    c = views.family_contributions(effnet, "block6_expand:5", "block5", fams, "abs")
    assert dict(zip(c.names, c.values))["low"] == pytest.approx(float(w[10:30].abs().mean()), rel=1e-4)
    with pytest.raises(NeuronscopeError, match="measure"):
        views.family_contributions(effnet, "block6_expand:5", "block5", fams, "median")


def test_family_paths_edge_weights(effnet, folded):
    layers = [("block5", {"A": A, "C": Family.from_units((40, 41), name="C")}), ("block6_expand", {"B": B})]
    graph = views.family_paths(effnet, layers)
    edges = {(a, b): w for _, a, b, w in graph.edges}
    want = float(folded[[10, 11, 12, 13]][:, [3, 1, 2]].sum(1).mean())
    assert edges["A", "B"] == pytest.approx(want, rel=1e-4)
    assert edges["C", "B"] == pytest.approx(float(folded[[10, 11, 12, 13]][:, [40, 41]].sum(1).mean()), rel=1e-4)


def test_downstream_units(effnet, folded, kernels):
    d = views.downstream(effnet, "block5", A, "block6_expand", top=4, kernels=kernels)
    use = folded[:, [2, 3, 1]].abs().sum(1)
    assert d.units == torch.argsort(use, descending=True)[:4].tolist()
    torch.testing.assert_close(d.kernels[:, :, 0, 0], folded[d.units][:, [2, 3, 1]], atol=1e-6, rtol=1e-5)


def test_rotation_is_counter_clockwise_with_y_up():
    k = torch.zeros(1, 5, 5)
    k[0, 2, 3] = 1.0  # one pixel right of centre (+x)
    up = rotate_kernels(k, [90.0])[0]
    assert up[1, 2] == pytest.approx(1.0) and up.sum() == pytest.approx(1.0)  # row above centre


def planted(seed: int, equivariant: bool, size: int = 9):
    """8 x 8 oriented units, orientations every 45 degrees. Equivariant: kernel = one template
    per orientation difference (a blob whose place and sign depend on it), rotated by the
    target's orientation."""
    g = torch.Generator().manual_seed(seed)
    theta = [45.0 * i for i in range(8)]
    src, dst = Family.from_units(range(8), theta, name="s"), Family.from_units(range(8), theta, name="t")
    if not equivariant:
        k = torch.randn(8, 8, size, size, generator=g)
    else:
        yy, xx = torch.meshgrid(torch.arange(size) - size // 2, torch.arange(size) - size // 2, indexing="ij")
        templates = []
        for d in range(8):
            a = np.deg2rad(45.0 * d)
            cx, cy = 2.0 * np.cos(a), -2.0 * np.sin(a)
            blob = torch.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / 3.0) * (1.0 if d % 3 else -0.7)
            templates.append(blob + 0.3 * torch.exp(-(xx ** 2 + yy ** 2) / 2.0) * np.cos(a))
        k = torch.stack([torch.stack([rotate_kernels(templates[(s - t) % 8][None], [theta[t]])[0]
                                      for s in range(8)]) for t in range(8)])
    return views.FamilyMatrix("l1", "l2", src, dst, k)


def test_planted_equivariant_layer_scores_near_one():
    e = equivariance(planted(0, True), shuffles=20)
    assert e.correlation > 0.95 and e.explained_variance > 0.9
    assert e.predicted == 64 and len(e.bins_deg) == 8
    assert e.null_correlations.max() < 0.9
    assert e.summary()["shuffled_orientations"]["p_value"] == pytest.approx(1 / 21, abs=1e-4)


def test_random_kernels_score_near_zero():
    e = equivariance(planted(1, False), shuffles=20)
    assert abs(e.correlation) < 0.1 and -0.3 < e.explained_variance < 0.1
    assert abs(e.null_correlations.mean()) < 0.1


def test_shuffled_orientations_break_equivariance():
    m = planted(0, True)
    shuffled = np.asarray(m.target.orientations)[[2, 4, 3, 6, 5, 0, 1, 7]]  # not a rotation of the labels
    m.target = Family.from_units(m.target.units, shuffled, name="t")
    assert equivariance(m).correlation < 0.6


def test_figures_render(tmp_path, effnet, kernels):
    m = views.family_matrix(effnet, "block5", A, "block6_expand", B, kernels=kernels)
    inputs = views.neuron_inputs(effnet, "block6_expand:7", "block5")
    c = views.family_contributions(effnet, "block6_expand:7", "block5", {"A": A}, inputs=inputs)
    graph = views.FamilyGraph(["a", "b"], [{"A": A}, {"B": B}], [(0, "A", "B", -1.5)])
    d = views.downstream(effnet, "block5", A, "block6_expand", top=3, kernels=kernels)
    p = planted(0, True)
    figs = [figures.plot_neuron_inputs(inputs), figures.plot_family_matrix(m), figures.plot_contributions(c),
            figures.plot_paths(graph), figures.plot_downstream(d), figures.plot_equivariance(equivariance(p), p)]
    for i, fig in enumerate(figs):
        assert "linear approximation" in fig.get_suptitle() + "".join(a.get_title() for a in fig.axes)
        assert save(fig, tmp_path / f"{i}.png").stat().st_size > 1000


def test_family_matrix_figure_shows_every_kernel_in_place():
    k = torch.arange(2 * 3 * 2 * 2, dtype=torch.float32).view(2, 3, 2, 2) - 11.5
    mosaic = figures.kernel_mosaic(k)
    assert mosaic.shape == (2 * 3 - 1, 3 * 3 - 1)
    for i in range(2):
        for j in range(3):
            np.testing.assert_array_equal(mosaic[3 * i:3 * i + 2, 3 * j:3 * j + 2], k[i, j].numpy())
    assert np.isnan(mosaic[2]).all() and np.isnan(mosaic[:, [2, 5]]).all()  # the gaps
    m = views.FamilyMatrix("s", "t", Family.from_units((1, 2, 3), (0.0, 120.0, 240.0), name="a"),
                           Family.from_units((4, 5), (90.0, 270.0), name="b"), k)
    fig = figures.plot_family_matrix(m, summed=False)
    assert len(fig.axes) == 2  # the mosaic and its colour bar, not one subplot per kernel
    np.testing.assert_array_equal(fig.axes[0].images[0].get_array().filled(np.nan), mosaic)
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["1 (0°)", "2 (120°)", "3 (240°)"]


def test_report_shows_kernels_from_the_deepest_spatial_family(effnet, tmp_path):
    """EfficientNet's block5_depthwise reaches block6_expand through 1x1 convolutions only; the
    report steps back to block5_expand, whose path crosses block5's 3x3 depthwise kernel."""
    import json
    from types import SimpleNamespace

    from neuronscope.report.more_sections import _spatial_matrix

    (tmp_path / "stages" / "layers").mkdir(parents=True)
    found = {name: {"name": "curves", "layer": name, "kind": "curve",
                    "members": [{"unit": u, "orientation_deg": 90.0 * u} for u in range(4)]}
             for name in ("block5_expand", "block5_depthwise")}
    (tmp_path / "stages" / "layers" / "families.json").write_text(json.dumps(found))
    ctx = SimpleNamespace(out=tmp_path, model=effnet, layer="block6_expand")
    late = Family.from_units((0, 1), (0.0, 180.0), name="late")
    deepest = views.family_matrix(effnet, "block5_depthwise", Family.of(found["block5_depthwise"], "c"),
                                  "block6_expand", late)
    assert tuple(deepest.kernels.shape[-2:]) == (1, 1)
    matrix = _spatial_matrix(ctx, late, deepest)
    depthwise = [m for n, m in effnet.net.named_modules() if isinstance(m, torch.nn.Conv2d) and m.groups > 1]
    assert matrix.source_layer == "block5_expand"
    assert tuple(matrix.kernels.shape) == (2, 4, *depthwise[5].kernel_size) == (2, 4, 3, 3)
    assert _spatial_matrix(ctx, late, matrix) is matrix  # a deepest family with spatial kernels is itself shown
