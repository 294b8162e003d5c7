"""Feynman benchmark: kanscience.discover._discover vs pykan's own pipeline, same data, same budget.

For each development equation (``load_feynman()``): 10,000 samples (75% train / 25%
test, seeded), with Gaussian noise on the labels at each level of ``--noise`` (fractions
of the target's RMS; SRBench's levels are 0, 1e-3, 1e-2, 1e-1). Each method runs in its
own process with a wall-clock limit (``--budget`` seconds plus a grace of 20%, enforced
inside the run by a timer so an overrun costs no more than that); a method that overruns
counts as unsolved.

- ours: ``discover(train/test, var_names, time_budget=0.9 * budget, seed=..., **setting)``
  (``--full-budget``: ``time_budget=budget``), best candidate; ``--settings`` gives the
  settings (discover options) to compare, each a variant of the method;
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

Protocol (``benchmarks/feynman_protocol.py``): equations are numbered by their position
in ``load_feynman()``'s order, from 1; ``--two-fold`` chooses the setting on the odd
positions and measures it on the even ones, and the reverse, next to the chosen settings'
rate on all equations. Each record carries its position, noise, setting, budget and wall
times: ``seconds`` is the run in its process from the call of the method (its imports and
discover's start included) to its formula; ``seconds_startup`` the process's imports and
data before it. The summary counts the runs over ``1.05 * budget + 2`` seconds.

Usage::

    python benchmarks/feynman.py --max-equations 5 --budget 120 [--noisy] [--out r.json]
    python benchmarks/feynman.py --resume runs.jsonl   # resumable: reuses finished records
    python benchmarks/feynman.py --methods ours,ours-units   # without and with units
    python benchmarks/feynman.py --methods ours --noise 0,1e-3,1e-2,1e-1   # SRBench's levels
    python benchmarks/feynman.py --equations I.12.1,I.12.5 --budget 30   # a quick check
    # two folds over settings, the halves in two processes, then the tables of both:
    python benchmarks/feynman.py --methods ours --settings s.json --half odd --resume odd.jsonl
    python benchmarks/feynman.py --methods ours --settings s.json --half even --resume even.jsonl
    python benchmarks/feynman.py --summarize odd.jsonl even.jsonl
    # s.json: a JSON list of discover() options, e.g. [{}, {"lamb": 0.01}]
    python benchmarks/feynman.py --methods ours --full-budget   # does discover keep its budget?

``--noisy`` is ``--noise 0,0.01`` and ``--only-noisy`` is ``--noise 0.01``.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib.util
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
from pathlib import Path


def _load_protocol():
    """The sibling module ``feynman_protocol.py``, loaded from its path (``benchmarks/`` is
    not a package, and putting it on ``sys.path`` would shadow the top-level ``compiler``)."""
    name = "feynman_protocol"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # before running it: its dataclasses look themselves up
        spec.loader.exec_module(module)
    return sys.modules[name]


protocol = _load_protocol()

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


def _run_ours(
    equation,
    data,
    *,
    seed: int,
    max_train: int,
    options: dict,
    time_budget: float,
    units: bool = False,
):
    from kanscience.discover import discover
    from kanscience.symbolic import units_from_spec

    names = list(equation.variables)
    result = discover(
        data,
        names,
        **options,
        time_budget=time_budget,
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


def _run_pykan(equation, data, *, seed: int, max_train: int, options: dict, time_budget: float):
    """pykan's pipeline (``options`` and ``time_budget`` are discover's: not used)."""
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


METHODS = ("ours", "ours-units", "pykan")
RESERVED_OPTIONS = ("time_budget", "seed", "max_train", "units", "data", "var_names")


def _record(job: dict, **fields) -> dict:
    """A run's record: the job's identity, then its results (unsolved by default)."""
    return {
        **{k: job[k] for k in ("method", "id", "position", "noise", "setting", "budget")},
        "full_budget": job["full_budget"],
        "time_budget": job["time_budget"],
        "seconds": None,
        "seconds_startup": None,
        "expr": None,
        "error": None,
        "r2": None,
        "r2_clean": None,
        "symbolic": False,
        "accuracy": False,
        **fields,
    }


def _worker(job: dict, queue) -> None:
    entered = time.perf_counter()
    import sympy
    import torch

    from kanscience import load_feynman
    from kanscience.symbolic import formula_to_torch

    torch.set_num_threads(job["threads"])
    (equation,) = load_feynman([job["id"]])
    data, clean_test = _data(equation, job["samples"], job["noise"], job["seed"])
    runners = {
        "ours": _run_ours,
        "ours-units": functools.partial(_run_ours, units=True),
        "pykan": _run_pykan,
    }
    runner = runners[job["method"]]
    os.chdir(tempfile.mkdtemp(prefix="feynman-"))  # the child's scratch folder (pykan writes)
    start = time.perf_counter()
    with (
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.redirect_stderr(io.StringIO()),
        _deadline(GRACE * job["budget"]),
    ):
        try:
            expr = runner(
                equation,
                data,
                seed=job["seed"],
                max_train=job["max_train"],
                options=job["setting"]["options"],
                time_budget=job["time_budget"],
            )
            error = None
        except _Overrun:
            expr, error = None, "timeout"
        except Exception as exc:  # noqa: BLE001 - a failed run is a result
            expr, error = None, f"{type(exc).__name__}: {exc}"[:300]
    end = time.perf_counter()
    record = _record(
        job,
        seconds=end - start,
        seconds_startup=start - entered,
        expr=None if expr is None else str(expr),
        error=error,
    )
    if expr is not None:
        symbols = [sympy.Symbol(v, real=True) for v in equation.variables]
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


def run_one(job: dict) -> dict:
    """Run ``job`` (see :func:`_jobs`) in a fresh process; a run that does not report back
    within its limit is a timeout."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_worker, args=(job, queue))
    start = time.perf_counter()
    process.start()
    limit = GRACE * job["budget"] + 90  # + start-up and the symbolic judge
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
        record = _record(job, seconds=time.perf_counter() - start, error="timeout")
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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=(__doc__ or "").split("Usage::")[-1],
    )
    parser.add_argument(
        "--ids", "--equations", dest="ids", default=None, help="comma-separated equation ids"
    )
    parser.add_argument("--max-equations", type=int, default=None)
    parser.add_argument("--budget", type=float, default=180.0, help="seconds per run")
    parser.add_argument("--samples", type=int, default=10000)
    parser.add_argument("--max-train", type=int, default=2000)
    noise = parser.add_mutually_exclusive_group()
    noise.add_argument(
        "--noise",
        default=None,
        help="comma-separated noise levels, fractions of the target's RMS (default 0; "
        "SRBench's: 0,1e-3,1e-2,1e-1)",
    )
    noise.add_argument("--noisy", action="store_true", help="--noise 0,0.01")
    noise.add_argument("--only-noisy", action="store_true", help="--noise 0.01")
    parser.add_argument(
        "--methods",
        default="ours,pykan",
        help="ours, ours-units (discover with the equations' units: dimensionless groups), pykan",
    )
    parser.add_argument(
        "--settings",
        default=None,
        help='JSON file: a list of dicts of discover() options, e.g. [{}, {"lamb": 0.01}]; '
        "each is a variant of ours and ours-units (default: [{}])",
    )
    parser.add_argument(
        "--two-fold",
        action="store_true",
        help="also print the two folds: setting chosen on the odd equations, measured on the "
        "even ones, and the reverse",
    )
    parser.add_argument(
        "--half", choices=protocol.HALVES, default=None, help="run only this half of the equations"
    )
    parser.add_argument(
        "--full-budget",
        action="store_true",
        help="give discover the whole budget (default 0.9 of it)",
    )
    parser.add_argument(
        "--summarize",
        nargs="+",
        default=None,
        metavar="FILE",
        help="print the tables of these JSON-lines files and run nothing (records without a "
        "budget are taken to have run at --budget)",
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="write all records as JSON here")
    parser.add_argument(
        "--resume",
        default=None,
        help=(
            "JSON-lines file: records already there are reused, new ones appended as they "
            "finish (a long run can be split over several sittings; records without a budget "
            "are taken to have run at --budget)"
        ),
    )
    parser.add_argument(
        "--rejudge",
        action="store_true",
        help=("judge the records reused from --resume again (symbolic rule of this version)"),
    )
    return parser


