"""The tree of how a function combines its variables, and its exports and drawings.

A :class:`Tree` is a :class:`TreeNode` root plus the names of the inputs. ``'add'`` and
``'mul'`` nodes combine their children's values, a ``'general'`` node is an unknown
function of them, ``'var'`` leaves are (functions of) single inputs. It converts to a
canonical string (:meth:`Tree.shape`), a networkx graph, Graphviz DOT source and a
matplotlib figure; files are written only by :meth:`Tree.render`. The trees are built
from hypothesis tests by :func:`~kanscience.structure.build_tree`.
"""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import sympy

from ..core._html import figure_svg, latex_math, mathml, result_block

if TYPE_CHECKING:
    import networkx as nx
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["KINDS", "Tree", "TreeNode"]

KINDS = ("add", "mul", "general", "var")
_SYMBOLS = {"add": "+", "mul": "\u00d7", "general": "h"}


@dataclass(frozen=True)
class TreeNode:
    """One node: ``kind`` in ``('add', 'mul', 'general', 'var')``, the input
    ``variables`` below it (sorted), its ``children`` and the ``score`` of the test
    that created it (0.0 for leaves)."""

    kind: str
    variables: tuple[int, ...]
    children: tuple[TreeNode, ...] = ()
    score: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        if (self.kind == "var") != (len(self.children) == 0):
            raise ValueError("'var' nodes are exactly the nodes without children")

    def walk(self) -> Iterator[TreeNode]:
        """Nodes in pre-order (this node first)."""
        yield self
        for child in self.children:
            yield from child.walk()


