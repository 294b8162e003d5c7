"""Feynman benchmark: kanscience.discover._discover vs pykan's own pipeline, same data, same budget.

For each development equation (``load_feynman()``): 10,000 samples (75% train / 25%
test, seeded), optionally 1% Gaussian noise (of the target's RMS) on the labels. Each
method runs in its own process with a wall-clock limit (``--budget`` seconds plus a
grace of 20%, enforced inside the run by a timer so an overrun costs no more than that);
a method that overruns counts as unsolved.

- ours: ``discover(train/test, var_names, time_budget=0.9 * budget, seed=...)``, best
  candidate;
- pykan 0.2.8: ``KAN([n, 5, 1])``, ``fit`` (LBFGS, 50 steps, lamb=0.01), ``prune``,
  ``fit`` (50 steps), ``auto_symbolic`` (the same function library), ``fit`` (50 steps),
  ``symbolic_formula``; float64, the same training subsample (``--max-train``).

Judging (SRBench rules): symbolic solution when, after rounding floats to 3 decimals
(|v| < 1e-4 -> 0), ``model - truth`` or ``model / truth`` simplifies to a constant;
accuracy solution when the test R^2 against the noise-free target exceeds 0.999.
Formulas are compared on the equation's domain: a variable sampled from a range with a
nonnegative lower bound is a positive symbol for the judge, so that ``sqrt(a) sqrt(b)``
and ``sqrt(a b)`` (equal there, and equally exact on the data) both count, for both methods.
``--rejudge`` judges the reused records of ``--resume`` again by this rule.

Usage::

    python benchmarks/feynman.py --max-equations 5 --budget 120 [--noisy] [--out r.json]
    python benchmarks/feynman.py --resume runs.jsonl   # resumable: reuses finished records
    python benchmarks/feynman.py --methods ours,ours-units   # without and with units
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import json
import math
import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
import time

PYKAN_STEPS = 50
GRACE = 1.2  # a run is stopped at GRACE * budget seconds and counts as unsolved


class _Overrun(BaseException):
    """Raised in a run that exceeds its time (a BaseException: library code that catches
    ``Exception`` does not swallow it)."""


@contextlib.contextmanager
def _deadline(seconds: float, error: type[BaseException] = _Overrun):
    """Raise ``error`` in the running code after ``seconds``, then every second until the
    block ends (code that swallows the first one is interrupted again)."""

    def handler(signum, frame):
        raise error

    previous = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, seconds, 1.0)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _round_floats(expr):
    import sympy

    mapping = {}
    for node in sympy.preorder_traversal(expr):
        if isinstance(node, sympy.Float):
            value = float(node)
            mapping[node] = (
                sympy.Integer(0)
                if abs(value) < 1e-4
                else sympy.nsimplify(round(value, 3), rational=True)
            )
    return expr.xreplace(mapping)


def is_symbolic_solution(model, truth, seconds: int = 60, positive=()) -> bool:
    """SRBench's rule: rounded ``model - truth`` or ``model / truth`` is a constant.

    ``positive``: names of the variables that are positive on the domain.
    """
    import sympy

    positive = set(positive)
    twins = {
        s: sympy.Symbol(s.name, positive=True)
        for s in (model.free_symbols | truth.free_symbols)
        if s.name in positive
    }
    model, truth = model.xreplace(twins), truth.xreplace(twins)

    def constant(expr, nonzero: bool = False) -> bool:
        if expr.free_symbols or expr.has(sympy.zoo, sympy.nan, sympy.oo, -sympy.oo):
            return False
        value = complex(expr.evalf())
        return (
            math.isfinite(abs(value))
            and abs(value.imag) < 1e-12
            and (not nonzero or abs(value) > 1e-12)
        )

    try:
        with _deadline(seconds, TimeoutError):
            model = _round_floats(model)
            if not model.free_symbols:  # a constant model (SRBench's rule would pass model = 0)
                return False
            diff, frac = _round_floats(model - truth), _round_floats(model / truth)
            if constant(diff) or constant(frac, nonzero=True):
                return True
            return constant(_round_floats(sympy.simplify(diff, ratio=1))) or constant(
                _round_floats(sympy.simplify(frac, ratio=1)), nonzero=True
            )
    except (TimeoutError, RecursionError, TypeError, ValueError, ZeroDivisionError, OverflowError):
        return False


def positive_variables(equation) -> list[str]:
    """The variables sampled from a range with a nonnegative lower bound."""
    return [v for v in equation.variables if equation.ranges[v][0] >= 0]


def _data(equation, samples: int, noise: float, seed: int):
    import torch

    n_train = round(0.75 * samples)
    data = equation.dataset(
        train_num=n_train, test_num=samples - n_train, seed=seed, dtype=torch.float64
    )
    clean_test = data.test_label
    if noise > 0:
        from kanscience import Dataset

        gen = torch.Generator().manual_seed(seed + 1)
        rms = float(data.train_label.pow(2).mean().sqrt())
        data = Dataset(
            data.train_input,
            data.train_label
            + noise * rms * torch.randn(data.train_label.shape, generator=gen, dtype=torch.float64),
            data.test_input,
            data.test_label
            + noise * rms * torch.randn(data.test_label.shape, generator=gen, dtype=torch.float64),
        )
    return data, clean_test


def _run_ours(equation, data, budget: float, seed: int, max_train: int, units: bool = False):
    from kanscience.discover import discover
    from kanscience.symbolic import units_from_spec

    names = list(equation.variables)
    result = discover(
        data,
        names,
        time_budget=0.9 * budget,
        seed=seed,
        max_train=max_train,
        units=units_from_spec(equation.units, names) if units else None,
    )
    return result.best.expr


def _register_in_pykan(names) -> None:
    """Add the functions of ``names`` pykan lacks (``cosh``) to its library, from ours (the
    same torch and sympy functions and complexity), so both search the same functions."""
    from kan.utils import SYMBOLIC_LIB

    from kanscience.core import resolve_library

    for name in names:
        if name not in SYMBOLIC_LIB:
            record = resolve_library([name])[name]
            SYMBOLIC_LIB[name] = (
                record.torch_fn,
                record.sympy_fn,
                record.complexity,
                lambda x, y_th, f=record.torch_fn: ((), f(x)),
            )


def _run_pykan(equation, data, budget: float, seed: int, max_train: int):
    import sympy
    import torch
    from kan import KAN as PyKAN

    from kanscience.discover import DISCOVERY_LIBRARY

    torch.set_default_dtype(torch.float64)
    order = torch.randperm(
        data.train_input.shape[0], generator=torch.Generator().manual_seed(seed)
    )[:max_train]
    dataset = {
        "train_input": data.train_input[order],
        "train_label": data.train_label[order],
        "test_input": data.test_input,
        "test_label": data.test_label,
    }
    n = len(equation.variables)
    model = PyKAN(width=[n, 5, 1], grid=5, k=3, seed=seed, auto_save=False)
    model.fit(dataset, opt="LBFGS", steps=PYKAN_STEPS, lamb=0.01)
    os.makedirs("model", exist_ok=True)  # pykan's prune forces auto_save=True: ./model/...
    try:  # pykan's training after pruning can fail (NaN in its grid update): keep the
        pruned = model.prune()  # unpruned model then, so that a result still comes out
        pruned.fit(dataset, opt="LBFGS", steps=PYKAN_STEPS)
        model = pruned
    except Exception:  # noqa: BLE001
        model(dataset["train_input"])  # refresh the activations auto_symbolic reads
    _register_in_pykan(DISCOVERY_LIBRARY)
    model.auto_symbolic(lib=list(DISCOVERY_LIBRARY), verbose=0)
    with contextlib.suppress(Exception):  # if it fails, keep the symbolic model as it is
        model.fit(dataset, opt="LBFGS", steps=PYKAN_STEPS, update_grid=False)
    model.requires_grad_(False)
    names = list(equation.variables)
    expr = model.symbolic_formula(var=names)[0][0]
    real = {sympy.Symbol(v): sympy.Symbol(v, real=True) for v in names}
    return sympy.sympify(expr).xreplace(real)


def _worker(
    method: str,
    equation_id: str,
    noise: float,
    budget: float,
    seed: int,
    samples: int,
    max_train: int,
    threads: int,
    queue,
) -> None:
    import torch

    from kanscience import load_feynman
    from kanscience.symbolic import formula_to_torch

    torch.set_num_threads(threads)
    (equation,) = load_feynman([equation_id])
    data, clean_test = _data(equation, samples, noise, seed)
    runners = {
        "ours": _run_ours,
        "ours-units": functools.partial(_run_ours, units=True),
        "pykan": _run_pykan,
    }
    runner = runners[method]
    os.chdir(tempfile.mkdtemp(prefix="feynman-"))  # the child's scratch folder (pykan writes)
    start = time.perf_counter()
    with (
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.redirect_stderr(io.StringIO()),
        _deadline(GRACE * budget),
    ):
        try:
            expr = runner(equation, data, budget, seed, max_train)
            error = None
        except _Overrun:
            expr, error = None, "timeout"
        except Exception as exc:  # noqa: BLE001 - a failed run is a result
            expr, error = None, f"{type(exc).__name__}: {exc}"[:300]
    seconds = time.perf_counter() - start
    record = {
        "method": method,
        "id": equation_id,
        "noise": noise,
        "seconds": seconds,
        "expr": None if expr is None else str(expr),
        "error": error,
        "r2": None,
        "r2_clean": None,
        "symbolic": False,
        "accuracy": False,
    }
    if expr is not None:
        symbols = [__import__("sympy").Symbol(v, real=True) for v in equation.variables]
        try:
            with torch.no_grad():
                prediction = formula_to_torch(expr, symbols)(data.test_input)
            for key, target in (("r2", data.test_label[:, 0]), ("r2_clean", clean_test[:, 0])):
                sse = float(((prediction - target) ** 2).sum())
                sst = float(((target - target.mean()) ** 2).sum())
                record[key] = 1 - sse / sst if math.isfinite(sse) else -math.inf
        except (ValueError, TypeError, RuntimeError) as exc:
            record["error"] = f"evaluation: {exc}"[:300]
        record["accuracy"] = bool(record["r2_clean"] is not None and record["r2_clean"] > 0.999)
        record["symbolic"] = is_symbolic_solution(
            expr, equation.expression(), positive=positive_variables(equation)
        )
    scratch = os.getcwd()
    os.chdir(tempfile.gettempdir())
    shutil.rmtree(scratch, ignore_errors=True)
    queue.put(record)


def run_one(method: str, equation_id: str, noise: float, args) -> dict:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(
        target=_worker,
        args=(
            method,
            equation_id,
            noise,
            args.budget,
            args.seed,
            args.samples,
            args.max_train,
            args.threads,
            queue,
        ),
    )
    start = time.perf_counter()
    process.start()
    limit = GRACE * args.budget + 90  # + start-up and the symbolic judge
    record = None
    try:
        record = queue.get(timeout=limit)
    except Exception:  # noqa: BLE001 - queue.Empty: the run overran
        record = None
    process.join(timeout=5)
    if process.is_alive():
        process.kill()
        process.join()
    if record is None:
        record = {
            "method": method,
            "id": equation_id,
            "noise": noise,
            "seconds": time.perf_counter() - start,
            "expr": None,
            "error": "timeout",
            "r2": None,
            "r2_clean": None,
            "symbolic": False,
            "accuracy": False,
        }
    return record


def rejudge(record: dict) -> dict:
    """``record`` with ``symbolic`` judged again from its formula."""
    import sympy

    from kanscience import load_feynman

    if record["expr"] is None:
        return record
    (equation,) = load_feynman([record["id"]])
    symbols = {v: sympy.Symbol(v, real=True) for v in equation.variables}
    expr = sympy.sympify(record["expr"], locals=symbols)
    return {
        **record,
        "symbolic": is_symbolic_solution(
            expr, equation.expression(), positive=positive_variables(equation)
        ),
    }


def _fmt(record: dict) -> str:
    r2 = record["r2_clean"]
    r2_text = "   -    " if r2 is None else f"{r2:8.5f}" if r2 > -1e3 else "  <-1e3 "
    return (
        f"{'S' if record['symbolic'] else '.'}{'A' if record['accuracy'] else '.'} "
        f"{r2_text} {record['seconds']:6.1f}s"
    )


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ids", default=None, help="comma-separated equation ids")
    parser.add_argument("--max-equations", type=int, default=None)
    parser.add_argument("--budget", type=float, default=180.0, help="seconds per run")
    parser.add_argument("--samples", type=int, default=10000)
    parser.add_argument("--max-train", type=int, default=2000)
    parser.add_argument("--noisy", action="store_true", help="also run with 1%% noise")
    parser.add_argument("--only-noisy", action="store_true")
    parser.add_argument(
        "--methods",
        default="ours,pykan",
        help="ours, ours-units (discover with the equations' units: dimensionless groups), pykan",
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="write all records as JSON here")
    parser.add_argument(
        "--resume",
        default=None,
        help=(
            "JSON-lines file: records already there are reused, new ones appended as they "
            "finish (a long run can be split over several sittings)"
        ),
    )
    parser.add_argument(
        "--rejudge",
        action="store_true",
        help=("judge the records reused from --resume again (symbolic rule of this version)"),
    )
    args = parser.parse_args(argv)
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from kanscience import load_feynman

    ids = args.ids.split(",") if args.ids else [e.id for e in load_feynman()]
    ids = ids[: args.max_equations] if args.max_equations else ids
    methods = args.methods.split(",")
    noises = [0.01] if args.only_noisy else ([0.0, 0.01] if args.noisy else [0.0])
    done = {}
    if args.resume and os.path.exists(args.resume):
        with open(args.resume) as handle:
            for line in handle:
                if line.strip():
                    record = json.loads(line)
                    done[(record["method"], record["id"], record["noise"])] = record
    records = []
    print(f"{'equation':12s} {'noise':>5s} " + "  ".join(f"{m:^26s}" for m in methods), flush=True)
    for equation_id in ids:
        for noise in noises:
            row = []
            for method in methods:
                record = done.get((method, equation_id, noise))
                if record is not None and args.rejudge:
                    record = rejudge(record)
                if record is None:
                    record = run_one(method, equation_id, noise, args)
                    if args.resume:
                        with open(args.resume, "a") as handle:
                            handle.write(json.dumps(record) + "\n")
                row.append(record)
            records += row
            print(
                f"{equation_id:12s} {noise:5.2f} " + "  ".join(f"{_fmt(r):26s}" for r in row),
                flush=True,
            )
    summary = {}
    for method in methods:
        for noise in noises:
            mine = [r for r in records if r["method"] == method and r["noise"] == noise]
            summary[f"{method}@{noise}"] = {
                "equations": len(mine),
                "symbolic": sum(r["symbolic"] for r in mine),
                "accuracy": sum(r["accuracy"] for r in mine),
                "median_seconds": sorted(r["seconds"] for r in mine)[len(mine) // 2],
            }
    for key, value in summary.items():
        print(
            f"{key:12s} symbolic {value['symbolic']}/{value['equations']}  accuracy "
            f"{value['accuracy']}/{value['equations']}  median {value['median_seconds']:.0f}s"
        )
    if args.out:
        with open(args.out, "w") as handle:
            json.dump(
                {"args": vars(args), "summary": summary, "records": records}, handle, indent=1
            )
    return summary


if __name__ == "__main__":
    main()
