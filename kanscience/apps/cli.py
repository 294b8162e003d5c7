"""The ``kanscience`` command line.

    kanscience demo                                   # the main job on built-in data
    kanscience discover data.csv --target y           # formulas for your data
    kanscience compile "x*sin(y)" --vars x,y -o model.safetensors
    kanscience tree "(a+b)*(c+d)" --vars a,b,c,d
    kanscience sweep I.12.1 II.38.14 --seeds 3 --workers 2
    kanscience physics pendulum                       # a law from data, checked

Every subcommand has ``--help``. Errors are one line on stderr with exit code 2 (bad
input: missing file, unknown column, unparsable formula) or 1 (a failure while working);
0 means success. Files are written only where ``--out``/``-o`` says.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ._cli_commands import (
    run_compile,
    run_demo,
    run_discover,
    run_physics,
    run_sweep,
    run_tree,
)
from ._cli_input import CommandError

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``kanscience`` command."""
    parser = argparse.ArgumentParser(
        prog="kanscience", description="Symbolic-modular discovery with KANs."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser(
        "demo",
        help="discover a built-in Feynman equation from its data",
        description="Discover a built-in Feynman equation from its samples. The default, "
        "I.6.2b (a Gaussian of theta - theta1 with width sigma), is found through a pair "
        "symmetry and a scaling law, each leaving a smaller problem.",
    )
    demo.add_argument("--equation", default="I.6.2b", help="Feynman equation id (default I.6.2b)")
    demo.add_argument(
        "--samples",
        type=int,
        default=500,
        help="training samples (default 500: enough to find the default law exactly, and "
        "the search costs about half what it does with 1000)",
    )
    demo.add_argument("--time-budget", type=float, default=30.0, help="seconds (default 30)")
    demo.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (default 1: the problem is small, and more threads slow the "
        "search down when other programs use the cores)",
    )
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--quiet", action="store_true", help="print only the results")
    demo.set_defaults(handler=run_demo)

    discover = sub.add_parser("discover", help="formulas for a CSV or Parquet table")
    discover.add_argument("file", help="a .csv or .parquet file with one column per variable")
    discover.add_argument("--target", required=True, help="the column to explain")
    discover.add_argument("--vars", help="comma-separated input columns (default: all others)")
    discover.add_argument("--time-budget", type=float, default=180.0, help="seconds (default 180)")
    discover.add_argument("--seed", type=int, default=0)
    discover.add_argument(
        "--units",
        help='a JSON file: {"variables": {name: unit}, "target": unit} (unit strings such '
        'as "kg*m/s**2" or exponent lists over "base_units"); the search then runs on '
        "dimensionless groups",
    )
    discover.add_argument(
        "--out",
        help="write a report folder here (front, plot, tree, model, and index.html: one "
        "self-contained page of it all)",
    )
    discover.add_argument("--quiet", action="store_true", help="print only the results")
    discover.set_defaults(handler=run_discover)

    compile_ = sub.add_parser("compile", help="compile a formula into an exact KAN")
    compile_.add_argument("formula")
    compile_.add_argument(
        "--vars", required=True, help="comma-separated variable names, in input order"
    )
    compile_.add_argument("-o", "--out", help="write the checkpoint (.safetensors) here")
    compile_.add_argument("--image", help="also draw the network to this image file")
    compile_.set_defaults(handler=run_compile)

    tree = sub.add_parser("tree", help="the modular tree of a formula or a saved model")
    tree.add_argument("formula", nargs="?")
    tree.add_argument("--vars", help="comma-separated variable names")
    tree.add_argument("--model", help="a checkpoint written by kanscience (instead of a formula)")
    tree.add_argument("--range", type=float, nargs=2, default=(0.5, 2.0), metavar=("LOW", "HIGH"))
    tree.add_argument("--seed", type=int, default=0)
    tree.add_argument("--out", help="render the tree to this file (.svg or .png)")
    tree.set_defaults(handler=run_tree)

    sweep = sub.add_parser(
        "sweep", help="fit or discover over equations x seeds x settings in parallel"
    )
    sweep.add_argument("equations", nargs="+", help="Feynman equation ids, e.g. I.12.1 II.38.14")
    sweep.add_argument("--seeds", type=int, default=1, help="seeds 0..N-1 (default 1)")
    sweep.add_argument("--settings", help="JSON settings for every job, e.g. '{\"steps\": 20}'")
    sweep.add_argument("--discover", action="store_true", help="run discover instead of fit")
    sweep.add_argument("--engine", default="local", choices=["local", "serial", "dask", "ray"])
    sweep.add_argument("--workers", type=int)
    sweep.add_argument("--address", help="scheduler address of an existing Dask or Ray cluster")
    sweep.add_argument("--time-limit", type=float, help="seconds per job")
    sweep.add_argument("--out", help="write the results table as CSV here")
    sweep.add_argument("--quiet", action="store_true", help="no progress bar")
    sweep.set_defaults(handler=run_sweep)

    physics = sub.add_parser("physics", help="run a physics discovery example and check its law")
    physics.add_argument("case", help="one of physics_examples.CASES (e.g. cart_pole)")
    physics.add_argument("--seed", type=int, default=0)
    physics.add_argument("--steps", type=int, help="training steps (default: the example's)")
    physics.add_argument("--plot", metavar="PATH", help="write the learned-vs-true law figure here")
    physics.set_defaults(handler=run_physics)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except CommandError as error:
        print(f"kanscience {args.command}: error: {error}", file=sys.stderr)
        return 2
    except (ValueError, TypeError, OSError, RuntimeError, ImportError) as error:
        print(f"kanscience {args.command}: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
