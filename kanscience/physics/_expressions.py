"""The terms of a sum, and the symbols of a law.

:func:`split_terms` splits an expression into ``(coefficient, term)`` pairs (the
coefficient free of the variables), :func:`combine_terms` puts them back together, and
:func:`term_matrix` evaluates a list of terms (and, through autograd, their derivatives) on
samples with :func:`kanscience.symbolic.formula_to_torch`, the project's sympy -> torch path.

Examples
--------
>>> import sympy
>>> q, v = sympy.symbols("q v")
>>> split_terms(3 * q + v**2 / 2, [q, v])
[(3, q), (1/2, v**2)]
"""

from __future__ import annotations

from collections.abc import Sequence

import sympy
import torch
from torch import Tensor

from ..symbolic import formula_to_torch

__all__ = ["as_symbols", "combine_terms", "expression_gradient", "split_terms", "term_matrix"]


def as_symbols(
    variables: Sequence[str | sympy.Symbol], name: str = "variables"
) -> list[sympy.Symbol]:
    """Real sympy symbols for ``variables`` (names or symbols), in order.

    Raises
    ------
    ValueError
        If ``variables`` is empty or names a symbol twice.
    """
    if isinstance(variables, (str, sympy.Symbol)):
        variables = [variables]
    symbols = [
        v if isinstance(v, sympy.Symbol) else sympy.Symbol(str(v), real=True) for v in variables
    ]
    if not symbols or len(set(symbols)) != len(symbols):
        raise ValueError(f"{name} must be distinct names or symbols, got {list(variables)!r}")
    return symbols


def split_terms(
    expr: sympy.Expr, variables: Sequence[str | sympy.Symbol]
) -> list[tuple[sympy.Expr, sympy.Expr]]:
    """``expr`` (expanded) as a list of ``(coefficient, term)``, one per distinct term.

    The coefficient is the part of a product free of ``variables``; a constant is the
    pair ``(c, 1)``. Terms are sorted by sympy's canonical order.
    """
    symbols = set(as_symbols(variables))
    by_name = {str(s) for s in symbols}
    expr = sympy.expand(sympy.sympify(expr))
    collected: dict[sympy.Expr, sympy.Expr] = {}
    for term in sympy.Add.make_args(expr):
        coefficient, rest = sympy.S.One, sympy.S.One
        for factor in sympy.Mul.make_args(term):
            if any(str(s) in by_name for s in factor.free_symbols):
                rest = rest * factor
            else:
                coefficient = coefficient * factor
        collected[rest] = collected.get(rest, sympy.S.Zero) + coefficient
    return sorted(
        ((c, t) for t, c in collected.items() if c != 0), key=lambda p: sympy.default_sort_key(p[1])
    )


def combine_terms(pairs: Sequence[tuple[sympy.Expr | float, sympy.Expr]]) -> sympy.Expr:
    """``sum(c * t for c, t in pairs)`` as one sympy expression."""
    return sympy.Add(*(sympy.sympify(c) * t for c, t in pairs))


def term_matrix(
    terms: Sequence[sympy.Expr], variables: Sequence[sympy.Symbol], x: Tensor
) -> Tensor:
    """Values of ``terms`` on samples ``x``: shape (batch, len(terms)).

    Each term goes through :func:`kanscience.symbolic.formula_to_torch`; the result is
    differentiable in ``x`` (pass ``x`` with ``requires_grad`` to take derivatives).
    """
    symbols = as_symbols(variables)
    columns = [formula_to_torch(t, symbols)(x) for t in terms]
    return torch.stack(columns, 1) if columns else x.new_zeros(x.shape[0], 0)


def expression_gradient(expr: sympy.Expr, variables: Sequence[sympy.Symbol], x: Tensor) -> Tensor:
    """Gradient of ``expr`` with respect to ``variables`` at samples ``x``: (batch, n_vars).

    >>> a, b = sympy.symbols("a b")
    >>> expression_gradient(a**2 * b, [a, b], torch.tensor([[1.0, 2.0]])).tolist()
    [[4.0, 1.0]]
    """
    xg = x.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        value = formula_to_torch(sympy.sympify(expr), as_symbols(variables))(xg)
        if not value.requires_grad:
            return torch.zeros_like(xg)
        (gradient,) = torch.autograd.grad(value.sum(), xg, allow_unused=True)
    return torch.zeros_like(xg) if gradient is None else gradient
