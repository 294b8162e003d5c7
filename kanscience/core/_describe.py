"""Values at every node, grids placed on the ranges nodes take, and a text diagram of a KAN."""

from __future__ import annotations

import torch

from . import _splines as splines
from ._layer import ZERO_FUNCTION
from ._network import KAN

__all__ = ["describe", "node_values", "place_grids_"]


def node_values(model: KAN, x: torch.Tensor) -> list[torch.Tensor]:
    """``model.node_values(x)``, skipping the spline part of layers whose spline masks are
    all zero (a compiled model's), which is most of the cost."""
    values = [x]
    for l, layer in enumerate(model.layers):
        numeric = bool((layer.mask != 0).any())
        subnodes = layer(x) if numeric else layer.symbolic_forward(x)
        x = model.nodes_from_subnodes(subnodes, l)
        values.append(x)
    return values


@torch.no_grad()
def place_grids_(model: KAN, x: torch.Tensor) -> None:
    """Put each layer's spline grid uniformly on the range its input nodes take on ``x``
    (in place; the spline coefficients are kept as they are)."""
    for layer, values in zip(model.layers, node_values(model, x)):
        lo, hi = values.min(0).values, values.max(0).values
        flat = hi - lo <= 1e-12 * (1 + lo.abs())
        lo, hi = torch.where(flat, lo - 1, lo), torch.where(flat, hi + 1, hi)
        steps = torch.linspace(0, 1, layer.num + 1, dtype=values.dtype, device=values.device)
        layer.grid.copy_(splines.extend_grid(lo[:, None] + (hi - lo)[:, None] * steps, layer.k))


def _g(value: float) -> str:
    return f"{value:.6g}"


def describe(model: KAN) -> str:
    """A text diagram of a KAN: widths, then every active edge as
    ``'l (i->j): c*f(a*x+b)+d'`` (``j`` a subnode), spline edges as ``'l (i->j): spline'``.

    Examples
    --------
    >>> model = KAN([[2, 0], [0, 1]], seed=0)
    >>> print(describe(model))
    KAN width [[2, 0], [0, 1]], depth 1, inputs x_0, x_1
    layer 0: 2 nodes -> 2 subnodes -> nodes: 0 = mult(0, 1)
      0 (0->0): spline (mask 1)
      0 (0->1): spline (mask 1)
      0 (1->0): spline (mask 1)
      0 (1->1): spline (mask 1)
    """
    names = getattr(model, "input_names", None) or tuple(f"x_{i}" for i in range(model.n_in))
    lines = [f"KAN width {model.width}, depth {model.depth}, inputs {', '.join(names)}"]
    for l, layer in enumerate(model.layers):
        n_sum = model.width[l + 1][0]
        groups, start = [], n_sum
        for node, arity in enumerate(model.mult_arity[l + 1]):
            members = ", ".join(str(s) for s in range(start, start + arity))
            groups.append(f"{n_sum + node} = mult({members})")
            start += arity
        nodes = ", ".join(groups) if groups else "sums"
        lines.append(
            f"layer {l}: {layer.in_dim} nodes -> {layer.out_dim} subnodes -> nodes: {nodes}"
        )
        for i in range(layer.in_dim):
            for j in range(layer.out_dim):
                if (
                    float(layer.symbolic_mask[i, j]) != 0.0
                    and layer.symbolic_names[i][j] != ZERO_FUNCTION
                ):
                    a, b, c, d = layer.symbolic_affine[i, j].tolist()
                    fn = layer.symbolic_names[i][j]
                    lines.append(f"  {l} ({i}->{j}): {_g(c)}*{fn}({_g(a)}*x+{_g(b)})+{_g(d)}")
                if float(layer.mask[i, j]) != 0.0:
                    lines.append(f"  {l} ({i}->{j}): spline (mask {_g(float(layer.mask[i, j]))})")
        for name, scale, bias in (
            ("subnode", model.subnode_scale[l], model.subnode_bias[l]),
            ("node", model.node_scale[l], model.node_bias[l]),
        ):
            for index, (s, b) in enumerate(zip(scale.tolist(), bias.tolist())):
                if s != 1.0 or b != 0.0:
                    lines.append(f"  {name} {index} of layer {l + 1}: {_g(s)}*x+{_g(b)}")
    return "\n".join(lines)
