"""Separability on the 50 Feynman dev equations: kanscience vs pykan, side by side.

Both run on the exact formula (float64, the same uniform samples).  A prediction is
right when its top-level label ('additive' / 'multiplicative' / 'none') and its groups
match the dataset's ``separability`` field.  pykan's ``detect_separability`` is run in
``'add'`` then ``'mul'`` mode with its default thresholds; its prints are swallowed and an
exception counts as a wrong answer.

    python benchmarks/separability.py [--n-samples 300] [--seed 0] [--out results.json]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import time
import warnings
from pathlib import Path

import sympy

from kanscience.structure import detect_separability, sample_inputs

DATA = Path(__file__).resolve().parents[1] / "kanscience" / "io" / "datasets" / "feynman_dev.json"


def exact_callable(eq: dict):
    syms = [sympy.Symbol(v, real=True) for v in eq["variables"]]
    expr = sympy.parse_expr(eq["formula"], local_dict=dict(zip(eq["variables"], syms)))
    fn = sympy.lambdify(syms, expr.evalf(17), modules="torch")
    return lambda x: fn(*x.unbind(dim=1))


def truth(eq: dict) -> tuple[str, frozenset]:
    sep, names = eq["separability"], eq["variables"]
    for key in ("additive", "multiplicative"):
        if sep[key]:
            return key, frozenset(
                frozenset(names.index(v) for v in g) for g in sep[f"{key}_groups"]
            )
    return "none", frozenset([frozenset(range(len(names)))])


def ours(f, x) -> tuple[str, frozenset]:
    report = detect_separability(f, x)
    return report.label, frozenset(frozenset(g) for g in report.groups)


def pykan(f, x) -> tuple[str, frozenset]:
    from kan.hypothesis import detect_separability as kan_detect

    def column(z):
        return f(z)[:, None]

    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for label, mode in (("additive", "add"), ("multiplicative", "mul")):
            res = kan_detect(column, x, mode=mode)
            if res["n_groups"] > 1:
                return label, frozenset(frozenset(int(i) for i in g) for g in res["groups"])
    return "none", frozenset([frozenset(range(x.shape[1]))])


def run(n_samples: int = 300, seed: int = 0) -> dict:
    equations = json.loads(DATA.read_text())["equations"]
    methods = {"kanscience": ours, "pykan": pykan}
    rows, totals = [], {m: {"correct": 0, "errors": 0, "seconds": 0.0} for m in methods}
    for eq in equations:
        f = exact_callable(eq)
        x = sample_inputs([eq["ranges"][v] for v in eq["variables"]], n_samples, seed=seed)
        expected = truth(eq)
        row = {"id": eq["id"], "truth": expected[0]}
        for name, method in methods.items():
            start = time.perf_counter()
            try:
                got = method(f, x)
            except Exception as err:  # noqa: BLE001  a crash is a wrong answer
                got = ("error: " + type(err).__name__, frozenset())
                totals[name]["errors"] += 1
            totals[name]["seconds"] += time.perf_counter() - start
            totals[name]["correct"] += got == expected
            row[name] = got[0]
            row[f"{name}_correct"] = got == expected
        rows.append(row)
    for t in totals.values():
        t["accuracy"] = t["correct"] / len(equations)
    return {
        "n_equations": len(equations),
        "n_samples": n_samples,
        "seed": seed,
        "totals": totals,
        "equations": rows,
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-samples", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON")
    args = parser.parse_args(argv)
    result = run(args.n_samples, args.seed)
    for name, t in result["totals"].items():
        print(
            f"{name:>10}: accuracy {t['accuracy']:.0%} ({t['correct']}/"
            f"{result['n_equations']}, {t['errors']} errors), {t['seconds']:.2f} s"
        )
    for row in result["equations"]:
        if not (row["kanscience_correct"] and row["pykan_correct"]):
            print(
                f"  {row['id']:>10}  truth={row['truth']:<15} kanscience={row['kanscience']:<15}"
                f" pykan={row['pykan']}"
            )
    if args.out is not None:
        args.out.write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
