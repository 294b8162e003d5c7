"""A sympy formula as a small typed DAG: the compiler's front end.

Node types (frozen records, children referenced by index into ``FormulaGraph.nodes``):

- :class:`Input` - a variable;
- :class:`Const` - a real number (``pi``, ``E``, rationals, ``sqrt(2)``, ... all fold here);
- :class:`Unary` - ``f(a * child + b)`` with ``f`` a name of the function library;
- :class:`Pow` - ``(a * child + b) ** exponent`` for exponents the library has a function
  for (``2 -> 'x^2'``, ``-1 -> '1/x'``, ``1/2 -> 'sqrt'``, ``3/2 -> 'x^1.5'``, ...);
- :class:`Add` - ``sum(c_t * child_t) + bias``;
- :class:`Mul` - the product of two or more children (coefficients live in ``Add``).

The translation dispatches on the expression's class through :data:`HANDLERS` (like a
sympy printer). Other powers are rewritten exactly: integer exponents beyond the library
as products (``x**7 = x**5 * x**2``; up to :data:`MAX_EXPANDED_EXPONENT` in magnitude,
beyond which the product would be too wide to build), half-integers as ``x**1.5`` or
``1/sqrt(x)`` times an integer power, any other exponent as ``exp(e * log(x))``;
``sinh``, ``sec``, ``csc``, ``cot``, ``asinh``, ``acosh``, ``Max`` and ``Min`` through
:data:`REWRITES`. Three patterns save a layer: ``exp(-c * u**2) -> gaussian``,
``1 / (b + c * exp(u)) -> sigmoid`` and ``c1 * exp(u) + c2 * exp(-u) -> cosh``.
Identical subexpressions become one node. A head without a KAN form raises
:class:`UnsupportedExpressionError`.

Examples
--------
>>> import sympy
>>> x, y = sympy.symbols("x y")
>>> graph = build_graph(sympy.exp(sympy.sin(sympy.pi * x) + y**2), ["x", "y"])
>>> sorted(type(node).__name__ for node in graph.nodes)
['Add', 'Input', 'Input', 'Pow', 'Unary', 'Unary']
>>> sine = next(n for n in graph.nodes if isinstance(n, Unary) and n.fn == "sin")
>>> graph.nodes[sine.child], sine.a, sine.b
(Input(index=0, name='x'), 3.141592653589793, 0.0)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from fractions import Fraction
from typing import Any

import sympy
import torch

from kanscience.core import FunctionLibrary, resolve_library

from .domain import ZERO_POLES, check_finite
from .nodes import (
    POWER_NAMES,
    Add,
    Const,
    FormulaGraph,
    GraphNode,
    Input,
    Mul,
    Pow,
    Unary,
    UnsupportedExpressionError,
    children,
    renumbered,
)
from .parse import parse_formulas
from .patterns import REWRITES, cosh_pairs, gaussian, number, rational, sigmoid, split_exponent

__all__ = [
    "FUNCTION_NAMES",
    "HANDLERS",
    "MAX_EXPANDED_EXPONENT",
    "POWER_NAMES",
    "REWRITES",
    "ZERO_POLES",
    "Add",
    "Const",
    "FormulaGraph",
    "GraphBuilder",
    "GraphNode",
    "Input",
    "Mul",
    "Pow",
    "Unary",
    "UnsupportedExpressionError",
    "build_graph",
    "check_finite",
    "parse_formulas",
]

#: Largest magnitude of an integer or half-integer exponent expanded into a product of
#: library powers (``x**1000`` is 200 factors of ``x**5``; ``x**100000`` would take seconds).
MAX_EXPANDED_EXPONENT = 1000

#: sympy function class -> library function.
FUNCTION_NAMES: Mapping[type, str] = {
    sympy.sin: "sin",
    sympy.cos: "cos",
    sympy.tan: "tan",
    sympy.tanh: "tanh",
    sympy.cosh: "cosh",
    sympy.exp: "exp",
    sympy.log: "log",
    sympy.Abs: "abs",
    sympy.sign: "sgn",
    sympy.asin: "arcsin",
    sympy.acos: "arccos",
    sympy.atan: "arctan",
    sympy.atanh: "arctanh",
}


class GraphBuilder:
    """Hash-consing construction of the DAG (one node per distinct subexpression).

    The handlers of :data:`HANDLERS` and the patterns of :mod:`compiler.patterns` call its
    methods; each returns the index of the node it made or found.
    """

    def __init__(self, names: Sequence[str], library: FunctionLibrary) -> None:
        self.names = {name: i for i, name in enumerate(names)}
        self.library = library
        self.nodes: list[GraphNode] = []
        self.sources: list[sympy.Expr] = []
        self.index: dict[GraphNode, int] = {}
        self.memo: dict[sympy.Basic, int] = {}

    # nodes
    def add(self, node: GraphNode, source: sympy.Expr) -> int:
        if node not in self.index:
            self.index[node] = len(self.nodes)
            self.nodes.append(node)
            self.sources.append(source)
        return self.index[node]

    def const(self, value: float) -> int:
        return self.add(Const(float(value)), sympy.Float(value))

    def require(self, name: str, expr: sympy.Basic) -> str:
        if name not in self.library:
            raise UnsupportedExpressionError(
                type(expr).__name__, expr, f"needs the library function {name!r}"
            )
        return name

    def affine_of(self, index: int) -> tuple[float, int | None, float]:
        """``(scale, core, offset)`` with node ``index`` = scale * core + offset."""
        node = self.nodes[index]
        if isinstance(node, Const):
            return 0.0, None, node.value
        if isinstance(node, Add) and len(node.terms) == 1:
            ((c, child),) = node.terms
            return c, child, node.bias
        if isinstance(node, Add) and node.bias != 0.0:
            core = self.add(Add(node.terms), self.sources[index] - number(node.bias))
            return 1.0, core, node.bias
        return 1.0, index, 0.0

    def unary(self, fn: str, arg: int, source: sympy.Expr, a: float = 1.0, b: float = 0.0) -> int:
        """``fn(a * arg + b)`` with the affine part of ``arg`` folded into ``(a, b)``."""
        scale, core, offset = self.affine_of(arg)
        if core is None:
            value = self.library[fn].torch_fn(torch.tensor(a * offset + b, dtype=torch.float64))
            return self.const(_real(float(value), source))
        return self.add(Unary(self.require(fn, source), core, a * scale, a * offset + b), source)

    def power(self, exponent: Fraction, base: int, source: sympy.Expr) -> int:
        scale, core, offset = self.affine_of(base)
        if exponent == 1:
            return base
        if core is None:
            return self.const(_real(offset ** float(exponent), source))
        self.require(POWER_NAMES[exponent], source)
        return self.add(Pow(exponent, core, scale, offset), source)

    def linear(self, terms: Sequence[tuple[float, int]], bias: float, source: sympy.Expr) -> int:
        """``sum(c * node) + bias`` flattened, constants folded, exp pairs -> cosh."""
        flat: dict[int, float] = {}
        for c, index in terms:
            node = self.nodes[index]
            if isinstance(node, Const):
                bias += c * node.value
            elif isinstance(node, Add) and len(node.terms) == 1:
                ((inner, child),) = node.terms
                flat[child] = flat.get(child, 0.0) + c * inner
                bias += c * node.bias
            else:
                flat[index] = flat.get(index, 0.0) + c
        pairs = [(c, i) for i, c in flat.items() if c != 0.0]
        pairs = cosh_pairs(self, pairs)
        if not pairs:
            return self.const(bias)
        if len(pairs) == 1 and pairs[0][0] == 1.0 and bias == 0.0:
            return pairs[0][1]
        return self.add(Add(tuple(sorted(pairs, key=lambda t: t[1])), bias), source)

    def product(self, factors: Sequence[int], coef: float, source: sympy.Expr) -> int:
        """``coef * prod(factors)`` with constants, scales and nested products flattened."""
        flat: list[int] = []
        for index in factors:
            node = self.nodes[index]
            if isinstance(node, Const):
                coef *= node.value
            elif isinstance(node, Add) and len(node.terms) == 1 and node.bias == 0.0:
                coef *= node.terms[0][0]
                flat.append(node.terms[0][1])
            elif isinstance(node, Mul):
                flat.extend(node.factors)
            else:
                flat.append(index)
        if coef == 0.0 or not flat:
            return self.const(coef if flat == [] else 0.0)
        label = sympy.Mul(*[self.sources[i] for i in flat])
        core = flat[0] if len(flat) == 1 else self.add(Mul(tuple(sorted(flat))), label)
        return self.linear([(coef, core)], 0.0, source)

    # dispatch
    def build(self, expr: sympy.Basic) -> int:
        if expr in self.memo:
            return self.memo[expr]
        if not isinstance(expr, sympy.Expr):
            raise UnsupportedExpressionError(type(expr).__name__, expr, "not a scalar expression")
        if expr.is_number:
            index = self.const(_real(_to_float(expr), expr))
        else:
            index = _handler(expr)(self, expr)
        self.memo[expr] = index
        return index


def _to_float(expr: sympy.Expr) -> complex | float:
    try:
        value = complex(expr.evalf(30))
    except (TypeError, ValueError):  # zoo, nan and friends
        return float("nan")
    return value.real if value.imag == 0.0 else value


def _real(value: complex, expr: sympy.Basic) -> float:
    if isinstance(value, complex) or not math.isfinite(value):
        raise UnsupportedExpressionError(
            type(expr).__name__, expr, f"the constant {value} is not a finite real number"
        )
    return float(value)


def _handler(expr: sympy.Expr) -> Callable[[GraphBuilder, sympy.Expr], int]:
    for cls in type(expr).__mro__:
        if cls in HANDLERS:
            return HANDLERS[cls]
    raise UnsupportedExpressionError(type(expr).__name__, expr)


def _symbol(builder: GraphBuilder, expr: sympy.Symbol) -> int:
    if expr.name not in builder.names:
        raise ValueError(
            f"the formula uses {expr.name!r}, which is not in variables "
            f"{sorted(builder.names, key=lambda name: builder.names[name])}"
        )
    return builder.add(Input(builder.names[expr.name], expr.name), expr)


def _add(builder: GraphBuilder, expr: sympy.Add) -> int:
    return builder.linear([(1.0, builder.build(arg)) for arg in expr.args], 0.0, expr)


def _mul(builder: GraphBuilder, expr: sympy.Mul) -> int:
    return builder.product([builder.build(arg) for arg in expr.args], 1.0, expr)


def _function(builder: GraphBuilder, expr: sympy.Function) -> int:
    name = (
        FUNCTION_NAMES[type(expr)]
        if type(expr) in FUNCTION_NAMES
        else next(FUNCTION_NAMES[cls] for cls in type(expr).__mro__ if cls in FUNCTION_NAMES)
    )
    if len(expr.args) != 1:
        raise UnsupportedExpressionError(type(expr).__name__, expr, "expects one argument")
    arg = builder.build(expr.args[0])
    if name == "exp" and "gaussian" in builder.library:
        found = gaussian(builder, arg, expr)
        if found is not None:
            return found
    return builder.unary(name, arg, expr)


def _power(builder: GraphBuilder, expr: sympy.Pow) -> int:
    base_expr, exponent = expr.args
    if not exponent.is_number:
        if base_expr.is_number:  # b**u = exp(log(b) * u)
            b = _real(_to_float(base_expr), base_expr)
            if b <= 0:
                raise UnsupportedExpressionError(
                    "Pow", expr, "a non-positive base with a variable exponent is not real"
                )
            return builder.unary("exp", builder.build(exponent), expr, a=math.log(b))
        log = builder.unary("log", builder.build(base_expr), sympy.log(base_expr))
        product = builder.product(
            [builder.build(exponent), log], 1.0, exponent * sympy.log(base_expr)
        )
        return builder.unary("exp", product, expr)
    base = builder.build(base_expr)
    fraction = rational(exponent)
    if fraction is not None and fraction == -1 and "sigmoid" in builder.library:
        found = sigmoid(builder, base, expr)
        if found is not None:
            return found
    if fraction is not None and abs(fraction) > MAX_EXPANDED_EXPONENT:
        raise UnsupportedExpressionError(
            "Pow",
            expr,
            f"the exponent {exponent} is beyond the compiler's limit of "
            f"{MAX_EXPANDED_EXPONENT} in magnitude for powers expanded into products",
        )
    parts = split_exponent(fraction, builder.library) if fraction is not None else None
    if parts is None:  # x**e = exp(e * log(x))
        e = _real(_to_float(exponent), exponent)
        log = builder.unary("log", base, sympy.log(base_expr))
        return builder.unary("exp", log, expr, a=e)
    factors = [
        builder.power(p, base, base_expr ** sympy.Rational(p.numerator, p.denominator))
        for p in parts
    ]
    return factors[0] if len(factors) == 1 else builder.product(factors, 1.0, expr)


def _rewrite(function: Callable[..., sympy.Expr]) -> Callable[[GraphBuilder, sympy.Expr], int]:
    def handle(builder: GraphBuilder, expr: sympy.Expr) -> int:
        rewritten = function(*expr.args)
        builder.memo[rewritten] = index = builder.build(rewritten)
        return index

    return handle


#: Expression class -> handler ``(builder, expr) -> node index``; subclasses resolve
#: through the MRO. Numbers never get here: every ``expr.is_number`` is a :class:`Const`.
HANDLERS: dict[type, Callable[[GraphBuilder, Any], int]] = {
    sympy.Symbol: _symbol,
    sympy.Add: _add,
    sympy.Mul: _mul,
    sympy.Pow: _power,
    **{cls: _function for cls in FUNCTION_NAMES},
    **{cls: _rewrite(fn) for cls, fn in REWRITES.items()},
}


def build_graph(
    exprs: sympy.Expr | str | Sequence[sympy.Expr | str],
    variables: Sequence[str | sympy.Symbol] | None = None,
    library: FunctionLibrary | Sequence[str] | None = None,
) -> FormulaGraph:
    """Translate formulas into one :class:`FormulaGraph` (shared subexpressions once).

    Parameters
    ----------
    exprs : sympy.Expr, str, or a list of them (one per output)
    variables : list of str or sympy.Symbol, optional
        Inputs in order (see :func:`parse_formulas`); may include variables the formulas
        do not use.
    library : FunctionLibrary, optional
        Functions the edges may use (default: the built-in library).

    Raises
    ------
    UnsupportedExpressionError
        For a head without a KAN form, naming the head and the subexpression.
    """
    formulas, names = parse_formulas(exprs, variables)
    builder = GraphBuilder(names, resolve_library(library))
    roots = [builder.build(f) for f in formulas]
    # keep the nodes reachable from the outputs, renumbered in topological order
    keep: set[int] = set()
    stack = list(roots)
    while stack:
        index = stack.pop()
        if index not in keep:
            keep.add(index)
            stack.extend(children(builder.nodes[index]))
    order = sorted(keep)
    renumber = {old: new for new, old in enumerate(order)}
    nodes = tuple(renumbered(builder.nodes[i], renumber) for i in order)
    return FormulaGraph(
        nodes=nodes,
        outputs=tuple(renumber[r] for r in roots),
        variables=names,
        expressions=formulas,
        sources=tuple(builder.sources[i] for i in order),
        library=builder.library,
    )
