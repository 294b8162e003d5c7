"""The KAN diagram (pykan's ``plot``), drawn from an explicit trace; returns a Figure.

Each active edge gets a small inset with its activation curve on the data ``x`` (from
:func:`~kanscience.core.trace`), coloured by what it computes (black: spline, red:
symbolic, purple: both) and faded by its attribution score, ``alpha = tanh(beta *
score)``. Subnodes are marked '+', multiplication nodes '×'. Nothing is written unless
``path`` is given, and pyplot's global figure registry is not used (the Figure is built
directly), so no backend or window is involved.

Examples
--------
>>> import torch
>>> from kanscience import KAN
>>> fig = plot(KAN([2, [1, 1], 1], seed=0), torch.rand(50, 2), in_vars=["a", "b"])
>>> sum(ax.get_label().startswith("edge") for ax in fig.axes)  # 2*3 + 2*1 edges
8
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor

from ..analysis import attribute
from ..analysis._surgery import _check_model, subnodes_of
from ..core import KAN, trace

__all__ = ["edge_color", "plot"]

_LAYER_GAP = 0.3  # height from a node layer to its subnodes (pykan's y0)
_MULT_GAP = 0.1  # height from the subnodes to the next node layer (pykan's z0)


def edge_color(numeric_mask: float, symbolic_mask: float) -> str | None:
    """pykan's colour code: 'black' spline, 'red' symbolic, 'purple' both, None if off."""
    numeric, symbolic = numeric_mask != 0, symbolic_mask != 0
    if numeric and symbolic:
        return "purple"
    if symbolic:
        return "red"
    return "black" if numeric else None


def _label(name: object) -> str:
    try:
        import sympy
    except ImportError:  # pragma: no cover - sympy is a core dependency
        return str(name)
    if isinstance(name, sympy.Basic):
        return f"${sympy.latex(name)}$"
    return str(name)


def _check_names(names: Sequence[object] | None, size: int, what: str) -> list[str] | None:
    if names is None:
        return None
    if isinstance(names, (str, bytes)) or not isinstance(names, Sequence):
        raise TypeError(f"{what} must be a list of {size} names, got {names!r}")
    if len(names) != size:
        raise ValueError(f"{what} must name all {size} {what[:-5]} nodes, got {len(names)}")
    return [_label(n) for n in names]


def _check_positive(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a positive number, got {type(value).__name__}")
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value}")
    return float(value)


def _centers(n: int) -> np.ndarray:
    return (np.arange(n) + 0.5) / n


