"""Size and cheap normal forms of sympy expressions: :func:`expression_complexity` counts
the nodes of an expression tree, :func:`simplify_formula` keeps the shortest of a few forms."""

from __future__ import annotations

import sympy

__all__ = ["expression_complexity", "simplify_formula"]


def simplify_formula(expr: sympy.Expr, full: bool = False, max_ops: int = 50) -> sympy.Expr:
    """The shortest (by :func:`expression_complexity`) of a few cheap normal forms.

    The forms are ``expr`` itself, ``expand_power_exp`` (``exp(a + b)`` ->
    ``exp(a) * exp(b)``, so that ``exp(p * log(x))`` becomes ``x**p``), ``powsimp`` of that
    and ``factor_terms``. ``full=True`` adds ``sympy.simplify`` for expressions of at most
    ``max_ops`` operations (it can take minutes on products of sums with floats).

    >>> t = sympy.Symbol("t", positive=True)
    >>> simplify_formula(2.0 * sympy.exp(3 * sympy.log(t) + 0.5 * t))
    2.0*t**3*exp(0.5*t)
    """
    candidates = [expr]
    try:
        split = sympy.expand_power_exp(expr)
        candidates += [split, sympy.powsimp(split), sympy.factor_terms(expr)]
        if full and sympy.count_ops(expr) <= max_ops:
            candidates.append(sympy.simplify(expr))
    except (TypeError, ValueError, RecursionError, NotImplementedError):  # sympy corner cases
        pass
    return min(candidates, key=expression_complexity)


def expression_complexity(expr: sympy.Expr) -> int:
    """Number of nodes of the expression tree (symbols, numbers and operations).

    >>> t = sympy.Symbol("t")
    >>> expression_complexity(2 * sympy.sin(t) + 1)
    6
    """
    return sum(1 for _ in sympy.preorder_traversal(sympy.sympify(expr)))
