"""Exact rewrites for heads without a library function, and patterns that save a layer.

- :data:`REWRITES`: ``sinh``, ``sec``, ``csc``, ``cot``, ``asinh``, ``acosh``, ``Max`` and
  ``Min`` in terms of functions the library has;
- :func:`split_exponent`: a power as a product of library powers (``x**7 = x**5 * x**2``,
  ``x**(5/2) = x**(3/2) * x``);
- :func:`gaussian`, :func:`sigmoid`, :func:`cosh_pairs`: ``exp(-k u**2)``,
  ``1 / (b + c exp(u))`` and ``c1 exp(u) + c2 exp(-u)`` as one edge each.

The pattern functions take the graph builder (:class:`compiler.graph.GraphBuilder`) and
return a node index, or None where the pattern does not apply.

Examples
--------
>>> from fractions import Fraction
>>> from kanscience import DEFAULT_LIBRARY
>>> split_exponent(Fraction(-7, 2), DEFAULT_LIBRARY)
[Fraction(-1, 2), Fraction(-3, 1)]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from fractions import Fraction

import sympy

from kanscience.core import FunctionLibrary

from .nodes import POWER_NAMES, GraphNode, Pow, Unary

__all__ = ["REWRITES", "cosh_pairs", "gaussian", "number", "rational", "sigmoid", "split_exponent"]


def number(value: float) -> sympy.Expr:
    """A float as a sympy Integer when integral, else a Float (for labels)."""
    return sympy.Float(value) if value != int(value) else sympy.Integer(int(value))


def _is_fn(node: GraphNode | None, name: str) -> bool:
    return isinstance(node, Unary) and node.fn == name


def gaussian(builder, arg: int, expr: sympy.Expr) -> int | None:
    """``exp(-k * (a u + b)**2)`` with ``k > 0`` as ``gaussian(sqrt(k) * (a u + b))``."""
    scale, core, offset = builder.affine_of(arg)
    node = builder.nodes[core] if core is not None else None
    if offset != 0.0 or scale >= 0.0 or not isinstance(node, Pow) or node.exponent != 2:
        return None
    root = math.sqrt(-scale)
    return builder.add(Unary("gaussian", node.child, root * node.a, root * node.b), expr)


def rational(exponent: sympy.Expr) -> Fraction | None:
    """The exponent as an exact fraction when it is an integer or half-integer."""
    if isinstance(exponent, sympy.Rational):
        return Fraction(int(exponent.p), int(exponent.q))
    value = float(exponent)
    if math.isfinite(value) and (2 * value).is_integer():
        return Fraction(int(2 * value), 2)
    return None


def split_exponent(exponent: Fraction, library: FunctionLibrary) -> list[Fraction] | None:
    """Exponents in the library (or 1) whose sum is ``exponent``, or None."""
    if exponent == 0:
        return None
    available = [e for e, name in POWER_NAMES.items() if name in library]
    if exponent in available or exponent == 1:
        return [exponent]
    parts: list[Fraction] = []
    rest = exponent
    if rest.denominator == 2:  # one half-integer power, then integers
        half = (
            Fraction(3, 2)
            if rest > 0 and Fraction(3, 2) in available
            else (Fraction(1, 2) if rest > 0 else Fraction(-1, 2))
        )
        if half not in available:
            return None
        parts.append(half)
        rest -= half
    elif rest.denominator != 1:
        return None
    step = 1 if rest > 0 else -1
    integers = sorted(
        (e for e in available if e.denominator == 1 and e * step > 0), key=lambda e: -abs(e)
    ) + ([Fraction(1)] if step > 0 else [])
    while rest != 0:
        chunk = next((e for e in integers if abs(e) <= abs(rest)), None)
        if chunk is None:
            return None
        parts.append(chunk)
        rest -= chunk
    return parts


def sigmoid(builder, base: int, expr: sympy.Expr) -> int | None:
    """``1 / (beta + c * exp(a u + b))`` with ``c / beta > 0`` as a scaled sigmoid."""
    scale, core, beta = builder.affine_of(base)
    node = builder.nodes[core] if core is not None else None
    if beta == 0.0 or not _is_fn(node, "exp") or scale / beta <= 0:
        return None
    assert isinstance(node, Unary)
    shift = node.b + math.log(scale / beta)
    term = builder.add(Unary("sigmoid", node.child, -node.a, -shift), expr * number(beta))
    return builder.linear([(1.0 / beta, term)], 0.0, expr)


def cosh_pairs(builder, pairs: list[tuple[float, int]]) -> list[tuple[float, int]]:
    """Replace ``c1 exp(a u + b1) + c2 exp(-a u + b2)`` (same sign) by one cosh term."""
    if "cosh" not in builder.library:
        return pairs
    exps = [(c, i) for c, i in pairs if _is_fn(builder.nodes[i], "exp")]
    used: set[int] = set()
    result = [(c, i) for c, i in pairs if not _is_fn(builder.nodes[i], "exp")]
    for n, (c1, i1) in enumerate(exps):
        if i1 in used:
            continue
        e1 = builder.nodes[i1]
        for c2, i2 in exps[n + 1 :]:
            e2 = builder.nodes[i2]
            big1, big2 = c1 * math.exp(e1.b), c2 * math.exp(e2.b)
            if i2 in used or e2.child != e1.child or e2.a != -e1.a or big1 * big2 <= 0:
                continue
            shift = 0.5 * math.log(big1 / big2)
            term = builder.add(
                Unary("cosh", e1.child, e1.a, shift),
                sympy.cosh(number(e1.a) * builder.sources[e1.child] + shift),
            )
            result.append((math.copysign(2.0 * math.sqrt(big1 * big2), big1), term))
            used.update((i1, i2))
            break
        else:
            result.append((c1, i1))
    return result


def _max(first: sympy.Expr, second: sympy.Expr, *more: sympy.Expr) -> sympy.Expr:
    rest = _max(second, *more) if more else second
    return (first + rest + sympy.Abs(first - rest)) / 2


def _min(first: sympy.Expr, second: sympy.Expr, *more: sympy.Expr) -> sympy.Expr:
    rest = _min(second, *more) if more else second
    return (first + rest - sympy.Abs(first - rest)) / 2


#: Heads without a library function, rewritten exactly in terms of ones that have one.
REWRITES: Mapping[type, Callable[..., sympy.Expr]] = {
    sympy.sinh: lambda u: (sympy.exp(u) - sympy.exp(-u)) / 2,
    sympy.sec: lambda u: 1 / sympy.cos(u),
    sympy.csc: lambda u: 1 / sympy.sin(u),
    sympy.cot: lambda u: sympy.cos(u) / sympy.sin(u),
    sympy.asinh: lambda u: sympy.log(u + sympy.sqrt(u**2 + 1)),
    sympy.acosh: lambda u: sympy.log(u + sympy.sqrt(u**2 - 1)),
    sympy.Max: _max,
    sympy.Min: _min,
}
