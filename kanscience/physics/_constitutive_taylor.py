"""Low-degree polynomials offered in place of a law's non-polynomial factors.

A function whose arguments span a small range on the data is, to a part in a thousand or
so, its own Taylor polynomial: ``cos(F12) cos(F13)`` is ``1 - F12^2/2 - F13^2/2`` up to
fourth order, so a symbolic search may return it as a stand-in for a quadratic that it
does not quite reach. When a refitted formula does *not* explain the data, each of its
terms is tried with its non-polynomial factors replaced by the monomials of degree at most
:data:`TAYLOR_DEGREE` in their variables (:func:`taylor_replacements`), times the term's
polynomial factors; the replacement is kept only when the refitted law then explains the
data (on exact data: to rounding error), so a function the data need is never traded for a
polynomial that merely approximates it.

Examples
--------
>>> import sympy
>>> a, b, c = sympy.symbols("a b c", real=True)
>>> taylor_replacements(c * sympy.cos(a) * sympy.cos(b), [a, b, c])
[c, a*c, b*c, a**2*c, a*b*c, b**2*c]
>>> taylor_replacements(a * b**2, [a, b, c])
[]
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import cast

import sympy

__all__ = ["MAX_VARIABLES", "TAYLOR_DEGREE", "taylor_replacements"]

TAYLOR_DEGREE = 2
"""Highest degree of the monomials offered: a smooth function near a point is, to leading
orders, a constant, a linear and a quadratic part."""

MAX_VARIABLES = 3
"""Most variables of a replaced factor (the monomials grow as the square of their number)."""


def taylor_replacements(
    term: sympy.Expr, symbols: Sequence[sympy.Symbol], degree: int = TAYLOR_DEGREE
) -> list[sympy.Expr]:
    """The monomials replacing the non-polynomial factors of ``term``.

    Parameters
    ----------
    term : sympy.Expr
        One term of a law (its coefficient split off).
    symbols : sequence of sympy.Symbol
        The law's variables.
    degree : int
        Highest total degree of the monomials (``>= 1``).

    Returns
    -------
    list of sympy.Expr
        ``m * p`` for each monomial ``m`` of degree ``0..degree`` in the variables of the
        non-polynomial factors (in the order of ``symbols``), ``p`` the product of the
        polynomial factors; empty when ``term`` is a polynomial or its non-polynomial
        factors have more than :data:`MAX_VARIABLES` variables.

    Raises
    ------
    ValueError
        If ``degree`` is not an int ``>= 1``.
    """
    if isinstance(degree, bool) or not isinstance(degree, int) or degree < 1:
        raise ValueError(f"degree must be an int >= 1, got {degree!r}")
    symbols = list(symbols)
    factors = sympy.Mul.make_args(term)
    stand_ins = [f for f in factors if f.free_symbols and not f.is_polynomial(*symbols)]
    if not stand_ins:
        return []
    variables = [s for s in symbols if any(f.has(s) for f in stand_ins)]
    if len(variables) > MAX_VARIABLES:
        return []
    rest = sympy.Mul(*(f for f in factors if f not in stand_ins))
    monomials = [
        sympy.Mul(*combination)
        for power in range(degree + 1)
        for combination in itertools.combinations_with_replacement(variables, power)
    ]
    return [cast(sympy.Expr, m * rest) for m in monomials]
