"""Feature visualisation against torch-lucent, paired in one process: speed to equal activation,
activation at equal wall time, and image cleanliness.

    python benchmarks/featvis.py            # 3 units, torch 1 and 2 threads, lucent 512 steps (~1 h on a loaded CPU)
    python benchmarks/featvis.py --quick    # 1 unit, 1 thread, lucent 128 steps (a few minutes)
    python benchmarks/featvis.py --levers   # per-step time of each speed lever, switched off one at a time
    python benchmarks/featvis.py --stage --load 6   # the report's featvis stage (25 family members) under load

Run it where torch-lucent (and the torchvision it needs) imports, with neuronscope on PYTHONPATH
(see README, "Benchmarks"); without lucent it says so and runs a faithful lucent-style loop instead.

For each torch thread count and each unit (same model, layer, image size, seed):
- lucent: `render_vis` with its defaults (Fourier image of `--size` px, decorrelated colour,
  standard transforms, Adam lr 0.05, and, because the image is under 224 px, its bilinear upsampling
  to 224 before the model), objective `neuron(layer, unit)`, run to the logits. Each image is scored
  as lucent shows it to the model: upsampled to 224, the unit's pre-activation at lucent's centre.
- neuronscope: `visualize` with its defaults (128 steps, lr 0.05 cosine-annealed; crop to the
  receptive field, channels-last), scored as it shows the image to the model: `--size` px, the unit
  at the layer's central position.
Both runs record (wall seconds, activation) every few steps; scoring is not timed. Printed: lucent's
activation after its last step and the time neuronscope takes to reach it (the speed-up to equal
activation), each method's activation at neuronscope's final wall time, and both final images'
cleanliness (`neuronscope.optvis.quality`: spectral energy share above 0.25 cycles/pixel, total
variation). `--load N` runs N busy processes beside the benchmark (a synthetic background load).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import time
from pathlib import Path

import torch
import torch.nn.functional as F

import neuronscope as ns
from neuronscope.optvis import objectives, quality, render, visualize

DEFAULT_UNITS = (309, 115, 441)
LUCENT_VIEW = 224  # lucent upsamples images smaller than this before the model


def _spin(stop):
    while not stop.is_set():
        sum(i * i for i in range(10000))


@contextlib.contextmanager
def background_load(n: int):
    """n busy processes for the duration of the block (they stop when it ends)."""
    stop = multiprocessing.Event()
    procs = [multiprocessing.Process(target=_spin, args=(stop,), daemon=True) for _ in range(n)]
    for p in procs:
        p.start()
    try:
        yield
    finally:
        stop.set()
        for p in procs:
            p.join(timeout=5)


def score(model, layer: str, unit: int, images: torch.Tensor, view: int | None, lucent_centre: bool) -> list[float]:
    """The unit's pre-activation for each image as a renderer shows it to the model."""
    with torch.no_grad():
        x = images if view is None else F.interpolate(images, size=(view, view), mode="bilinear", align_corners=True)
        a = model.capture(x, [layer], pre_relu=True)[layer]
    h, w = a.shape[-2:]
    y, x_ = (h // 2, w // 2) if lucent_centre else ((h - 1) // 2, (w - 1) // 2)
    return a[:, unit, y, x_].tolist()


class LucentNet(torch.nn.Module):
    """The neuronscope model as lucent sees a torchvision model: RGB in [0, 1] in, logits out, with
    `layer` an identity sub-module that lucent's hooks can read."""

    def __init__(self, model, layer: str):
        super().__init__()
        self.add_module(layer, torch.nn.Identity())
        self._ns = [model]  # a list, so torch does not register (and lucent does not hook) the network

    def forward(self, x):
        model = self._ns[0]
        return model.net(model.preprocess(x), lambda name, v: self._modules[name](v) if name in self._modules else v)


def lucent_trajectory(model, layer: str, unit: int, steps: int, size: int, seed: int, every: int):
    """(seconds, images) after every `every`-th step of lucent's render_vis."""
    import lucent.optvis.render as lrender
    from lucent.optvis import objectives as lobjectives
    from lucent.optvis import param as lparam

    net = LucentNet(model, layer).to(model.device).eval()
    marks, start = [], [0.0]
    original = lrender.tensor_to_img_array

    def recorded(tensor):
        marks.append((time.perf_counter() - start[0], tensor.detach().cpu().clone()))
        return original(tensor)

    torch.manual_seed(seed)
    lrender.tensor_to_img_array = recorded
    try:
        start[0] = time.perf_counter()
        lrender.render_vis(net, lobjectives.neuron(layer, unit), lambda: lparam.image(size),
                           thresholds=tuple(range(every, steps + 1, every)), preprocess=False, progress=False,
                           show_image=False)
    finally:
        lrender.tensor_to_img_array = original
    return [t for t, _ in marks], torch.cat([im for _, im in marks])


def lucent_style_trajectory(model, layer: str, unit: int, steps: int, size: int, seed: int, every: int):
    """Without lucent: the same procedure with neuronscope's parts (lucent's parameterisation and
    transforms, upsampling to 224, the whole network every step, no crop, no channels-last)."""
    centre = (LUCENT_VIEW // 16 // 2,) * 2
    unit_objective = objectives.neuron(layer, unit, centre)
    objective = objectives.Objective(unit_objective.fn, {layer, "logits"}, "lucent-style")
    return ns_trajectory(model, objective, steps, size, seed, every, fixed_size=LUCENT_VIEW, crop=False,
                         channels_last=False, schedule="constant", lr=0.05)


def ns_trajectory(model, target, steps: int, size: int, seed: int, every: int, channels_last: bool = True,
                  **kwargs):
    """(seconds, images) after every `every`-th step of `visualize`, copying images untimed."""
    marks, paused, start = [], [0.0], [0.0]

    def callback(step, image_param):
        if (step + 1) % every == 0 or step + 1 == steps:
            t = time.perf_counter()
            with torch.no_grad():
                marks.append((t - start[0] - paused[0], image_param().float().cpu()))
            paused[0] += time.perf_counter() - t

    before, render.CHANNELS_LAST = render.CHANNELS_LAST, channels_last
    try:
        start[0] = time.perf_counter()
        visualize(model, target, steps=steps, size=size, seed=seed, progress=False, callback=callback, **kwargs)
    finally:
        render.CHANNELS_LAST = before
    return [t for t, _ in marks], torch.cat([im for _, im in marks])


def first_reaching(times, acts, target):
    for t, a in zip(times, acts):
        if a >= target:
            return t
    return None


def at_time(times, acts, t):
    """Activation of the last recorded image at or before wall time t (None before the first)."""
    best = None
    for ti, a in zip(times, acts):
        if ti <= t:
            best = a
    return best


def compare(model, layer, unit, args, use_lucent: bool) -> dict:
    steps = args.lucent_steps
    run = lucent_trajectory if use_lucent else lucent_style_trajectory
    lt, limages = run(model, layer, unit, steps, args.size, args.seed, args.every)
    lacts = score(model, layer, unit, limages, LUCENT_VIEW, lucent_centre=True)
    nt, nimages = ns_trajectory(model, f"{layer}:{unit}", args.steps, args.size, args.seed, args.every_ns,
                                lr=args.lr, schedule=args.schedule)
    nacts = score(model, layer, unit, nimages, None, lucent_centre=False)
    reach = first_reaching(nt, nacts, lacts[-1])
    finals = torch.stack([limages[-1], nimages[-1]])
    hf, tv = quality.high_frequency_share(finals).tolist(), quality.total_variation(finals).tolist()
    return {"unit": unit, "lucent_s": lt[-1], "lucent_act": lacts[-1], "ns_s": nt[-1], "ns_act": nacts[-1],
            "ns_reach_s": reach, "speedup_to_equal": lt[-1] / reach if reach else None,
            "lucent_act_at_ns_time": at_time(lt, lacts, nt[-1]),
            "lucent_hf": hf[0], "ns_hf": hf[1], "lucent_tv": tv[0], "ns_tv": tv[1],
            "images": (limages[-1], nimages[-1])}


def fmt(v, spec=".2f"):
    return "-" if v is None else format(v, spec)


def print_header(threads):
    print(f"\ntorch threads {threads}, load average {os.getloadavg()[0]:.1f}")
    print(f"{'unit':>5} {'lucent s':>9} {'act':>6} | {'ns reach s':>10} {'speed-up':>8} | {'ns s':>6} {'act':>6} "
          f"{'lucent@':>7} | {'HF share L/ns':>13} | {'TV L/ns':>11}", flush=True)


def print_row(r):
    print(f"{r['unit']:>5} {r['lucent_s']:9.1f} {r['lucent_act']:6.2f} | {fmt(r['ns_reach_s'], '.1f'):>10} "
          f"{fmt(r['speedup_to_equal'], '.1f'):>7}x | {r['ns_s']:6.1f} {r['ns_act']:6.2f} "
          f"{fmt(r['lucent_act_at_ns_time']):>7} | {r['lucent_hf']:.4f}/{r['ns_hf']:.4f} | "
          f"{r['lucent_tv']:.3f}/{r['ns_tv']:.3f}", flush=True)


def print_summary(rows):
    ok = [r["speedup_to_equal"] for r in rows if r["speedup_to_equal"]]
    if ok:
        print(f"speed-up to equal activation: min {min(ok):.1f}x, median {sorted(ok)[len(ok) // 2]:.1f}x "
              f"({len(ok)} of {len(rows)} units reached lucent's activation)", flush=True)


def levers(model, layer, units, args):
    """Per-step seconds of neuronscope's loop with each lever switched off in turn (same run length)."""
    target = [f"{layer}:{u}" for u in units]
    configs = {"all levers": {}, "no crop": {"crop": False}, "no channels-last": {"channels_last": False},
               "neither": {"crop": False, "channels_last": False}}
    steps = 64
    for kw in configs.values():  # warm-up (and the crop's windows, kept per process)
        ns_trajectory(model, target, 4, args.size, args.seed, 4, **kw)
    best = {}
    for _ in range(3):
        for name, kw in configs.items():
            t, _ = ns_trajectory(model, target, steps, args.size, args.seed, steps, **kw)
            best[name] = min(best.get(name, float("inf")), t[-1] / steps)
    print(f"\nper-step seconds, {len(units)} unit(s) batched, {args.size} px, torch threads {torch.get_num_threads()}:")
    for name, s in best.items():
        print(f"  {name:18s} {s * 1000:7.1f} ms  ({best['neither'] / s:.2f}x vs neither)")


def stage(model, layer, args, threads) -> None:
    """The report's feature-visualisation stage: `--members` curve-family members in one batched
    run with visualize's defaults, at each thread count and at the automatic choice."""
    from neuronscope.threads import choose_threads

    members = ns.families.find_family(model, layer).members
    ids = [f"{layer}:{m.unit}" for m in members[:args.members]]
    auto = choose_threads()
    for t in [*threads, None]:
        torch.set_num_threads(t or auto)
        start = time.perf_counter()
        visualize(model, ids, size=args.size, seed=args.seed, progress=False)
        label = f"{t} thread(s)" if t else f"automatic choice ({auto} thread(s))"
        print(f"featvis stage, {len(ids)} units, {label}: {time.perf_counter() - start:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="efficientnet_lite0")
    parser.add_argument("--layer", default=None, help="default: the model's default layer")
    parser.add_argument("--units", default=None, help=f"comma-separated units (default {DEFAULT_UNITS})")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", default="1,2", help="torch thread counts to run, e.g. 1,2")
    parser.add_argument("--lucent-steps", type=int, default=512)
    parser.add_argument("--steps", type=int, default=None, help="neuronscope steps (default: visualize's)")
    parser.add_argument("--lr", type=float, default=None, help="neuronscope lr (default: visualize's)")
    parser.add_argument("--schedule", default=None, help="neuronscope schedule (default: visualize's)")
    parser.add_argument("--every", type=int, default=8, help="record lucent's image every N steps")
    parser.add_argument("--every-ns", type=int, default=4, help="record neuronscope's image every N steps")
    parser.add_argument("--quick", action="store_true", help="1 unit, 1 thread, lucent 128 steps")
    parser.add_argument("--levers", action="store_true", help="only time each speed lever")
    parser.add_argument("--stage", action="store_true", help="only time the report's featvis stage")
    parser.add_argument("--members", type=int, default=25, help="family members for --stage")
    parser.add_argument("--load", type=int, default=0, help="busy background processes during the benchmark")
    parser.add_argument("--no-lucent", action="store_true", help="use the lucent-style loop even if lucent imports")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default=None, help="write both final images and the figures (JSON) here")
    args = parser.parse_args()

    import inspect
    defaults = inspect.signature(visualize).parameters
    args.steps = args.steps or defaults["steps"].default
    args.lr = args.lr or defaults["lr"].default
    args.schedule = args.schedule or defaults["schedule"].default
    units = [int(u) for u in args.units.split(",")] if args.units else list(DEFAULT_UNITS)
    threads = [int(t) for t in args.threads.split(",")]
    if args.quick:
        units, threads, args.lucent_steps = units[:1], threads[:1], 128
    try:
        import lucent  # noqa: F401
        use_lucent = not args.no_lucent
    except ImportError:
        use_lucent = False
    model = ns.load_model(args.model, device=args.device)
    layer = args.layer or model.default_layer
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    baseline = "torch-lucent " + _lucent_version() if use_lucent else "lucent-style loop (lucent not importable)"
    print(f"{model.name} {layer} units {units}, {args.size} px, seed {args.seed}, device {args.device}; "
          f"baseline: {baseline} "
          f"{args.lucent_steps} steps; neuronscope {args.steps} steps, lr {args.lr}, {args.schedule}; "
          f"load average {load:.1f} on {os.cpu_count()} cores, +{args.load} busy processes")
    results = {}
    with background_load(args.load):
        if args.stage:
            stage(model, layer, args, threads)
            return
        if args.levers:
            for t in threads:
                torch.set_num_threads(t)
                levers(model, layer, units[:1], args)
                levers(model, layer, units, args)
            return
        for t in threads:
            torch.set_num_threads(t)
            print_header(t)
            rows = results[t] = []
            for u in units:
                rows.append(compare(model, layer, u, args, use_lucent))
                print_row(rows[-1])
                if args.out:
                    _save(results, Path(args.out), args)
            print_summary(rows)


def _lucent_version() -> str:
    from importlib.metadata import version

    return version("torch-lucent")


def _save(results, out: Path, args) -> None:
    from neuronscope.stimuli.tiling import save_grid

    out.mkdir(parents=True, exist_ok=True)
    table = {}
    for t, rows in results.items():
        images = torch.stack([im for r in rows for im in r["images"]])
        save_grid(images, out / f"lucent_vs_neuronscope_threads{t}.png", 2)
        table[t] = [{k: v for k, v in r.items() if k != "images"} for r in rows]
    (out / "featvis_benchmark.json").write_text(json.dumps({"args": vars(args), "results": table}, indent=1))
    print(f"images (lucent left, neuronscope right, one row per unit) and figures in {out}", flush=True)


if __name__ == "__main__":
    main()
