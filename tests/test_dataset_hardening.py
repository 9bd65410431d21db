"""Results that could be silently mixed, overwritten or forged are refused (issue 13, items 2, 3, 7, 8;
issue 11, item 7): each test first builds the situation that used to pass without a word."""

from __future__ import annotations

import io
import json
import shutil
import threading
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

import neuronscope as ns
from neuronscope.cli import main
from neuronscope.dataset import LabelSession, compute_stats, load_stats, merge_results, plot_quilt
from neuronscope.dataset.result import checksum
from neuronscope.errors import NeuronscopeError
from neuronscope.tuning.units import dataset_stats
from tests.test_dataset import SIZE, Tiny, folder, one_thread  # noqa: F401 - fixtures


def tiny(seed=0):
    torch.manual_seed(seed)
    return ns.wrap(Tiny(), layers={"conv1": "relu", "conv2": "relu"}, name="tiny")


@pytest.fixture(scope="module")
def model():
    return tiny()


def run(model, source, out_dir=None, **kwargs):
    options = dict(resize=SIZE, size=SIZE, batch_size=4, workers=0, figures="none", progress=False, per_stratum=3)
    return compute_stats(model, "conv2", source, out_dir, **{**options, **kwargs})


def test_shards_with_other_weights_are_not_merged(model, folder, tmp_path):  # noqa: F811
    run(model, folder, tmp_path / "1", shard="1/2")
    run(tiny(seed=1), folder, tmp_path / "2", shard="2/2")  # same architecture and name, other weights
    with pytest.raises(NeuronscopeError, match="differ in weights"):
        merge_results([tmp_path / "1", tmp_path / "2"])


def test_merge_with_a_missing_shard_is_refused_and_a_shard_is_not_a_result(model, folder, tmp_path):  # noqa: F811
    for i in (1, 3, 4):  # 22 images in 6 chunks of 4; shard 2/4 (chunks 1-2, images 4-11) is left out
        run(model, folder, tmp_path / str(i), shard=f"{i}/4")
    with pytest.raises(NeuronscopeError, match=r"cover 14 of 22 images: chunks 1-2 .* merge every shard"):
        merge_results([tmp_path / str(i) for i in (1, 3, 4)], tmp_path / "merged")
    assert not (tmp_path / "merged" / "stats.npz").exists()
    with pytest.raises(NeuronscopeError, match="shard 1/4 of a run"):  # as `family --stats` / `tune --stats`
        dataset_stats(model, "conv2", tmp_path / "1")
    with pytest.raises(NeuronscopeError, match="shard 1/4"):
        LabelSession(tmp_path / "1", 1)
    run(model, folder, tmp_path / "2", shard="2/4")
    merged = merge_results([tmp_path / str(i) for i in (1, 2, 3, 4)], tmp_path / "merged")
    assert merged.covers_all and merged.images == 22
    assert dataset_stats(model, "conv2", tmp_path / "merged").images == 22


def test_statistics_of_other_weights_are_not_used_for_units(model, folder, tmp_path):  # noqa: F811
    run(model, folder, tmp_path / "r")
    with pytest.raises(NeuronscopeError, match="other weights"):
        dataset_stats(tiny(seed=1), "conv2", tmp_path / "r")


def test_shards_over_other_files_under_the_same_names_are_not_merged(model, folder, tmp_path):  # noqa: F811
    other = shutil.copytree(folder, tmp_path / "other")
    victim = sorted(other.rglob("*.png"))[-1]  # in the second shard
    Image.fromarray(np.zeros((SIZE + 8, SIZE, 3), np.uint8)).save(victim)  # another picture, same name
    run(model, folder, tmp_path / "1", shard="1/2")
    run(model, other, tmp_path / "2", shard="2/2")
    with pytest.raises(NeuronscopeError, match="differ in source"):
        merge_results([tmp_path / "1", tmp_path / "2"])
    run(model, shutil.copytree(folder, tmp_path / "copy"), tmp_path / "3", shard="2/2")  # a copy elsewhere is fine
    assert merge_results([tmp_path / "1", tmp_path / "3"]).images == 22


