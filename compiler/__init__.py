"""kanpiler: sympy formulas -> KANs whose forward pass equals them.

The pipeline is :func:`~compiler.graph.build_graph` (sympy -> typed DAG),
:func:`~compiler.layout.layout_graph` (DAG -> KAN layers) and
:func:`~compiler.build.build_kan` (layers -> :class:`CompiledKAN`), chained by
:func:`compile_formula`. :mod:`compiler.expand` widens, deepens, perturbs and splines a
compiled model so that training can continue from the formula.

Examples
--------
>>> import sympy
>>> from compiler import compile_formula
>>> u, v = sympy.symbols("u v")
>>> model = compile_formula((u + v) / (1 + u * v), [u, v])
>>> model.width
[[2, 0], [1, 1], [0, 1]]
"""

from kanscience.core import describe

from .build import CompiledKAN, build_kan, compile_formula, normalize_ranges
from .checkpoint import load_compiled, save_compiled
from .expand import compile_and_train, expand_depth, expand_width, perturb
from .graph import FormulaGraph, UnsupportedExpressionError, build_graph, check_finite
from .layout import Layout, layout_graph
from .spline import symbolic_to_spline

__all__ = [
    "CompiledKAN",
    "FormulaGraph",
    "Layout",
    "UnsupportedExpressionError",
    "build_graph",
    "build_kan",
    "check_finite",
    "compile_and_train",
    "compile_formula",
    "describe",
    "expand_depth",
    "expand_width",
    "layout_graph",
    "load_compiled",
    "normalize_ranges",
    "perturb",
    "save_compiled",
    "symbolic_to_spline",
]
