"""Build an atlas: plan the tasks, run the missing ones (here or on Ray), then write the site."""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from neuronscope.atlas import tasks as T
from neuronscope.atlas.site import check_out
from neuronscope.errors import NeuronscopeError


@dataclass
class BuildResult:
    site: Path
    work: Path
    units: int       # unit pages
    pages: int       # HTML pages
    ran: list[str]   # ids of the tasks this build ran (the others were already done)
    tasks: int       # tasks in the plan
    seconds: float


class Store:
    """Finished tasks on disk: `work/tasks/<id>/` with its files and `done.json` (the task's key),
    moved into place whole, so a killed build leaves only complete tasks behind."""

    def __init__(self, work: Path):
        self.root = Path(work) / "tasks"
        self.root.mkdir(parents=True, exist_ok=True)
        for left in self.root.glob(".staging-*"):  # from a killed build (one build per work folder)
            shutil.rmtree(left, ignore_errors=True)

    def path(self, task_id: str) -> Path:
        return self.root / task_id

    def done(self, task: T.Task) -> bool:
        record = self.path(task.id) / "done.json"
        try:
            return json.loads(record.read_text())["key"] == task.key
        except (OSError, ValueError, KeyError):
            return False

    def staging(self, task: T.Task) -> Path:
        folder = self.root / f".staging-{task.id}-{os.getpid()}"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
        return folder

    def commit(self, task: T.Task, staged: Path) -> None:
        (staged / "done.json").write_text(json.dumps({"task": task.id, "key": task.key}))
        final = self.path(task.id)
        shutil.rmtree(final, ignore_errors=True)
        os.replace(staged, final)

    def write(self, task: T.Task, files: dict[str, bytes]) -> None:
        staged = self.staging(task)
        for name, data in files.items():
            (staged / name).write_bytes(data)
        self.commit(task, staged)


def parse_units(spec: str | None) -> list[int] | None:
    """"0-31", "309,115" or "0-7,40" -> sorted unit numbers; None or "all" -> None (every unit)."""
    if spec is None or spec.strip() == "all":
        return None
    units = set()
    try:
        for part in spec.split(","):
            if "-" in part:
                a, b = (int(v) for v in part.split("-"))
                if a > b:
                    raise ValueError
                units.update(range(a, b + 1))
            elif part.strip():
                units.add(int(part))
    except ValueError:
        raise NeuronscopeError(f"--units must look like 0-31 or 309,115; got {spec!r}") from None
    if not units or min(units) < 0:
        raise NeuronscopeError(f"--units must name units 0 or above; got {spec!r}")
    return sorted(units)


def build_atlas(model, layers, images=None, out="atlas", *, units=None, settings: T.Settings | None = None,
                ray=None, ray_workers: int | None = None, work=None, progress: bool = True) -> BuildResult:
    """Build the atlas of `layers` (names, in any order) of `model` over `images` (a folder, list
    file or None for the bundled photographs) into the static site `out`.

    `units`: unit numbers (or a spec like "0-31") shown for every layer, default all.
    `ray`: None runs the tasks in this process; "local" starts a local Ray instance, "auto" or an
    address joins a cluster. `work`: where finished tasks are kept (default `<out>.work` beside
    the site; the build log `build.log` goes there too). A rerun runs only tasks that are missing
    or whose inputs (model weights, settings, code) changed.
    """
    started = time.monotonic()
    if isinstance(model, str):
        import neuronscope

        model = neuronscope.load_model(model)
    settings = settings or T.Settings()
    settings.check()
    layers = _order(model, [layers] if isinstance(layers, str) else list(layers))
    chosen = _choose(model, layers, parse_units(units) if isinstance(units, str) else units)
    out = Path(out)
    check_out(out)
    if isinstance(images, (str, Path)):  # workers elsewhere (Ray) resolve no relative paths
        images = str(Path(images).absolute())
    work = Path(work) if work is not None else out.with_name(out.name + ".work")
    plan = T.plan(model, layers, chosen, images, settings, T.identity(model))
    store = Store(work)
    todo = [t for t in plan if not store.done(t)]
    work.mkdir(parents=True, exist_ok=True)
    with open(work / "build.log", "a") as logfile:
        logfile.write(f"build: {len(plan)} tasks, {len(todo)} to run, ray={ray}\n")
        if ray is None:
            _run_here(todo, model, settings, store, logfile, progress)
        else:
            from neuronscope.atlas.ray_runner import run_on_ray

            run_on_ray(todo, model, settings, store, logfile, progress, address=ray, workers=ray_workers)
    from neuronscope.atlas.site import write_site

    pages = write_site(out, model, layers, chosen, plan, store, settings)
    return BuildResult(out, work, sum(map(len, chosen.values())), pages, [t.id for t in todo], len(plan),
                       round(time.monotonic() - started, 3))


def _order(model, layers: list[str]) -> list[str]:
    if not layers:
        raise NeuronscopeError("name at least one layer")
    model.check_layers(layers)
    if "logits" in layers:
        raise NeuronscopeError("the atlas shows layers with a spatial grid; logits has none")
    return sorted(dict.fromkeys(layers), key=model.layers.index)


def _choose(model, layers: list[str], units: list[int] | None) -> dict[str, list[int]]:
    chosen = {}
    for layer in layers:
        count = T._unit_count(model, layer)
        if units is not None and units[-1] >= count:
            raise NeuronscopeError(f"{layer} has {count} units (0-{count - 1}); --units asks for {units[-1]}")
        chosen[layer] = list(range(count)) if units is None else list(units)
    return chosen


def _bars(tasks, progress: bool) -> dict[str, tqdm]:
    kinds = [k for k in T.KINDS if any(t.kind == k for t in tasks)]
    return {k: tqdm(total=sum(t.kind == k for t in tasks), desc=k, unit="task", position=i, disable=not progress,
                    dynamic_ncols=True, leave=True) for i, k in enumerate(kinds)}


def _run_here(todo: list[T.Task], model, settings, store: Store, logfile, progress: bool) -> None:
    """In-process: the plan is already in dependency order."""
    bars = _bars(todo, progress)
    for task in todo:
        began = time.monotonic()
        staged = store.staging(task)
        try:
            T.execute(task, model, settings, {d: store.path(d) for d in task.deps}, staged)
        except BaseException:
            shutil.rmtree(staged, ignore_errors=True)
            raise
        store.commit(task, staged)
        logfile.write(f"{task.id} done in {time.monotonic() - began:.2f}s (in-process)\n")
        logfile.flush()
        bars[task.kind].update()
    for bar in bars.values():
        bar.close()