@torch.no_grad()
def plot(
    model: KAN,
    x: Tensor,
    in_vars: Sequence[object] | None = None,
    out_vars: Sequence[object] | None = None,
    beta: float = 3.0,
    scale: float = 0.5,
    path: str | os.PathLike | None = None,
    title: str | None = None,
) -> Figure:
    """Draw ``model`` on data ``x`` as pykan's KAN diagram.

    Parameters
    ----------
    model : KAN
    x : Tensor (batch, n_in)
        Data for the activation curves and the importance scores.
    in_vars, out_vars : list of str or sympy expressions, optional
        Names of the input and output variables.
    beta : float > 0
        Transparency ``tanh(beta * score)`` of each edge (pykan's ``beta``).
    scale : float > 0
        Size of the diagram (pykan's ``scale``).
    path : str or PathLike, optional
        Also save the figure there (format from the suffix). Nothing is written otherwise.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
        Inset axes of edge ``(l, i, j)`` are labelled ``'edge l,i,j'``; the main axes
        ``'diagram'``. Only active edges get an inset.
    """
    _check_model(model)
    if not isinstance(x, Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    x = model.check_input(x)
    if x.shape[0] < 2:
        raise ValueError(f"x needs at least 2 samples, got {x.shape[0]}")
    beta, scale = _check_positive(beta, "beta"), _check_positive(scale, "scale")
    in_names = _check_names(in_vars, model.n_in, "in_vars")
    out_names = _check_names(out_vars, model.n_out, "out_vars")
    x = x.to(model.layers[0].coef)
    traces = trace(model, x)
    scores = [s.detach().cpu().numpy() for s in attribute(model, x).edge_scores]

    depth, step = model.depth, _LAYER_GAP + _MULT_GAP
    width_in, width_out = model.width_in, model.width_out
    y_low, y_high = -0.2, depth * step + (0.3 if title else 0.2)
    fig_w = 10 * scale
    fig_h = fig_w * (y_high - y_low)
    fig = Figure(figsize=(fig_w, fig_h))
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0), label="diagram")
    ax.set_xlim(0, 1)
    ax.set_ylim(y_low, y_high)
    ax.axis("off")

    def to_figure(px: float, py: float) -> tuple[float, float]:
        return px, (py - y_low) / (y_high - y_low)

    max_edges = max(width_in[l] * width_out[l + 1] for l in range(depth))
    max_nodes = max(width_out)
    half = 0.4 / max(max_edges, 5)  # half-width of an edge inset (x units)
    half_y = half * fig_w / fig_h * (y_high - y_low)
    marker = 0.15 / max(max_nodes, 5)
    node_size = (1 / max(max_nodes, 5)) ** 2 * 10000 * scale**2
    font = 40 * scale

    for layer in range(depth + 1):
        y = layer * step
        xs = _centers(width_in[layer])
        ax.scatter(xs, np.full_like(xs, y), s=node_size, color="black", zorder=3)
        n_sum = model.width[layer][0]
        for index in range(n_sum, width_in[layer]):
            ax.text(
                xs[index],
                y,
                "×",
                color="white",
                fontsize=font * 0.5,
                ha="center",
                va="center",
                zorder=4,
                gid=f"mult {layer},{index}",
            )

    for layer in range(depth):
        kan_layer = model.layers[layer]
        y = layer * step
        n, n_next = width_in[layer], width_out[layer + 1]
        n_edges = n * n_next
        numeric = kan_layer.mask.detach().cpu().numpy()
        symbolic = kan_layer.symbolic_mask.detach().cpu().numpy()
        alpha = np.tanh(beta * scores[layer])
        inputs = traces[layer].inputs.detach().cpu().numpy()
        acts = traces[layer].activations.detach().cpu().numpy()
        for i in range(n):
            order = np.argsort(inputs[:, i])
            for j in range(n_next):
                color = edge_color(numeric[i, j], symbolic[i, j])
                if color is None:
                    continue
                a = float(alpha[i, j])
                cx = (i * n_next + j + 0.5) / n_edges
                ax.plot(
                    [_centers(n)[i], cx],
                    [y, y + _LAYER_GAP / 2 - half_y],
                    color=color,
                    lw=2 * scale,
                    alpha=a,
                )
                ax.plot(
                    [cx, _centers(n_next)[j]],
                    [y + _LAYER_GAP / 2 + half_y, y + _LAYER_GAP],
                    color=color,
                    lw=2 * scale,
                    alpha=a,
                )
                left, bottom = to_figure(cx - half, y + _LAYER_GAP / 2 - half_y)
                right, top = to_figure(cx + half, y + _LAYER_GAP / 2 + half_y)
                inset = fig.add_axes(
                    (left, bottom, right - left, top - bottom), label=f"edge {layer},{i},{j}"
                )
                inset.plot(inputs[order, i], acts[order, i, j], color=color, lw=2 * scale, alpha=a)
                inset.set_xticks([])
                inset.set_yticks([])
                for spine in inset.spines.values():
                    spine.set_color(color)
                    spine.set_alpha(a)
                inset.patch.set_alpha(0.0)
        # subnodes ('+') and the links from subnodes to the nodes of the next layer
        sub_x, node_x = _centers(n_next), _centers(width_in[layer + 1])
        for j in range(n_next):
            ax.text(
                sub_x[j],
                y + _LAYER_GAP,
                "+",
                fontsize=font * 0.4,
                ha="center",
                va="center",
                gid=f"sum {layer + 1},{j}",
            )
        for node in range(width_in[layer + 1]):
            for j in subnodes_of(model, layer + 1, node):
                ax.plot(
                    [sub_x[j], node_x[node]],
                    [y + _LAYER_GAP + marker, (layer + 1) * step],
                    color="black",
                    lw=2 * scale,
                )

    for names, y, nodes in (
        (in_names, -0.1, model.n_in),
        (out_names, depth * step + 0.1, model.n_out),
    ):
        if names is not None:
            for position, name in zip(_centers(nodes), names):
                ax.text(position, y, name, fontsize=font, ha="center", va="center")
    if title is not None:
        ax.text(0.5, depth * step + 0.22, str(title), fontsize=font, ha="center", va="center")
    if path is not None:
        fig.savefig(os.fspath(path), bbox_inches="tight", dpi=200)
    return fig
