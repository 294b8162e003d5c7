"""Compare a recovered law with a reference, term by term, up to a scale.

:func:`compare_laws` splits both expressions into terms (coefficients free of the
variables), finds the scale ``a`` with ``expr ~ a * truth`` from the largest reference term,
and reports the worst relative coefficient error over the reference's terms, the largest
spurious term (one the reference lacks) relative to the largest coefficient, and whether
the two are exactly equal after scaling (sympy).

Examples
--------
>>> import sympy
>>> x, p = sympy.symbols("x p")
>>> c = compare_laws(2.01 * x**2 + 2 * p**2 + 0.001 * x, (x**2 + p**2) / 2, [x, p])
>>> round(c.coefficient_error, 4), round(c.spurious, 4), c.exact
(0.005, 0.0005, False)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import sympy

from ._expressions import split_terms

__all__ = ["LawComparison", "compare_laws"]


@dataclass(frozen=True)
class LawComparison:
    """Result of :func:`compare_laws`.

    Attributes
    ----------
    scale : float
        ``a`` in ``expr ~ a * truth`` (1 when ``scaled`` is False).
    coefficient_error : float
        Largest ``|c_expr / a - c_truth| / |c_truth|`` over the reference's terms (1 for a
        missing term).
    spurious : float
        Largest ``|c|`` of a term absent from the reference, relative to the largest
        ``|c|`` of ``expr``.
    exact : bool
        ``expr - a * truth`` simplifies to 0 (with ``a`` rational when it is one).
    missing, extra : tuple of sympy.Expr
        Reference terms absent from ``expr``; terms of ``expr`` absent from the reference.
    """

    scale: float
    coefficient_error: float
    spurious: float
    exact: bool
    missing: tuple[sympy.Expr, ...]
    extra: tuple[sympy.Expr, ...]


def compare_laws(
    expr: sympy.Expr,
    truth: sympy.Expr,
    variables: Sequence[str | sympy.Symbol],
    scaled: bool = True,
    ignore_constant: bool = False,
) -> LawComparison:
    """Term-by-term comparison of ``expr`` with ``truth`` (see the module docstring).

    Parameters
    ----------
    expr, truth : sympy.Expr
    variables : list of str or sympy.Symbol
        Symbols matched by name.
    scaled : bool
        Allow ``expr = a * truth`` (laws defined up to a factor).
    ignore_constant : bool
        Leave the constant term out of the comparison (laws defined up to ``+ b``).
    """
    names = [str(v) for v in variables]
    # the free symbols of an expression are Symbols (sympy types them as Basic)
    free = cast(
        "set[sympy.Symbol]", sympy.sympify(expr).free_symbols | sympy.sympify(truth).free_symbols
    )
    rename = {s: sympy.Symbol(s.name) for s in free if s.name in names}
    expr = cast(sympy.Expr, sympy.sympify(expr).xreplace(rename))
    truth = cast(sympy.Expr, sympy.sympify(truth).xreplace(rename))
    plain = [sympy.Symbol(n) for n in names]
    mine = {t: c for c, t in split_terms(expr, plain)}
    reference = {t: c for c, t in split_terms(truth, plain)}
    if ignore_constant:
        mine.pop(sympy.S.One, None)
        reference.pop(sympy.S.One, None)
    if not reference:
        raise ValueError("truth has no term to compare with")
    leading = max(reference, key=lambda t: abs(float(reference[t])))
    scale = sympy.S.One
    if scaled and leading in mine and mine[leading] != 0:
        scale = sympy.nsimplify(mine[leading] / reference[leading], rational=False)
    a = float(scale)
    errors = [
        abs(float(mine[t]) / a - float(c)) / abs(float(c)) if t in mine else 1.0
        for t, c in reference.items()
    ]
    top = max((abs(float(c)) for c in mine.values()), default=0.0)
    extra = tuple(t for t in mine if t not in reference)
    spurious = max((abs(float(mine[t])) / top for t in extra), default=0.0) if top else 0.0
    missing = tuple(t for t in reference if t not in mine)
    exact_scale = scale if not scale.atoms(sympy.Float) else sympy.nsimplify(scale)
    difference = sympy.expand(
        sum(c * t for t, c in mine.items()) - exact_scale * sum(c * t for t, c in reference.items())
    )
    exact = difference == 0 or sympy.simplify(difference) == 0
    return LawComparison(a, max(errors), spurious, bool(exact), missing, extra)
