"""Fewer variables by symmetry: a function of ``x_i - x_j``, ``x_i / x_j``, ``x_i x_j`` or
``x_i + x_j``; better variables by a scaling law ``x_j^a g(x_i / x_j)``.

A trained KAN (the most accurate so far) is a surrogate of the data;
:func:`kanscience.structure.pair_symmetries` tests every pair of variables on it. For the
best symmetry that holds, the pair is replaced by its combination, a new variable, and the
smaller problem is searched on the real data (the same targets, one column fewer),
recursively: the smaller problem may split or reduce again. Its best formulas, with the
combination substituted back, are refitted and scored on the original problem.

Where no symmetry holds, :func:`kanscience.structure.pair_scalings` looks for a scaling law
``f(s x_i, s x_j) = s^a f`` (``f = x_j^a g(x_i / x_j)``) or ``f(s x_i, x_j / s) = s^a f``
(``f = x_i^a g(x_i x_j)``). Where ``a`` is a simple number (a multiple of 1/2, within
:data:`DEGREE_TOLERANCE`), the target is divided by ``x_j^a`` and the pair replaced by its
combination: one variable fewer, as for a symmetry. Otherwise one variable of the pair is
replaced by the combination, which makes the problem separable (``log |f| = a log x_j +
log |g|``) in the new variables.

A symmetry or scaling holds when moving along it departs from the law by less than
:data:`CLEAR_SCORE` of the change across it, or by no more than the surrogate's own error
does (twice its departure from the law, :meth:`~kanscience.discover._search.Search.departure`)
and less than :data:`MAX_SCORE` of the change plus what that error adds (an exact law's
score grows with the surrogate's error). On noisy data the departure, not the validation
RMSE, which is mostly the noise's: a pair that changes the law by less than the noise but
more than the surrogate's departure is measured, and a broken symmetry is not accepted
for being hidden by the noise.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import sympy
import torch
from torch import Tensor

from ..structure import PairSymmetry, pair_scalings, pair_symmetries
from ._polish import candidates_from
from ._search import CARRIED, Search, SurrogateModel, add, row_weights

__all__: list[str] = []


# the weakest broken pair symmetry of the exact development formulas scores 0.016; a
# surrogate's error adds to an exact one's score: a score up to MAX_SCORE is accepted where
# the departure is at the surrogate's error level, one below CLEAR_SCORE always
MAX_SCORE = 0.05
CLEAR_SCORE = 0.005
# a scaling law's degree, estimated on the surrogate, is taken as the nearest multiple of 1/2
# when within this of it (the surrogate's error moves the estimate by ~1e-3 at R^2 0.999)
DEGREE_TOLERANCE = 0.05
_OPERATORS = {"difference": "-", "ratio": "/", "product": "*", "sum": "+"}


def holding(search: Search, surrogate: SurrogateModel) -> list[PairSymmetry]:
    """The pair symmetries of ``surrogate`` that hold, best first; else the scaling laws
    that hold."""
    fn, error = surrogate
    x = search.fit_x[:400]
    try:
        found = pair_symmetries(fn, x, noise=error)
        symmetries = [p for p in found if _holds(p, error)]
        if symmetries:
            return symmetries
        found = pair_scalings(fn, x, noise=error)
    except (ValueError, RuntimeError):
        return []
    return [p for p in found if _holds(p, error)]


def _holds(pair: PairSymmetry, error: float) -> bool:
    departure = pair.score * pair.effect
    # the surrogate's error adds up to 2 * error / effect to the score of an exact law
    noisy_max = MAX_SCORE + 2 * error / pair.effect if pair.effect > 0 else MAX_SCORE
    return pair.score <= CLEAR_SCORE or (pair.score <= noisy_max and departure <= 2 * error)


@dataclass(frozen=True)
class Reduction:
    """How a pair symmetry or scaling law rewrites a problem: ``y = factor * g(kept
    columns..., combination)``.

    Attributes
    ----------
    pair : PairSymmetry
    keep : list of int
        Columns of the original problem passed on unchanged (before the combination).
    factor : sympy.Expr
        ``x_k^e`` of a scaling law whose degree is a simple number (the column ``x_k``
        then leaves the problem), else 1.
    factor_column : int or None
        ``k``, the column of the factor (None without one).
    exponent : float
        ``e``, the power of the factor (0 without one).
    """

    pair: PairSymmetry
    keep: list[int]
    factor: sympy.Expr
    factor_column: int | None
    exponent: float


def reduction(search: Search, pair: PairSymmetry) -> Reduction:
    """The rewriting of ``search`` by ``pair`` (see the module docstring): a symmetry
    drops the pair for its combination; a scaling law whose degree is within
    :data:`DEGREE_TOLERANCE` of a multiple of 1/2 divides the target by the power of the
    pair's one-signed (positive, for a fractional power) column and drops the pair too;
    any other scaling law keeps that column beside the combination."""
    i, j = pair.i, pair.j
    keep = [k for k in range(search.fit_x.shape[1]) if k not in (i, j)]
    if pair.degree == 0:
        return Reduction(pair, keep, sympy.Integer(1), None, 0.0)
    lo, hi = search.fit_x.min(0).values, search.fit_x.max(0).values
    kept = j if pair.kind == "ratio" or not bool(lo[i] > 0 or hi[i] < 0) else i
    # f(s x_i, s x_j) = s^a f: f = x_j^a g(x_i / x_j); f(s x_i, x_j / s) = s^a f:
    # f = x_i^a g(x_i x_j) = x_j^-a g(x_i x_j)
    exponent = pair.degree if pair.kind == "ratio" or kept == i else -pair.degree
    simple = round(2 * exponent) / 2
    positive = bool(lo[kept] > 0)
    if abs(exponent - simple) <= DEGREE_TOLERANCE and (positive or simple == round(simple)):
        power = sympy.Rational(round(2 * exponent), 2)
        return Reduction(pair, keep, search.symbols[kept] ** power, kept, float(power))
    return Reduction(pair, [*keep, kept], sympy.Integer(1), None, 0.0)


def reduced_search(search: Search, pair: PairSymmetry, deadline: float) -> Search:
    """The problem rewritten by :func:`reduction`: the kept columns, then the pair's
    combination (last column); the target divided by the factor of a scaling law, its
    rows weighted by the factor squared (and the parent's weights) so that the weighted
    noise stays of equal size."""
    rewrite = reduction(search, pair)
    i, j, keep = pair.i, pair.j, rewrite.keep

    def columns(x: Tensor) -> Tensor:
        return torch.cat([x[:, keep], pair.combine(x[:, i], x[:, j])[:, None]], 1)

    def target(x: Tensor, y: Tensor) -> Tensor:
        if rewrite.factor_column is None:
            return y
        return y / x[:, rewrite.factor_column] ** rewrite.exponent

    def weight(x: Tensor, parent: Tensor | None) -> Tensor | None:
        if rewrite.factor_column is None:
            return parent
        return row_weights(x[:, rewrite.factor_column] ** (2 * rewrite.exponent), parent)

    a, b = search.symbols[i], search.symbols[j]
    combined = sympy.Symbol(f"({a}{_OPERATORS[pair.kind]}{b})", real=True)
    return Search(
        symbols=[search.symbols[k] for k in keep] + [combined],
        fit_x=columns(search.fit_x),
        fit_y=target(search.fit_x, search.fit_y),
        val_x=columns(search.val_x),
        val_y=target(search.val_x, search.val_y),
        test_x=columns(search.test_x),
        test_y=target(search.test_x, search.test_y),
        library=search.library,
        options=search.options,
        deadline=deadline,
        probe_x=None if search.probe_x is None else columns(search.probe_x),
        target=search.target,
        tolerance=search.tolerance,
        structures=search.structures,
        fit_weight=weight(search.fit_x, search.fit_weight),
        val_weight=weight(search.val_x, search.val_weight),
    )


def symmetry_branch(
    search: Search, surrogate: SurrogateModel, depth: int, explore: Callable[..., None]
) -> None:
    """Reduce ``search`` by the best pair symmetry of ``surrogate`` (module docstring);
    ``explore(sub_search, depth=...)`` searches the reduced problem."""
    start = time.perf_counter()
    symmetries = holding(search, surrogate)
    if not symmetries:
        return
    symmetry = symmetries[0]
    factor = reduction(search, symmetry).factor
    sub = reduced_search(search, symmetry, time.perf_counter() + 0.8 * search.time_left())
    combined = sub.symbols[-1]
    explore(sub, depth=max(depth - 1, 0))
    source = f"{'scaling' if symmetry.degree else 'symmetry'}{combined}"
    if factor != 1:
        source = f"{factor}*{source}"
    substitution = {combined: symmetry.expression(search.symbols)}
    for index, candidate in enumerate(sub.ranked()[:CARRIED]):
        if index and search.time_left() <= 0:  # the best one is always assembled
            break
        expr = cast(sympy.Expr, factor * candidate.expr.xreplace(substitution))
        # as found (the combination kept whole, e.g. (a - b)**2), and polished on this problem
        add(search, expr, f"{source}/{candidate.source}")
        candidates_from(search, expr, f"{source}/{candidate.source}")
    search.log.append(f"{source} (score {symmetry.score:.1e}): {time.perf_counter() - start:.1f}s")
    search.log.extend(f"  {line}" for line in sub.log)
