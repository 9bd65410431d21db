"""The render loop: optimise a batch of parameterised images so they minimise an objective.

Per step it does only what the result needs: the forward pass stops at the deepest layer the
objective reads; for neuron objectives it runs on the window of the transformed image that the
targeted positions can see (`neuronscope.optvis.crop`, exact), and once that window is checked
only its pixels are transformed (the rotation samples the window alone); the network runs channels-last
(measured 1.3-1.6x faster per step on CPU); the colour matrix and the spectrum's 1/f scale are
buffers computed once.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from neuronscope.errors import NeuronscopeError
from neuronscope.neurons import Neuron, parse_neuron
from neuronscope.optvis import objectives as obj
from neuronscope.optvis import transforms as tr
from neuronscope.optvis.crop import FieldCrop
from neuronscope.optvis.param import ImageParam, make_param
from neuronscope.stimuli.tiling import save_grid


@dataclass
class Plan:
    """What to optimise: the objective for the first `redirect_steps` steps (`early`) and after
    (`late`), how to capture, one initial-noise seed per image, and where the objective reads only
    single positions, those positions by layer (`targets`, None for the grid's centre)."""

    early: obj.Objective
    late: obj.Objective
    pre_relu: bool
    seeds: list[int]
    ncol: int | None = None
    targets: dict[str, list[tuple[int, int] | None]] | None = None


def neuron_plan(model, neurons: Sequence[Neuron], seed: int, pre_relu: bool, negative: bool,
                diversity: int, diversity_weight: float) -> Plan:
    """Image j * k + r (k = max(1, diversity)) is the r-th image of neuron j, starting from the
    noise of seed + r, so a neuron renders the same alone or among others. Activations are
    captured pre-ReLU; with pre_relu=False the objective applies the layer's activation itself,
    redirected early. The diversity penalty compares the images' post-activation Gram matrices."""
    k = max(1, diversity)

    def build(redirect: bool) -> obj.Objective:
        terms = []
        for j, n in enumerate(neurons):
            group = list(range(j * k, (j + 1) * k))
            activation = None if pre_relu else model.activations[n.layer]
            unit = obj.neuron(n.layer, n.unit, n.position, group, activation, redirect)
            terms.append(-unit if negative else unit)
            if k > 1:
                terms.append(diversity_weight * obj.diversity(n.layer, group, model.activations[n.layer]))
        return sum(terms)

    seeds = [seed + r for _ in neurons for r in range(k)]
    targets = None
    if k == 1:  # the diversity penalty reads whole layers
        targets = {}
        for n in neurons:
            targets.setdefault(n.layer, []).append(n.position)
    return Plan(build(True), build(False), True, seeds, k if k > 1 else None, targets)


def objective_plan(objective: obj.Objective, seed: int, pre_relu: bool, negative: bool, diversity: int,
                   diversity_weight: float) -> Plan:
    """A user objective on max(its batch_size, diversity) images (image i from seed + i),
    negated for `negative`, plus the diversity penalty on each layer it reads over all images."""
    if not objective.layers:
        raise NeuronscopeError(f"objective {objective.name} reads no layer of the model")
    n = max(objective.batch_size, diversity, 1)
    if negative:
        objective = -objective
    if diversity > 1:
        objective = objective + diversity_weight * sum(obj.diversity(layer) for layer in sorted(objective.layers))
    return Plan(objective, objective, pre_relu, [seed + i for i in range(n)])


def _parse(model, target, size: int) -> list[Neuron]:
    items = [target] if isinstance(target, (str, Neuron)) else list(target)
    if not items:
        raise NeuronscopeError("nothing to visualise: no neuron ids given")
    return [n if isinstance(n, Neuron) else parse_neuron(n, model, input_size=size) for n in items]


SCHEDULES = ("constant", "cosine")
CHANNELS_LAST = True  # a switch for the benchmark's lever measurements
TRANSFORM_WINDOW = True  # transform only the cropped window (a switch for the test comparing it with the whole image)


def learning_rate(lr: float, schedule: str, step: int, steps: int) -> float:
    """The step's learning rate: `lr` throughout ("constant", lucid's), or cosine-annealed from
    `lr` to lr / 10 over the run ("cosine")."""
    if schedule == "constant" or steps <= 1:
        return lr
    return lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / (steps - 1))))


@contextlib.contextmanager
def channels_last(model):
    """The network's 4-D weights in channels-last memory order for the block's duration (faster
    convolutions on CPU and GPU; values are unchanged)."""
    if not CHANNELS_LAST:
        yield
        return
    model.net.to(memory_format=torch.channels_last)
    try:
        yield
    finally:
        model.net.to(memory_format=torch.contiguous_format)


