"""A stress law from :func:`kanscience.discover.discover`, refitted, pruned and verified.

The symbolic search runs on the stress itself and, when it finds no law there, on the
stress times each positive auxiliary variable ``a`` and its inverse (stress measures
differ by such factors: the Cauchy stress is the Kirchhoff stress over ``J = det F``), in
that order: a scaling adds a factor to the law, so the plain stress comes first. Every
formula of a search's Pareto front is divided back by its scaling, its logarithms of
products split (``log(c J) = log c + log J``), and its coefficients refitted on the
fitting samples by least squares (all constants by Levenberg-Marquardt where a term
keeps one inside); a formula that does not explain the data is tried with one term's
non-polynomial factors replaced by their low-degree monomials (a small-argument stand-in,
:mod:`kanscience.physics._constitutive_taylor`); terms are then dropped while the law still
explains the data, and the constants snapped to simple fractions where that keeps it so.

A formula *explains* the data when its residuals are at rounding level (RMSE at most
:data:`EXACT` of the stress's spread) or indistinguishable from noise: no correlation
with the residuals of neighbouring samples (the test of :mod:`kanscience.discover`), and
an error on the held-out samples no larger than on the fitting ones beyond the sampling
error of a mean square. The law is the simplest formula that explains the data; when none
does, there is no law, and the reason says how far the most accurate formula is.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import cast

import sympy
import torch
from torch import Tensor

from ..discover import (
    STRUCTURE_Z,
    NeighbourGraph,
    discover,
    neighbour_graph,
    residual_structure,
)
from ..symbolic import expression_complexity, fit_constants
from ._constitutive_taylor import taylor_replacements
from ._expressions import combine_terms, split_terms, term_matrix
from ._snap import snap_expression
from ._term_library import independent_terms

__all__ = ["EXACT", "FeatureSet", "LawFit", "LawSearch", "search_stress_law"]

_LOG = logging.getLogger(__name__)

EXACT = 1e-9
"""RMSE, relative to the target's spread, below which a formula fits to rounding error
(the numerical exactness of :func:`kanscience.discover.discover`)."""


@dataclass(frozen=True)
class LawFit:
    """One refitted formula and its checks.

    Attributes
    ----------
    law : sympy.Expr
        Snapped where that kept it explaining the data, else as fitted.
    fitted : sympy.Expr
        Coefficients as refitted.
    scaling : sympy.Expr
        The factor the search's target was multiplied by (1: the stress itself).
    rmse, fit_rmse : float
        On the held-out samples and on the fitting samples.
    relative_rmse : float
        ``rmse`` over the spread (standard deviation) of the stress.
    r2 : float
        ``R^2`` on the held-out samples.
    structure : float
        z-score of the residuals' neighbour correlation (below 3: no structure).
    n_terms : int
        Terms of the expanded law (a constant counts as one).
    complexity : int
        :func:`kanscience.symbolic.expression_complexity` of ``law``.
    explains : bool
        Whether the law explains the data (see the module docstring).
    """

    law: sympy.Expr
    fitted: sympy.Expr
    scaling: sympy.Expr
    rmse: float
    fit_rmse: float
    relative_rmse: float
    r2: float
    structure: float
    n_terms: int
    complexity: int
    explains: bool


@dataclass
class LawSearch:
    """Every formula refitted, the chosen one (None when none explains the data) and the
    search's log."""

    chosen: LawFit | None = None
    fits: list[LawFit] = field(default_factory=list)
    formulas: list[sympy.Expr] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    reason: str = ""


@dataclass(frozen=True)
class _Data:
    symbols: list[sympy.Symbol]
    x: Tensor
    y: Tensor
    train: Tensor
    test: Tensor
    graph: NeighbourGraph
    spread: float


def _values(expr: sympy.Expr, data: _Data, rows: Tensor | None = None) -> Tensor:
    x = data.x if rows is None else data.x[rows]
    with torch.no_grad():
        value = term_matrix([expr], data.symbols, x)[:, 0]
    return value


