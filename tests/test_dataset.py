"""Dataset statistics: exact against numpy on the raw activations, exact under sharding, robust to bad files."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import neuronscope as ns
from neuronscope.dataset import compute_stats, load_stats, merge_results, plot_quilt, resolve_source, write_figures
from neuronscope.dataset.accumulator import LayerAccumulator
from neuronscope.dataset.examples import position_keys, unit_keys
from neuronscope.dataset.histogram import calibrated_range, tail_fits
from neuronscope.dataset.moments import Block, MomentTree, chan
from neuronscope.errors import NeuronscopeError

SIZE = 32  # test images are stored at the model's input size, so decoding is exactly np.asarray
BATCH = 4


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tests run small tensors: one torch thread is faster for them, and steady on a busy machine,
    where waiting for a descheduled second thread made these modules 5-8x slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(4, 5, 3, stride=2, padding=1)
        self.head = nn.Linear(5, 3)

    def forward(self, x):
        h = self.conv2(torch.relu(self.conv1(x)))
        return self.head(torch.relu(h).mean((2, 3)))


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return ns.wrap(Tiny(), layers={"conv1": "relu", "conv2": "relu"}, name="tiny")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """22 random 32x32 PNGs in two class folders."""
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(1)
    for i in range(22):
        sub = root / ("a" if i % 2 else "b")
        sub.mkdir(exist_ok=True)
        smooth = rng.random((8, 8, 3)).repeat(4, 0).repeat(4, 1)  # some spatial structure
        pixels = np.clip(smooth * 200 + rng.integers(0, 56, (SIZE, SIZE, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(sub / f"img{i:02d}.png")
    return root


def image_ids(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.png"))


def raw_activations(model, folder, layer="conv2", pre_relu=True):
    """(N, C, H, W) float32 activations computed here, chunk by chunk as the run batches them."""
    paths = [folder / i for i in image_ids(folder)]
    x = torch.stack([torch.from_numpy(np.array(Image.open(p).convert("RGB"))).permute(2, 0, 1) for p in paths])
    x = x.float().div_(255)
    with torch.no_grad():
        parts = [model.capture(x[i : i + BATCH], [layer], pre_relu=pre_relu)[layer] for i in range(0, len(x), BATCH)]
    return torch.cat(parts).numpy()


def run(model, source, out_dir=None, **kwargs):
    options = dict(resize=SIZE, size=SIZE, batch_size=BATCH, workers=0, figures="none", progress=False)
    return compute_stats(model, "conv2", source, out_dir, **{**options, **kwargs})


def test_statistics_equal_numpy_on_raw_activations(model, folder):
    stats = run(model, folder)
    raw = raw_activations(model, folder)  # (N, C, H, W)
    n, units, h, w = raw.shape
    flat = raw.transpose(1, 0, 2, 3).reshape(units, -1).astype(np.float64)
    assert stats.count == n * h * w and stats.images == n and stats.units == units
    page = stats._repr_html_()  # in a notebook: a small table
    assert f"<td>positions</td><td>{n * h * w}</td>" in page and f"<td>images</td><td>{n}</td>" in page
    np.testing.assert_allclose(stats.mean, flat.mean(1), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(stats.std, flat.std(1), rtol=1e-10)
    np.testing.assert_array_equal(stats.frac_positive, (flat > 0).mean(1))
    np.testing.assert_array_equal(stats.min, flat.min(1))
    np.testing.assert_array_equal(stats.max, flat.max(1))
    for u in range(units):
        counts, _ = np.histogram(flat[u], bins=stats.edges[u])
        below, above = (flat[u] < stats.edges[u, 0]).sum(), (flat[u] >= stats.edges[u, -1]).sum()
        np.testing.assert_array_equal(stats.hist[u], np.concatenate([[below], counts, [above]]))
        width = stats.edges[u, 1] - stats.edges[u, 0]
        expected = np.quantile(flat[u], [0.1, 0.5, 0.9])
        np.testing.assert_allclose(stats.quantile([0.1, 0.5, 0.9])[u], expected, atol=width)
        top, bottom = stats.top(u), stats.bottom(u)
        np.testing.assert_array_equal([e.value for e in top], np.sort(flat[u])[::-1][: len(top)])
        np.testing.assert_array_equal([e.value for e in bottom], np.sort(flat[u])[: len(bottom)])
        for e in top[:5] + bottom[:5]:
            assert raw[e.image, u, e.y, e.x] == np.float32(e.value)
            assert stats.image_id(e.image) == e.image_id == image_ids(folder)[e.image]


def test_stratified_sample_covers_every_stratum_with_real_values(model, folder):
    stats = run(model, folder, per_stratum=5)
    raw = raw_activations(model, folder)
    for u in range(stats.units):
        values = raw[:, u].ravel()
        bounds = stats.strata_edges[u]
        for s, examples in enumerate(stats.samples(u)):
            in_stratum = ((values >= bounds[s]) & (values < bounds[s + 1])).sum()
            assert len(examples) == min(5, in_stratum)
            assert len({(e.image, e.y, e.x) for e in examples}) == len(examples)
            for e in examples:
                assert bounds[s] <= e.value < bounds[s + 1]
                assert raw[e.image, u, e.y, e.x] == np.float32(e.value)


@pytest.mark.parametrize("strata, per_stratum", [(2, 1), (16, 3)])  # (2, 1): most values are candidates
def test_stratified_sample_holds_the_smallest_keys_of_each_stratum(model, folder, strata, per_stratum):
    stats = run(model, folder, strata=strata, per_stratum=per_stratum)
    raw = raw_activations(model, folder)
    n, units, h, w = raw.shape
    gids = np.arange(n * h * w)  # values in (image, y, x) order
    for u in range(units):
        values = raw[:, u].ravel()
        keys = position_keys(gids, 0) ^ unit_keys(units, 0)[u]
        bounds = stats.strata_edges[u]
        for s, examples in enumerate(stats.samples(u)):
            inside = np.flatnonzero((values >= bounds[s]) & (values < bounds[s + 1]))
            chosen = inside[np.argsort(keys[inside])[:per_stratum]]
            expected = [(int(g) // (h * w), int(g) % (h * w) // w, int(g) % w) for g in chosen]
            assert [(e.image, e.y, e.x) for e in examples] == expected


def test_crop_mode_counts_only_the_chosen_position(model, folder):
    stats = run(model, folder, crop=True)
    raw = raw_activations(model, folder)
    cy, cx = model.receptive_field("conv2", SIZE).central_position()
    centre = raw[:, :, cy, cx].astype(np.float64)
    assert stats.count == len(raw)
    np.testing.assert_allclose(stats.mean, centre.mean(0), rtol=1e-12)
    assert {(e.y, e.x) for e in stats.top(0)} == {(cy, cx)}
    other = run(model, folder, crop=True, position=(0, 1))
    np.testing.assert_allclose(other.mean, raw[:, :, 0, 1].astype(np.float64).mean(0), rtol=1e-12)


def test_post_relu_ties_break_by_image_then_position(model, folder):
    stats = run(model, folder, pre_relu=False, top_k=6)
    raw = raw_activations(model, folder, pre_relu=False)
    n, units, h, w = raw.shape
    unit = int(np.argmax((raw == 0).mean((0, 2, 3))))  # the unit with the most zeros
    assert (raw[:, unit] == 0).sum() > 6
    img, y, x = np.unravel_index(np.flatnonzero(raw[:, unit] == 0)[:6], (n, h, w))  # C order: image, y, x
    assert [(e.image, e.y, e.x) for e in stats.bottom(unit)] == list(zip(img.tolist(), y.tolist(), x.tolist()))
    np.testing.assert_array_equal(stats.frac_positive, (raw > 0).mean((0, 2, 3)))


@pytest.mark.parametrize("crop", [False, True])
def test_shards_merge_into_exactly_the_single_run(model, folder, tmp_path, crop):
    single = run(model, folder, tmp_path / "single", crop=crop, per_stratum=3)
    shards = [tmp_path / f"shard{i}" for i in (1, 2, 3)]
    for i, out in enumerate(shards, 1):
        run(model, folder, out, crop=crop, per_stratum=3, shard=f"{i}/3", workers=2)
    merged = merge_results(shards[::-1], tmp_path / "merged", figures="none")
    reloaded = load_stats(tmp_path / "merged")
    for name, value in single.arrays.items():
        for other in (merged, reloaded):
            assert np.array_equal(value, other.arrays[name], equal_nan=value.dtype.kind == "f"), name
    assert merged.mean.tobytes() == single.mean.tobytes() and merged.std.tobytes() == single.std.tobytes()
    for key in ("images", "positions", "skipped", "chunks"):
        assert merged.manifest[key] == single.manifest[key]


def test_merge_refuses_overlaps_and_different_settings(model, folder, tmp_path):
    run(model, folder, tmp_path / "a", shard="1/2")
    run(model, folder, tmp_path / "b", shard="1/2", seed=1)
    with pytest.raises(NeuronscopeError, match="overlapping"):
        merge_results([tmp_path / "a", tmp_path / "a"])
    with pytest.raises(NeuronscopeError, match="settings"):
        merge_results([tmp_path / "a", tmp_path / "b"])


def test_resume_refuses_a_different_run_and_returns_a_finished_one(model, folder, tmp_path):
    first = run(model, folder, tmp_path / "out")
    again = run(model, folder, tmp_path / "out", resume=True)
    assert again.mean.tobytes() == first.mean.tobytes() and again.manifest["seconds"] == first.manifest["seconds"]
    with pytest.raises(NeuronscopeError, match="settings"):
        run(model, folder, tmp_path / "out", resume=True, bins=512)
    with pytest.raises(NeuronscopeError, match="shard"):
        run(model, folder, tmp_path / "out", resume=True, shard="1/2")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_run_matches_cpu(folder):
    torch.manual_seed(0)
    gpu = ns.wrap(Tiny(), layers={"conv1": "relu", "conv2": "relu"}, name="tiny").to("cuda")
    torch.manual_seed(0)
    cpu = ns.wrap(Tiny(), layers={"conv1": "relu", "conv2": "relu"}, name="tiny")
    a, b = run(cpu, folder), run(gpu, folder)
    np.testing.assert_allclose(b.mean, a.mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(b.std, a.std, rtol=1e-5)
    np.testing.assert_allclose(b.arrays["top_value"], a.arrays["top_value"], rtol=1e-5, atol=1e-6)
    assert b.hist.sum() == a.hist.sum() and b.manifest["device"].startswith("cuda")


def test_unreadable_files_are_skipped_counted_and_listed(model, folder, tmp_path):
    root = tmp_path / "mixed"
    good = sorted(folder.rglob("*.png"))[:6]
    root.mkdir()
    for p in good:
        (root / f"good_{p.name}").write_bytes(p.read_bytes())
    buffer = tmp_path / "whole.jpg"
    Image.open(good[0]).resize((256, 256)).save(buffer, quality=95)
    jpeg = buffer.read_bytes()
    (root / "a_truncated.jpg").write_bytes(jpeg[: len(jpeg) // 2])  # sorts first: calibration must skip it
    (root / "notes.jpg").write_text("not an image")
    (root / "empty.png").write_bytes(b"")
    (root / "readme.txt").write_text("ignored: not an image extension")
    stats = run(model, root, workers=2)
    skipped = {s["id"]: s["error"] for s in stats.skipped}
    assert set(skipped) == {"a_truncated.jpg", "notes.jpg", "empty.png"}
    assert all(skipped.values())
    assert stats.images == 6 and stats.manifest["source"]["images"] == 9
    assert stats.count == 6 * 8 * 8
    for p in root.glob("good_*"):
        p.unlink()
    with pytest.raises(NeuronscopeError, match="could be read"):
        run(model, root)


def test_images_too_small_are_skipped_with_the_reason(model, folder, tmp_path):
    """A 1x1 or 5-pixel-high image would be upsampled to a uniform view and counted like a photograph:
    skipped and listed with its size instead, like an unreadable file; the counts hold only the rest."""
    root = tmp_path / "small"
    root.mkdir()
    good = sorted(folder.rglob("*.png"))[:4]
    for p in good:
        (root / p.name).write_bytes(p.read_bytes())
    Image.fromarray(np.full((1, 1, 3), 128, np.uint8)).save(root / "dot.png")
    Image.fromarray(np.full((5, 40, 3), 128, np.uint8)).save(root / "strip.png")
    stats = run(model, root)
    skipped = {s["id"]: s["error"] for s in stats.skipped}
    assert set(skipped) == {"dot.png", "strip.png"}
    assert "is 1x1 pixels; images under 8 pixels on a side are refused" in skipped["dot.png"]
    assert "is 40x5 pixels" in skipped["strip.png"]
    assert stats.images == 4 and stats.count == 4 * 8 * 8
    np.testing.assert_allclose(stats.mean, raw_activations(model, folder)[[image_ids(folder).index(
        p.relative_to(folder).as_posix()) for p in good]].mean((0, 2, 3)), rtol=1e-5, atol=1e-6)


def test_sources_are_sorted_listed_and_sampled_with_a_seed(folder, tmp_path):
    (folder / "b" / "UPPER.JPEG").write_bytes((folder / "b" / "img00.png").read_bytes())
    try:
        found = resolve_source(folder)
        assert found.ids[0] == "a/img01.png" and "b/UPPER.JPEG" in found.ids and list(found.ids) == sorted(found.ids)
    finally:
        (folder / "b" / "UPPER.JPEG").unlink()
    listing = tmp_path / "list.csv"
    listing.write_text("label,file\nx,../images/b/img02.png\ny,/abs/missing.png\n")
    assert resolve_source(listing).ids == (str(tmp_path / "../images/b/img02.png"), "/abs/missing.png")
    text = tmp_path / "list.txt"
    text.write_text("# a comment\n\nrel/one.png\n")
    assert resolve_source(text).ids == (str(tmp_path / "rel/one.png"),)
    full = resolve_source(folder)
    picked = resolve_source(folder, limit=5, seed=3)
    assert picked == resolve_source(folder, limit=5, seed=3) and len(picked.ids) == 5
    assert list(picked.ids) == sorted(picked.ids) and set(picked.ids) <= set(full.ids)
    assert picked.ids != resolve_source(folder, limit=5, seed=4).ids
    assert picked.fingerprint() != full.fingerprint()
    bundled = resolve_source(None)
    assert bundled.kind == "samples" and "astronaut" in bundled.ids
    with pytest.raises(NeuronscopeError):
        resolve_source(tmp_path / "nowhere")


def test_bundled_images_are_the_default_source(model):
    stats = run(model, None, batch_size=8)
    assert stats.images == len(ns.images.sample_images()) and not stats.skipped
    assert stats.top(0)[0].image_id in dict(ns.images.sample_images())


def test_tail_fit_recovers_known_exponential_rates():
    rng = np.random.default_rng(0)
    left_rate, right_rate = np.array([1.0, 3.0]), np.array([4.0, 0.5])
    chunks = []
    for _ in range(10):  # asymmetric Laplace per unit: exponential tails with known rates
        left_share = 1 / left_rate[:, None] / (1 / left_rate[:, None] + 1 / right_rate[:, None])
        side = rng.random((2, 20000)) < left_share
        mag = rng.exponential(1.0, (2, 20000))
        chunks.append(np.where(side, -mag / left_rate[:, None], mag / right_rate[:, None]).astype(np.float32))
    # calibrate on a small first chunk so the far tails overflow and the censored fit is exercised
    lo, hi = calibrated_range(chunks[0][:, :200].min(1), chunks[0][:, :200].max(1), margin=0.2)
    acc = LayerAccumulator(lo, hi, bins=1024, strata=16, per_stratum=2, top_k=2, seed=0)
    for i, values in enumerate(chunks):
        acc.update(i, torch.from_numpy(values), np.arange(values.shape[1]) + i * values.shape[1])
    state = acc.state()
    assert state["hist"][:, -1].sum() > 0 and state["hist"][:, 0].sum() > 0
    fits = tail_fits(state["hist"], state["hist_lo"], state["hist_hi"], tail=0.05)
    np.testing.assert_allclose(fits["left_rate"], left_rate, rtol=0.05)
    np.testing.assert_allclose(fits["right_rate"], right_rate, rtol=0.05)
    np.testing.assert_allclose(fits["right_mass"], 0.05, atol=0.005)


def test_moment_tree_is_exact_under_any_split():
    rng = np.random.default_rng(2)
    data = [rng.normal(1e4, 1.0, (3, rng.integers(1, 50))) for _ in range(37)]
    blocks = [Block(i, i + 1, d.shape[1], d.mean(1), ((d - d.mean(1, keepdims=True)) ** 2).sum(1))
              for i, d in enumerate(data)]
    whole = MomentTree()
    for b in blocks:
        whole.add(b)
    total = whole.total()
    everything = np.concatenate(data, axis=1)
    np.testing.assert_allclose(total.mean, everything.mean(1), rtol=1e-14)
    np.testing.assert_allclose(total.m2 / total.n, everything.var(1), rtol=1e-9)
    for cuts in ([5, 9, 30], [1], [16, 17, 18, 36]):
        parts = [MomentTree(blocks[a:b]) for a, b in zip([0, *cuts], [*cuts, 37])]
        merged = MomentTree([blk for p in parts[::-1] for blk in p.blocks]).total()
        assert merged.n == total.n
        assert merged.mean.tobytes() == total.mean.tobytes() and merged.m2.tobytes() == total.m2.tobytes()
    naive = blocks[0]
    for b in blocks[1:]:
        naive = chan(naive, b)
    np.testing.assert_allclose(naive.mean, total.mean, rtol=1e-14)


def test_results_folder_figures_and_quilt(model, folder, tmp_path):
    stats = run(model, folder, tmp_path / "out", figures=[1])
    assert {p.name for p in (tmp_path / "out" / "figures").iterdir()} == {"overview.png", "unit_0001.png"}
    assert (tmp_path / "out" / "manifest.json").is_file()
    header = (tmp_path / "out" / "summary.csv").read_text().splitlines()[0]
    assert header.startswith("unit,mean,std,frac_positive") and "right_rate" in header
    loaded = load_stats(tmp_path / "out")
    assert loaded.manifest["versions"]["torch"] == torch.__version__ and loaded.complete
    np.testing.assert_array_equal(loaded.std, stats.std)
    np.testing.assert_allclose(loaded.zscore(loaded.mean + 2 * loaded.std), 2.0)
    plot_quilt(loaded, 2, tmp_path / "quilt.png", per_row=4, thumb=16)
    assert Image.open(tmp_path / "quilt.png").size[0] > 50
    with pytest.raises(NeuronscopeError):
        write_figures(loaded, tmp_path / "f", [99])
    written = write_figures(loaded, tmp_path / "parallel", "all", workers=2)  # forked drawing processes
    assert sorted(p.name for p in (tmp_path / "parallel").iterdir()) == sorted(p.name for p in written)
    assert len(written) == 1 + loaded.units


def test_bad_settings_are_one_line_errors(model, folder):
    for kwargs in ({"shard": "0/3"}, {"shard": "4/3"}, {"shard": "x"}, {"bins": 100, "strata": 16},
                   {"crop": True, "position": (8, 0)}, {"resize": 16}):
        with pytest.raises(NeuronscopeError):
            run(model, folder, **kwargs)
    with pytest.raises(NeuronscopeError, match="unknown layer"):
        compute_stats(model, "conv9", folder)


def test_quilt_decodes_each_image_once(model, folder, monkeypatch):
    from neuronscope.dataset import crops

    stats = compute_stats(model, "conv2", folder, resize=SIZE, size=SIZE, batch_size=BATCH, workers=0,
                          figures="none", progress=False, per_stratum=3)
    decoded = []
    real = crops.standard_view
    monkeypatch.setattr(crops, "standard_view", lambda *a: decoded.append(a[0]) or real(*a))
    images = {e.image_id for row in stats.samples(1) for e in row}
    plot_quilt(stats, 1, per_row=3, thumb=16)
    plot_quilt(stats, 1, per_row=3, thumb=16)
    assert sorted(map(str, decoded)) == sorted(str(stats.image_item(i)) for i in images)  # once each, not twice
    first = sorted(images)[0]
    view = crops.load_pixels(stats, first)
    torch.testing.assert_close(view, torch.from_numpy(np.array(Image.open(folder / first))).permute(2, 0, 1) / 255)
    view.zero_()  # a caller's change does not reach the kept copy
    assert crops.load_pixels(stats, first).sum() > 0
