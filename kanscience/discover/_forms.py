"""Canonical forms of discovered formulas, for fitting and for reading.

A formula read off a symbolic KAN has redundant constants (``c (a x + b)^2`` has three for
two degrees of freedom; ``c (a x + b)^p`` and ``c log(a x + b)`` one too many) and forms
that hide its structure. Before its constants are refitted and snapped,
:func:`kanscience.discover._polish.prepare` rewrites it:

- :func:`simplify`: the shortest of a few cheap normal forms, roots of products combined
  (``sqrt(a) sqrt(b) / sqrt(c)`` is ``sqrt(a b / c)``);
- :func:`expand_polynomials`: polynomial parts in monomial form;
- :func:`normalize_scales`: the dominant term (on the data) of every power or logarithm
  of a sum gets the coefficient 1, and a small term stays a free constant, free to
  vanish; on positive variables a dominant monomial of a binomial is factored out, so
  that ``c / sqrt(c^2 / v^2 - 1)`` reads ``v / sqrt(1 - v^2 / c^2)`` (a small parameter).

Positive variables (every sample positive) may be simplified with that assumption: the
result is the same function on the data's domain.
"""

from __future__ import annotations

import itertools
import math
from typing import cast

import sympy
import torch
from torch import Tensor

from ..symbolic import expression_complexity, formula_to_torch, simplify_formula

__all__: list[str] = []

SYMPY_ERRORS = (
    ValueError,
    TypeError,
    RecursionError,
    NotImplementedError,
    AttributeError,
    ZeroDivisionError,
    OverflowError,
)


def _expr_args(expr: sympy.Basic) -> tuple[sympy.Expr, ...]:
    """The arguments of a sum or product (expressions; sympy's stubs say ``Basic``)."""
    return cast("tuple[sympy.Expr, ...]", expr.args)


def positive_symbols(symbols: list[sympy.Symbol], x: Tensor) -> frozenset:
    """The variables positive on every sample of ``x``."""
    return frozenset(s for s, column in zip(symbols, x.T) if bool((column > 0).all()))


def combine_roots(expr: sympy.Expr) -> sympy.Expr:
    """Combine, in every product, the fractional powers of one denominator into one root.

    >>> a, b, c = sympy.symbols("a b c", real=True)
    >>> combine_roots(2 * sympy.sqrt(a) * sympy.sqrt(b) / sympy.sqrt(c))
    2*sqrt(a*b/c)
    """

    def visit(e: sympy.Basic) -> sympy.Basic:
        if not e.args:
            return e
        args = [visit(a) for a in e.args]
        e = e.func(*args) if any(a is not b for a, b in zip(args, e.args)) else e
        if not isinstance(e, sympy.Mul):
            return e
        roots: dict[int, list[sympy.Pow]] = {}
        rest: list[sympy.Expr] = []
        for factor in _expr_args(e):
            if (
                isinstance(factor, sympy.Pow)
                and isinstance(factor.exp, sympy.Rational)
                and not isinstance(factor.exp, sympy.Integer)
                and factor.base.free_symbols
            ):
                roots.setdefault(int(factor.exp.q), []).append(factor)
            else:
                rest.append(factor)
        if all(len(group) < 2 for group in roots.values()):
            return e
        for q, group in roots.items():
            if len(group) < 2:
                rest.extend(group)
                continue
            inner = sympy.Mul(*(f.base ** (f.exp * q) for f in group))
            rest.append(sympy.Pow(inner, sympy.Rational(1, q)))
        return sympy.Mul(*rest)

    try:
        return cast(sympy.Expr, visit(expr))
    except SYMPY_ERRORS:
        return expr


def simplify(expr: sympy.Expr) -> sympy.Expr:
    """The shortest of :func:`kanscience.symbolic.simplify_formula`'s forms of ``expr``,
    with and without :func:`combine_roots`."""
    try:
        forms = [simplify_formula(expr)]
        forms.append(combine_roots(forms[0]))
        return min(forms, key=expression_complexity)
    except SYMPY_ERRORS:
        return expr


