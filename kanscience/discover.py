"""From data to ranked formulas: the KAN discovery pipeline.

:func:`discover` tries a few KAN structures on the data, each through the same steps,
and returns every formula it found, ranked:

1. train a KAN (float64, L-BFGS; hidden layers with a sparsity penalty, then pruned with
   :func:`kanscience.prune.prune`), refine its grid and train again;
2. fix every edge symbolically (:func:`kanscience.symbolic.auto_symbolic`), extract the
   formula, simplify it and refit all of its constants on the data by least squares
   (:func:`kanscience.formula.fit_constants`, Levenberg-Marquardt), which is far better
   conditioned than training the redundant ``(a, b, c, d)`` of every edge;
3. snap constants to simple numbers at several tolerances (with and without ``pi``),
   refitting the remaining floats each time, and try the runner-up function on the edges
   where the choice was close (top-2 suggestions);
4. score every formula on a validation split of the training data.

The structures, cheapest first (``n`` inputs):

- an additive KAN ``[n, 1]`` on ``y``, and on ``log|y|`` when ``y`` keeps one sign (power
  laws and products); the latter's edges ``g_i`` also give a product KAN
  ``[n, [0, 1], 1]`` whose factors ``exp(g_i)`` are fitted by the library;
- a product KAN ``[n, [0, 1], 1]`` (one multiplication node of arity ``n``, one factor
  per variable, every factor starting as the constant 1) trained on ``y`` (signs allowed)
  and on ``log|y|``;
- ``[n, [0, n // 2], 1]`` (sums of pairwise products) and ``[n, h, 1]`` with a sparsity
  penalty and pruning;
- a split: :func:`kanscience.hypothesis.detect_separability` on the trained ``[n, h, 1]``
  (a surrogate of the data) finds additive or multiplicative groups of variables; each
  group is discovered on surrogate data (the other variables at their medians) and the
  parts are added or multiplied and refitted on the real data;
- ``[n, h, 1]`` on ``log|y|``.

The search stops once a formula fits the validation data to rounding error, or when
``time_budget`` runs out (a training run is cut short at its structure's share).

Candidates are ranked by ``(val_rmse > tolerance, complexity)``: the simplest formula
whose validation RMSE is within 10% of the best one (or below ``1e-9`` of the target's
spread) comes first. ``test_rmse`` and ``test_r2`` come from the test split, never used
for fitting or ranking; on noisy data they report the noise honestly.
"""

from __future__ import annotations

import itertools
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sympy
import torch
from torch import Tensor

from .data import Dataset, as_tensor
from .formula import (
    expression_complexity,
    fit_constants,
    formula_to_torch,
    simplify_formula,
    snap_constants,
    symbolic_formula,
)
from .functions import LibraryLike, resolve_library
from .network import KAN
from .symbolic import _fix, auto_symbolic, fit_affine, symbolic_score
from .train import TrainingDivergedError, fit

__all__ = ["DISCOVERY_LIBRARY", "Candidate", "DiscoveryResult", "discover"]

_log = logging.getLogger(__name__)

DISCOVERY_LIBRARY = ("x", "x^2", "x^3", "x^4", "1/x", "1/x^2", "1/x^3", "sqrt", "1/sqrt(x)",
                     "x^1.5", "exp", "log", "sin", "cos", "tanh", "arcsin", "arctan",
                     "gaussian", "0")
"""Function names :func:`discover` fits by default (a subset of the default library)."""

_SNAPS = ((1e-3, ()), (1e-3, (sympy.pi,)), (1e-2, ()), (1e-6, ()), (1e-4, ()),
          (1e-2, (sympy.pi,)), (3e-2, ()))


@dataclass(frozen=True)
class Candidate:
    """One formula: its complexity (expression nodes) and errors.

    ``val_rmse`` is on the validation part of the training data (used for ranking);
    ``test_rmse`` and ``test_r2`` on the test split; ``source`` names the structure and
    the snapping that produced it.
    """

    expr: sympy.Expr
    complexity: int
    test_rmse: float
    test_r2: float
    val_rmse: float = math.nan
    source: str = ""


