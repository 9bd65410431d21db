"""Run atlas tasks as Ray tasks (the optional extra: `pip install 'neuronscope[ray]'`).

Each task is one Ray task, retried by Ray if its worker dies or it hits an I/O error. The model travels once through
Ray's object store; a task gets its dependencies' files (read by the driver) as bytes and
returns its own files as bytes, which the driver writes into the store: workers need to share
only the image location, not the atlas's folders. A task asks for a GPU where the cluster has
them (and then runs its model there).
"""

from __future__ import annotations

import copy
import os
import shutil
import tempfile
import time
from pathlib import Path

import torch

from neuronscope.atlas import tasks as T
from neuronscope.errors import NeuronscopeError


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file() and p.name != "done.json"}


def _remote_execute(task: T.Task, model, settings: T.Settings, use_gpu: bool, *dep_files: dict[str, bytes]):
    """Worker side: materialise the dependencies' files in a scratch folder, run the task, return its files."""
    import torch

    inputs = dict(zip(task.deps, dep_files))
    if use_gpu and torch.cuda.is_available():
        model = model.to("cuda")
    scratch = Path(tempfile.mkdtemp(prefix="neuronscope-atlas-"))
    try:
        folders = {}
        for dep, files in inputs.items():
            folders[dep] = scratch / "in" / dep
            folders[dep].mkdir(parents=True)
            for name, data in files.items():
                (folders[dep] / name).write_bytes(data)
        began = time.monotonic()
        T.execute(task, model, settings, folders, scratch / "out")
        return _files(scratch / "out"), round(time.monotonic() - began, 2), os.getpid()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def run_on_ray(todo: list[T.Task], model, settings: T.Settings, store, logfile, progress: bool,
               address: str = "local", workers: int | None = None, retries: int = 3) -> None:
    """Run `todo` on Ray: `address` "local" starts a local instance (`workers` CPUs, default all),
    "auto" or "ray://host:port" / "host:port" joins a running cluster."""
    try:
        import ray
    except ImportError:
        raise NeuronscopeError("--ray needs Ray: pip install 'neuronscope[ray]'") from None
    from neuronscope.atlas.build import _bars

    started_here = not ray.is_initialized()
    if started_here:
        env = {"env_vars": {"OMP_NUM_THREADS": "1"}}
        if address == "local":
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, runtime_env=env)
        else:
            ray.init(address=address, log_to_driver=False, runtime_env=env)
    try:
        use_gpu = ray.cluster_resources().get("GPU", 0) > 0
        # Retried: a worker that dies, and I/O errors (images on a network filesystem); a bug fails at once.
        remote = ray.remote(max_retries=retries, retry_exceptions=[OSError], num_cpus=1,
                            num_gpus=1 if use_gpu else 0)(_remote_execute)
        # Shipped on the CPU (a worker moves it to its GPU); the caller's model stays where it is.
        model_ref = ray.put(model if torch.device(model.device).type == "cpu" else copy.deepcopy(model).to("cpu"))
        bars = _bars(todo, progress)
        waiting = {t.id: t for t in todo}
        running: dict = {}
        finished = set()
        pending = set(waiting)
        inputs_cache: dict[str, object] = {}

        def ready(task):  # dependencies outside `todo` were done before this build
            return all(d in finished or d not in pending for d in task.deps)

        while waiting or running:
            for task in [t for t in waiting.values() if ready(t)]:
                for dep in task.deps:
                    if dep not in inputs_cache:
                        inputs_cache[dep] = ray.put(_files(store.path(dep)))
                ref = remote.remote(task, model_ref, settings, use_gpu, *(inputs_cache[d] for d in task.deps))
                running[ref] = task.id
                del waiting[task.id]
            if not running:
                raise NeuronscopeError(f"tasks wait on missing dependencies: {', '.join(waiting)}")
            done, _ = ray.wait(list(running), num_returns=1)
            task_id = running.pop(done[0])
            task = next(t for t in todo if t.id == task_id)
            files, seconds, pid = ray.get(done[0])
            store.write(task, files)
            finished.add(task_id)
            logfile.write(f"{task_id} done in {seconds:.2f}s (ray worker pid {pid})\n")
            logfile.flush()
            bars[task.kind].update()
        for bar in bars.values():
            bar.close()
    finally:
        if started_here:
            ray.shutdown()

