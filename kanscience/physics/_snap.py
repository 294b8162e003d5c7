"""Fitted constants -> exact ones.

A fitted number is replaced by the *simplest* exact value within a relative tolerance:
``p/q * kappa`` with the smallest denominator ``q <= max_denominator``, trying the
constants ``kappa`` (1 first, then e.g. pi) in order. Simplest-first (not nearest-first)
is what makes snapping safe: 0.41668 becomes 5/12, never 397/953.

Examples
--------
>>> snap_number(0.50004)
1/2
>>> snap_number(3.14161, rel_tol=1e-4)
pi
>>> snap_number(0.123456789) is None
True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import cast

import sympy

from ._expressions import combine_terms, split_terms

__all__ = ["DEFAULT_CONSTANTS", "normalize_scale", "snap_expression", "snap_number"]

DEFAULT_CONSTANTS: tuple[sympy.Expr, ...] = (sympy.S.One, sympy.pi)


def snap_number(
    value: float,
    rel_tol: float = 1e-3,
    max_denominator: int = 24,
    constants: Sequence[sympy.Expr] = DEFAULT_CONSTANTS,
    zero_tol: float = 1e-12,
) -> sympy.Expr | None:
    """The simplest ``p/q * kappa`` within ``rel_tol`` of ``value``, or None.

    Parameters
    ----------
    value : float
    rel_tol : float
        Relative tolerance ``|snapped - value| <= rel_tol * |value|``.
    max_denominator : int
    constants : sequence of sympy numbers
        Tried in order for each denominator (1 should come first).
    zero_tol : float
        ``|value| <= zero_tol`` snaps to 0.

    Returns
    -------
    sympy.Expr or None
    """
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"value must be finite, got {value!r}")
    if rel_tol < 0 or max_denominator < 1:
        raise ValueError(
            f"rel_tol must be >= 0 and max_denominator >= 1, got {rel_tol!r}, {max_denominator!r}"
        )
    if abs(value) <= zero_tol:
        return sympy.S.Zero
    for q in range(1, int(max_denominator) + 1):
        for kappa in constants:
            ratio = value / float(kappa)
            p = round(ratio * q)
            if p != 0 and abs(p / q - ratio) <= rel_tol * abs(ratio):
                return sympy.Rational(p, q) * kappa
    return None


def snap_expression(
    expr: sympy.Expr,
    rel_tol: float = 1e-3,
    max_denominator: int = 24,
    constants: Sequence[sympy.Expr] = DEFAULT_CONSTANTS,
    zero_tol: float = 1e-12,
) -> tuple[sympy.Expr, bool]:
    """Replace every float in ``expr`` by :func:`snap_number`.

    Returns
    -------
    (sympy.Expr, bool)
        The expression (floats that do not snap are kept) and whether all snapped.
    """
    expr = sympy.sympify(expr)
    replacements, complete = {}, True
    for number in expr.atoms(sympy.Float):
        snapped = snap_number(float(number), rel_tol, max_denominator, constants, zero_tol)
        if snapped is None:
            complete = False
        else:
            replacements[number] = snapped
    return cast(sympy.Expr, expr.xreplace(replacements)), complete


def normalize_scale(
    expr: sympy.Expr,
    variables: Sequence[str | sympy.Symbol],
    reference: sympy.Expr | None = None,
    drop_constant: bool = True,
) -> sympy.Expr:
    """``expr`` divided by the coefficient of ``reference`` (default: its first term in
    sympy's order), without its constant term when ``drop_constant``.

    For laws defined up to ``a * expr + b`` (conserved quantities, Lagrangians).
    """
    pairs = split_terms(expr, variables)
    if drop_constant:
        pairs = [(c, t) for c, t in pairs if t != 1]
    if not pairs:
        return sympy.S.Zero
    scale = {t: c for c, t in pairs}.get(reference) if reference is not None else None
    if scale is None:
        scale = pairs[0][0]
    return combine_terms([(c / scale, t) for c, t in pairs])