@dataclass(frozen=True)
class DiscoveryResult:
    """Ranked candidates (best first) and what the search did.

    Attributes
    ----------
    candidates : tuple of Candidate
        The Pareto front of (complexity, validation RMSE), ranked best first.
    all_candidates : tuple of Candidate
        Every distinct formula evaluated, by complexity.
    variables : tuple of sympy.Symbol
    seconds : float
    log : tuple of str
        One line per structure tried.
    """

    candidates: tuple[Candidate, ...]
    all_candidates: tuple[Candidate, ...] = ()
    variables: tuple[sympy.Symbol, ...] = ()
    seconds: float = 0.0
    log: tuple[str, ...] = ()

    @property
    def best(self) -> Candidate:
        """The top-ranked candidate."""
        if not self.candidates:
            raise ValueError("no formula was found (the time budget may be too small)")
        return self.candidates[0]


class _OutOfTime(Exception):
    """Raised from a training callback when the current structure's time is up."""


@dataclass
class _Search:
    """Mutable state of one :func:`discover` call."""

    symbols: list[sympy.Symbol]
    fit_x: Tensor
    fit_y: Tensor
    val_x: Tensor
    val_y: Tensor
    test_x: Tensor
    test_y: Tensor
    library: Any
    options: dict
    deadline: float
    probe_x: Tensor | None = None
    found: dict = field(default_factory=dict)
    log: list = field(default_factory=list)
    branch_deadline: float = math.inf
    train_deadline: float = math.inf

    def time_left(self) -> float:
        return min(self.deadline, self.branch_deadline) - time.perf_counter()

    def start_branch(self, seconds: float) -> None:
        """Give the next structure ``seconds``; training may use 70% of them."""
        now = time.perf_counter()
        self.branch_deadline = now + seconds
        self.train_deadline = now + 0.7 * seconds

    def clock(self) -> float:
        """Training callback: stops a fit (by raising) once its time is up."""
        if time.perf_counter() > min(self.train_deadline, self.deadline):
            raise _OutOfTime
        return 0.0

    def solved(self) -> bool:
        spread = float(self.val_y.std())
        return any(c.val_rmse <= 1e-9 * spread for c in self.found.values())


def _split(data: Any, test_fraction: float, seed: int) -> Dataset:
    if isinstance(data, tuple) and len(data) == 2:
        x = as_tensor(data[0], "x", torch.float64)
        y = as_tensor(data[1], "y", torch.float64)
        if x.shape[0] != y.shape[0]:
            raise ValueError(f"x has {x.shape[0]} samples but y has {y.shape[0]}")
        if x.shape[0] < 8:
            raise ValueError(f"need at least 8 samples, got {x.shape[0]}")
        order = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(seed))
        n_test = max(1, round(test_fraction * x.shape[0]))
        test, train = order[:n_test], order[n_test:]
        return Dataset(x[train], y[train], x[test], y[test])
    if isinstance(data, (Dataset, dict)):
        return Dataset.coerce(data).to(torch.float64)
    raise TypeError("data must be a Dataset, a pykan dataset dict or a tuple (x, y), got "
                    f"{type(data).__name__}")


def _rmse(prediction: Tensor, target: Tensor) -> float:
    value = float(((prediction - target) ** 2).mean().sqrt())
    return value if math.isfinite(value) else math.inf


def _probe(x: Tensor, seed: int) -> Tensor:
    """The data, plus points in its bounding box widened by 0.1% on each side: random
    ones, and each variable at both ends with the others random."""
    lo, hi = x.min(0).values, x.max(0).values
    margin = 1e-3 * (hi - lo)
    lo, hi = lo - margin, hi + margin
    u = torch.rand(256, x.shape[1], generator=torch.Generator().manual_seed(seed),
                   dtype=x.dtype)
    inside = lo + u * (hi - lo)
    ends = []
    for i in range(x.shape[1]):
        for end in (lo, hi):
            rows = inside[:8].clone()
            rows[:, i] = end[i]
            ends.append(rows)
    return torch.cat([x, inside, *ends])


