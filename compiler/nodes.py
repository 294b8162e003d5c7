"""The compiler's intermediate form: a formula as a small typed DAG.

Node records are frozen and hashable (equal subexpressions are one node); children are
referenced by index into ``FormulaGraph.nodes``, which lists children before parents:

- :class:`Input` - a variable;
- :class:`Const` - a real number (``pi``, ``E``, rationals, ``sqrt(2)``, ... all fold here);
- :class:`Unary` - ``f(a * child + b)`` with ``f`` a name of the function library;
- :class:`Pow` - ``(a * child + b) ** exponent`` for the exponents in :data:`POWER_NAMES`;
- :class:`Add` - ``sum(c_t * child_t) + bias``;
- :class:`Mul` - the product of two or more children (coefficients live in ``Add``).

Examples
--------
>>> import torch
>>> graph = FormulaGraph(nodes=(Input(0, "x"), Unary("sin", 0, 2.0, 0.0)), outputs=(1,),
...                      variables=("x",), expressions=(), sources=())
>>> graph(torch.tensor([[0.25]], dtype=torch.float64))
tensor([[0.4794]], dtype=torch.float64)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction

import sympy
import torch
from torch import Tensor

from kanscience.core import DEFAULT_LIBRARY, FunctionLibrary
from kanscience.symbolic import UnsupportedExpressionError as _FormulaUnsupported

__all__ = [
    "POWER_NAMES",
    "Add",
    "Const",
    "FormulaGraph",
    "GraphNode",
    "Input",
    "Mul",
    "Pow",
    "Unary",
    "UnsupportedExpressionError",
    "children",
    "renumbered",
]


class UnsupportedExpressionError(_FormulaUnsupported):
    """A formula contains a head (``Piecewise``, ``gamma``, an undefined function, ...)
    that has no exact KAN form. A subclass of ValueError and of
    :class:`kanscience.symbolic.UnsupportedExpressionError`, so one ``except`` catches
    both directions (sympy -> KAN here, sympy -> torch there).

    Attributes
    ----------
    head : str
        Name of the expression class that cannot be compiled.
    subexpression : sympy.Basic
        The offending subexpression.
    """

    def __init__(self, head: str, subexpression: object, reason: str = "") -> None:
        self.head, self.subexpression = head, subexpression
        detail = reason or "no KAN form for this head"
        super().__init__(f"cannot compile {head} in {subexpression}: {detail}")


@dataclass(frozen=True)
class Input:
    """Variable ``index`` of the formula."""

    index: int
    name: str


@dataclass(frozen=True)
class Const:
    """A real constant."""

    value: float


@dataclass(frozen=True)
class Unary:
    """``fn(a * child + b)``; ``fn`` names a library function."""

    fn: str
    child: int
    a: float = 1.0
    b: float = 0.0


@dataclass(frozen=True)
class Pow:
    """``(a * child + b) ** exponent`` for an exponent in :data:`POWER_NAMES`."""

    exponent: Fraction
    child: int
    a: float = 1.0
    b: float = 0.0

    @property
    def fn(self) -> str:
        """The library function computing this power."""
        return POWER_NAMES[self.exponent]


@dataclass(frozen=True)
class Add:
    """``sum(c * child for c, child in terms) + bias``."""

    terms: tuple[tuple[float, int], ...]
    bias: float = 0.0


@dataclass(frozen=True)
class Mul:
    """Product of ``factors`` (two or more; repeats allowed)."""

    factors: tuple[int, ...]


GraphNode = Input | Const | Unary | Pow | Add | Mul

#: Exponent -> library function (pykan's names).
POWER_NAMES: Mapping[Fraction, str] = {
    Fraction(2): "x^2",
    Fraction(3): "x^3",
    Fraction(4): "x^4",
    Fraction(5): "x^5",
    Fraction(-1): "1/x",
    Fraction(-2): "1/x^2",
    Fraction(-3): "1/x^3",
    Fraction(-4): "1/x^4",
    Fraction(-5): "1/x^5",
    Fraction(1, 2): "sqrt",
    Fraction(-1, 2): "1/sqrt(x)",
    Fraction(3, 2): "x^1.5",
}


@dataclass(frozen=True)
class FormulaGraph:
    """A compiled formula's DAG, nodes in topological order (children first).

    Attributes
    ----------
    nodes : tuple of GraphNode
    outputs : tuple of int
        Node of each output formula.
    variables : tuple of str
        Input names; ``Input.index`` indexes them.
    expressions : tuple of sympy.Expr
        The output formulas as given.
    sources : tuple of sympy.Expr
        For each node, the subexpression it computes (for messages and diagrams).
    library : FunctionLibrary
    """

    nodes: tuple[GraphNode, ...]
    outputs: tuple[int, ...]
    variables: tuple[str, ...]
    expressions: tuple[sympy.Expr, ...]
    sources: tuple[sympy.Expr, ...]
    library: FunctionLibrary = field(default_factory=lambda: DEFAULT_LIBRARY, repr=False)

    def children(self, index: int) -> tuple[int, ...]:
        """Indices of the nodes that node ``index`` reads."""
        return children(self.nodes[index])

    def evaluate(self, x: Tensor) -> list[Tensor]:
        """Value of every node on inputs ``x`` of shape (batch, n_variables)."""
        if x.ndim != 2 or x.shape[1] != len(self.variables):
            raise ValueError(
                f"x must have shape (batch, {len(self.variables)}), got {tuple(x.shape)}"
            )
        values: list[Tensor] = []
        for node in self.nodes:
            values.append(_EVALUATORS[type(node)](self, node, values, x))
        return values

    def __call__(self, x: Tensor) -> Tensor:
        """Outputs on ``x``, shape (batch, n_outputs)."""
        values = self.evaluate(x)
        return torch.stack([values[i] for i in self.outputs], dim=1)


def _eval_unary(graph: FormulaGraph, node: Unary | Pow, values: list[Tensor], x: Tensor):
    return graph.library[node.fn].torch_fn(node.a * values[node.child] + node.b)


_EVALUATORS: dict[type, Callable] = {
    Input: lambda g, n, v, x: x[:, n.index],
    Const: lambda g, n, v, x: x.new_full((x.shape[0],), n.value),
    Unary: _eval_unary,
    Pow: _eval_unary,
    Add: lambda g, n, v, x: sum((c * v[i] for c, i in n.terms), x.new_full((x.shape[0],), n.bias)),
    Mul: lambda g, n, v, x: torch.stack([v[i] for i in n.factors]).prod(0),
}


def children(node: GraphNode) -> tuple[int, ...]:
    """Indices of the nodes ``node`` reads."""
    if isinstance(node, (Unary, Pow)):
        return (node.child,)
    if isinstance(node, Add):
        return tuple(i for _, i in node.terms)
    if isinstance(node, Mul):
        return node.factors
    return ()


def renumbered(node: GraphNode, new: Mapping[int, int]) -> GraphNode:
    """``node`` with its children renumbered through ``new``."""
    if isinstance(node, Unary):
        return Unary(node.fn, new[node.child], node.a, node.b)
    if isinstance(node, Pow):
        return Pow(node.exponent, new[node.child], node.a, node.b)
    if isinstance(node, Add):
        return Add(tuple((c, new[i]) for c, i in node.terms), node.bias)
    if isinstance(node, Mul):
        return Mul(tuple(new[i] for i in node.factors))
    return node
