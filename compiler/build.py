"""A layout as a KAN: fixed symbolic edges with exact affine parameters.

Every edge the layout uses becomes a symbolic edge ``c * f(a * x + b) + d`` (``d`` carries
the subnode's constant); all other edges are off (spline and symbolic masks zero), so the
forward pass equals the formula up to rounding. Product nodes with an offset use the node
affine map. The model keeps its (masked) spline parameters, so it can be widened,
perturbed and trained (:mod:`compiler.expand`).

Examples
--------
>>> import sympy, torch
>>> x, y = sympy.symbols("x y")
>>> model = compile_formula(x * y + sympy.sin(x), [x, y])
>>> model.width, model.input_names
([[2, 0], [1, 1], [1, 0]], ('x', 'y'))
>>> z = torch.tensor([[0.5, 2.0]], dtype=torch.float64)
>>> bool(torch.isclose(model(z)[0, 0], torch.tensor(1.0 + torch.sin(torch.tensor(0.5)).item(),
...      dtype=torch.float64)))
True
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import sympy
import torch

from kanscience.core import KAN, ZERO_FUNCTION, FunctionLibrary, place_grids_

from .graph import build_graph, check_finite
from .layout import Layout, layout_graph

__all__ = [
    "CompiledKAN",
    "build_kan",
    "compile_formula",
    "normalize_ranges",
]

RangesLike = Any  # (lo, hi) | [(lo, hi), ...] | {name: (lo, hi)}


class CompiledKAN(KAN):
    """A :class:`~kanscience.KAN` that knows its inputs' names and the formulas it was
    compiled from.

    Parameters
    ----------
    width, **kwargs
        As for :class:`~kanscience.KAN`.
    input_names : sequence of str
        The variable each input is.
    expressions : sequence of sympy.Expr
        The formulas compiled (the prior; training changes the model, not these).
    """

    def __init__(
        self,
        width: Any,
        *args: Any,
        input_names: Sequence[str] = (),
        expressions: Sequence[sympy.Expr] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(width, *args, **kwargs)
        names = tuple(input_names) or tuple(f"x_{i}" for i in range(self.n_in))
        if len(names) != self.n_in:
            raise ValueError(f"input_names must name {self.n_in} inputs, got {names!r}")
        self.input_names: tuple[str, ...] = names
        self.expressions: tuple[sympy.Expr, ...] = tuple(expressions)


def normalize_ranges(ranges: RangesLike, names: Sequence[str]) -> list[tuple[float, float]]:
    """One ``(lo, hi)`` per input from a pair, a list of pairs, or a dict by name.

    Raises
    ------
    ValueError
        If a name is missing or unknown, the count is wrong, or a bound is not finite with
        ``lo < hi``.
    """
    names = list(names)
    if isinstance(ranges, Mapping):
        unknown = sorted(set(ranges) - set(names))
        missing = [n for n in names if n not in ranges]
        if unknown or missing:
            raise ValueError(
                f"ranges must give (lo, hi) for each of {names}; "
                f"missing {missing}, unknown {unknown}"
            )
        pairs = [ranges[n] for n in names]
    else:
        try:
            values = [float(v) for v in ranges]  # a single pair for every input
            pairs = [values] * len(names) if len(values) == 2 else None
        except (TypeError, ValueError):
            pairs = list(ranges)
        if pairs is None or len(pairs) != len(names):
            raise ValueError(
                f"ranges must be (lo, hi), {len(names)} pairs or a dict by name "
                f"for inputs {names}, got {ranges!r}"
            )
    result = []
    for name, pair in zip(names, pairs):
        try:
            lo, hi = (float(v) for v in pair)
        except (TypeError, ValueError):
            raise ValueError(f"ranges[{name!r}] must be a pair (lo, hi), got {pair!r}") from None
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise ValueError(f"ranges[{name!r}] must be finite with lo < hi, got {pair!r}")
        result.append((lo, hi))
    return result


@torch.no_grad()
def build_kan(
    layout: Layout,
    expressions: Sequence[sympy.Expr] = (),
    **kan_options: Any,
) -> CompiledKAN:
    """A :class:`CompiledKAN` computing ``layout`` exactly.

    Parameters
    ----------
    layout : Layout
    expressions : sequence of sympy.Expr
        Stored on the model.
    **kan_options
        Passed to :class:`~kanscience.KAN` (``grid``, ``k``, ``seed``, ``dtype``,
        ``library``, ``base_fun``, ...); ``width`` and ``mult_arity`` come from the layout.
    """
    model = CompiledKAN(
        layout.width,
        mult_arity=layout.mult_arity,
        input_names=layout.variables,
        expressions=expressions,
        **kan_options,
    )
    for l, kan_layer in enumerate(model.layers):
        kan_layer.mask.zero_()
        kan_layer.symbolic_mask.zero_()
        kan_layer.symbolic_affine.zero_()
        for row in kan_layer.symbolic_names:
            row[:] = [ZERO_FUNCTION] * len(row)
        kan_layer.invalidate_symbolic_cache()
        nodes = layout.layers[l + 1]
        n_sum = sum(node.kind != "prod" for node in nodes)
        next_subnode = n_sum
        for j, node in enumerate(nodes):
            if node.kind == "prod":
                subnodes = range(next_subnode, next_subnode + len(node.sums))
                next_subnode += len(node.sums)
                model.node_scale[l][j] = node.scale
                model.node_bias[l][j] = node.bias
            else:
                subnodes = range(j, j + 1)
            for subnode, s in zip(subnodes, node.sums):
                for position, t in enumerate(s.terms):
                    d = s.bias if position == 0 else 0.0
                    model.set_symbolic_(l, t.source, subnode, t.fn, affine=(t.a, t.b, t.c, d))
    return model


def compile_formula(
    exprs: sympy.Expr | str | Sequence[sympy.Expr | str],
    variables: Sequence[str | sympy.Symbol] | None = None,
    *,
    ranges: RangesLike | None = None,
    grid: int = 5,
    k: int = 3,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
    library: FunctionLibrary | Sequence[str] | None = None,
    **kan_options: Any,
) -> CompiledKAN:
    """Compile formulas into a KAN whose forward pass equals them (the kanpiler).

    Parameters
    ----------
    exprs : sympy.Expr, str, or a list of them (one per output)
        Strings are parsed with real symbols named like ``variables``.
    variables : list of str or sympy.Symbol, optional
        The inputs, in order (default: the free symbols sorted by name). May include
        variables the formulas do not use (inputs for terms to be learned later).
    ranges : (lo, hi), list of pairs, or dict by name, optional
        Where the model will be used: the formulas are checked to be finite there
        (including poles between samples) and the spline grids are placed on each
        node's values.
    grid, k, seed, dtype, library, **kan_options
        Passed to :class:`~kanscience.KAN`. ``dtype`` defaults to float64 so the forward
        matches the formula to rounding.

    Returns
    -------
    CompiledKAN
        ``input_names`` says which variable each input is; ``width`` the nodes per layer.

    Raises
    ------
    UnsupportedExpressionError
        For a head without a KAN form (``Piecewise``, ``gamma``, undefined functions, ...).
    ValueError
        For variables that do not match the formulas, malformed ranges, or formulas not
        finite on ``ranges``.

    Examples
    --------
    >>> model = compile_formula("m0 / sqrt(1 - v**2 / c**2)", ["m0", "v", "c"])
    >>> model.width
    [[3, 0], [1, 1], [0, 1]]
    """
    graph = build_graph(exprs, variables, library=library)
    points = None
    if ranges is not None:
        points = check_finite(graph, normalize_ranges(ranges, graph.variables), seed=seed)
    model = build_kan(
        layout_graph(graph),
        graph.expressions,
        grid=grid,
        k=k,
        seed=seed,
        dtype=dtype,
        library=graph.library,
        **kan_options,
    )
    if points is not None:
        place_grids_(model, points.to(dtype))
    return model
