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
import json
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["main", "build_parser"]


class CommandError(Exception):
    """A user-facing error: printed as one line, exit code 2."""


def _names(text: str | None) -> list[str]:
    return [v.strip() for v in (text or "").split(",") if v.strip()]


def _parse_formula(formula: str, names: Sequence[str]):
    import sympy

    if not names:
        raise CommandError("--vars must name at least one variable")
    symbols = {n: sympy.Symbol(n, real=True) for n in names}
    try:
        expression = sympy.parse_expr(formula, local_dict=symbols)
    except (sympy.SympifyError, SyntaxError, TypeError, TokenError_types()) as error:
        raise CommandError(f"cannot parse formula {formula!r}: {error}") from error
    unknown = sorted(str(s) for s in expression.free_symbols if str(s) not in symbols)
    if unknown:
        raise CommandError(f"formula uses variables not in --vars: {', '.join(unknown)}")
    return expression, [symbols[n] for n in names]


def TokenError_types() -> type:  # noqa: N802 - an exception class, looked up lazily
    from tokenize import TokenError

    return TokenError


def _read_table(path: str):
    import pandas as pd

    file = Path(path)
    if not file.is_file():
        raise CommandError(f"no such file: {path}")
    try:
        if file.suffix.lower() in (".parquet", ".pq"):
            return pd.read_parquet(file)
        return pd.read_csv(file)
    except ImportError as error:
        raise CommandError(
            f"reading {file.suffix} files needs an optional package: {error}"
        ) from error
    except Exception as error:  # pandas raises many parser error types
        raise CommandError(f"cannot read {path}: {error}") from error


def _discover_data(frame, target: str, variables: list[str]):
    import numpy as np

    columns = [str(c) for c in frame.columns]
    if target not in columns:
        raise CommandError(
            f"target column {target!r} not in the file; columns: {', '.join(columns)}"
        )
    variables = variables or [c for c in columns if c != target]
    missing = [v for v in variables if v not in columns]
    if missing:
        raise CommandError(
            f"column(s) {', '.join(missing)} not in the file; columns: {', '.join(columns)}"
        )
    chosen = frame[variables + [target]]
    from pandas.api.types import is_numeric_dtype

    non_numeric = [c for c in chosen.columns if not is_numeric_dtype(chosen[c])]
    if non_numeric:
        raise CommandError(f"column(s) {', '.join(map(str, non_numeric))} are not numeric")
    values = chosen.to_numpy(dtype=float)
    if not np.isfinite(values).all():
        bad = int((~np.isfinite(values)).any(axis=1).sum())
        raise CommandError(f"{bad} row(s) contain NaN or Inf; clean the data first")
    return values[:, :-1], values[:, -1], variables


def _print_front(result, out=sys.stdout) -> None:
    print(
        f"{'rank':>4}  {'complexity':>10}  {'test RMSE':>10}  {'test R^2':>10}  formula", file=out
    )
    for rank, candidate in enumerate(result.candidates, 1):
        print(
            f"{rank:>4}  {candidate.complexity:>10d}  {candidate.test_rmse:>10.3e}  "
            f"{candidate.test_r2:>10.6f}  {candidate.expr}",
            file=out,
        )