def _noise_levels(args) -> list[float]:
    if args.noise is not None:
        return protocol.parse_noise_levels(args.noise)
    return [0.01] if args.only_noisy else ([0.0, 0.01] if args.noisy else [0.0])


def _settings(path: str | None) -> list[dict]:
    """The settings of ``--settings``, checked against discover()'s keyword options."""
    import inspect

    if path is None:
        return [{}]
    from kanscience.discover import discover

    with open(path) as handle:
        settings = protocol.parse_settings(json.load(handle))
    known = set(inspect.signature(discover).parameters) - set(RESERVED_OPTIONS)
    for index, options in enumerate(settings):
        unknown = sorted(set(options) - known)
        if unknown:
            raise ValueError(
                f"--settings entry {index}: {unknown} are not discover() options this "
                f"benchmark lets a setting choose; choose from {sorted(known)}"
            )
    return settings


def _read_records(paths, budget: float, positions: dict[str, int]) -> list[dict]:
    """Records of JSON-lines files, with what older records lack filled in: the equation's
    position, the budget (``budget``), the default setting, a plain (0.9) budget."""
    records = []
    for path in paths:
        with open(path) as handle:
            for line in handle:
                if line.strip():
                    record = json.loads(line)
                    record.setdefault("position", positions[record["id"]])
                    record.setdefault("budget", budget)
                    record.setdefault("full_budget", False)
                    record.setdefault("setting", {"index": 0, "options": {}})
                    records.append(record)
    return records