def _expanded(expr: sympy.Expr, data: _Data) -> sympy.Expr:
    """``expr`` as a sum of terms, logarithms of products split, where that keeps its
    values on the data (a factor inside a logarithm may be negative)."""
    try:
        trial = cast(sympy.Expr, sympy.expand(sympy.expand_log(expr, force=True)))
        before, after = _values(expr, data), _values(trial, data)
    except (ValueError, TypeError, RuntimeError, OverflowError, AttributeError):
        return expr
    scale = float(before.abs().max()) if before.numel() else 0.0
    if bool(torch.isfinite(after).all()) and float((after - before).abs().max()) <= 1e-9 * (
        1 + scale
    ):
        return trial
    return expr


def _linear_refit(pairs: list[tuple[sympy.Expr, sympy.Expr]], data: _Data) -> sympy.Expr | None:
    """The terms of ``pairs`` with coefficients by least squares on the fitting samples."""
    terms = [t for _, t in pairs]
    design = term_matrix(terms, data.symbols, data.x[data.train])
    if not bool(torch.isfinite(design).all()):
        return None
    solution = torch.linalg.lstsq(design, data.y[data.train, None]).solution[:, 0]
    if not bool(torch.isfinite(solution).all()):
        return None
    return combine_terms([(sympy.Float(float(c), 15), t) for c, t in zip(solution, terms)])


def _check(expr: sympy.Expr, fitted: sympy.Expr, scaling: sympy.Expr, data: _Data) -> LawFit:
    try:
        prediction = _values(expr, data)
    except (ValueError, TypeError, RuntimeError, OverflowError):
        prediction = torch.full_like(data.y, math.nan)
    residual = prediction - data.y
    finite = bool(torch.isfinite(residual).all())
    rmse = float(residual[data.test].pow(2).mean().sqrt()) if finite else math.inf
    fit_rmse = float(residual[data.train].pow(2).mean().sqrt()) if finite else math.inf
    y_test = data.y[data.test]
    total = float((y_test - y_test.mean()).pow(2).sum().clamp_min(1e-300))
    r2 = 1 - float(residual[data.test].pow(2).sum()) / total if finite else -math.inf
    structure = residual_structure(residual, data.graph) if finite else math.inf
    exact = rmse <= EXACT * data.spread
    # held-out error within three standard errors of a mean square of the fitting error
    generalizes = rmse**2 <= fit_rmse**2 * (1 + 3 * math.sqrt(2 / len(data.test)))
    explains = finite and (exact or (structure < STRUCTURE_Z and generalizes))
    n_terms = len(split_terms(expr, data.symbols))
    return LawFit(
        expr,
        fitted,
        scaling,
        rmse,
        fit_rmse,
        rmse / data.spread if data.spread > 0 else math.inf,
        r2,
        structure,
        n_terms,
        expression_complexity(expr),
        explains,
    )


def _refit(expr: sympy.Expr, scaling: sympy.Expr, data: _Data) -> LawFit | None:
    """Refit, prune and snap one formula of the search (see the module docstring)."""
    law = _expanded(cast(sympy.Expr, expr / scaling), data)
    pairs = split_terms(law, data.symbols)
    if not pairs:
        return None
    fitted = _linear_refit(pairs, data)
    if fitted is None:
        return None
    best = _check(fitted, fitted, scaling, data)
    inner = any(t.atoms(sympy.Float) for _, t in pairs)
    if not best.explains and inner:
        try:  # constants inside the terms: all of them jointly
            joint = fit_constants(fitted, data.symbols, data.x[data.train], data.y[data.train])
            trial = _check(joint, joint, scaling, data)
            if trial.rmse < best.rmse:
                best = trial
        except (ValueError, RuntimeError, TypeError):
            pass
    if not best.explains:
        best = _taylor_repaired(expr, scaling, data) or best
    return _pruned(best, data) if best.explains else best