def test_a_result_is_never_replaced_without_overwrite(model, folder, tmp_path):  # noqa: F811
    first = run(model, folder, tmp_path / "out")
    with pytest.raises(NeuronscopeError, match="already holds a result .* --resume .* --overwrite"):
        run(model, folder, tmp_path / "out", seed=3)
    assert load_stats(tmp_path / "out").mean.tobytes() == first.mean.tobytes()
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("precious")
    for kwargs in ({}, {"overwrite": True}, {"resume": True}):
        with pytest.raises(NeuronscopeError, match="mine"):
            run(model, folder, tmp_path / "mine", **kwargs)
    assert (tmp_path / "mine" / "thesis.tex").read_text() == "precious"
    again = run(model, folder, tmp_path / "out", seed=3, overwrite=True)
    assert load_stats(tmp_path / "out").manifest["settings"]["seed"] == 3 == again.manifest["settings"]["seed"]


def test_a_second_run_into_a_folder_being_written_is_refused(model, folder, tmp_path):  # noqa: F811
    """The first run is held inside its work (at its first batch of images) while a second one starts."""
    entered, release = threading.Event(), threading.Event()

    class Held(Tiny):
        def forward(self, x):
            if len(x) == 4:  # a batch of images, not a one-image probe of the layers' shapes
                entered.set()
                release.wait(30)
            return super().forward(x)

    torch.manual_seed(0)
    held = ns.wrap(Held(), layers={"conv1": "relu", "conv2": "relu"}, name="tiny")
    errors = []
    first = threading.Thread(target=lambda: run(held, folder, tmp_path / "out"))
    first.start()
    try:
        assert entered.wait(30)
        for kwargs in ({}, {"resume": True}, {"overwrite": True}):
            try:
                run(model, folder, tmp_path / "out", **kwargs)
            except NeuronscopeError as exc:
                errors.append(str(exc))
    finally:
        release.set()
        first.join(60)
    assert len(errors) == 3 and all("is being written by process" in e for e in errors), errors
    assert load_stats(tmp_path / "out").complete


def _rewrite(path, edit):
    """Rewrite stats.npz with `edit(manifest, arrays)` applied, keeping the old checksum (a hand edit)."""
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    manifest = json.loads(str(arrays.pop("manifest")))
    edit(manifest, arrays)
    np.savez_compressed(path, manifest=np.array(json.dumps(manifest)), **arrays)


@pytest.mark.parametrize("edit", [
    lambda m, a: a["hist"].__setitem__((0, 5), a["hist"][0, 5] + 1),   # a bumped histogram count
    lambda m, a: m["chunks"][0].__setitem__(1, m["chunks"][0][1] + 2),  # chunks moved forward
    lambda m, a: m.__setitem__("images", m["images"] + 10),
])
def test_a_hand_edited_checkpoint_is_refused(model, folder, tmp_path, edit):  # noqa: F811
    run(model, folder, tmp_path / "out", shard="1/2")  # stands for a checkpoint: a valid, loadable file
    _rewrite(tmp_path / "out" / "stats.npz", edit)
    with pytest.raises(NeuronscopeError, match="fails its checksum"):
        load_stats(tmp_path / "out")
    with pytest.raises(NeuronscopeError, match="fails its checksum"):
        run(model, folder, tmp_path / "out", shard="1/2", resume=True)


def test_checksum_covers_every_array_and_the_manifest():
    arrays = {"a": np.arange(4), "b": np.zeros((2, 2))}
    base = checksum("{}", arrays)
    assert base != checksum('{"x": 1}', arrays)
    assert base != checksum("{}", {**arrays, "a": np.arange(4)[::-1].copy()})
    assert base != checksum("{}", {**arrays, "b": np.zeros((4,))})  # same bytes, other shape
    assert base != checksum("{}", {"a": arrays["a"]})