@contextlib.contextmanager
def frozen(model):
    """The network's parameters without gradients for the block's duration: the loop
    differentiates the image only, so autograd records nothing for the weights (measured ~5% of
    a step on CPU)."""
    params = [p for p in model.net.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


def visualize(model, objective_or_neuron_ids, steps: int = 128, size: int = 128, seed: int = 0,
              lr: float = 0.05, param: str | ImageParam = "fourier", transforms="standard",
              pre_relu: bool = True, negative: bool = False, diversity: int = 0, progress: bool = True,
              save_every: int | None = None, out_dir: str | Path | None = None,
              diversity_weight: float = 1e2, redirect_steps: int = 16, schedule: str = "cosine",
              crop: bool = True, fixed_size: int | None = None,
              callback: Callable[[int, ImageParam], None] | None = None) -> torch.Tensor:
    """Render feature visualisations; returns (N, 3, size, size) images in [0, 1] on the CPU.

    `objective_or_neuron_ids`: an `Objective`, a neuron id ("mixed3b:379", "mixed3b:379@5,5"),
    a `Neuron`, or a list of them; a list renders all of them in one batched optimisation (image
    i maximises neuron i, at the layer's central grid position unless the id gives one).
    `pre_relu`: maximise the neuron's pre-activation value (default) or, when False, its value
    after the layer's ReLU/ReLU6, using the redirected ReLU gradient for the first
    `redirect_steps` steps (see `neuronscope.optvis.relu`). For an `Objective` it is just how
    activations are captured. `negative`: minimise instead (the most inhibiting images).
    `diversity`: k >= 2 renders k images per neuron, made to differ by lucid's diversity
    penalty with weight `diversity_weight`. `param`: "fourier", "pixel" or an `ImageParam`
    (its seeds and size then win). `transforms`: "standard", None or a list of transforms.
    `lr` and `schedule` ("cosine" or "constant", see `learning_rate`): Adam's step size. The
    defaults (128 steps, lr 0.05 cosine-annealed) reach a higher activation than lucent's 512
    constant-rate steps, with less high-frequency energy and total variation (benchmarks/featvis.py).
    `crop`: run neuron objectives on the window their positions see (exact; see
    `neuronscope.optvis.crop`). `fixed_size`: resize every transformed image to this size
    (bilinear) before the model, for models that accept one input size only (lucent's
    fixed_image_size). `callback(step, image_param)` runs after each step (for monitoring).
    Every step: image -> random transforms -> `model.capture` (stops at the deepest layer the
    objective reads) -> loss summed over the batch -> Adam step on the image parameters only.
    `out_dir`: writes grid.png at the end, and step_NNNNN.png every `save_every` steps.
    Same arguments and seed -> same images.
    """
    if steps < 0 or size < 1:
        raise NeuronscopeError(f"steps must be >= 0 and size >= 1, got steps={steps}, size={size}")
    if schedule not in SCHEDULES:
        raise NeuronscopeError(f"unknown schedule {schedule!r}; use one of {', '.join(SCHEDULES)}")
    if fixed_size is not None and fixed_size < 1:
        raise NeuronscopeError(f"fixed_size must be >= 1, got {fixed_size}")
    if save_every is not None and out_dir is None:
        raise NeuronscopeError("save_every needs out_dir")
    if isinstance(objective_or_neuron_ids, obj.Objective):
        plan = objective_plan(objective_or_neuron_ids, seed, pre_relu, negative, diversity, diversity_weight)
    else:
        neurons = _parse(model, objective_or_neuron_ids, fixed_size or size)
        plan = neuron_plan(model, neurons, seed, pre_relu, negative, diversity, diversity_weight)
    image_param = param if isinstance(param, ImageParam) else make_param(param, size, plan.seeds)
    if len(image_param.seeds) < len(plan.seeds):
        raise NeuronscopeError(f"the parameterisation holds {len(image_param.seeds)} images; "
                               f"this objective needs {len(plan.seeds)}")
    image_param = image_param.to(model.device)
    transform = tr.resolve(transforms)
    layers = sorted(plan.early.layers | plan.late.layers)
    generator = torch.Generator().manual_seed(seed)
    params = list(image_param.parameters())
    optimizer = torch.optim.Adam(params, lr=lr)
    cropper = None
    if crop and fixed_size is None and plan.targets and FieldCrop.applies(model, plan.targets):
        cropper = FieldCrop(model, plan.targets)

    def capture(images, names):
        if CHANNELS_LAST:
            images = images.contiguous(memory_format=torch.channels_last)
        return model.capture(images, names, pre_relu=plan.pre_relu)

    def activations(images):
        if fixed_size is not None:
            images = F.interpolate(images, size=(fixed_size, fixed_size), mode="bilinear", align_corners=True)
        window = cropper.window(*images.shape[-2:]) if cropper else None
        if window is not None and cropper.check(images.detach(), window, capture):
            return window.place(capture(window.crop(images), layers))
        return capture(images, layers)

    def transformed_activations(image):
        """The activations of the transformed image; once a window is checked, only the window's
        pixels are transformed (`transforms.Planned`: the same pixels as the whole image's crop)."""
        planned = transform.plan(generator, *image.shape[-2:]) if cropper and TRANSFORM_WINDOW and \
            isinstance(transform, tr.Compose) else None
        if planned is None:
            return activations(transform(image, generator))
        window = cropper.window(*planned.size)
        if window is not None and cropper.checked(*planned.size):
            return window.place(capture(planned.apply(image, (window.y0, window.y1, window.x0, window.x1)), layers))
        return activations(planned.apply(image))

    bar = tqdm(range(steps), desc="featvis", disable=not progress, leave=False)
    with channels_last(model), frozen(model):
        for step in bar:
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(lr, schedule, step, steps)
            image = image_param()
            acts = transformed_activations(image)
            loss = (plan.early if step < redirect_steps else plan.late)(acts, image).sum()
            grads = torch.autograd.grad(loss, params)  # image parameters only, not the model's weights
            for p, g in zip(params, grads):
                p.grad = g
            optimizer.step()
            if progress and step % 16 == 0:
                bar.set_postfix(loss=f"{loss.item():.4g}")
            if save_every and (step + 1) % save_every == 0:
                with torch.no_grad():
                    save_grid(image_param(), Path(out_dir) / f"step_{step + 1:05d}.png", plan.ncol)
            if callback is not None:
                callback(step, image_param)

    with torch.no_grad():
        images = image_param().float().cpu()
    if out_dir is not None:
        save_grid(images, Path(out_dir) / "grid.png", plan.ncol)
    return images
