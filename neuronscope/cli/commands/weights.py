"""`neuronscope weights MODEL NEURON --from LAYER --out DIR`: the expanded weights into one neuron."""

from __future__ import annotations

import json

import numpy as np

from neuronscope.circuits import figures, views
from neuronscope.cli import validate
from neuronscope.cli.common import add_model_args, model_from_args
from neuronscope.families import load_families
from neuronscope.neurons import parse_neuron
from neuronscope.tuning.figures import save


def register(subparsers) -> None:
    p = subparsers.add_parser("weights", help="expanded weights into a neuron from every unit of an earlier layer",
                              description="Kernels from every unit of LAYER into NEURON through everything between "
                                          "them, in the linear approximation (ReLU = identity, max-pool = "
                                          "average-pool), sorted by strength; the strongest positive and "
                                          "negative inputs; with --families, which families feed it most.")
    add_model_args(p)
    p.add_argument("neuron", help="target neuron, e.g. mixed3b:379 or block6_expand:36")
    p.add_argument("--from", dest="source", required=True, metavar="LAYER", help="source layer")
    p.add_argument("--out", required=True, type=validate.out_dir, metavar="DIR", help="output folder")
    p.add_argument("--top", type=validate.positive_int, default=48, help="kernels shown, strongest first (default 48)")
    p.add_argument("--families", metavar="JSON", type=validate.existing_file,
                   help="families of the source layer: a JSON file name -> units "
                        "(or a saved family) for the family contributions")
    p.add_argument("--measure", choices=sorted(views.MEASURES), default="positive",
                   help="family contribution measure (default positive: total positive weight)")
    p.set_defaults(func=run)


def run(args) -> int:
    model = model_from_args(args)
    neuron = parse_neuron(args.neuron, model)
    inputs = views.neuron_inputs(model, neuron, args.source)
    stem = args.out / f"{neuron.slug}_from_{args.source}"
    args.out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(stem.with_suffix(".npz"), kernels=inputs.kernels.cpu().numpy(), order=inputs.order())
    summary = {"model": model.name, "neuron": str(neuron), "source": args.source,
               "weights": "expanded, linear approximation (ReLU = identity, max-pool = average-pool)",
               "kernel_shape": list(inputs.kernels.shape),
               "strongest_positive": inputs.strongest(10, "positive"),
               "strongest_negative": inputs.strongest(10, "negative")}
    paths = [save(figures.plot_neuron_inputs(inputs, top=args.top), stem.with_name(stem.name + ".png"))]
    if args.families:
        c = views.family_contributions(model, neuron, args.source, load_families(args.families, args.source),
                                       args.measure, inputs=inputs)
        summary["families"] = {"measure": c.label, "contributions": dict(zip(c.names, c.values))}
        paths.append(save(figures.plot_contributions(c), stem.with_name(stem.name + "_families.png")))
    stem.with_suffix(".json").write_text(json.dumps(summary, indent=1) + "\n")
    for path in [*paths, stem.with_suffix(".json"), stem.with_suffix(".npz")]:
        print(path)
    return 0
