"""`neuronscope extract MODEL IMAGE... --out DIR`: curve maps by attribution to the curve family.

For each image writes NAME_map.png (the map in [0, 1], 16-bit grey), NAME_overlay.png (the map in
red over the darkened image) and NAME_panel.png (image | map | Canny, full resolution). `--retina`
adds scikit-image's retina photograph (the article's angiogram case): retina_extraction.png, its
quarter-size overview and a full-resolution detail.
"""

from __future__ import annotations

import numpy as np

from neuronscope.cli import validate
from neuronscope.cli.common import add_model_args, model_from_args
from neuronscope.errors import NeuronscopeError


def register(subparsers) -> None:
    from neuronscope.applications.extract import DEFAULT_METHOD, METHODS

    p = subparsers.add_parser("extract", help="extract curves from images by attribution to the curve units",
                              description=__doc__.split("\n\n")[0])
    add_model_args(p)
    p.add_argument("images", nargs="*", metavar="IMAGE", type=validate.existing_file, help="image files")
    p.add_argument("--retina", action="store_true", help="also scikit-image's bundled retina photograph")
    p.add_argument("--out", required=True, type=validate.out_dir, metavar="DIR", help="output folder")
    p.add_argument("--layer", help="layer of the curve units (default: the model's curve layer)")
    p.add_argument("--units", type=validate.int_list(0, unique=True),
                   help="units, e.g. 36,455,309 (default: the layer's curve family)")
    p.add_argument("--method", choices=METHODS, default=DEFAULT_METHOD,
                   help=f"attribution (default {DEFAULT_METHOD})")
    p.set_defaults(func=run)


def run(args) -> int:
    from PIL import Image

    from neuronscope.applications.extract import extract_curves
    from neuronscope.applications.figures import canny_edges, extraction_panel, retina_figure
    from neuronscope.images import load_image

    if not args.images and not args.retina:
        raise NeuronscopeError("give at least one IMAGE, or --retina")
    model = model_from_args(args)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.retina:
        paths = retina_figure(model, args.out, layer=args.layer, units=args.units, method=args.method)
        print("wrote " + ", ".join(str(p) for p in paths.values()))
    for path in args.images:
        image = load_image(path)
        curve_map = extract_curves(model, image, args.layer, args.units, method=args.method).numpy()
        stem = args.out / path.stem
        Image.fromarray((curve_map * 65535 + 0.5).astype(np.uint16)).save(f"{stem}_map.png")
        shown = np.clip(curve_map / max(np.percentile(curve_map, 99.5), 1e-12), 0, 1)[..., None]
        base = image.numpy().transpose(1, 2, 0) * 0.5
        overlay = base * (1 - shown) + np.array([1.0, 0.1, 0.1]) * shown
        Image.fromarray((np.clip(overlay, 0, 1) * 255 + 0.5).astype(np.uint8)).save(f"{stem}_overlay.png")
        Image.fromarray(extraction_panel(image.numpy(), curve_map, canny_edges(image.numpy()))).save(
            f"{stem}_panel.png")
        print(f"wrote {stem}_map.png, {stem}_overlay.png, {stem}_panel.png")
    return 0
