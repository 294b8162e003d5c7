"""The sparse-sum structure: a (sub)problem as a few library functions of single inputs.

:class:`SparseSum` fits ``y ~ c0 + sum_k c_k f_k(x_{i_k})`` by
:func:`kanscience.symbolic.sparse_sum_fit` (exhaustive over small subsets of library
features, chosen by an information criterion), on ``y`` and, for a one-signed target, on
``log |y|`` (where a sum of logarithms and powers is a product of powers and
exponentials), ``y^2``, ``1 / y`` and ``1 / y^2``, with functions of ``1 / x`` beside those
of ``x`` (:func:`with_reciprocals`). The subsets the fitting rows cannot tell apart are
kept too (:data:`TIES`): the validation rows decide. No network is trained, so it costs
milliseconds; each formula found is then polished, refitted and snapped like any other
(:func:`kanscience.discover._polish.candidates_from`): first those the validation rows
cannot tell from the best, simplest first (on noisy data a law and a few series fit
alike, and only their snapped constants tell them apart), then the rest by error.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import NamedTuple, cast

import sympy
import torch
from torch import Tensor

from ..core import FunctionLibrary, SymbolicFunction
from ..symbolic import sparse_sum_fit
from ._kan_fits import signal_rows
from ._polish import EQUAL_POLISHED, candidates_from
from ._search import Search, add
from ._structure import Context, Structure

__all__ = ["TIES", "SparseSum", "square_root", "with_reciprocals"]

POWER_MARGIN = 10.0
"""On a target of one sign up to noise, its powers are fitted where it exceeds this
multiple of the largest sample of the other sign (a few noise deviations)."""
POLISH_RATIO = 2.0
"""Sparse sums whose validation error exceeds the best one's by more than this factor are
not polished (refitting and snapping cannot bring them near it; on noisy data the sums
that fit up to noise are within a few percent of each other, and all are polished)."""
TIES = 2
"""Subsets a sparse-sum fit cannot tell apart from its choice (on the fitting rows) that
are kept as candidates beside it: the validation rows, several times as many, may
(``1 - x^2`` and ``a + b cos x`` on noisy data)."""


class _Target(NamedTuple):
    """One transformed target of a sparse-sum fit and how its formula maps back."""

    x: Tensor
    y: Tensor
    weights: Tensor
    inverse: Callable[[sympy.Expr], sympy.Expr]
    source: str
    max_terms: int


class _Deferred(NamedTuple):
    """A sparse sum found but not yet polished."""

    error: float  # validation RMSE as fitted
    complexity: int  # library complexity of its terms
    expr: sympy.Expr
    source: str

    def priority(self, equal: float) -> tuple[int, float]:
        """Sort key: the sums within ``equal`` (indistinguishable from the best) first,
        simplest first; then the others by error."""
        return (0, self.complexity) if self.error <= equal else (1, self.error)


def square_root(expr: sympy.Expr, row: dict[sympy.Symbol, float]) -> sympy.Expr:
    """The positive square root of ``expr`` on the data: the root of a polynomial that is a
    perfect square is taken out (``sqrt(chi^2 + 2 chi + 1)`` is ``chi + 1``, with the sign
    that makes it positive at the data ``row``), any other expression is kept under
    ``sqrt``.

    Examples
    --------
    >>> chi = sympy.Symbol("chi", real=True)
    >>> square_root(chi**2 - 2 * chi + 1, {chi: 0.5}), square_root(chi + 1, {chi: 0.5})
    (1 - chi, sqrt(chi + 1))
    """
    # a library term |x| must stay; factoring functions of the variables costs 0.1 s
    if expr.has(sympy.Abs) or not expr.is_polynomial():
        return sympy.sqrt(expr)
    root = cast(sympy.Expr, sympy.powdenest(sympy.sqrt(sympy.factor(expr)), force=True))
    root = cast(sympy.Expr, root.replace(sympy.Abs, lambda inner: inner))  # |u| is +-u here
    if any(not p.exp.is_integer for p in root.atoms(sympy.Pow)):
        return sympy.sqrt(expr)
    try:
        value = float(cast(sympy.Float, root.xreplace(cast(dict, row))))
    except (TypeError, ValueError):
        return sympy.sqrt(expr)
    return -root if value < 0 else root


def with_reciprocals(library: FunctionLibrary) -> FunctionLibrary:
    """``library`` and every function of it applied to ``1 / x`` (one more unit of
    complexity; used where no variable changes sign): which way up a variable enters is
    arbitrary (a dimensionless group
    ``mu B / (k T)`` or its inverse; Arrhenius' ``exp(-E / T)``). The sparse sum drops
    the copies that are already there (``x^2(1/x)`` is ``1/x^2``, ``log(1/x)`` is
    ``-log x``)."""
    reciprocals = [
        SymbolicFunction(
            f"{name}(1/x)",
            lambda x, f=fn.torch_fn: f(1 / x),
            lambda e, f=fn.sympy_fn: f(1 / e),
            fn.complexity + 1,
            lambda x, y_th, f=fn.torch_fn: f(1 / x),
        )
        for name, fn in library.items()
        if "(1/x)" not in name
    ]
    return library.with_functions(*reciprocals)


class SparseSum(Structure):
    """``c0 + sum_k c_k f_k(x_{i_k})`` with a few library terms (each one
    function of one input, or a product of two of different inputs), on ``y`` and, for a
    one-signed target, on ``log |y|``, ``y^2``, ``1 / y`` and ``1 / y^2``; applies to
    every problem.

    Parameters
    ----------
    max_terms : int, optional
        Largest number of terms of a sum; default 3, and on ``log |y|`` one per variable
        (a monomial in every variable is a sum of their logarithms) up to 5.
    """

    name, direct = "sparse-sum", True

    def __init__(self, max_terms: int | None = None) -> None:
        self.max_terms = max_terms

    def applies(self, context: Context) -> bool:
        return context.n >= 1

    def _targets(self, search: Search, context: Context) -> list[_Target]:
        """``y`` and, when usable, ``log |y|``, ``y^2``, ``1 / y`` and ``1 / y^2`` (on the
        rows where ``y`` is signal, for a target of one sign only up to noise). The weights make
        errors of equal size on ``y`` count equally on the transformed target
        (``1 / g'(y)^2`` for ``g(y)``); on ``log |y|`` a monomial in every variable is a
        sum of one term per variable, so up to five terms are allowed there. Where the
        noise of ``y`` is not of equal size (:attr:`Search.fit_weight`), its weights
        multiply these."""
        x, y = search.fit_x, search.fit_y
        w = torch.ones_like(y) if search.fit_weight is None else search.fit_weight

        def on(rows: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
            return (x, y, w) if rows is None else (x[rows], y[rows], w[rows])

        terms = self.max_terms or 3
        targets = [_Target(x, y, w, lambda e: e, self.name, terms)]
        if not context.has_log:
            return targets
        # one-signed (up to noise: then on the rows where y is signal)
        _, target, inverse, sign = context.transforms[1]
        log_x, log_y, log_w = on(context.rows)
        log_terms = self.max_terms or min(max(3, context.n), 5)
        name = f"{self.name}(log)"
        targets.append(_Target(log_x, target, log_w * log_y**2, inverse, name, log_terms))
        # powers of a sparse sum; on noisy data where y is well above the noise (near it,
        # the noise biases 1 / y: by sigma^2 / y^3)
        strong = None if context.rows is None else signal_rows(y, margin=POWER_MARGIN)
        if context.rows is not None and strong is None:
            return targets
        px, py, pw = on(strong)
        row = {v: float(c) for v, c in zip(search.symbols, px[0], strict=True)}
        root = lambda e, s=sign: s * square_root(e, row)  # noqa: E731
        targets.append(_Target(px, py**2, pw / py**2, root, f"{self.name}(y^2)", terms))
        targets.append(_Target(px, 1 / py, pw * py**4, lambda e: 1 / e, f"{self.name}(1/y)", terms))
        inverse_root = lambda e, s=sign: s / square_root(e, row)  # noqa: E731
        targets.append(
            _Target(px, py**-2, pw * py**6 / 4, inverse_root, f"{self.name}(1/y^2)", terms)
        )
        return targets

    def propose_and_fit(self, search: Search, context: Context) -> None:
        start = time.perf_counter()
        targets = self._targets(search, context)
        x = search.fit_x
        one_signed = bool(((x > 0).all(0) | (x < 0).all(0)).all())
        # functions of 1 / x in sums of single functions, and in products only after the
        # products without them (they would crowd simpler functions out of the pool)
        reciprocal = with_reciprocals(search.library) if one_signed else search.library
        passes = [(reciprocal, False), (search.library, True)]
        if one_signed:
            passes.append((reciprocal, True))
        # sums of single functions on every target (milliseconds each: all are fitted,
        # since a series may explain the data on y and the law be exact on 1 / y^2), then
        # with products of two (a larger pool, slower to screen; skipped once a fit is
        # exact); a fit is polished at once when it explains the data, the others
        # afterwards, best first (polishing costs more than fitting)
        deferred, features = [], {}
        best_error = {target.source: math.inf for target in targets}
        for library, interactions in passes:
            # every target of a pass is fitted (milliseconds each) until one is exact to
            # rounding: a series may solve the search on y or 1 / y while the law is
            # exact on 1 / y^2; on measured data a pass after one that solved it is not
            # (more terms, more spurious ones), on a surrogate's data only after an
            # exact fit
            if search.data_error == 0:
                done = search.solved()
            else:
                done = interactions and search.exact_to_rounding()
            if search.time_left() <= 0 or done:
                break
            for target in targets:
                if search.time_left() <= 0 or search.exact_to_rounding():
                    break
                fit = sparse_sum_fit(
                    target.x,
                    target.y,
                    library,
                    max_terms=target.max_terms,
                    interactions=interactions,
                    weights=target.weights,
                    noise=search.data_error,  # a surrogate's error is not to be fitted
                    ties=TIES,
                    cache=features,
                )
                for rank, tied in enumerate((fit, *fit.ties)):
                    if not tied.terms or (interactions and all(len(t) == 1 for t in tied.terms)):
                        continue
                    expr = target.inverse(tied.expression(search.symbols))
                    source = target.source if rank == 0 else f"{target.source}/tie{rank}"
                    error = add(search, expr, source)
                    best_error[target.source] = min(best_error[target.source], error)
                    explains = error <= max(search.target, search.as_good_as(search.best_error()))
                    if rank == 0 and explains and search.solved():
                        candidates_from(search, expr, source)
                    else:
                        deferred.append(_Deferred(error, tied.complexity, expr, source))
        on_log = best_error.get(f"{self.name}(log)", math.inf)
        context.log_first = on_log < best_error[self.name]
        # the sums the validation rows cannot tell from the best first, simplest first:
        # on noisy data several fit equally, and their snapped constants tell them apart
        # (a few are polished even once the search is solved); then the rest by error
        equal = search.indistinguishable()
        unique: dict[str, _Deferred] = {}
        for item in deferred:  # the first of equal formulas (its source names its target)
            unique.setdefault(sympy.srepr(item.expr), item)
        # sorted() is stable: equally simple sums keep the order they were found in
        ranked = sorted(unique.values(), key=lambda item: item.priority(equal))
        for position, item in enumerate(ranked):
            chosen = item.error <= equal and position < EQUAL_POLISHED
            if search.time_left() <= 0 or (not chosen and search.solved()):
                break
            # a refit and snaps hardly move a sum fitted by least squares: one several
            # times worse than the best found is not polished (it stays a candidate)
            if item.error > max(search.target, POLISH_RATIO * search.best_error()):
                break
            candidates_from(search, item.expr, item.source)
        first = " (log first)" if context.log_first else ""
        search.log.append(f"{self.name}: {time.perf_counter() - start:.1f}s{first}")
