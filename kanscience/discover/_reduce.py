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
(``f = x_i^a g(x_i x_j)``): one variable of the pair is replaced by the combination, which
makes the problem separable (``log |f| = a log x_j + log |g|``) in the new variables.

A symmetry or scaling holds when moving along it departs from the law by less than
:data:`CLEAR_SCORE` of the change across it, or by less than :data:`MAX_SCORE` of it and no
more than the surrogate's own error does (twice its validation RMSE).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import cast

import sympy
import torch
from torch import Tensor

from ..structure import PairSymmetry, pair_scalings, pair_symmetries
from ._polish import candidates_from
from ._search import Search, SurrogateModel, add

__all__: list[str] = []


# the weakest broken pair symmetry of the exact development formulas scores 0.016; a
# surrogate's error adds to an exact one's score: a score up to MAX_SCORE is accepted where
# the departure is at the surrogate's error level, one below CLEAR_SCORE always
MAX_SCORE = 0.05
CLEAR_SCORE = 0.005
_OPERATORS = {"difference": "-", "ratio": "/", "product": "*", "sum": "+"}
_KEEP = 3  # formulas of the reduced problem carried back


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
    return pair.score <= CLEAR_SCORE or (pair.score <= MAX_SCORE and departure <= 2 * error)


def reduced_search(search: Search, symmetry: PairSymmetry, deadline: float) -> Search:
    """The problem with columns ``i, j`` replaced by their combination (last column); for
    a scaling, with the one-signed column of the pair kept before it."""
    i, j = symmetry.i, symmetry.j
    keep = [k for k in range(search.fit_x.shape[1]) if k not in (i, j)]
    if symmetry.degree != 0:
        lo, hi = search.fit_x.min(0).values, search.fit_x.max(0).values
        kept = j if symmetry.kind == "ratio" or not bool(lo[i] > 0 or hi[i] < 0) else i
        keep.append(kept)

    def columns(x: Tensor) -> Tensor:
        return torch.cat([x[:, keep], symmetry.combine(x[:, i], x[:, j])[:, None]], 1)

    a, b = search.symbols[i], search.symbols[j]
    combined = sympy.Symbol(f"({a}{_OPERATORS[symmetry.kind]}{b})", real=True)
    return Search(
        symbols=[search.symbols[k] for k in keep] + [combined],
        fit_x=columns(search.fit_x),
        fit_y=search.fit_y,
        val_x=columns(search.val_x),
        val_y=search.val_y,
        test_x=columns(search.test_x),
        test_y=search.test_y,
        library=search.library,
        options=search.options,
        deadline=deadline,
        probe_x=None if search.probe_x is None else columns(search.probe_x),
        target=search.target,
        tolerance=search.tolerance,
        structures=search.structures,
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
    sub = reduced_search(search, symmetry, time.perf_counter() + 0.8 * search.time_left())
    combined = sub.symbols[-1]
    explore(sub, depth=depth - 1)
    source = f"{'scaling' if symmetry.degree else 'symmetry'}{combined}"
    substitution = {combined: symmetry.expression(search.symbols)}
    for candidate in sub.ranked()[:_KEEP]:
        if search.time_left() <= 0:
            break
        expr = cast(sympy.Expr, candidate.expr.xreplace(substitution))
        # as found (the combination kept whole, e.g. (a - b)**2), and polished on this problem
        add(search, expr, f"{source}/{candidate.source}")
        candidates_from(search, expr, f"{source}/{candidate.source}")
    search.log.append(f"{source} (score {symmetry.score:.1e}): {time.perf_counter() - start:.1f}s")
    search.log.extend(f"  {line}" for line in sub.log)
