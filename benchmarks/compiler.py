"""The kanpiler side by side with pykan's: widths, exactness, spline conversion.

For every formula of the compiler table (tests/compiler_cases.py: the 50 Feynman
equations, the KAN 2.0 examples, neo-Hookean elasticity, one case per rewrite) it prints

- our width, hidden nodes (all nodes between inputs and outputs), depth, and the largest
  relative error of the forward pass against ``sympy.lambdify`` (float64, 512 points in
  the formula's ranges);
- whether pykan 0.2.8's ``kan.compiler.kanpiler`` compiles it (float64, auto_save=False),
  its width and hidden nodes, and whether its forward matches (relative error < 1e-6);
- with ``--spline``: the error of :func:`compiler.symbolic_to_spline` (grid 20) relative
  to the largest output, on 2000 points.

    python benchmarks/compiler.py [--spline] [--feynman-only] [--out results.json]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import sympy
import torch

ROOT = Path(__file__).resolve().parents[1]
# run as a script, this file's folder comes first on sys.path and its name would shadow
# the compiler package: put the repository root (and tests/, for the table) there instead
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from compiler_cases import CASES, FEYNMAN_CASES, Case  # noqa: E402

from compiler import compile_formula, symbolic_to_spline  # noqa: E402


def hidden(width) -> int:
    return sum(sum(int(v) for v in w) for w in width[1:-1])


def points(case: Case, n: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    bounds = torch.tensor([case.ranges[v] for v in case.variables], dtype=torch.float64)
    u = torch.rand(n, len(bounds), generator=generator, dtype=torch.float64)
    return bounds[:, 0] + u * (bounds[:, 1] - bounds[:, 0])


def reference(case: Case, x: torch.Tensor) -> np.ndarray:
    symbols = [sympy.Symbol(v, real=True) for v in case.variables]
    columns = [x[:, i].numpy() for i in range(x.shape[1])]
    return np.stack(
        [
            np.broadcast_to(
                np.asarray(sympy.lambdify(symbols, e, "numpy")(*columns), dtype=np.float64),
                (x.shape[0],),
            )
            for e in case.expressions()
        ],
        axis=1,
    )


def relative_error(got: np.ndarray, want: np.ndarray) -> float:
    with np.errstate(all="ignore"):
        error = np.abs(got - want) / np.maximum(np.abs(want), 1e-300)
    return float(np.nan_to_num(error, nan=np.inf).max())


def ours(case: Case, x: torch.Tensor, want: np.ndarray) -> dict:
    start = time.perf_counter()
    model = compile_formula(case.expressions(), case.variables)
    seconds = time.perf_counter() - start
    with torch.no_grad():
        got = model(x).numpy()
    return {
        "width": model.width,
        "hidden": hidden(model.width),
        "depth": model.depth,
        "error": relative_error(got, want),
        "seconds": seconds,
        "model": model,
    }


def pykan(case: Case, x: torch.Tensor, want: np.ndarray) -> dict:
    from kan.compiler import kanpiler

    exprs = case.expressions()
    if len(exprs) != 1:
        return {"compiles": False, "why": "one output only"}
    symbols = [sympy.Symbol(v, real=True) for v in case.variables]
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            start = time.perf_counter()
            model = kanpiler(symbols, exprs[0], auto_save=False)
            seconds = time.perf_counter() - start
            with torch.no_grad():
                got = model(x).numpy()
    except Exception as error:  # noqa: BLE001 - any failure means "does not compile"
        return {"compiles": False, "why": f"{type(error).__name__}: {str(error)[:60]}"}
    finally:
        torch.set_default_dtype(previous)
    width = [[int(v) for v in w] for w in model.width]
    error = relative_error(got, want) if got.shape == want.shape else float("inf")
    return {
        "compiles": True,
        "width": width,
        "hidden": hidden(width),
        "depth": len(width) - 1,
        "error": error,
        "matches": error < 1e-6,
        "seconds": seconds,
    }


def spline_error(case: Case, model) -> float:
    spline = symbolic_to_spline(model, case.ranges, grid=20)
    x = points(case, 2000, seed=3)
    with torch.no_grad():
        exact, approx = model(x), spline(x)
    return float(((approx - exact).abs().max(0).values / exact.abs().max(0).values).max())


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spline", action="store_true", help="also time symbolic_to_spline")
    parser.add_argument("--feynman-only", action="store_true")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # tiny tensors: more threads only thrash on a shared machine
    cases = FEYNMAN_CASES if args.feynman_only else CASES
    rows = []
    print(
        f"{'formula':26s} {'ours: hidden depth width':44s} {'err':>7s} | "
        f"{'pykan: hidden depth':20s} {'match':5s}" + ("  spline" if args.spline else "")
    )
    for case in cases:
        x = points(case, 512, seed=0)
        want = reference(case, x)
        mine = ours(case, x, want)
        theirs = pykan(case, x, want)
        row = {
            "name": case.name,
            "ours": {k: v for k, v in mine.items() if k != "model"},
            "pykan": theirs,
        }
        if args.spline:
            row["spline_error"] = spline_error(case, mine["model"])
        rows.append(row)
        pykan_text = (
            f"{theirs['hidden']:6d} {theirs['depth']:5d}"
            if theirs["compiles"]
            else "fails: " + theirs["why"][:13]
        )
        match = ("yes" if theirs.get("matches") else "NO") if theirs["compiles"] else "-"
        spline = f"  {row['spline_error']:.1e}" if args.spline else ""
        print(
            f"{case.name:26s} {mine['hidden']:6d} {mine['depth']:5d}  "
            f"{mine['width']!s:31s} {mine['error']:7.1e} | {pykan_text:20s} {match:5s}"
            f"{spline}"
        )
    both = [r for r in rows if r["pykan"]["compiles"]]
    summary = {
        "formulas": len(rows),
        "ours_exact (rel err < 1e-8)": sum(r["ours"]["error"] < 1e-8 for r in rows),
        "pykan_compiles": len(both),
        "pykan_matches (rel err < 1e-6)": sum(bool(r["pykan"].get("matches")) for r in both),
        "hidden_nodes_ours_on_pykan_compiled": sum(r["ours"]["hidden"] for r in both),
        "hidden_nodes_pykan": sum(r["pykan"]["hidden"] for r in both),
        "ours_fewer_nodes": sum(r["ours"]["hidden"] < r["pykan"]["hidden"] for r in both),
        "ours_more_nodes": sum(r["ours"]["hidden"] > r["pykan"]["hidden"] for r in both),
        "depth_ours_on_pykan_compiled": sum(r["ours"]["depth"] for r in both),
        "depth_pykan": sum(r["pykan"]["depth"] for r in both),
        "compile_seconds_ours": sum(r["ours"]["seconds"] for r in rows),
        "compile_seconds_pykan": sum(r["pykan"].get("seconds", 0.0) for r in both),
    }
    if args.spline:
        summary["spline_within_1e-3"] = sum(r["spline_error"] < 1e-3 for r in rows)
    print()
    for key, value in summary.items():
        print(f"{key:40s} {value:.2f}" if isinstance(value, float) else f"{key:40s} {value}")
    result = {"summary": summary, "rows": rows}
    if args.out is not None:
        args.out.write_text(json.dumps(result, indent=1, default=str))
    return result


if __name__ == "__main__":
    main()
