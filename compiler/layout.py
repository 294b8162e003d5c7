"""A formula DAG laid out in KAN layers.

A KAN layer computes, for every node of the next layer, either a **sum node**
``sum_i c f(a x_i + b) + d`` of the previous layer's nodes or a **multiplication node**,
the product of such sums (one per subnode). The layout maps the DAG onto that shape:

1. *Materialize*: a DAG node becomes a KAN node only where it must hold a value - inputs,
   outputs, arguments of a unary function, and products used in sums. Everything else is
   folded into edges: a unary function becomes an edge ``c f(a x + b) + d`` from its
   argument's node, a sum feeding a product becomes that product's subnode, nested
   products become one product of higher arity, and constants become edge offsets.
   Two terms of one sum that need the same source through different functions (one
   edge per node pair) get a node of their own for one of them.
2. *Schedule* (:mod:`compiler.schedule`): each node gets a layer, first as early as
   possible, then moved (greedily, one node at a time) to the layer that minimizes the
   identity edges needed to carry values across layers; groups of early terms or factors
   are pre-computed in nodes of their own where that saves nodes.
3. *Emit*: per layer, sum nodes then multiplication nodes, with identity ("carry") sum
   nodes wherever a value is needed more than one layer later; the last layer holds the
   outputs in order.

Examples
--------
>>> import sympy
>>> from compiler.graph import build_graph
>>> x, y = sympy.symbols("x y")
>>> layout = layout_graph(build_graph(sympy.exp(sympy.sin(sympy.pi * x) + y**2), ["x", "y"]))
>>> layout.width
[[2, 0], [1, 0], [1, 0]]
>>> layout_graph(build_graph(x * y, ["x", "y"])).width
[[2, 0], [0, 1]]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from .nodes import Add, Const, FormulaGraph, Input, Mul, Pow, Unary
from .schedule import Item, Sum, Term, schedule
from .schedule import hoist as hoist_items

__all__ = ["Layout", "LayoutNode", "Sum", "Term", "layout_graph"]


@dataclass(frozen=True)
class LayoutNode:
    """A node of a layer.

    Attributes
    ----------
    kind : {'input', 'sum', 'prod'}
    sums : tuple of Sum
        One subnode for a sum node, one per factor for a product node, none for inputs.
    scale, bias : float
        Node affine map (``scale * value + bias``), used for products with an offset.
    label : str
        The subexpression the node holds.
    carry : bool
        Whether the node only passes a value on (an identity edge).
    """

    kind: str
    sums: tuple[Sum, ...] = ()
    scale: float = 1.0
    bias: float = 0.0
    label: str = ""
    carry: bool = False


@dataclass(frozen=True)
class Layout:
    """Layers of nodes; ``layers[0]`` are the inputs and ``layers[-1]`` the outputs."""

    layers: tuple[tuple[LayoutNode, ...], ...]
    variables: tuple[str, ...]

    @property
    def depth(self) -> int:
        return len(self.layers) - 1

    @property
    def width(self) -> list[list[int]]:
        """``[[n_sum, n_mult], ...]`` per layer (the KAN width spec)."""
        return [
            [sum(n.kind != "prod" for n in layer), sum(n.kind == "prod" for n in layer)]
            for layer in self.layers
        ]

    @property
    def mult_arity(self) -> list[list[int]]:
        """Arities of the multiplication nodes, one list per layer."""
        return [[len(n.sums) for n in layer if n.kind == "prod"] for layer in self.layers]

    @property
    def n_hidden(self) -> int:
        """Nodes strictly between inputs and outputs."""
        return sum(len(layer) for layer in self.layers[1:-1])

    @property
    def n_carry(self) -> int:
        """Identity (carry) nodes among all non-input nodes."""
        return sum(n.carry for layer in self.layers[1:] for n in layer)

    @property
    def n_edges(self) -> int:
        return sum(max(1, len(s.terms)) for layer in self.layers for n in layer for s in n.sums)


# ------------------------------------------------------------------ materialization
class Items:
    def __init__(self, graph: FormulaGraph) -> None:
        self.graph = graph
        n = len(graph.nodes)
        self.consumers: list[list[tuple[int, str | None]]] = [[] for _ in range(n)]
        for index, node in enumerate(graph.nodes):
            role = {Unary: "arg", Pow: "arg", Add: "term", Mul: "factor"}.get(type(node))
            for child in graph.children(index):
                self.consumers[child].append((index, role))
        for index in graph.outputs:
            self.consumers[index].append((-1, "root"))
        self.items: list[Item] = [Item("input", label=name) for name in graph.variables]
        self.of: dict[int, int] = {
            i: node.index for i, node in enumerate(graph.nodes) if isinstance(node, Input)
        }
        self.split: dict[tuple, int] = {}

    def materialized(self, index: int) -> bool:
        node = self.graph.nodes[index]
        roles = {role for _, role in self.consumers[index]}
        if isinstance(node, Input):
            return True
        if isinstance(node, Mul):
            return bool(roles - {"factor"})
        if isinstance(node, (Add, Unary, Pow)):
            return bool(roles & {"arg", "root"})
        return False

    def new(self, item: Item) -> int:
        self.items.append(item)
        return len(self.items) - 1

    def item(self, index: int) -> int:
        """Item id of materialized DAG node ``index`` (created on first use)."""
        if index in self.of:
            return self.of[index]
        node, label = self.graph.nodes[index], str(self.graph.sources[index])
        if isinstance(node, Mul):
            item = Item("prod", self.factors(index), label=label)
        elif isinstance(node, (Unary, Pow)):
            term = Term(self.item(node.child), node.fn, node.a, node.b, 1.0)
            item = Item("sum", [self.make_sum([], 0.0, [term])], label=label)
        else:
            terms, bias = self.linear(index, 1.0, expand=True)
            single = terms[0][1] if len(terms) == 1 else None
            if single is not None and self.only_consumer(single, index):
                # c * (product) + d as a product node with the scale folded into a factor
                item = Item("prod", self.factors(single), bias=bias, label=label)
                item.sums[0] = _scaled(item.sums[0], terms[0][0])
            else:
                item = Item("sum", [self.make_sum(terms, bias)], label=label)
        self.of[index] = self.new(item)
        return self.of[index]

    def only_consumer(self, index: int, consumer: int) -> bool:
        return isinstance(self.graph.nodes[index], Mul) and [
            c for c, _ in self.consumers[index]
        ] == [consumer]

    def linear(self, index: int, c: float, expand: bool = False) -> tuple[list, float]:
        """``c * node`` as ``([(coef, atom), ...], bias)``, inlining unmaterialized sums."""
        node = self.graph.nodes[index]
        if isinstance(node, Const):
            return [], c * node.value
        if isinstance(node, Add) and (expand or not self.materialized(index)):
            terms, bias = [], c * node.bias
            for coef, child in node.terms:
                more, extra = self.linear(child, c * coef)
                terms += more
                bias += extra
            return terms, bias
        return [(c, index)], 0.0

    def factors(self, index: int) -> list[Sum]:
        flat: list[int] = []
        node = self.graph.nodes[index]
        assert isinstance(node, Mul)
        stack = list(reversed(node.factors))
        while stack:
            factor = stack.pop()
            node = self.graph.nodes[factor]
            if isinstance(node, Mul) and not self.materialized(factor):
                stack.extend(reversed(node.factors))
            else:
                flat.append(factor)
        return [self.make_sum(*self.linear(f, 1.0)) for f in flat]

    def term(self, c: float, atom: int) -> Term:
        node = self.graph.nodes[atom]
        if self.materialized(atom):
            return Term(self.item(atom), "x", 1.0, 0.0, c)
        assert isinstance(node, (Unary, Pow)), f"unexpected inline atom {node}"
        return Term(self.item(node.child), node.fn, node.a, node.b, c)

    def make_sum(
        self, pairs: Sequence[tuple[float, int]], bias: float, given: Sequence[Term] = ()
    ) -> Sum:
        """A subnode from ``(coef, atom)`` pairs (and ready ``given`` terms); one edge per
        source, merging where exact."""
        terms: dict[int, Term] = {}
        extra: list[Term] = []
        for term in [*given, *(self.term(c, atom) for c, atom in pairs)]:
            if term.fn == "x":  # c (a x + b) = (c a) x + c b
                bias += term.c * term.b
                term = Term(term.source, "x", 1.0, 0.0, term.c * term.a)
            old = terms.get(term.source)
            if old is None:
                terms[term.source] = term
            elif (old.fn, old.a, old.b) == (term.fn, term.a, term.b):
                terms[term.source] = replace(old, c=old.c + term.c)
            else:  # a second function of the same source: give it a node of its own
                key = (term.source, term.fn, term.a, term.b)
                if key not in self.split:
                    label = f"{term.fn}({term.a:g}*[{self.items[term.source].label}]+{term.b:g})"
                    self.split[key] = self.new(
                        Item("sum", [Sum((replace(term, c=1.0),))], label=label)
                    )
                extra.append(Term(self.split[key], "x", 1.0, 0.0, term.c))
        for term in extra:
            old = terms.get(term.source)
            terms[term.source] = term if old is None else replace(old, c=old.c + term.c)
        return Sum(tuple(terms.values()), bias)

    def root(self, index: int, seen: set[int]) -> int:
        """Item of an output: materialized nodes, wrappers for inputs and constants,
        and a copy for an output repeated."""
        node = self.graph.nodes[index]
        label = str(self.graph.sources[index])
        if isinstance(node, Input):
            return self.new(Item("sum", [Sum((Term(self.item(index), "x"),))], label=label))
        if isinstance(node, Const):
            return self.new(Item("sum", [Sum((), node.value)], label=label))
        item = self.item(index)
        if item in seen:
            original = self.items[item]
            return self.new(
                Item(
                    original.kind,
                    list(original.sums),
                    original.scale,
                    original.bias,
                    original.label,
                )
            )
        return item


def _scaled(s: Sum, c: float) -> Sum:
    return Sum(tuple(replace(t, c=t.c * c) for t in s.terms), s.bias * c)


# ------------------------------------------------------------------ emission
def layout_graph(graph: FormulaGraph, hoist: bool = True) -> Layout:
    """Lay out a :class:`~compiler.graph.FormulaGraph` in KAN layers.

    Parameters
    ----------
    graph : FormulaGraph
    hoist : bool
        Try pre-summing early terms in nodes of their own when that saves nodes.

    Returns
    -------
    Layout
        Nodes per layer; the KAN width is ``layout.width`` and the arities of the
        multiplication nodes ``layout.mult_arity``.
    """
    builder = Items(graph)
    roots: list[int] = []
    for index in graph.outputs:
        roots.append(builder.root(index, set(roots)))
    items = hoist_items(builder.items, roots) if hoist else builder.items
    placed = schedule(items, roots)
    layer, depth, need = placed.layer, placed.depth, placed.need

    position: dict[tuple[int, int], int] = {}
    layers: list[tuple[LayoutNode, ...]] = [
        tuple(LayoutNode("input", label=name) for name in graph.variables)
    ]
    for i in range(len(graph.variables)):
        position[(i, 0)] = i
    for level in range(1, depth + 1):
        if level < depth:
            members = [
                (i, layer[i] < level)
                for i in range(len(items))
                if items[i].kind != "input" and (layer[i] == level or (layer[i] < level <= need[i]))
            ]
            members += [(i, True) for i in range(len(graph.variables)) if level <= need[i]]
            members.sort(key=lambda m: (not m[1] and items[m[0]].kind == "prod", m[0]))
        else:
            members = [(r, layer[r] < depth) for r in roots]
        nodes = []
        for slot, (i, carry) in enumerate(members):
            position[(i, level)] = slot
            if carry:
                item = items[i]
                nodes.append(
                    LayoutNode(
                        "sum",
                        (Sum((Term(position[(i, level - 1)], "x"),)),),
                        label=item.label,
                        carry=True,
                    )
                )
            else:
                item = items[i]
                sums = tuple(
                    Sum(
                        tuple(replace(t, source=position[(t.source, level - 1)]) for t in s.terms)
                        or (Term(0, "x", 1.0, 0.0, 0.0),),
                        s.bias,
                    )
                    for s in item.sums
                )
                nodes.append(LayoutNode(item.kind, sums, item.scale, item.bias, item.label))
        if level == depth:
            nodes = _outputs_in_order(nodes)
        layers.append(tuple(nodes))
    return Layout(tuple(layers), tuple(graph.variables))


def _outputs_in_order(nodes: list[LayoutNode]) -> list[LayoutNode]:
    """KAN layers list sum nodes before products: a sum output after a product output
    becomes the product of itself and a constant 1."""
    seen_product = False
    result = []
    for node in nodes:
        if node.kind == "prod":
            seen_product = True
        elif seen_product:
            one = Sum((Term(0, "x", 1.0, 0.0, 0.0),), 1.0)
            node = LayoutNode("prod", (node.sums[0], one), 1.0, 0.0, node.label, node.carry)
        result.append(node)
    return result
