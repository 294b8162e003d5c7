"""Low-degree polynomials offered in place of a law's single-variable terms.

A function of one variable whose argument spans a small range on the data is, to the
data's precision, its own Taylor polynomial: ``c cos(a x) + d`` with a small ``a x`` is
``c + d - c a^2 x^2 / 2`` up to ``(a x)^4``, so a search may return it as a stand-in for
``x^2`` (and ``sin(a x)`` for ``x``) that passes every check. Each such term is tried
replaced by a constant, ``x`` and ``x^2`` (:func:`replace_stand_ins`): the polynomial
wins, with the powers it does not need dropped, whenever it explains the data as well
and is no more complex; the function stays when the data tell the two apart.

Examples
--------
>>> import sympy
>>> x, y = sympy.symbols("x y", real=True)
>>> polynomial_alternatives([sympy.cos(x / 10), x * y, sympy.log(y), y], [x, y])
[1, x, x**2, y**2]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar, cast

import sympy

from ..symbolic import expression_complexity
from ._expressions import split_terms

__all__ = ["OFFERED_DEGREE", "Checked", "polynomial_alternatives", "replace_stand_ins"]

OFFERED_DEGREE = 2
"""Highest power of a variable offered: a small-argument function of one variable is a
constant plus, to leading order, a linear (odd part) or quadratic (even part) term."""


def polynomial_alternatives(
    terms: Sequence[sympy.Expr], symbols: Sequence[sympy.Symbol], degree: int = OFFERED_DEGREE
) -> list[sympy.Expr]:
    """``1, x, x**2, ..., x**degree`` for the variable ``x`` of each term of ``terms`` that
    is a non-polynomial function of ``x`` alone, in order of first appearance, without the
    powers already among ``terms`` (the constant stands for the Taylor polynomial's).

    Parameters
    ----------
    terms : sequence of sympy.Expr
        A law's terms (coefficients split off).
    symbols : sequence of sympy.Symbol
        The law's variables.
    degree : int
        Highest power offered (``>= 1``).

    Returns
    -------
    list of sympy.Expr
        The powers to offer (empty when no term is a non-polynomial of one variable).
    """
    if isinstance(degree, bool) or not isinstance(degree, int) or degree < 1:
        raise ValueError(f"degree must be an int >= 1, got {degree!r}")
    present = set(terms)
    offered: list[sympy.Expr] = []
    for term in terms:
        variables = [s for s in symbols if term.has(s)]
        if len(variables) != 1 or term.is_polynomial(variables[0]):
            continue
        for power in range(degree + 1):
            candidate = cast(sympy.Expr, variables[0] ** power)
            if candidate not in present and candidate not in offered:
                offered.append(candidate)
    return offered


class Checked(Protocol):
    """A refitted law and its verdict (as :class:`~._constitutive_search.LawFit`)."""

    @property
    def fitted(self) -> sympy.Expr: ...

    @property
    def explains(self) -> bool: ...

    @property
    def complexity(self) -> int: ...


CheckedT = TypeVar("CheckedT", bound=Checked)


def replace_stand_ins(
    fit: CheckedT,
    symbols: Sequence[sympy.Symbol],
    refit: Callable[[list[sympy.Expr]], CheckedT | None],
) -> CheckedT:
    """``fit`` with each non-polynomial one-variable term replaced by low powers of its
    variable where the refitted law still explains the data and is no more complex.

    Terms are tried costliest first; a replacement offers
    :func:`polynomial_alternatives` of the term, then drops each offered power (highest
    first) that the law does not need.

    Parameters
    ----------
    fit : Checked
        A law that explains the data.
    symbols : sequence of sympy.Symbol
        The law's variables.
    refit : callable
        Terms -> the law refitted on them and checked (None when it cannot be fitted).

    Returns
    -------
    Checked
        ``fit`` itself when no replacement is simpler.
    """
    terms = [t for _, t in split_terms(fit.fitted, symbols)]
    for term in sorted(terms, key=lambda t: -expression_complexity(t)):
        offered = [t for t in polynomial_alternatives([term], symbols) if t not in terms]
        if not offered:
            continue
        kept = [t for t in terms if t != term] + offered
        trial = refit(kept)
        if trial is None or not trial.explains:
            continue
        for power in reversed(offered):
            fewer = refit([t for t in kept if t != power])
            if fewer is not None and fewer.explains:
                kept, trial = [t for t in kept if t != power], fewer
        if trial.complexity <= fit.complexity:
            fit, terms = trial, kept
    return fit