def _jobs(args, selected, noises, methods, settings) -> list[dict]:
    jobs = []
    for position, equation_id in selected:
        for noise in noises:
            for method in methods:
                own = method != "pykan"  # settings are discover()'s options
                for index, options in enumerate(settings if own else [{}]):
                    time_budget = None
                    if own:
                        time_budget = args.budget if args.full_budget else 0.9 * args.budget
                    jobs.append(
                        {
                            "method": method,
                            "id": equation_id,
                            "position": position,
                            "noise": noise,
                            "setting": {"index": index, "options": options},
                            "budget": args.budget,
                            "full_budget": bool(args.full_budget and own),
                            "time_budget": time_budget,
                            "samples": args.samples,
                            "max_train": args.max_train,
                            "seed": args.seed,
                            "threads": args.threads,
                        }
                    )
    return jobs


def _report(records: list[dict], budget: float, folds: bool) -> dict:
    import dataclasses

    rows = protocol.summarize(records, budget)
    print(protocol.format_summary(rows), flush=True)
    fold_list = protocol.two_fold(rows)
    if folds:
        print("\ntwo folds (S: symbolic, A: accuracy solutions / runs):")
        print(protocol.format_folds(fold_list), flush=True)
    return {
        "rows": [dataclasses.asdict(r) for r in rows],
        "folds": [dataclasses.asdict(f) for f in fold_list],
    }


def main(argv=None) -> dict:
    parser = _parser()
    args = parser.parse_args(argv)
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from kanscience import load_feynman

    order = [e.id for e in load_feynman()]
    positions = {i: p for p, i in protocol.select_equations(order)}
    if args.summarize:
        return _report(_read_records(args.summarize, args.budget, positions), args.budget, True)
    try:
        noises = _noise_levels(args)
        settings = _settings(args.settings)
        requested = args.ids.split(",") if args.ids else None
        selected = protocol.select_equations(order, requested, args.half, args.max_equations)
    except (ValueError, OSError) as exc:
        parser.error(str(exc))
    methods = args.methods.split(",")
    if not set(methods) <= set(METHODS):
        parser.error(f"--methods: {sorted(set(methods) - set(METHODS))} not in {METHODS}")
    jobs = _jobs(args, selected, noises, methods, settings)
    done = {}
    if args.resume and os.path.exists(args.resume):
        for record in _read_records([args.resume], args.budget, positions):
            done[protocol.run_key(record)] = record
    labels = [
        f"{j['method']}#{j['setting']['index']}" if len(settings) > 1 else j["method"]
        for j in jobs[: len(jobs) // max(len(selected) * len(noises), 1)]
    ]
    print(f"{'equation':12s} {'noise':>6s} " + "  ".join(f"{m:^26s}" for m in labels), flush=True)
    records, row = [], []
    for job in jobs:
        key = protocol.run_key(_record(job))
        record = done.get(key)
        if record is not None:
            record = {**record, "setting": job["setting"], "position": job["position"]}
            if args.rejudge:
                record = rejudge(record)
        else:
            record = run_one(job)
            if args.resume:
                with open(args.resume, "a") as handle:
                    handle.write(json.dumps(record) + "\n")
        records.append(record)
        row.append(record)
        if len(row) == len(labels):
            print(
                f"{job['id']:12s} {job['noise']:6.3g} " + "  ".join(f"{_fmt(r):26s}" for r in row),
                flush=True,
            )
            row = []
    summary = _report(records, args.budget, args.two_fold)
    if args.out:
        with open(args.out, "w") as handle:
            json.dump({"args": vars(args), **summary, "records": records}, handle, indent=1)
    return summary


if __name__ == "__main__":
    main()
