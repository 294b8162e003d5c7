"""The ``kanscience`` subcommands: each takes the parsed arguments, returns an exit code.

Results are printed; files are written only where ``--out``/``-o`` says (the discover
report folder: the Pareto front as JSON and a plot, the tree of the best formula, its
compiled KAN saved by the one checkpoint path, ``compiler.save_compiled``, and
``index.html``, a self-contained page of all of it: MathML formulas, inline SVG figures).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from ._cli_input import (
    CommandError,
    output_path,
    parse_formula,
    parse_names,
    read_table,
    read_units,
    table_columns,
)

__all__ = [
    "run_compile",
    "run_demo",
    "run_discover",
    "run_physics",
    "run_sweep",
    "run_tree",
]


def _print_front(result, out=sys.stdout) -> None:
    print(result, file=out)


def _save_report(folder: Path, result, variables: list[str], x, y) -> None:
    """The Pareto front (JSON and a plot), the tree of the best formula, its compiled KAN,
    and ``index.html``: all of it on one self-contained page (:func:`_report_page`)."""
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
    result.plot().savefig(folder / "front.png", dpi=120)
    best = result.best.expr
    symbols = list(result.variables) or [sympy.Symbol(v, real=True) for v in variables]
    from ..structure import build_tree
    from ..symbolic import formula_to_torch

    f = formula_to_torch(best, symbols)
    x_tensor = torch.as_tensor(x, dtype=torch.float64)
    tree = None
    if len(variables) >= 2:
        tree = build_tree(f, x_tensor[:300], var_names=variables)
        tree.render(folder / "tree.svg")
    (folder / "index.html").write_text(_report_page(result, symbols, x, y, tree), "utf-8")
    try:
        from compiler import compile_formula, save_compiled

        save_compiled(compile_formula(best, symbols), folder / "model.safetensors")
    except (ImportError, ValueError):  # a formula without a KAN form: the rest still stands
        pass


def _report_page(result, symbols, x, y, tree) -> str:
    """The report as one HTML document: the Pareto table and front, the best formula
    (MathML, LaTeX and code, and against the data), and its tree; figures as inline SVG,
    nothing loaded from anywhere."""
    import numpy as np

    from ..core._html import escape, figure_svg, html_page, mathml, result_block, row
    from ..symbolic import Formula

    formula = Formula(result.best.expr, symbols)
    rows = np.asarray(x, dtype=np.float64)
    data = np.asarray(y, dtype=np.float64).reshape(-1)
    shown = np.random.default_rng(0).permutation(rows.shape[0])[:1000]  # a readable cloud
    code = [f"LaTeX:  {formula.latex()}", f"Python: {formula.to_code('python')}"]
    code.append(f"C:      {formula.to_code('c')}")
    best = result_block(
        "Best formula",
        mathml(formula.sympy, display="block"),
        row(
            f"<pre>{escape(chr(10).join(code))}</pre>",
            figure_svg(formula.plot(rows[shown], data[shown])),
        ),
    )
    blocks = [best, result._repr_html_()]
    if tree is not None:
        blocks.append(tree._repr_html_())
    names = ", ".join(v.name for v in formula.variables)
    return html_page(f"kanscience discover: y = f({names})", *blocks)


def run_discover(args: argparse.Namespace) -> int:
    from ..discover import discover

    x, y, variables = table_columns(read_table(args.file), args.target, parse_names(args.vars))
    units = read_units(args.units, variables) if args.units else None
    try:
        result = discover(
            (x, y), var_names=variables, seed=args.seed, time_budget=args.time_budget, units=units
        )
    except ValueError as error:  # discover checks its data, names and units first
        raise CommandError(str(error)) from None
    _print_front(result)
    if args.out:
        _save_report(Path(args.out), result, variables, x, y)
        print(f"report written to {args.out}")
    return 0


# discover's log lines of its decomposition steps (each leaves a smaller problem), e.g.
# "symmetry(a-b) (score 1e-3): 2.0s" or, nested below it, "  1/c*scaling((a-b)/c) ..."
_DECOMPOSITION_STEP = re.compile(r"\b(symmetry|scaling|split)\(")


def run_demo(args: argparse.Namespace) -> int:
    """Discover a built-in Feynman equation from its samples: the front, the
    decomposition steps that led to the law, and the truth. Imports only what discovery
    needs (no plotting, no graphs, no physics), so it starts fast."""
    import torch

    from ..discover import discover
    from ..io import load_feynman

    if args.threads < 1:
        raise CommandError(f"--threads must be at least 1, got {args.threads}")
    torch.set_num_threads(args.threads)
    equation = load_feynman([args.equation])[0]
    data = equation.dataset(
        train_num=args.samples,
        test_num=args.samples // 3,
        seed=args.seed,
        dtype=torch.float64,
    )
    if not args.quiet:
        print(
            f"Feynman {equation.id}: {len(equation.variables)} variables "
            f"({', '.join(equation.variables)}), {args.samples} samples; searching "
            f"(time budget {args.time_budget:g} s)..."
        )
    result = discover(
        data, var_names=list(equation.variables), seed=args.seed, time_budget=args.time_budget
    )
    _print_front(result)
    steps = [line for line in result.log if _DECOMPOSITION_STEP.search(line)]
    if steps:
        print("decomposition (each step leaves a smaller problem):")
        for line in steps:
            print(f"  {line}")
    print(f"found by: {result.best.source} in {result.seconds:.1f} s")
    print(f"discovered: f = {result.best.expr}   (truth: {equation.formula})")
    return 0


def run_compile(args: argparse.Namespace) -> int:
    import torch

    from compiler import UnsupportedExpressionError, compile_formula, save_compiled

    from ..core import describe

    output_path(args.out, "-o/--out")
    output_path(args.image, "--image")
    expression, symbols = parse_formula(args.formula, parse_names(args.vars))
    try:
        model = compile_formula(expression, symbols)
    except UnsupportedExpressionError as error:
        raise CommandError(str(error)) from error
    print(f"width {model.width}")
    print(describe(model))
    if args.out:
        save_compiled(model, args.out)
        print(f"checkpoint written to {args.out}")
    if args.image:
        from ..plot import plot

        x = torch.rand(200, len(symbols), dtype=model.layers[0].coef.dtype) + 0.5
        plot(model, x, in_vars=[str(s) for s in symbols], path=args.image)
        print(f"diagram written to {args.image}")
    return 0


def run_tree(args: argparse.Namespace) -> int:
    import torch

    from ..structure import build_tree

    output_path(args.out, "--out")
    if args.model:
        from ..io import CheckpointError, read_checkpoint

        try:
            checkpoint = read_checkpoint(args.model)  # read and verified once
        except CheckpointError as error:
            raise CommandError(str(error)) from error
        model = checkpoint.to_model()
        saved = checkpoint.metadata.get("input_names")  # e.g. from `compile -o`
        names = parse_names(args.vars) or (
            json.loads(saved) if saved else [f"x{i + 1}" for i in range(model.n_in)]
        )
        if len(names) != model.n_in:
            raise CommandError(
                f"--vars names {len(names)} variables; the model has {model.n_in} inputs"
            )

        dtype = next(model.parameters()).dtype

        def model_output(x: torch.Tensor) -> torch.Tensor:
            return model(x.to(dtype))[:, 0]

        f = model_output
    else:
        if not args.formula:
            raise CommandError("give a formula or --model")
        from ..symbolic import formula_to_torch

        expression, symbols = parse_formula(args.formula, parse_names(args.vars))
        names = [str(s) for s in symbols]
        f = formula_to_torch(expression, symbols)
    low, high = args.range
    tree = build_tree(f, var_names=names, ranges=[(low, high)] * len(names), seed=args.seed)
    print(tree.shape())
    if args.out:
        tree.render(args.out, format="png" if str(args.out).endswith(".png") else "svg")
        print(f"tree written to {args.out}")
    return 0


def run_sweep(args: argparse.Namespace) -> int:
    from ._jobs import job_grid
    from ._sweep import discover_job, fit_job, sweep

    output_path(args.out, "--out")
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


def run_physics(args: argparse.Namespace) -> int:
    import importlib

    output_path(args.plot, "--plot")
    try:
        cases = importlib.import_module("physics_examples").CASES
    except ImportError as error:  # the examples live beside the library, in a checkout
        raise CommandError(f"cannot import physics_examples: {error}") from error
    if args.case not in cases:
        raise CommandError(f"case must be one of {', '.join(cases)}; got {args.case!r}")
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
