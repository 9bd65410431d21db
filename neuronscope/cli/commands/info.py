"""`neuronscope info MODEL`: layers, shapes, activations and receptive fields (a layer that also
depends on the whole input, through a global pooling or attention, shows its local field and
"+ global")."""

from neuronscope.cli import validate
from neuronscope.cli.common import add_model_args, model_from_args


def register(sub):
    p = sub.add_parser("info", help="layers, shapes at an input size, receptive fields, parameter count")
    add_model_args(p)
    p.add_argument("--size", type=validate.image_size, default=224,
                   help="input size for shapes and fields (default 224)")
    p.set_defaults(func=run)


def run(args):
    model = model_from_args(args)
    shapes = model.layer_shapes(args.size)
    print(f"{model.name}: {model.parameter_count():,} parameters, {len(model.layers)} layers, "
          f"default layer {model.default_layer}, input {args.size}x{args.size}")
    print(f"{'layer':28s} {'shape (C,H,W)':18s} {'act':6s} {'field':>6s} {'stride':>6s} {'start':>6s}")
    for name, shape in shapes.items():
        act = model.activations[name] or "-"
        if len(shape) == 3:
            rf = model.receptive_field(name, args.size)
            field = f"{rf.size[0]:>6d} {rf.stride[0]:>6d} {rf.start[0]:>6d}"
            if rf.global_dependence:  # the field shown is the local one
                field += "  + global (pooling/attention)"
        else:
            field = f"{'global':>6s}"
        print(f"{name:28s} {str(shape):18s} {act:6s} {field}")
