"""Separability of *trained* KANs on the 50 Feynman dev equations: kanscience vs pykan.

For every equation KAN surrogates are fitted (float64, inputs standardized) to 1000
samples, with 300 more for validation (:func:`train_surrogate`, :class:`SurrogateConfig`):
per seed, a sparsity-penalized fit, pruning (rejected, and retried with a lower edge
threshold, when it costs validation accuracy), fine-tuning and grid refinement 5 -> 10
-> 20 without penalty; the seed with the best validation error is kept. A factorizing
candidate (``[d, 2d+1, 1]`` on ``log|y|`` when ``y`` keeps one sign, else ``[d, [0, 1]]``,
one multiplication node of ``d`` factors) is preferred when it fits within 3x the
validation error of a plain ``[d, 2d+1, 1]`` on ``y``. The surrogate ``x -> y`` is then
handed, on 300 held-out points used for neither training nor selection, to

- kanscience: :func:`kanscience.structure.detect_separability` with
  ``method='difference'`` (mixed differences of values: a fit's spurious interactions
  stay at the level of its relative error, where second derivatives amplify them) at
  ``--threshold`` (the exact-formula default 5e-3 raised for the fit error);
- kanscience_hessian: the same with ``method='hessian'`` at ``--hessian-threshold``;
- pykan: ``kan.hypothesis.detect_separability`` in 'add' then 'mul' mode with its
  default thresholds (its prints swallowed; an exception counts as a wrong answer).

A prediction is right when its label ('additive' / 'multiplicative' / 'none') and its
groups match the dataset's ``separability`` field. One thread per equation.

    python benchmarks/separability_trained.py [--ids I.12.1 ...] [--jobs 2] [--seeds 2]
        [--grids 10 20] [--threshold 0.01] [--out results.json]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

from kanscience import KAN, Dataset, FeynmanEquation, Penalty, fit, load_feynman
from kanscience.analysis import prune
from kanscience.structure import detect_separability

THRESHOLD = 0.01  # method='difference' on surrogates (exact formulas: 5e-3)
HESSIAN_THRESHOLD = 0.05  # method='hessian' on surrogates
SWEEP = (0.005, 0.01, 0.02, 0.03, 0.05)  # kanscience thresholds also reported
METHODS = ("kanscience", "kanscience_hessian", "pykan")


def truth(eq: FeynmanEquation) -> tuple[str, frozenset]:
    sep = eq.separability
    for key in ("additive", "multiplicative"):
        if sep[key]:
            return key, frozenset(
                frozenset(eq.variables.index(v) for v in g) for g in sep[f"{key}_groups"]
            )
    return "none", frozenset([frozenset(range(len(eq.variables)))])


def _active_edges(model: KAN) -> int:
    return sum(
        int(((layer.mask != 0) | (layer.symbolic_mask != 0)).sum()) for layer in model.layers
    )


def _architecture(kind: str, d: int) -> dict:
    if kind == "product":  # one multiplication node of d factors, each a sum over inputs
        return {"width": [d, [0, 1]], "mult_arity": [[], [d]]}
    return {"width": [d, 2 * d + 1, 1]}


@dataclass(frozen=True)
class SurrogateConfig:
    """How :func:`train_surrogate` fits, prunes and refines its KAN candidates.

    Each candidate, for each seed: ``steps`` L-BFGS steps with the sparsity penalty
    ``lamb`` on a grid of ``grid`` intervals (the dense model); then, for each edge
    threshold of ``edge_th`` in turn, pruning (nodes at ``node_th``), grids moved over the
    samples plus the corners of their box, ``finetune`` steps without penalty and grid
    refinement through ``grids`` (``finetune`` steps each, kept while the validation error
    falls). A 'product' model starts with its factors at 1 (random factors stall: the
    product then starts near a sum). A pruned model is accepted when its validation
    error is at most ``prune_guard`` times the dense model's -- else pruning removed a
    real dependence and the next, lower edge threshold is tried; the dense model is the
    last resort. Over the seeds, the accepted pruned model with the lowest validation
    error is kept (the best fallback when none is accepted).
    """

    steps: int = 30
    finetune: int = 20
    lamb: float = 3e-4
    grid: int = 5
    grids: tuple[int, ...] = (10, 20)
    seeds: tuple[int, ...] = (0, 1)
    train_num: int = 1000
    val_num: int = 300
    tolerance: float = 3.0
    node_th: float = 1e-2
    edge_th: tuple[float, ...] = (3e-2, 1e-2)
    prune_guard: float = 1.0


def _rmse(model: KAN, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float((model(x) - y).pow(2).mean().sqrt())


def _new_model(kind: str, d: int, cfg: SurrogateConfig, seed: int) -> KAN:
    model = KAN(**_architecture(kind, d), grid=cfg.grid, k=3, seed=seed, dtype=torch.float64)
    if kind == "product":  # factors start near 1: the product starts near a sum
        with torch.no_grad():
            model.subnode_bias[0].fill_(1.0)
    return model


def _grid_points(x: torch.Tensor, limit: int = 256) -> torch.Tensor:
    """``x`` plus corners of its bounding box (all of them up to ``limit``): hidden nodes
    then get grids over their whole range on the box, not only where samples are dense
    (a sum of inputs reaches its extremes only near the box corners)."""
    d = x.shape[1]
    low, high = x.min(0).values, x.max(0).values
    if 2**d <= limit:
        bits = torch.tensor([[(k >> i) & 1 for i in range(d)] for k in range(2**d)])
    else:
        bits = torch.randint(0, 2, (limit, d), generator=torch.Generator().manual_seed(0))
    return torch.cat([x, torch.where(bits.bool(), high, low)])


def _tune(model: KAN, data: Dataset, val: tuple, cfg: SurrogateConfig, seed: int):
    """Fine-tune without penalty, then refine the grid while the validation error falls."""
    grid_points = _grid_points(data.train_input)
    model.update_grid_(grid_points)
    options = {"opt": "LBFGS", "grid_schedule": None, "seed": seed, "progress": False}
    if cfg.finetune:
        fit(model, data, steps=cfg.finetune, **options)
    best = (model.eval(), _rmse(model, *val))
    for g in cfg.grids:
        finer = best[0].refine(g, grid_points)
        fit(finer, data, steps=cfg.finetune, **options)
        error = _rmse(finer, *val)
        if not error < best[1]:
            break
        best = (finer.eval(), error)
    return best


def _fit_candidate(data: Dataset, val: tuple, kind: str, cfg: SurrogateConfig, seed: int):
    """Penalized fit, guarded pruning, fine-tuning and grid refinement.

    Returns (model, validation error, pruned) -- ``pruned`` False for the dense fallback.
    """
    model = _new_model(kind, data.train_input.shape[1], cfg, seed)
    fit(
        model,
        data,
        opt="LBFGS",
        steps=cfg.steps,
        penalty=Penalty(cfg.lamb),
        seed=seed,
        progress=False,
    )
    dense_error = _rmse(model, *val)
    for edge_th in cfg.edge_th:
        pruned = prune(model, data.train_input, cfg.node_th, edge_th).model
        pruned, error = _tune(pruned, data, val, cfg, seed)
        if error <= cfg.prune_guard * dense_error:
            return pruned, error, True
    return (*_tune(model, data, val, cfg, seed), False)


def train_surrogate(
    eq: FeynmanEquation,
    config: SurrogateConfig | None = None,
    *,
    seed: int = 0,
    candidates: tuple[str, ...] | None = None,
    **overrides,
):
    """Fit pruned KAN candidates to samples of ``eq``; keep the first accurate one.

    Candidates, in order of preference: a factorizing one -- 'log' (``[d, 2d+1, 1]`` on
    ``log|y|``) when ``y`` keeps one sign, else 'product' (``[d, [0, 1]]``: one
    multiplication node of ``d`` factors, each a sum over the inputs, on ``y``) -- then
    'identity' (``[d, 2d+1, 1]`` on ``y``), each fitted as in :class:`SurrogateConfig`
    (``overrides`` replace its fields). The first candidate whose validation RMSE (on
    ``y``, normalized) is at most ``tolerance`` times the best one's is kept. Returns
    (callable, held-out x, info); the held-out points are used neither for training nor
    for selection.
    """
    cfg = replace(config or SurrogateConfig(), **overrides)
    n_fit = cfg.train_num + cfg.val_num
    data = eq.dataset(train_num=n_fit, test_num=300, seed=seed, dtype=torch.float64)
    x_all, y_all = data.train_input, data.train_label
    x_train, y, x_val, y_val = (
        x_all[: cfg.train_num],
        y_all[: cfg.train_num],
        x_all[cfg.train_num :],
        y_all[cfg.train_num :],
    )
    x_mean, x_std = x_train.mean(0), x_train.std(0)
    one_sign = bool((torch.sign(y) == torch.sign(y[0])).all())
    start = time.perf_counter()
    if candidates is None:
        structured = "log" if one_sign and bool((y != 0).all()) else "product"
        candidates = (structured, "identity") if len(eq.variables) > 1 else ("identity",)
    kinds, candidates = candidates, []
    for kind in kinds:
        target, target_val = (y.abs().log(), y_val.abs().log()) if kind == "log" else (y, y_val)
        t_mean, t_std = target.mean(), target.std()
        if kind == "product":  # a shift would break the product: scale only
            t_mean, t_std = torch.zeros_like(t_mean), target.pow(2).mean().sqrt()
        scaled = Dataset(
            (x_train - x_mean) / x_std,
            (target - t_mean) / t_std,
            (x_val - x_mean) / x_std,
            (target_val - t_mean) / t_std,
        )
        val = (scaled.test_input, scaled.test_label)
        fits = [_fit_candidate(scaled, val, kind, cfg, seed + s) for s in cfg.seeds]
        model, _, pruned = min(fits, key=lambda m: (not m[2], m[1]))  # pruned first
        surrogate = _surrogate(
            model, kind, x_mean, x_std, t_mean, t_std, float(torch.sign(y[0])) if one_sign else 1.0
        )
        reference = y_val.abs() if kind == "log" and not one_sign else y_val
        with torch.no_grad():
            error = float((surrogate(x_val) - reference).pow(2).mean().sqrt() / reference.std())
        candidates.append(
            (
                kind,
                surrogate,
                error,
                _active_edges(model),
                model.width_in,
                model.layers[0].num,
                pruned,
            )
        )
    best_error = min(c[2] for c in candidates)
    accurate = [c for c in candidates if c[2] <= cfg.tolerance * best_error]
    kind, surrogate, error, edges, width, grid, pruned = accurate[0]
    with torch.no_grad():
        exact = eq.function()(data.test_input)
        exact = exact.abs() if kind == "log" and not one_sign else exact
        rel = float((surrogate(data.test_input) - exact).norm() / exact.norm())
    info = {
        "transform": kind,
        "log_target": kind == "log",
        "relative_error": rel,
        "width": width,
        "edges": edges,
        "grid": grid,
        "pruned": pruned,
        "candidates": {
            c[0]: {"error": c[2], "edges": c[3], "grid": c[5], "pruned": c[6]} for c in candidates
        },
        "train_seconds": time.perf_counter() - start,
    }
    return surrogate, data.test_input, info


def _surrogate(model: KAN, kind: str, x_mean, x_std, t_mean, t_std, sign: float):
    def surrogate(x: torch.Tensor) -> torch.Tensor:
        out = model((x - x_mean) / x_std) * t_std + t_mean
        return sign * torch.exp(out) if kind == "log" else out

    return surrogate


def ours(
    f, x, threshold: float, row: dict | None = None, method: str = "difference"
) -> tuple[str, frozenset]:
    report = detect_separability(f, x, threshold=threshold, method=method)
    if row is not None:
        row["additive_score"] = report.additive_score
        row["multiplicative_score"] = report.multiplicative_score
    return report.label, frozenset(frozenset(g) for g in report.groups)


def pykan(f, x) -> tuple[str, frozenset]:
    from kan.hypothesis import detect_separability as kan_detect

    def column(z):
        return f(z).reshape(-1, 1)

    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for label, mode in (("additive", "add"), ("multiplicative", "mul")):
            res = kan_detect(column, x, mode=mode)
            if res["n_groups"] > 1:
                return label, frozenset(frozenset(int(i) for i in g) for g in res["groups"])
    return "none", frozenset([frozenset(range(x.shape[1]))])


def run_one(
    eq_id: str,
    config: SurrogateConfig,
    threshold: float,
    seed: int,
    hessian_threshold: float = HESSIAN_THRESHOLD,
) -> dict:
    torch.set_num_threads(1)  # one thread per equation (and per process with --jobs)
    (eq,) = load_feynman([eq_id])
    expected = truth(eq)
    row: dict = {"id": eq.id, "truth": expected[0]}
    f, x, info = train_surrogate(eq, config, seed=seed)
    row.update(info)
    methods = {
        "kanscience": lambda: ours(f, x, threshold, row),
        "kanscience_hessian": lambda: ours(f, x, hessian_threshold, method="hessian"),
        "pykan": lambda: pykan(f, x),
    }
    for name, method in methods.items():
        start = time.perf_counter()
        try:
            got = method()
        except Exception as err:  # noqa: BLE001  a crash is a wrong answer
            got = ("error: " + type(err).__name__, frozenset())
        row[f"{name}_seconds"] = time.perf_counter() - start
        row[name] = got[0]
        row[f"{name}_groups"] = sorted(sorted(g) for g in got[1])
        row[f"{name}_correct"] = got == expected
    row["sweep"] = {str(t): ours(f, x, t) == expected for t in SWEEP}
    return row


def _mark(row: dict, name: str) -> str:
    return f"{name}={row[name]:<15} {'ok' if row[f'{name}_correct'] else 'WRONG':<6}"


def _progress(row: dict) -> None:
    fits = " ".join(
        f"{k}:{v['error']:.1e}/G{v['grid']}{'' if v['pruned'] else '(dense)'}"
        for k, v in row["candidates"].items()
    )
    print(
        f"{row['id']:>10} truth={row['truth']:<15} "
        + " ".join(_mark(row, name) for name in METHODS)
        + f" add={row.get('additive_score', 0):.3f} mul={row.get('multiplicative_score', 0):.3f}"
        f" rel={row['relative_error']:.1e} [{row['transform']}; {fits}]"
        f" {row['train_seconds']:.0f}s",
        flush=True,
    )


def run(
    ids: list[str] | None = None,
    config: SurrogateConfig | None = None,
    threshold: float = THRESHOLD,
    seed: int = 0,
    jobs: int = 1,
    verbose: bool = False,
    hessian_threshold: float = HESSIAN_THRESHOLD,
) -> dict:
    """Train a surrogate per equation and score the three detectors; returns the results."""
    config = config or SurrogateConfig()
    ids = [eq.id for eq in load_feynman(ids)]
    start = time.perf_counter()
    args = [(i, config, threshold, seed, hessian_threshold) for i in ids]
    rows = []
    with ProcessPoolExecutor(jobs) if jobs > 1 else contextlib.nullcontext() as pool:
        mapped = pool.map(run_one, *zip(*args)) if pool else (run_one(*a) for a in args)
        for row in mapped:
            rows.append(row)
            if verbose:
                _progress(row)
    totals = {}
    for name in METHODS:
        correct = sum(r[f"{name}_correct"] for r in rows)
        totals[name] = {
            "correct": correct,
            "accuracy": correct / len(rows),
            "errors": sum(r[name].startswith("error") for r in rows),
            "seconds": sum(r[f"{name}_seconds"] for r in rows),
        }
    sweep = {str(t): sum(r["sweep"][str(t)] for r in rows) / len(rows) for t in SWEEP}
    return {
        "n_equations": len(rows),
        "config": asdict(config),
        "threshold": threshold,
        "hessian_threshold": hessian_threshold,
        "seed": seed,
        "wall_seconds": time.perf_counter() - start,
        "train_seconds": sum(r["train_seconds"] for r in rows),
        "totals": totals,
        "threshold_sweep": sweep,
        "equations": rows,
    }


def main(argv: list[str] | None = None) -> dict:
    default = SurrogateConfig()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ids", nargs="*", default=None, help="equation ids (default: all 50)")
    parser.add_argument(
        "--steps", type=int, default=default.steps, help="penalized L-BFGS steps before pruning"
    )
    parser.add_argument(
        "--finetune",
        type=int,
        default=default.finetune,
        help="L-BFGS steps after pruning and after each refinement",
    )
    parser.add_argument(
        "--grids",
        type=int,
        nargs="*",
        default=list(default.grids),
        help="grid refinement schedule after pruning",
    )
    parser.add_argument(
        "--seeds",
        type=int,
        default=len(default.seeds),
        help="training seeds per candidate (the best validation fit is kept)",
    )
    parser.add_argument("--threshold", type=float, default=THRESHOLD)
    parser.add_argument("--hessian-threshold", type=float, default=HESSIAN_THRESHOLD)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=1, help="processes (1 thread each)")
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON")
    parser.add_argument("--quiet", action="store_true", help="no line per equation")
    args = parser.parse_args(argv)
    config = replace(
        default,
        steps=args.steps,
        finetune=args.finetune,
        grids=tuple(args.grids),
        seeds=tuple(range(args.seeds)),
    )
    result = run(
        args.ids,
        config,
        args.threshold,
        args.seed,
        args.jobs,
        not args.quiet,
        args.hessian_threshold,
    )
    for name, t in result["totals"].items():
        print(
            f"{name:>18}: accuracy {t['accuracy']:.0%} ({t['correct']}/"
            f"{result['n_equations']}, {t['errors']} errors), detection {t['seconds']:.1f} s"
        )
    print(
        "kanscience accuracy by threshold: "
        + ", ".join(f"{t}: {a:.0%}" for t, a in result["threshold_sweep"].items())
    )
    print(f"wall time {result['wall_seconds']:.0f} s (training {result['train_seconds']:.0f} s)")
    for row in result["equations"]:
        if not all(row[f"{name}_correct"] for name in METHODS):
            print(
                f"  {row['id']:>10} truth={row['truth']:<15} kanscience={row['kanscience']:<15}"
                f" {row['kanscience_groups']} hessian={row['kanscience_hessian']:<15}"
                f" pykan={row['pykan']:<15} (rel. error {row['relative_error']:.1e},"
                f" {row['transform']})"
            )
    if args.out is not None:
        args.out.write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