def _save_report(folder: Path, result, variables: list[str], x, y) -> None:
    """The Pareto front (JSON and a plot), the tree of the best formula and its compiled KAN."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import sympy
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    rows = [
        {
            "formula": str(c.expr),
            "complexity": c.complexity,
            "test_rmse": c.test_rmse,
            "test_r2": c.test_r2,
            "source": c.source,
        }
        for c in result.candidates
    ]
    (folder / "front.json").write_text(
        json.dumps({"variables": variables, "candidates": rows}, indent=2)
    )
    figure, axes = plt.subplots(figsize=(5, 3.5))
    axes.semilogy(
        [c.complexity for c in result.candidates],
        [max(c.test_rmse, 1e-16) for c in result.candidates],
        "o-",
    )
    axes.set_xlabel("complexity")
    axes.set_ylabel("test RMSE")
    axes.set_title("Pareto front")
    figure.tight_layout()
    figure.savefig(folder / "front.png", dpi=120)
    plt.close(figure)
    best = result.best.expr
    symbols = list(result.variables) or [sympy.Symbol(v, real=True) for v in variables]
    from ..structure import build_tree
    from ..symbolic import formula_to_torch

    f = formula_to_torch(best, symbols)
    x_tensor = torch.as_tensor(x, dtype=torch.float64)
    if len(variables) >= 2:
        build_tree(f, x_tensor[:300], var_names=variables).render(folder / "tree.svg")
    try:
        from compiler import compile_formula

        from ..io import save

        save(compile_formula(best, symbols), folder / "model.safetensors")
    except (ImportError, ValueError):  # a formula without a KAN form: the rest still stands
        pass


def _discover(args: argparse.Namespace) -> int:
    from ..discover import discover

    x, y, variables = _discover_data(_read_table(args.file), args.target, _names(args.vars))
    result = discover((x, y), var_names=variables, seed=args.seed, time_budget=args.time_budget)
    _print_front(result)
    if args.out:
        _save_report(Path(args.out), result, variables, x, y)
        print(f"report written to {args.out}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from ..discover import discover
    from ..io import load_feynman

    equation = load_feynman([args.equation])[0]
    data = equation.dataset(
        train_num=args.samples,
        test_num=args.samples // 3,
        seed=args.seed,
        dtype=__import__("torch").float64,
    )
    if not args.quiet:
        print(
            f"Feynman {equation.id}: {len(equation.variables)} variables "
            f"({', '.join(equation.variables)}), {args.samples} samples; searching..."
        )
    result = discover(
        data, var_names=list(equation.variables), seed=args.seed, time_budget=args.time_budget
    )
    _print_front(result)
    print(
        f"discovered: {equation.output if hasattr(equation, 'output') else 'f'} = {result.best.expr}"
        f"   (truth: {equation.formula})"
    )
    return 0


def _compile(args: argparse.Namespace) -> int:
    from compiler import compile_formula, save_compiled

    from ..core import describe

    expression, symbols = _parse_formula(args.formula, _names(args.vars))
    model = compile_formula(expression, symbols)
    print(f"width {model.width}")
    print(describe(model))
    if args.out:
        save_compiled(model, args.out)
        print(f"checkpoint written to {args.out}")
    if args.image:
        from ..plot import plot

        x = __import__("torch").rand(200, len(symbols), dtype=model.layers[0].coef.dtype) + 0.5
        plot(model, x, in_vars=[str(s) for s in symbols], path=args.image)
        print(f"diagram written to {args.image}")
    return 0


def _tree(args: argparse.Namespace) -> int:
    import torch

    from ..structure import build_tree

    if args.model:
        import json

        from ..io import load, read_metadata

        model = load(args.model)
        saved = read_metadata(args.model).get("input_names")  # e.g. from `compile -o`
        names = _names(args.vars) or (
            json.loads(saved) if saved else [f"x{i + 1}" for i in range(model.n_in)]
        )
        if len(names) != model.n_in:
            raise CommandError(
                f"--vars names {len(names)} variables; the model has {model.n_in} inputs"
            )

        def f(x: torch.Tensor) -> torch.Tensor:
            return model(x.to(model.layers[0].coef.dtype))[:, 0]
    else:
        if not args.formula:
            raise CommandError("give a formula or --model")
        from ..symbolic import formula_to_torch

        expression, symbols = _parse_formula(args.formula, _names(args.vars))
        names = [str(s) for s in symbols]
        f = formula_to_torch(expression, symbols)
    low, high = args.range
    tree = build_tree(f, var_names=names, ranges=[(low, high)] * len(names), seed=args.seed)
    print(tree.shape())
    if args.out:
        tree.render(args.out, format="png" if str(args.out).endswith(".png") else "svg")
        print(f"tree written to {args.out}")
    return 0


def _sweep(args: argparse.Namespace) -> int:
    from ._sweep import discover_job, fit_job, job_grid, sweep

    try:
        settings = json.loads(args.settings) if args.settings else {}
    except json.JSONDecodeError as error:
        raise CommandError(f"--settings is not valid JSON: {error}") from error
    if not isinstance(settings, (dict, list)):
        raise CommandError("--settings must be a JSON object or a list of objects")
    jobs = job_grid(args.equations, range(args.seeds), settings)
    table = sweep(
        jobs,
        function=discover_job if args.discover else fit_job,
        engine=args.engine,
        workers=args.workers,
        time_limit=args.time_limit,
        progress=not args.quiet,
        address=args.address,
    )
    shown = table.drop(columns=[c for c in ("traceback",) if c in table.columns])
    print(shown.to_string(index=False))
    if args.out:
        table.to_csv(args.out, index=False)
        print(f"table written to {args.out}")
    return 1 if (table["status"] != "ok").any() else 0


PHYSICS_CASES = (
    "harmonic_oscillator",
    "isotropic_oscillator",
    "pendulum",
    "relativistic_particle",
    "schwarzschild",
    "neo_hookean",
)


def _physics(args: argparse.Namespace) -> int:
    import importlib

    try:
        case = importlib.import_module(f"physics_examples.{args.case}")
    except ImportError as error:
        raise CommandError(f"cannot import physics_examples.{args.case}: {error}") from error
    options = {"seed": args.seed}
    if args.steps is not None:
        options["steps"] = args.steps
    result = case.main(**options)
    print(result.report())
    if args.plot:
        result.plot(args.plot)
    return 0 if result.passed else 1


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``kanscience`` command."""
    parser = argparse.ArgumentParser(
        prog="kanscience", description="Symbolic-modular discovery with KANs."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="discover a built-in Feynman equation from its data")
    demo.add_argument("--equation", default="I.12.1", help="Feynman equation id (default I.12.1)")
    demo.add_argument("--samples", type=int, default=2000)
    demo.add_argument("--time-budget", type=float, default=60.0, help="seconds (default 60)")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--quiet", action="store_true", help="print only the results")
    demo.set_defaults(handler=_demo)

    discover = sub.add_parser("discover", help="formulas for a CSV or Parquet table")
    discover.add_argument("file", help="a .csv or .parquet file with one column per variable")
    discover.add_argument("--target", required=True, help="the column to explain")
    discover.add_argument("--vars", help="comma-separated input columns (default: all others)")
    discover.add_argument("--time-budget", type=float, default=180.0, help="seconds (default 180)")
    discover.add_argument("--seed", type=int, default=0)
    discover.add_argument("--out", help="write a report folder here (front, plot, tree, model)")
    discover.add_argument("--quiet", action="store_true", help="print only the results")
    discover.set_defaults(handler=_discover)

    compile_ = sub.add_parser("compile", help="compile a formula into an exact KAN")
    compile_.add_argument("formula")
    compile_.add_argument(
        "--vars", required=True, help="comma-separated variable names, in input order"
    )
    compile_.add_argument("-o", "--out", help="write the checkpoint (.safetensors) here")
    compile_.add_argument("--image", help="also draw the network to this image file")
    compile_.set_defaults(handler=_compile)

    tree = sub.add_parser("tree", help="the modular tree of a formula or a saved model")
    tree.add_argument("formula", nargs="?")
    tree.add_argument("--vars", help="comma-separated variable names")
    tree.add_argument("--model", help="a checkpoint written by kanscience (instead of a formula)")
    tree.add_argument("--range", type=float, nargs=2, default=(0.5, 2.0), metavar=("LOW", "HIGH"))
    tree.add_argument("--seed", type=int, default=0)
    tree.add_argument("--out", help="render the tree to this file (.svg or .png)")
    tree.set_defaults(handler=_tree)

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
    sweep.set_defaults(handler=_sweep)

    physics = sub.add_parser("physics", help="run a physics discovery example and check its law")
    physics.add_argument("case", choices=PHYSICS_CASES)
    physics.add_argument("--seed", type=int, default=0)
    physics.add_argument("--steps", type=int, help="training steps (default: the example's)")
    physics.add_argument("--plot", metavar="PATH", help="write the learned-vs-true law figure here")
    physics.set_defaults(handler=_physics)
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
    except (ValueError, TypeError, OSError, RuntimeError) as error:
        print(f"kanscience {args.command}: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
