"""The ``kanscience`` command line.

    kanscience demo                      # the main job on built-in data
    kanscience tree "x*y + z" --vars x,y,z

Every subcommand has ``--help``. Errors are one line on stderr with exit code 2 (bad
input) or 1 (a failure while working); 0 means success.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["main"]


class CommandError(Exception):
    """A user-facing error: printed as one line, exit code 2."""


def _demo(args: argparse.Namespace) -> int:
    import torch

    from .data import load_feynman
    from .network import KAN
    from .train import fit

    equation = load_feynman([args.equation])[0]
    data = equation.dataset(train_num=args.samples, test_num=args.samples, seed=args.seed)
    model = KAN([len(equation.variables), 5, 1], grid=5, k=3, seed=args.seed)
    history = fit(model, data, steps=args.steps, progress=not args.quiet)
    with torch.no_grad():
        prediction = model(data.test_input)
    residual = float(torch.mean((prediction - data.test_label) ** 2))
    variance = float(torch.var(data.test_label))
    print(f"equation {equation.id}: f = {equation.formula}")
    print(f"KAN {model.width} trained {args.steps} steps: test RMSE {history.test_loss[-1]:.3e}, "
          f"R^2 {1 - residual / variance:.6f}")
    return 0


def _tree(args: argparse.Namespace) -> int:
    import sympy
    import torch

    from .tree import build_tree

    names = [v.strip() for v in args.vars.split(",") if v.strip()]
    if not names:
        raise CommandError("--vars must name at least one variable")
    symbols = {n: sympy.Symbol(n, real=True) for n in names}
    try:
        expression = sympy.parse_expr(args.formula, local_dict=symbols)
    except (sympy.SympifyError, SyntaxError, TypeError) as error:
        raise CommandError(f"cannot parse formula {args.formula!r}: {error}") from error
    unknown = sorted(str(s) for s in expression.free_symbols if str(s) not in symbols)
    if unknown:
        raise CommandError(f"formula uses variables not in --vars: {', '.join(unknown)}")
    function = sympy.lambdify([symbols[n] for n in names], expression, modules="torch")

    def f(x: torch.Tensor) -> torch.Tensor:
        value = function(*x.unbind(1))
        return torch.as_tensor(value, dtype=x.dtype).expand(x.shape[0])

    low, high = args.range
    ranges = [(low, high)] * len(names)
    tree = build_tree(f, var_names=names, ranges=ranges, seed=args.seed)
    print(tree.shape())
    if args.out:
        tree.render(args.out)
        print(f"wrote {args.out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``kanscience`` command."""
    parser = argparse.ArgumentParser(prog="kanscience", description="Symbolic-modular discovery with KANs.")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="train on a built-in Feynman equation and report")
    demo.add_argument("--equation", default="I.12.1", help="Feynman equation id (default I.12.1)")
    demo.add_argument("--steps", type=int, default=30)
    demo.add_argument("--samples", type=int, default=1000)
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--quiet", action="store_true", help="no progress bar")
    demo.set_defaults(handler=_demo)

    tree = sub.add_parser("tree", help="the modular tree of a formula")
    tree.add_argument("formula")
    tree.add_argument("--vars", required=True, help="comma-separated variable names")
    tree.add_argument("--range", type=float, nargs=2, default=(0.5, 2.0), metavar=("LOW", "HIGH"))
    tree.add_argument("--seed", type=int, default=0)
    tree.add_argument("--out", help="render the tree to this file (.svg or .png)")
    tree.set_defaults(handler=_tree)
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
    except (ValueError, FileNotFoundError) as error:
        print(f"kanscience {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