def _taylor_repaired(expr: sympy.Expr, scaling: sympy.Expr, data: _Data) -> LawFit | None:
    """The formula with one term's non-polynomial factors replaced by their low-degree
    monomials (:mod:`kanscience.physics._constitutive_taylor`), costliest term first, where
    the refitted law then explains the data; None when no replacement does."""
    terms = [t for _, t in split_terms(_expanded(expr, data), data.symbols)]
    for k in sorted(range(len(terms)), key=lambda k: -expression_complexity(terms[k])):
        offered = taylor_replacements(terms[k], data.symbols)
        if not offered:
            continue
        kept = terms[:k] + terms[k + 1 :]
        kept += [t for t in offered if t not in kept]
        law = _expanded(cast(sympy.Expr, sympy.Add(*kept) / scaling), data)
        fitted = _linear_refit(split_terms(law, data.symbols), data)
        if fitted is None:
            continue
        trial = _check(fitted, fitted, scaling, data)
        if trial.explains:
            return trial
    return None


def _pooled(formulas: Sequence[sympy.Expr], scaling: sympy.Expr, data: _Data) -> LawFit | None:
    """One law from the terms of all ``formulas`` (a search's front) together: a front
    often holds the right terms spread over several formulas, each with a stand-in for
    the others (``cos(a x)`` for a missing ``x^2``); refitted jointly and pruned, the
    stand-ins go."""
    terms: dict[sympy.Expr, None] = {}
    for expr in formulas:
        law = _expanded(cast(sympy.Expr, expr / scaling), data)
        terms.update((t, None) for _, t in split_terms(law, data.symbols))
    # near-copies of simpler terms (cos(a x) next to 1 and x^2 for a small a) would let
    # the least squares cancel them against each other: keep the simplest independent ones
    pool = independent_terms(list(terms), data.symbols, data.x[data.train])
    if not pool:
        return None
    fitted = _linear_refit([(sympy.S.One, t) for t in pool], data)
    if fitted is None:
        return None
    fit = _check(fitted, fitted, scaling, data)
    return _pruned(fit, data) if fit.explains else fit


def _pruned(fit: LawFit, data: _Data) -> LawFit:
    """Drop terms, costliest first, while the refitted rest still explains the data."""
    changed = True
    while changed and fit.n_terms > 1:
        changed = False
        pairs = split_terms(fit.fitted, data.symbols)
        for k in sorted(range(len(pairs)), key=lambda k: -expression_complexity(pairs[k][1])):
            rest = _linear_refit(pairs[:k] + pairs[k + 1 :], data)
            if rest is None:
                continue
            trial = _check(rest, rest, fit.scaling, data)
            if trial.explains:
                fit, changed = trial, True
                break
    return fit


def _snapped(fit: LawFit, data: _Data, rel_tol: float, denominator: int) -> LawFit:
    snapped, _ = snap_expression(fit.fitted, rel_tol, denominator)
    if snapped == fit.fitted:
        return fit
    trial = _check(cast(sympy.Expr, snapped), fit.fitted, fit.scaling, data)
    equally_good = trial.rmse <= max(
        fit.rmse * (1 + 2 * math.sqrt(2 / len(data.test))), EXACT * data.spread
    )
    if trial.explains == fit.explains and equally_good:
        return trial
    return fit


def _scalings(aux: Sequence[sympy.Symbol], data: _Data) -> list[tuple[sympy.Expr, Tensor]]:
    """``(factor, values)``: 1, then each one-signed auxiliary variable and its inverse."""
    out: list[tuple[sympy.Expr, Tensor]] = [(sympy.S.One, torch.ones_like(data.y))]
    for symbol in aux:
        values = data.x[:, data.symbols.index(symbol)]
        if bool((values > 0).all()) or bool((values < 0).all()):
            out += [(symbol, values), (1 / symbol, 1 / values)]
    return out