def _evaluate(search: _Search, expr: sympy.Expr) -> tuple[float, float, float]:
    """(validation RMSE, test RMSE, test R^2); a formula that is not finite on the training
    data and its bounding box (say ``sqrt(x - 1.0014)`` for ``x`` from 1) gets inf."""
    try:
        fn = formula_to_torch(expr, search.symbols)
        with torch.no_grad():
            if search.probe_x is not None and not bool(torch.isfinite(fn(search.probe_x)).all()):
                return math.inf, math.inf, -math.inf
            val = _rmse(fn(search.val_x), search.val_y)
            test_pred = fn(search.test_x)
    except (ValueError, TypeError, RuntimeError, OverflowError):
        return math.inf, math.inf, -math.inf
    test = _rmse(test_pred, search.test_y)
    variance = float(((search.test_y - search.test_y.mean()) ** 2).mean())
    r2 = 1.0 - test ** 2 / variance if variance > 0 else (1.0 if test == 0 else -math.inf)
    return val, test, r2


def _add(search: _Search, expr: sympy.Expr, source: str) -> None:
    if expr.has(sympy.zoo, sympy.nan, sympy.oo, -sympy.oo, sympy.I):
        return
    key = sympy.srepr(expr)
    if key in search.found:
        return
    val, test, r2 = _evaluate(search, expr)
    if math.isfinite(val):
        search.found[key] = Candidate(expr, expression_complexity(expr), test, r2, val, source)


def _refit(search: _Search, expr: sympy.Expr) -> sympy.Expr:
    try:
        return fit_constants(expr, search.symbols, search.fit_x, search.fit_y,
                             steps=search.options["polish_steps"])
    except (ValueError, TypeError, RuntimeError, OverflowError):
        return expr


def _candidates_from(search: _Search, expr: sympy.Expr, source: str) -> None:
    """Polish ``expr``, then add it and its snapped variants."""
    _log.debug("%s: polishing a formula of %d nodes", source, expression_complexity(expr))
    try:
        expr = simplify_formula(expr)
    except (ValueError, TypeError, RecursionError):
        pass
    expr = _refit(search, expr)
    _add(search, expr, source)
    for number, (tol, constants) in enumerate(_SNAPS):
        if number >= 3 and search.time_left() <= 0:
            return
        snapped = snap_constants(expr, tol=tol, constants=constants)
        if snapped == expr:
            continue
        try:
            snapped = simplify_formula(snapped)
        except (ValueError, TypeError, RecursionError):
            pass
        name = f"{source}/snap{tol:g}{'pi' if constants else ''}"
        _add(search, _refit(search, snapped), name)