@pytest.mark.parametrize("damage", ["truncated", "text", "not_json", "no_manifest", "pickled", "empty_zip"])
def test_a_corrupted_checkpoint_is_one_line(model, folder, tmp_path, capsys, damage):  # noqa: F811
    out = tmp_path / "out"
    run(model, folder, out, shard="1/2")
    path = out / "stats.npz"
    data = path.read_bytes()
    if damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "text":
        path.write_text("a text file posing as stats.npz\n")
    elif damage == "empty_zip":
        with zipfile.ZipFile(path, "w"):
            pass
    else:
        buffer = io.BytesIO()
        arrays = {"hist": np.zeros(3)}
        if damage == "not_json":
            arrays["manifest"] = np.array("{not json")
        elif damage == "pickled":
            arrays["manifest"] = np.array([{"format": 1}], dtype=object)
        np.savez(buffer, **arrays)
        path.write_bytes(buffer.getvalue())
    assert main(["quilt", str(out), "1", "--out", str(tmp_path / "q.png")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: unreadable statistics file") and err.count("\n") == 1, err
    assert "allow_pickle" not in err and "weights_only" not in err


def test_figures_are_drawn_only_when_asked_and_on_demand_from_a_finished_result(model, folder, tmp_path):  # noqa: F811
    run(model, folder, tmp_path / "out")
    assert not (tmp_path / "out" / "figures").exists()  # none by default (was: every unit)
    (tmp_path / "out" / "figures").mkdir()
    (tmp_path / "out" / "figures" / "unit_0001.png").write_bytes(b"\x89PNG truncated by a kill")
    run(model, folder, tmp_path / "out", resume=True, figures=[1, 3])
    for unit in (1, 3):
        with Image.open(tmp_path / "out" / "figures" / f"unit_{unit:04d}.png") as image:
            assert image.size[0] > 500  # a whole figure, redrawn
    assert not (tmp_path / "out" / "figures" / "unit_0002.png").exists()
    with pytest.raises(NeuronscopeError, match="unit 7 is out of range"):
        run(model, folder, tmp_path / "out", resume=True, figures=[7])


def test_quilt_names_missing_and_changed_images_and_finds_moved_ones(model, folder, tmp_path, capsys):  # noqa: F811
    images = shutil.copytree(folder, tmp_path / "images")
    run(model, images, tmp_path / "out")
    stats = load_stats(tmp_path / "out")
    plot_quilt(stats, 1)  # all there
    moved = images.rename(tmp_path / "moved")
    with pytest.raises(NeuronscopeError, match=r"images behind these examples are missing .*--images DIR"):
        plot_quilt(stats, 1)
    assert main(["quilt", str(tmp_path / "out"), "1", "--out", str(tmp_path / "q.png")]) == 2
    err = capsys.readouterr().err
    assert "missing" in err and "--images" in err and err.count("\n") == 1
    assert main(["quilt", str(tmp_path / "out"), "1", "--out", str(tmp_path / "q.png"), "--images", str(moved)]) == 0
    session = LabelSession(tmp_path / "out", 1)  # the labels' figures need no images
    with pytest.raises(NeuronscopeError, match="missing"):
        session.check_images()  # as `neuronscope label` does before showing any crop
    with pytest.raises(NeuronscopeError, match="missing"):
        session.crop(0)
    assert main(["label", str(tmp_path / "out"), "--neuron", "1", "--terminal"]) == 2
    assert "missing" in capsys.readouterr().err
    LabelSession(tmp_path / "out", 1, images=moved).check_images()

    example = max([s for s in load_stats(tmp_path / "out").samples(1) if s][-1], key=lambda e: e.value)
    path = moved / example.image_id
    pixels = np.asarray(Image.open(path)).copy()
    pixels[0, 0] ^= 1  # one bit: same name and size, other content
    Image.fromarray(pixels).save(path)
    with pytest.raises(NeuronscopeError, match="changed since the run read it"):
        plot_quilt(load_stats(tmp_path / "out", images=moved), 1)