def expand_polynomials(
    expr: sympy.Expr, symbols: list[sympy.Symbol], max_degree: int = 4, growth: int = 4
) -> sympy.Expr:
    """Expand every polynomial sub-expression of degree ``<= max_degree`` in ``symbols``
    whose expansion adds at most ``growth`` nodes (bottom-up).

    >>> t = sympy.Symbol("t")
    >>> expand_polynomials(sympy.exp(-0.5 * (2.0 * t + 1.0) ** 2), [t])
    0.606530659712633*exp(-2.0*t**2 - 2.0*t)
    """
    wanted = set(symbols)

    def visit(e: sympy.Basic) -> sympy.Basic:
        if not e.args or not (e.free_symbols & wanted):
            return e
        args = [visit(a) for a in e.args]
        new = e.func(*args) if any(a is not b for a, b in zip(args, e.args)) else e
        if not isinstance(new, (sympy.Add, sympy.Mul, sympy.Pow)):
            return new
        variables = sorted(new.free_symbols & wanted, key=str)
        try:
            if not new.is_polynomial(*variables):
                return new
            expanded = sympy.expand(new)
            degree = sympy.Poly(expanded, *variables).total_degree()
        except (sympy.PolynomialError, *SYMPY_ERRORS):
            return new
        if degree <= max_degree and (
            expression_complexity(expanded) <= expression_complexity(new) + growth
        ):
            return expanded
        return new

    try:
        return cast(sympy.Expr, visit(expr))
    except SYMPY_ERRORS:
        return expr


def _monomial(term: sympy.Expr, positive: frozenset) -> bool:
    """A product of powers of positive variables (and a number)."""
    _, rest = term.as_coeff_Mul()
    factors = sympy.Mul.make_args(rest)
    return bool(rest.free_symbols) and all(
        (f in positive) or (isinstance(f, sympy.Pow) and f.base in positive and f.exp.is_number)
        for f in factors
    )


def _unit(
    base: sympy.Expr, symbols: list[sympy.Symbol], x: Tensor, positive: frozenset
) -> tuple[sympy.Expr, sympy.Expr] | None:
    """``base = k * unit`` with ``k > 0`` and the dominant term of ``unit`` (largest mean
    magnitude on ``x``) exactly +-1, or, for a binomial whose dominant term is a monomial
    of positive variables larger than the other term on every sample, exactly +-1 times
    that monomial; None if there is nothing to do."""
    terms = sympy.Add.make_args(base)
    if len(terms) < 2 or not base.free_symbols:
        return None
    try:
        with torch.no_grad():
            values = [formula_to_torch(t, symbols)(x).abs().expand(x.shape[0]) for t in terms]
    except (ValueError, TypeError, RuntimeError, OverflowError):
        return None
    sizes = [float(v.mean()) for v in values]
    if not all(math.isfinite(v) for v in sizes):
        return None
    index = max(range(len(terms)), key=sizes.__getitem__)
    dominant = terms[index]
    coefficient, monomial = dominant.as_coeff_Mul()
    if coefficient == 0 or not coefficient.is_number:
        return None
    # a monomial is factored out only where it dominates on every sample (else the
    # quotient of the other term by it blows up where the monomial nears 0)
    everywhere = bool((values[index] >= values[1 - index]).all()) if len(terms) == 2 else False
    if len(terms) == 2 and everywhere and _monomial(dominant, positive):
        k = abs(coefficient) * monomial
    elif coefficient.is_Float:
        k = abs(coefficient)
    else:
        return None
    unit = sympy.Add(*(sympy.Float(1.0) * t / k if t.free_symbols else t / k for t in terms))
    return k, cast(sympy.Expr, unit.xreplace({sympy.Float(1.0): sympy.S.One}))