@dataclass(frozen=True)
class Tree:
    """A variable-combination tree with the names of its inputs."""

    root: TreeNode
    var_names: tuple[str, ...] = field(default=())

    def _name(self, node: TreeNode) -> str:
        return self.var_names[node.variables[0]]

    def shape(self) -> str:
        """Canonical string, children sorted, e.g. ``'mul(add(x1,x2),add(x3,x4))'``.

        Examples
        --------
        >>> leaf = lambda i: TreeNode("var", (i,))
        >>> Tree(TreeNode("add", (0, 1), (leaf(1), leaf(0))), ("a", "b")).shape()
        'add(a,b)'
        """

        def form(node: TreeNode) -> str:
            if node.kind == "var":
                return self._name(node)
            return f"{node.kind}({','.join(sorted(form(c) for c in node.children))})"

        return form(self.root)

    def _numbered(self) -> list[tuple[int, TreeNode, int | None]]:
        out: list[tuple[int, TreeNode, int | None]] = []

        def visit(node: TreeNode, parent: int | None) -> None:
            me = len(out)
            out.append((me, node, parent))
            for child in node.children:
                visit(child, me)

        visit(self.root, None)
        return out

    def _label(self, node: TreeNode) -> str:
        return self._name(node) if node.kind == "var" else _SYMBOLS[node.kind]

    def to_networkx(self) -> nx.DiGraph:
        """Directed graph, edges parent -> child; node attributes ``kind``, ``label``,
        ``variables`` and ``score``; integer node ids in pre-order (root is 0)."""
        import networkx as nx

        graph = nx.DiGraph()
        for i, node, parent in self._numbered():
            graph.add_node(
                i,
                kind=node.kind,
                label=self._label(node),
                variables=node.variables,
                score=node.score,
            )
            if parent is not None:
                graph.add_edge(parent, i)
        return graph

    def to_dot(self) -> str:
        """Graphviz DOT source (built with the ``graphviz`` package; nothing rendered)."""
        import graphviz

        dot = graphviz.Digraph("tree", graph_attr={"rankdir": "TB"})
        for i, node, parent in self._numbered():
            shape = "plaintext" if node.kind == "var" else "circle"
            tip = f"{node.kind} score={node.score:.2g}"
            dot.node(f"n{i}", self._label(node), shape=shape, tooltip=tip)
            if parent is not None:
                dot.edge(f"n{parent}", f"n{i}")
        return dot.source

    def _positions(self) -> dict[int, tuple[float, float]]:
        pos: dict[int, tuple[float, float]] = {}
        leaves = itertools.count()

        def place(node: TreeNode, depth: int, ids: Iterator[int]) -> float:
            me = next(ids)
            if node.kind == "var":
                x = float(next(leaves))
            else:
                x = float(np.mean([place(c, depth + 1, ids) for c in node.children]))
            pos[me] = (x, -float(depth))
            return x

        place(self.root, 0, itertools.count())
        return pos

    def plot(self, ax: Axes | None = None) -> Figure:
        """Draw the tree with matplotlib (root on top); returns the Figure, writes nothing.

        Drawn on ``ax`` when given (the returned Figure is then the one holding ``ax``).

        Examples
        --------
        >>> leaf = lambda i: TreeNode("var", (i,))
        >>> fig = Tree(TreeNode("mul", (0, 1), (leaf(0), leaf(1))), ("a", "b")).plot()
        >>> len(fig.axes)
        1
        """
        import networkx as nx
        from matplotlib.figure import Figure

        graph = self.to_networkx()
        if ax is None:
            width = max(3.0, 1.2 * len(self.root.variables))
            fig = Figure(figsize=(width, 1.0 + 1.2 * nx.dag_longest_path_length(graph)))
            ax = fig.add_subplot()
        fig = ax.figure
        if not isinstance(fig, Figure):  # a SubFigure: the Figure holding it
            fig = fig.figure
        pos = self._positions()
        inner = [i for i in graph if graph.nodes[i]["kind"] != "var"]
        nx.draw_networkx_edges(graph, pos, ax=ax, arrows=False)
        nx.draw_networkx_nodes(
            graph,
            pos,
            nodelist=inner,
            ax=ax,
            node_color="#dbe9f6",
            edgecolors="#2b5d8a",
            node_size=500,
        )
        nx.draw_networkx_labels(
            graph, pos, ax=ax, labels=nx.get_node_attributes(graph, "label"), font_size=11
        )
        ax.set_axis_off()
        ax.margins(0.15)
        return fig

    def expression(self) -> sympy.Expr:
        """The tree as a sympy expression: inputs as real symbols, ``'add'`` and ``'mul'``
        as sums and products, each ``'general'`` node an undefined function ``h`` (``h_1,
        h_2, ...`` when there are several, in pre-order).

        Examples
        --------
        >>> leaf = lambda i: TreeNode("var", (i,))
        >>> add = lambda i, j: TreeNode("add", (i, j), (leaf(i), leaf(j)))
        >>> Tree(TreeNode("mul", (0, 1, 2, 3), (add(0, 1), add(2, 3))), tuple("abcd")).expression()
        (a + b)*(c + d)
        """
        general = [n for n in self.root.walk() if n.kind == "general"]
        names = {id(n): "h" if len(general) == 1 else f"h_{k}" for k, n in enumerate(general, 1)}

        def build(node: TreeNode) -> sympy.Expr:
            if node.kind == "var":
                return sympy.Symbol(self._name(node), real=True)
            children = [build(c) for c in node.children]
            if node.kind == "add":
                return sympy.Add(*children, evaluate=False)
            if node.kind == "mul":
                return sympy.Mul(*children, evaluate=False)
            return sympy.Function(names[id(node)])(*children)

        return build(self.root)

    def _repr_latex_(self) -> str:
        """The tree's :meth:`expression` as inline LaTeX."""
        return latex_math(self.expression())

    def _repr_html_(self) -> str:
        """The tree's :meth:`expression` in MathML and its drawing as inline SVG."""
        return result_block(
            f"Tree {self.shape()}", mathml(self.expression(), "block"), figure_svg(self.plot())
        )

    def render(self, path: str | Path, format: str = "svg") -> Path:
        """Write the drawing to ``path`` as ``'svg'`` or ``'png'`` (Graphviz ``dot`` when
        installed, else matplotlib); no other file is written. Returns the path."""
        if format not in ("svg", "png"):
            raise ValueError(f"format must be 'svg' or 'png', got {format!r}")
        path = Path(path)
        if shutil.which("dot"):
            import graphviz

            path.write_bytes(graphviz.Source(self.to_dot()).pipe(format=format))
        else:
            self.plot().savefig(path, format=format)
        return path
