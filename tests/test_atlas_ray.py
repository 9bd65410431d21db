"""The atlas on a local Ray instance with 2 workers gives the same files as in-process."""

from __future__ import annotations

import pytest

from tests.test_atlas import build, tree

ray = pytest.importorskip("ray", reason="the Ray test needs the ray extra (pip install -e '.[test]' installs it)")


def test_ray_build_is_identical_to_in_process(tmp_path):
    here = build(tmp_path / "here")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        assert ray.cluster_resources()["CPU"] == 2
        on_ray = build(tmp_path / "ray", ray="local")
    finally:
        ray.shutdown()
    assert on_ray.ran == here.ran and on_ray.tasks == here.tasks
    assert "ray worker" in (tmp_path / "ray.work" / "build.log").read_text()
    assert tree(tmp_path / "ray") == tree(tmp_path / "here")
    # The tasks' own files too (the statistics aside: their manifests record timings).
    assert task_files(tmp_path / "ray.work") == task_files(tmp_path / "here.work")


def task_files(work):
    files = tree(work / "tasks")
    assert any(k.startswith("stats.") for k in files)
    return {k: v for k, v in files.items() if not k.startswith(("stats.", "merge."))}
