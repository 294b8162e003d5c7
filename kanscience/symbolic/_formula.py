"""The formula of a symbolic KAN: one sympy expression per output.

:func:`symbolic_formula` turns a model whose edges are all symbolic into one sympy
expression per output, following ``forward`` exactly: every edge's
``symbolic_mask * (c * f(a * x + b) + d)``, the subnode map ``s * sum + t``, the
multiplication nodes (``arity`` consecutive subnodes each, any arity, mixed arities per
layer), and the node map ``s * y + t``. Parameters enter as exact binary floats, so in
float64 the formula reproduces ``forward`` to rounding error.

Rounding and snapping the constants is in :mod:`kanscience.symbolic._constants`, evaluating
a formula with torch in :mod:`kanscience.symbolic._to_torch`.

Examples
--------
>>> import torch
>>> from kanscience import KAN
>>> model = KAN([1, 1], seed=0, dtype=torch.float64)
>>> model.set_symbolic_(0, 0, 0, "sin", (2.0, 0.0, 3.0, 1.0))
>>> symbolic_formula(model, ["t"])
[3*sin(2*t) + 1]
"""

from __future__ import annotations

from collections.abc import Sequence

import sympy
from torch import Tensor

from ..core import KAN, ZERO_FUNCTION
from ..core._functions import LibraryLike
from ._constants import ex_round, number
from ._simplify import simplify_formula

__all__ = ["symbolic_formula"]


def _variables(model: KAN, var_names: Sequence[str | sympy.Symbol] | None) -> list[sympy.Expr]:
    if var_names is None:
        return [sympy.Symbol(f"x_{i + 1}", real=True) for i in range(model.n_in)]
    if isinstance(var_names, str) or len(var_names) != model.n_in:
        raise ValueError(f"var_names must list {model.n_in} names, got {var_names!r}")
    symbols: list[sympy.Expr] = [
        sympy.Symbol(v, real=True) if isinstance(v, str) else v for v in var_names
    ]
    if not all(isinstance(s, sympy.Expr) for s in symbols):
        raise TypeError(f"var_names must be strings or sympy expressions, got {var_names!r}")
    return symbols


def _numeric_edges(model: KAN) -> list[tuple[int, int, int]]:
    return [
        (layer, i, j)
        for layer, kan_layer in enumerate(model.layers)
        for i, j in (kan_layer.mask != 0).nonzero().tolist()
    ]


def _edge_expression(kan_layer, i: int, j: int, x: sympy.Expr) -> sympy.Expr:
    gate = float(kan_layer.symbolic_mask[i, j])
    name = kan_layer.symbolic_names[i][j]
    if gate == 0.0 or name == ZERO_FUNCTION:
        return sympy.S.Zero
    a, b, c, d = (number(v) for v in kan_layer.symbolic_affine[i, j].tolist())
    value = c * kan_layer.library[name].sympy_fn(a * x + b) + d
    return value if gate == 1.0 else number(gate) * value


def symbolic_formula(
    model: KAN,
    var_names: Sequence[str | sympy.Symbol] | None = None,
    round_digits: int | None = None,
    simplify: bool = False,
    x: Tensor | None = None,
    lib: LibraryLike = None,
    weight_simple: float = 0.8,
) -> list[sympy.Expr]:
    """One sympy expression per output of a model whose edges are symbolic.

    Parameters
    ----------
    model : KAN
    var_names : sequence of str or sympy symbols, optional
        Input names (strings become real symbols); default ``x_1 .. x_n``.
    round_digits : int, optional
        Round every float to this many decimals (:func:`ex_round`).
    simplify : bool
        Apply :func:`simplify_formula` with ``full=True`` to each output (``sympy.simplify``
        can be slow on big formulas).
    x : Tensor (batch, n_in), optional
        When given, spline edges are first replaced by their best symbolic fit on ``x``
        (:func:`kanscience.symbolic.auto_symbolic` with ``lib`` and ``weight_simple``);
        the model itself is not changed.

    Returns
    -------
    list of sympy.Expr

    Raises
    ------
    ValueError
        If an edge still has an active spline part (and ``x`` is not given); the message
        lists the edges ``(layer, i, j)``.
    """
    if not isinstance(model, KAN):
        raise TypeError(f"model must be a kanscience.KAN, got {type(model).__name__}")
    if x is not None:
        from ._edges import auto_symbolic

        model = auto_symbolic(model, x, lib=lib, weight_simple=weight_simple).model
    numeric = _numeric_edges(model)
    if numeric:
        listed = ", ".join(map(str, numeric[:20])) + (" ..." if len(numeric) > 20 else "")
        raise ValueError(
            f"{len(numeric)} edge(s) (layer, i, j) still have a spline part: {listed}; fix them "
            "with auto_symbolic / fix_symbolic first, or pass x= to fit them automatically"
        )
    values = _variables(model, var_names)
    for layer, kan_layer in enumerate(model.layers):
        scale = model.subnode_scale[layer].tolist()
        bias = model.subnode_bias[layer].tolist()
        subnodes = []
        for j in range(kan_layer.out_dim):
            total = sympy.Add(
                *(_edge_expression(kan_layer, i, j, values[i]) for i in range(kan_layer.in_dim))
            )
            subnodes.append(number(scale[j]) * total + number(bias[j]))
        n_sum = model.width[layer + 1][0]
        nodes, start = subnodes[:n_sum], n_sum
        for arity in model.mult_arity[layer + 1]:
            nodes.append(sympy.Mul(*subnodes[start : start + arity]))
            start += arity
        scale, bias = model.node_scale[layer].tolist(), model.node_bias[layer].tolist()
        values = [number(s) * v + number(t) for s, v, t in zip(scale, nodes, bias)]
    if round_digits is not None:
        values = [ex_round(v, round_digits) for v in values]
    if simplify:
        values = [simplify_formula(v, full=True) for v in values]
    return values
