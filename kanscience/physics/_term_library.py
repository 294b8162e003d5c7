"""Term libraries: build a list of candidate terms, then clean it.

:func:`polynomial_terms` gives all monomials up to a degree (the plain library, next to
the terms read off a KAN by :func:`kanscience.physics.edge_candidates`).
:func:`unique_terms` and :func:`independent_terms` clean a term list (symbolic duplicates,
then numerical linear dependence such as ``log(J**2)`` next to ``log(J)``), so that the
sparse solves of :mod:`kanscience.physics._sparse` see each direction once.

Examples
--------
>>> import sympy
>>> polynomial_terms(sympy.symbols("x y"), 2)
[x, y, x**2, x*y, y**2]
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import sympy
import torch
from torch import Tensor

from ..symbolic import formula_to_torch
from ._expressions import as_symbols, split_terms

__all__ = ["independent_terms", "polynomial_terms", "unique_terms"]


def polynomial_terms(
    variables: Sequence[str | sympy.Symbol], degree: int, include_constant: bool = False
) -> list[sympy.Expr]:
    """All monomials of ``variables`` with total degree 1..``degree`` (and 1 if asked)."""
    symbols = as_symbols(variables)
    if isinstance(degree, bool) or not isinstance(degree, int) or degree < 1:
        raise ValueError(f"degree must be an int >= 1, got {degree!r}")
    terms: list[sympy.Expr] = [sympy.S.One] if include_constant else []
    for d in range(1, degree + 1):
        for combo in itertools.combinations_with_replacement(symbols, d):
            terms.append(sympy.Mul(*combo))
    return terms


def unique_terms(
    expressions: Sequence[sympy.Expr], variables: Sequence[str | sympy.Symbol]
) -> list[sympy.Expr]:
    """The distinct non-constant terms of ``expressions`` (each split into its terms,
    numeric coefficients dropped), in order of first appearance.

    >>> q = sympy.Symbol("q")
    >>> unique_terms([-sympy.cos(q), 2 * q + sympy.cos(q), 3], [q])
    [cos(q), q]
    """
    terms: list[sympy.Expr] = []
    for expr in expressions:
        for _, term in split_terms(expr, variables):
            if term != 1 and term not in terms:
                terms.append(term)
    return terms


def independent_terms(
    terms: Sequence[sympy.Expr],
    variables: Sequence[str | sympy.Symbol],
    x: Tensor,
    tol: float = 1e-8,
) -> list[sympy.Expr]:
    """Drop terms that are (numerically, on samples ``x``) a linear combination of simpler
    ones and a constant, e.g. ``log(J**2)`` next to ``log(J)`` or ``sin(q + pi/2)`` next to
    ``cos(q)``; non-finite terms are dropped too. Simpler = fewer sympy operations.

    >>> q = sympy.Symbol("q", positive=True)
    >>> independent_terms([sympy.log(q**2), sympy.log(q), q], [q],
    ...                   torch.linspace(1, 2, 20, dtype=torch.float64)[:, None])
    [q, log(q)]
    """
    symbols = as_symbols(variables)
    order = sorted(range(len(terms)), key=lambda k: (sympy.count_ops(terms[k]), k))
    basis = [torch.ones(x.shape[0], dtype=torch.float64) / x.shape[0] ** 0.5]
    kept = []
    for k in order:
        values = formula_to_torch(sympy.sympify(terms[k]), symbols)(x.to(torch.float64))
        if not bool(torch.isfinite(values).all()) or float(values.norm()) == 0:
            continue
        values = values / values.norm()
        q = torch.stack(basis, 1)
        rest = values - q @ (q.T @ values)
        if float(rest.norm()) > tol:
            basis.append(rest / rest.norm())
            kept.append(terms[k])
    return kept