def _train(search: _Search, model: KAN, x: Tensor, t: Tensor, hidden: bool) -> KAN:
    options = search.options
    n_val = max(1, x.shape[0] // 5)
    data = Dataset(x, t[:, None], x[:n_val], t[:n_val, None])
    common = {"progress": False, "seed": options["seed"], "metrics": [search.clock]}
    try:
        fit(model, data, steps=options["steps"], lamb=options["lamb"] if hidden else 0.0,
            **common)
        if hidden:
            model = _prune(model, x)
        model = model.refine(options["refine_grid"], x)
        fit(model, data, steps=options["steps"], stop_grid_update_step=options["steps"] // 2,
            **common)
    except (TrainingDivergedError, _OutOfTime):
        pass
    return model


def _prune(model: KAN, x: Tensor) -> KAN:
    try:
        from .prune import prune
    except ImportError:  # pragma: no cover - prune.py ships with the package
        return model
    return prune(model, x, node_th=1e-2, edge_th=3e-2).model


def _standardize(t: Tensor) -> tuple[Tensor, float, float]:
    mean, std = float(t.mean()), float(t.std())
    std = std if std > 0 else 1.0
    return (t - mean) / std, mean, std


def _transforms(y: Tensor) -> list[tuple[str, Tensor, Any, int]]:
    """(name, transformed target, sympy inverse, sign of y) for every usable transform."""
    out: list[tuple[str, Tensor, Any, int]] = [("y", y, lambda e: e, 1)]
    if bool((y > 0).all()) or bool((y < 0).all()):
        sign = 1 if bool((y > 0).all()) else -1
        out.append(("log|y|", torch.log(y.abs()), lambda e, s=sign: s * sympy.exp(e), sign))
    return out


def _symbolic_model(search: _Search, model: KAN, x: Tensor, inverse: Any, mean: float,
                    std: float, source: str) -> None:
    """auto_symbolic ``model``, then add its formula and (time permitting) runner-up variants."""
    options = search.options
    try:
        symbolic, report = auto_symbolic(model, x[: options["max_symbolic"]], lib=search.library,
                                         weight_simple=options["weight_simple"],
                                         grid_number=options["grid_number"])
    except ValueError:
        return
    variants = [(symbolic, source)]
    close = sorted(((c.suggestions[1].score - c.suggestions[0].score, c) for c in report
                    if c.status == "fixed" and len(c.suggestions) > 1), key=lambda g: g[0])
    for gap, choice in close[: options["alternatives"]]:
        if gap > options["alternative_gap"]:
            break
        runner_up = choice.suggestions[1]
        variant = symbolic.copy()
        _fix(variant, choice.layer, choice.i, choice.j, runner_up.name, runner_up.params)
        edge = f"{choice.layer},{choice.i},{choice.j}"
        variants.append((variant, f"{source}/edge{edge}={runner_up.name}"))
    for number, (variant, name) in enumerate(variants):
        if number and search.time_left() <= 0:
            return
        try:
            (expr,) = symbolic_formula(variant, search.symbols)
        except ValueError:
            continue
        _candidates_from(search, inverse(std * expr + mean), name)


def _kan_branch(search: _Search, width: list, mult_arity: Any, transform: tuple,
                hidden: bool, model: KAN | None = None, label: str | None = None
                ) -> tuple[KAN, float, float] | None:
    name, t, inverse, _ = transform
    options = search.options
    if search.time_left() <= 0:
        return None
    start = time.perf_counter()
    t_std, mean, std = _standardize(t)
    if model is None:
        model = KAN(width, grid=options["grid"], k=3, mult_arity=mult_arity,
                    seed=options["seed"], dtype=torch.float64, library=search.library)
    model = _train(search, model, search.fit_x, t_std, hidden)
    _log.debug("%s %s: trained in %.1fs", name, width, time.perf_counter() - start)
    source = f"{name}~{label or f'KAN{width}'}"
    _symbolic_model(search, model, search.fit_x, inverse, mean, std, source)
    search.log.append(f"{source}: {time.perf_counter() - start:.1f}s")
    model.requires_grad_(False)
    return model, mean, std


def _product_model(search: _Search, n: int) -> KAN:
    """``[n, [0, 1], 1]``: one multiplication node over one factor per variable, every
    factor starting as the constant 1 (so no factor starts with a vanishing gradient)."""
    model = KAN([n, [0, 1], 1], mult_arity=[[], [n], []], grid=search.options["grid"],
                seed=search.options["seed"], dtype=torch.float64, library=search.library)
    with torch.no_grad():
        first = model.layers[0]
        first.mask.copy_(torch.eye(n, dtype=torch.float64))
        first.scale_base.zero_()
        first.scale_sp.fill_(1.0)
        first.coef.fill_(1.0)
        for j in range(n):
            for i in range(n):
                if i != j:
                    model.set_mode_(0, i, j, "off")
    model.set_symbolic_(1, 0, 0, "x", (1.0, 0.0, 1.0, 0.0))
    return model


def _product_branch(search: _Search, log_model: KAN, transform: tuple) -> None:
    """A product KAN ``[n, [0, 1], 1]`` built from the additive KAN on ``log|y|``:
    factor ``i`` is ``exp(g_i(x_i))``, fitted by the library functions."""
    name, t, _, sign = transform
    if search.time_left() <= 0:
        return
    from .trace import trace

    start = time.perf_counter()
    n = search.fit_x.shape[1]
    x = search.fit_x[: search.options["max_symbolic"]]
    _, mean, std = _standardize(t)
    with torch.no_grad():
        edges = trace(log_model, x)[0].activations[:, :, 0]  # (batch, n): g_i(x_i)
    factors = torch.exp(std * (edges - edges.mean(0)))
    fits = fit_affine(x.T, factors.T, search.library, grid_number=search.options["grid_number"])
    names = search.library.names
    complexity = torch.tensor([search.library[f].complexity for f in names], dtype=torch.float64)
    scores = symbolic_score(fits.r2, complexity[:, None], search.options["weight_simple"])
    order = scores.argsort(0)  # (funcs, n) best first per variable
    model = KAN([n, [0, 1], 1], mult_arity=[[], [n], []], seed=0, dtype=torch.float64,
                library=search.library)
    for layer, kan_layer in enumerate(model.layers):
        for i in range(kan_layer.in_dim):
            for j in range(kan_layer.out_dim):
                model.set_mode_(layer, i, j, "off")
    for i in range(n):
        k = int(order[0, i])
        _fix(model, 0, i, i, names[k], fits.params[k, i].tolist())
    scale = float(torch.exp(torch.tensor(std * float(edges.mean(0).sum()) + mean)))
    model.set_symbolic_(1, 0, 0, "x", (1.0, 0.0, scale, 0.0))
    source = f"{name}~product[{n},[0,1],1]"
    variants = [(model, source)]
    gaps = sorted((float(scores[order[1, i], i] - scores[order[0, i], i]), i) for i in range(n))
    for gap, i in gaps[: search.options["alternatives"]]:
        if gap > search.options["alternative_gap"]:
            break
        k = int(order[1, i])
        variant = model.copy()
        _fix(variant, 0, i, i, names[k], fits.params[k, i].tolist())
        variants.append((variant, f"{source}/x{i}={names[k]}"))
    for variant, label in variants:
        if search.time_left() <= 0:
            break
        (expr,) = symbolic_formula(variant, search.symbols)
        _candidates_from(search, sign * expr, label)
    search.log.append(f"{source}: {time.perf_counter() - start:.1f}s")


def _explore(search: _Search, hidden: int | None, split: bool) -> None:
    """Try the structures in order until solved or out of time."""
    n = search.fit_x.shape[1]
    transforms = _transforms(search.fit_y)
    identity, log = transforms[0], (transforms[1] if len(transforms) > 1 else None)
    h = hidden or min(n + 2, 7)
    plans: list[tuple] = [("kan", [n, 1], identity, False)]
    if log is not None:
        plans += [("kan", [n, 1], log, False)]
        if n >= 2:
            plans += [("log-product", None, log, None)]
    if n >= 2:
        plans += [("product", [n, [0, 1], 1], t, False) for t in transforms]
        plans += [("kan", [n, [0, max(1, n // 2)], 1], identity, True)]
    plans += [("kan", [n, h, 1], identity, True)]
    if split and n >= 3:
        plans += [("split", None, identity, None)]
    if log is not None:
        plans += [("kan", [n, h, 1], log, True)]
    log_model = surrogate = None
    for index, (kind, width, transform, is_hidden) in enumerate(plans):
        if search.deadline <= time.perf_counter() or search.solved():
            break
        remaining = search.deadline - time.perf_counter()
        last = index == len(plans) - 1
        search.start_branch(remaining if last else remaining * (0.7 if kind == "split" else
                                                                0.5 if is_hidden else 1.0))
        if kind == "log-product":
            if log_model is not None:
                _product_branch(search, log_model[0], transform)
        elif kind == "split":
            if surrogate is not None:
                _split_branch(search, *surrogate)
        elif kind == "product":
            _kan_branch(search, width, None, transform, False, _product_model(search, n),
                        f"product{width}")
        else:
            trained = _kan_branch(search, width, 2, transform, is_hidden)
            if transform is log and width == [n, 1]:
                log_model = trained
            if transform is identity and is_hidden and width[1] == h:
                surrogate = trained
    search.start_branch(math.inf)


def _split_branch(search: _Search, model: KAN, mean: float, std: float) -> None:
    """Split by separability of the trained KAN ``std * model + mean`` (a surrogate of the
    data): discover each group's factor (or term) on surrogate data with the other
    variables at their medians, multiply (or add) the results and refit on the data."""
    from .hypothesis import detect_separability

    def surrogate(z: Tensor) -> Tensor:
        return std * model(z)[:, 0] + mean

    start = time.perf_counter()
    with torch.no_grad():
        error = _rmse(surrogate(search.val_x), search.val_y)
    if not error <= 0.03 * float(search.val_y.std()):  # R^2 > 0.999
        return
    # a spline surrogate's second derivatives are rough: spurious interaction scores
    # reach ~0.2 where true ones are ~0.7, hence the loose threshold
    report = detect_separability(surrogate, search.fit_x[:300].clone(), threshold=0.3)
    groups = [list(g) for g in report.groups]
    if report.label == "none" or len(groups) < 2 or all(len(g) == 1 for g in groups):
        return
    median = search.fit_x.median(0).values
    parts = []
    for position, group in enumerate(groups):
        share = search.time_left() / (len(groups) - position + 0.5)
        x = median.expand_as(search.fit_x).clone()
        x[:, group] = search.fit_x[:, group]
        with torch.no_grad():
            values = surrogate(x)
        n_val = max(1, x.shape[0] // 5)
        sub = _Search(symbols=[search.symbols[i] for i in group], fit_x=x[n_val:, group],
                      fit_y=values[n_val:], val_x=x[:n_val, group], val_y=values[:n_val],
                      test_x=x[:n_val, group], test_y=values[:n_val], library=search.library,
                      options=search.options, deadline=time.perf_counter() + share,
                      probe_x=_probe(x[:, group], search.options["seed"]))
        _explore(sub, None, split=False)
        # surrogate data carry the surrogate's error, relatively larger on a slice: keep
        # the simplest formulas within 1% and within 5% of the slice's spread
        options: list[sympy.Expr] = []
        for floor in (1e-2, 5e-2):
            ranked, _ = _rank(list(sub.found.values()), float(sub.val_y.std()), floor=floor)
            if ranked and ranked[0].expr not in options:
                options.append(ranked[0].expr)
        if not options:
            return
        parts.append(options)
        _log.debug("split group %s: %s", group, options)
    join = sympy.Mul if report.label == "multiplicative" else sympy.Add
    label = "*" if report.label == "multiplicative" else "+"
    source = f"split{label.join(str(tuple(g)) for g in groups)}"
    search.start_branch(max(search.deadline - time.perf_counter(), 0.0))
    best, best_error = None, math.inf
    for choice in list(itertools.product(*parts))[:16]:
        combo = (sympy.Float(1.0) * join(*choice) if join is sympy.Mul
                 else join(*choice) + sympy.Float(1.0))
        fitted = _refit(search, combo)
        error = _evaluate(search, fitted)[0]
        if error < best_error:
            best, best_error = fitted, error
    if best is None:
        return
    _log.debug("split combined: %s", best)
    _candidates_from(search, best, source)
    search.log.append(f"{source}: {time.perf_counter() - start:.1f}s")


def _rank(found: list[Candidate], spread: float, floor: float = 1e-9
          ) -> tuple[tuple[Candidate, ...], tuple]:
    by_complexity = sorted(found, key=lambda c: (c.complexity, c.val_rmse, sympy.srepr(c.expr)))
    front, best_so_far = [], math.inf
    for c in by_complexity:
        if c.val_rmse < best_so_far:
            front.append(c)
            best_so_far = c.val_rmse
    if not front:
        return (), tuple(by_complexity)
    tolerance = max(1.1 * min(c.val_rmse for c in front), floor * spread)
    ranked = sorted(front, key=lambda c: (c.val_rmse > tolerance,
                                          c.complexity if c.val_rmse <= tolerance else c.val_rmse))
    return tuple(ranked), tuple(by_complexity)


def discover(
    data: Dataset | dict | tuple,
    var_names: Sequence[str] | None = None,
    *,
    lib: LibraryLike = DISCOVERY_LIBRARY,
    hidden: int | None = None,
    steps: int = 50,
    lamb: float = 1e-3,
    grid: int = 5,
    refine_grid: int = 20,
    max_train: int = 2000,
    weight_simple: float = 0.8,
    grid_number: int = 51,
    alternatives: int = 3,
    alternative_gap: float = 1.0,
    polish_steps: int = 40,
    test_fraction: float = 0.25,
    seed: int = 0,
    time_budget: float | None = 180.0,
) -> DiscoveryResult:
    """Find formulas ``y = f(x)`` for the data with KANs (see the module docstring).

    Parameters
    ----------
    data : Dataset, pykan dataset dict, or tuple (x, y)
        A tuple is split into train and test (``test_fraction``, seeded); ``y`` must have
        one column.
    var_names : sequence of str, optional
        Names of the inputs (default ``x_1 .. x_n``); they become real sympy symbols.
    lib : library specification
        Functions the edges may use (default :data:`DISCOVERY_LIBRARY`).
    hidden : int, optional
        Width of the hidden layer of the deeper structures (default ``2 n + 1``, at most 9).
    steps, lamb, grid, refine_grid : training (L-BFGS steps per phase, sparsity weight of
        hidden-layer KANs, grid intervals before and after refinement).
    max_train : int
        Training samples used (a seeded subsample; 20% of them validate).
    weight_simple, grid_number : passed to the symbolic fits.
    alternatives, alternative_gap : runner-up functions tried on at most ``alternatives``
        edges whose two best scores differ by at most ``alternative_gap``.
    polish_steps : Levenberg-Marquardt iterations when refitting a formula's constants.
    seed : int
        Seeds the split, the subsample and the initializations (results are deterministic).
    time_budget : float or None
        Seconds; structures not started before it runs out are skipped.

    Returns
    -------
    DiscoveryResult

    Examples
    --------
    >>> import torch
    >>> x = torch.rand(400, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64) + 1
    >>> y = x[:, 0] ** 2 + torch.sin(x[:, 1])
    >>> result = discover((x, y), ["a", "b"], steps=20, time_budget=60)
    >>> result.best.expr, result.best.test_r2 > 0.999999
    (a**2 + sin(b), True)
    """
    started = time.perf_counter()
    dataset = _split(data, test_fraction, seed)
    if dataset.n_out != 1:
        raise ValueError(f"discover fits one output; y has {dataset.n_out} columns")
    n = dataset.n_in
    names = [f"x_{i + 1}" for i in range(n)] if var_names is None else list(var_names)
    if len(names) != n or len(set(names)) != n or not all(isinstance(v, str) for v in names):
        raise ValueError(f"var_names must be {n} distinct strings, got {var_names!r}")
    for label, value, low in (("steps", steps, 1), ("max_train", max_train, 10),
                              ("grid", grid, 1), ("refine_grid", refine_grid, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{label} must be an int >= {low}, got {value!r}")
    if time_budget is not None and not time_budget > 0:
        raise ValueError(f"time_budget must be > 0 seconds or None, got {time_budget!r}")
    library = resolve_library(lib)
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(dataset.train_input.shape[0], generator=generator)[:max_train]
    x, y = dataset.train_input[order], dataset.train_label[order, 0]
    n_val = max(1, x.shape[0] // 5)
    search = _Search(
        symbols=[sympy.Symbol(v, real=True) for v in names],
        fit_x=x[n_val:], fit_y=y[n_val:], val_x=x[:n_val], val_y=y[:n_val],
        test_x=dataset.test_input, test_y=dataset.test_label[:, 0], library=library,
        options={"steps": steps, "lamb": lamb, "grid": grid, "refine_grid": refine_grid,
                     "weight_simple": weight_simple, "grid_number": grid_number,
                     "alternatives": alternatives, "alternative_gap": alternative_gap,
                     "polish_steps": polish_steps, "seed": seed, "max_symbolic": 1000},
        deadline=started + (math.inf if time_budget is None else time_budget),
        probe_x=_probe(x, seed),
    )
    _explore(search, hidden, split=True)
    search.start_branch(math.inf)
    ranked, everything = _rank(list(search.found.values()), float(search.val_y.std()))
    return DiscoveryResult(ranked, everything, tuple(search.symbols),
                           time.perf_counter() - started, tuple(search.log))
