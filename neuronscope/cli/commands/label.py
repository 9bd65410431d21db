"""`neuronscope label RESULTDIR --neuron UNIT`: label a unit's dataset samples blind, in a local web
page (default) or the terminal, one receptive-field crop at a time without its activation; then
`--figures` draws the label fractions, density and contribution to the mean split by label."""

from __future__ import annotations

from pathlib import Path

from neuronscope.cli import validate
from neuronscope.cli.options import parse_unit
from neuronscope.dataset import LabelSession, label_in_terminal, load_stats, make_server, plot_label_figures
from neuronscope.dataset.labelling import contribution_shares


def register(subparsers) -> None:
    p = subparsers.add_parser("label", description=__doc__,
                              help="blind labelling of a unit's dataset samples, and the figures of the labels")
    p.add_argument("result", type=validate.existing_dir,
                   help="result folder of `neuronscope stats` (answers go to RESULT/labels/)")
    p.add_argument("--neuron", help="unit number or LAYER:UNIT (default: the one unit already being labelled)")
    p.add_argument("--categories", help="comma-separated categories (default: curve,imperfect curve,unrelated,"
                                        "opposing curve)")
    p.add_argument("--seed", type=validate.seed, help="seed of the presentation order (default 0, or the session's)")
    p.add_argument("--images", type=validate.existing_dir, metavar="DIR",
                   help="the folder the result's images are in now, if they moved since the stats run")
    p.add_argument("--terminal", action="store_true", help="label in this terminal instead of a web page")
    p.add_argument("--host", default="127.0.0.1", choices=("127.0.0.1", "::1", "localhost"),
                   help="loopback address the web page listens on (default 127.0.0.1)")
    p.add_argument("--port", type=validate.port, default=8765,
                   help="port of the web page (default 8765; 0: any free port)")
    p.add_argument("--figures", action="store_true",
                   help="write the figures of the labels given so far to RESULT/labels/figures/ and stop")
    p.set_defaults(func=run)


def run(args) -> int:
    unit = parse_unit(load_stats(args.result), args.neuron) if args.neuron else None
    categories = [c.strip() for c in args.categories.split(",")] if args.categories else None
    session = LabelSession(args.result, unit, categories, args.seed, images=args.images)
    if args.figures:
        folder = Path(args.result) / "labels" / "figures"
        plot_label_figures(session, folder)
        print(f"wrote {folder}")
        shares = contribution_shares(session)
        print("share of the mean over x > 0: " + ", ".join(f"{k}={v:.3f}" for k, v in shares.items()))
        return 0
    session.check_images()
    if args.terminal:
        label_in_terminal(session)
        return 0
    server = make_server(session, args.host, args.port)
    print(f"labelling {session.stats.layer}:{session.unit} ({session.answered} of {len(session)} done) at "
          f"{server.url}  (the address holds this session's secret: share it with no one) - answers are saved to "
          f"{session.path} as they are given; Ctrl-C stops", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    print(f"stopped with {session.answered} of {len(session)} answers saved")
    return 0