@dataclass(frozen=True)
class FeatureSet:
    """Inputs of the symbolic search: ``names`` (valid identifiers), what each stands for
    in the law's symbols (``exprs``) and their values (n, len(names))."""

    names: list[str]
    exprs: list[sympy.Expr]
    values: Tensor


def _in_law_symbols(expr: sympy.Expr, features: FeatureSet) -> sympy.Expr:
    by_name = dict(zip(features.names, features.exprs))
    found = [s for s in expr.free_symbols if isinstance(s, sympy.Symbol)]
    return cast(sympy.Expr, expr.xreplace({s: by_name[s.name] for s in found}))


def search_stress_law(
    x: Tensor,
    y: Tensor,
    symbols: list[sympy.Symbol],
    aux: Sequence[sympy.Symbol],
    feature_sets: Sequence[FeatureSet],
    train: Tensor,
    test: Tensor,
    *,
    time_budget: float,
    snap_tol: float,
    max_denominator: int,
    seed: int,
) -> LawSearch:
    """The simplest formula that explains ``y`` (see the module docstring).

    The searches run in two rounds, each over the feature sets in order and, for each,
    over the scalings of the target: a quick one (a quarter of ``time_budget``: the
    sparse sums and additive structures of the search) and a full one; the first
    search whose front holds a formula that explains the data ends it.

    Parameters
    ----------
    x : Tensor (n, d)
        The law's variables (``symbols``, the auxiliary ones among them).
    y : Tensor (n,)
    symbols : list of sympy.Symbol
    aux : sequence of sympy.Symbol
        The auxiliary variables whose powers may scale the target.
    feature_sets : sequence of FeatureSet
        Inputs of the search, tried in order.
    train, test : Tensor
        Row indices: the searches and every refit see only ``train``.
    time_budget : float
        Seconds of one full symbolic search.
    snap_tol, max_denominator : snapping of the constants.
    seed : int
    """
    spread = float(y[train].std())
    data = _Data(symbols, x, y, train, test, neighbour_graph(x), spread)
    result = LawSearch()
    scalings = _scalings(aux, data)
    searches = [
        (budget, features, factor, values)
        for budget in (time_budget / 4, time_budget)
        for features in feature_sets
        for factor, values in scalings
    ]
    for k, (budget, features, factor, values) in enumerate(searches):
        started = time.perf_counter()
        found = discover(
            (features.values[train], (y * values)[train]),
            features.names,
            time_budget=budget,
            seed=seed + k,
        )
        _LOG.info("search %d (%.0f s budget) took %.1f s", k, budget, found.seconds)
        front = [_in_law_symbols(sympy.sympify(c.expr), features) for c in found.candidates]
        result.formulas += [cast(sympy.Expr, expr / factor) for expr in front]
        refitted = [_refit(expr, factor, data) for expr in front] + [_pooled(front, factor, data)]
        fits = [_snapped(f, data, snap_tol, max_denominator) for f in refitted if f is not None]
        result.fits += fits
        passing = [f for f in fits if f.explains]
        result.log.append(
            f"stress * {factor} on {len(features.names)} features ({budget:.0f} s): "
            f"{len(found.candidates)} formulas, {len(passing)} explain the data "
            f"({time.perf_counter() - started:.1f} s)"
        )
        _LOG.info(result.log[-1])
        if passing:
            result.chosen = min(passing, key=lambda f: (f.complexity, f.rmse))
            return result
    if not result.fits:
        result.reason = "the symbolic search returned no formula that is finite on the data"
        return result
    closest = min(result.fits, key=lambda f: f.rmse)
    result.reason = (
        f"no formula explains the data: the most accurate, {closest.law} ({closest.n_terms} "
        f"terms), leaves a held-out RMSE of {closest.relative_rmse:.2e} of the "
        f"stress's spread with residuals correlated between neighbouring samples "
        f"(z = {closest.structure:.1f}, noise below {STRUCTURE_Z:g})"
    )
    return result