def normalize_scales(
    expr: sympy.Expr, symbols: list[sympy.Symbol], x: Tensor, positive: frozenset = frozenset()
) -> sympy.Expr:
    """Give every power and logarithm of a sum a dominant term (largest on ``x``) with
    coefficient exactly +-1 (bottom-up); with ``positive`` (:func:`positive_symbols`),
    factor a dominant monomial out of a binomial, simplified on the positive domain.

    >>> t = sympy.Symbol("t")
    >>> normalize_scales(3.0 / sympy.sqrt(4.0 * t + 0.04), [t], torch.ones(4, 1))
    1.5/sqrt(t + 0.01)
    >>> c, v = sympy.symbols("c v", real=True)
    >>> x = torch.tensor([[3.0, 1.0], [10.0, 2.0]])
    >>> normalize_scales(c / sympy.sqrt(c**2 / v**2 - 1), [c, v], x, frozenset({c, v}))
    v/sqrt(1 - v**2/c**2)
    """

    def visit(e: sympy.Basic) -> sympy.Basic:
        if not e.args or not e.free_symbols:
            return e
        args = [visit(a) for a in e.args]
        e = e.func(*args) if any(a is not b for a, b in zip(args, e.args)) else e
        if (
            isinstance(e, sympy.Pow)
            and e.base.is_Add
            and not (isinstance(e.exp, sympy.Integer) and e.exp > 0)
        ):
            split = _unit(e.base, symbols, x, positive)
            if split is not None:
                return sympy.Pow(split[0], e.exp) * sympy.Pow(split[1], e.exp)
        if isinstance(e, sympy.log) and isinstance(e.args[0], sympy.Add):
            split = _unit(e.args[0], symbols, x, positive)
            if split is not None:
                return sympy.log(split[0]) + sympy.log(split[1])
        return e

    try:
        out = cast(sympy.Expr, visit(expr))
        if positive:  # powers of positive monomials combine (sqrt(c^2 / v^2) is c / v)
            twins = {s: sympy.Symbol(s.name, positive=True) for s in positive}
            out = cast(sympy.Expr, out.xreplace(twins).xreplace({t: s for s, t in twins.items()}))
        return out
    except SYMPY_ERRORS:
        return expr


MAX_UNIT_FACTORS = 8
"""Products of at most this many factors are searched for a part that is 1 on the data."""


def drop_unit_factors(
    expr: sympy.Expr, symbols: list[sympy.Symbol], x: Tensor, tol: float = 1e-9
) -> sympy.Expr:
    """``expr`` without the largest group of its factors whose product is 1 on every
    sample of ``x`` (within ``tol``); at least one factor with variables stays.

    With derived inputs (``beta = v / c`` beside ``v`` and ``c``) an exact formula may carry
    a factor such as ``(v / (beta c))^0.37`` that is 1 on the data and hides the law.

    >>> m, v, c, beta = sympy.symbols("m v c beta", positive=True)
    >>> x = torch.tensor([[1.0, 0.5, 2.0, 0.25], [3.0, 0.3, 1.5, 0.2]], dtype=torch.float64)
    >>> drop_unit_factors(m * v**0.37 * (beta * c)**-0.37, [m, v, c, beta], x)
    m
    """
    coefficient, rest = expr.as_coeff_Mul()
    factors = sympy.Mul.make_args(rest)
    if not 2 <= len(factors) <= MAX_UNIT_FACTORS:
        return expr
    try:
        with torch.no_grad():
            values = {
                i: formula_to_torch(f, symbols)(x) for i, f in enumerate(factors) if f.free_symbols
            }
    except (ValueError, TypeError, RuntimeError, OverflowError):
        return expr
    varying = list(values)
    for size in range(len(varying) - 1, 0, -1):  # the largest group first
        for group in itertools.combinations(varying, size):
            product = torch.stack([values[i] for i in group]).prod(0)
            if bool(((product - 1).abs() <= tol).all()):
                return coefficient * sympy.Mul(
                    *(f for i, f in enumerate(factors) if i not in group)
                )
    return expr
