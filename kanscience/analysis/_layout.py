"""Layout search: order hidden nodes so that important edges are short (pykan's
``auto_swap``), without changing the function.

The cost of a layout is pykan's connection cost: each edge's importance (from
:func:`~kanscience.analysis._attribution.attribute`) times its horizontal length when the
nodes of every layer are spread evenly over ``[0, 1]``.

Examples
--------
>>> import torch
>>> from kanscience import KAN
>>> model = KAN([2, 3, 1], seed=0)
>>> x = torch.rand(64, 2, generator=torch.Generator().manual_seed(0)) * 2 - 1
>>> tidy = auto_swap(model, x)
>>> connection_cost(tidy, x) <= connection_cost(model, x)
True
>>> bool(torch.allclose(tidy(x), model(x)))
True
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..core import KAN
from ._attribution import attribute
from ._surgery import _check_model, select_nodes, subnodes_of

__all__ = ["auto_swap", "connection_cost"]


def _centers(n: int) -> Tensor:
    return (torch.arange(n, dtype=torch.float64) + 0.5) / n


def _layout_cost(model: KAN, scores: list[Tensor], orders: list[list[int]]) -> float:
    """pykan's connection cost: edge score times horizontal edge length, all layers."""
    total = 0.0
    for layer, score in enumerate(scores):
        cols = [s for node in orders[layer + 1] for s in subnodes_of(model, layer + 1, node)]
        permuted = score[orders[layer]][:, cols]
        length = (_centers(permuted.shape[0])[:, None] - _centers(permuted.shape[1])[None]).abs()
        total += float((length * permuted).sum())
    return total


def _default_inputs(model: KAN, n_samples: int, seed: int) -> Tensor:
    layer = model.layers[0]
    low, high = layer.grid[:, layer.k], layer.grid[:, -layer.k - 1]
    generator = torch.Generator().manual_seed(int(seed))
    u = torch.rand(n_samples, model.n_in, generator=generator, dtype=torch.float64)
    return (low.double().cpu() + u * (high - low).double().cpu()).to(layer.grid)


def _scores(model: KAN, x: Tensor | None, seed: int) -> list[Tensor]:
    if x is None:
        x = _default_inputs(model, 256, seed)
    if not isinstance(x, Tensor):
        raise TypeError(f"x must be a torch.Tensor or None, got {type(x).__name__}")
    x = model.check_input(x)
    if x.shape[0] < 2:
        raise ValueError(f"x needs at least 2 samples to score edges, got {x.shape[0]}")
    reference = model.layers[0].coef
    scores = attribute(model, x.to(reference)).edge_scores
    return [s.detach().double().cpu() for s in scores]


def connection_cost(model: KAN, x: Tensor | None = None, seed: int = 0) -> float:
    """Importance-weighted total edge length of the KAN diagram (pykan's connection cost).

    Edge importances come from :func:`~kanscience.analysis._attribution.attribute` on ``x``; without
    ``x``, 256 points are drawn uniformly from the input grids with ``seed``.
    """
    _check_model(model)
    scores = _scores(model, x, seed)
    return _layout_cost(model, scores, [list(range(n)) for n in model.width_in])


def auto_swap(model: KAN, x: Tensor | None = None, max_sweeps: int = 10, seed: int = 0) -> KAN:
    """A copy with hidden nodes reordered to shorten important edges; same function.

    Greedy, as pykan: for every hidden node in turn, the swap with another node of the
    same kind that lowers :func:`connection_cost` most is made; sweeps repeat until none
    helps (at most ``max_sweeps``). Scores are computed once (they permute with the
    nodes), so no forward pass is repeated.

    Parameters
    ----------
    model : KAN
    x : Tensor (batch, n_in) or None
        Data for the edge importances (see :func:`connection_cost`).
    max_sweeps : int
    seed : int
        Seed of the default sample when ``x`` is None.
    """
    _check_model(model)
    if isinstance(max_sweeps, bool) or not isinstance(max_sweeps, int) or max_sweeps < 1:
        raise ValueError(f"max_sweeps must be a positive int, got {max_sweeps!r}")
    scores = _scores(model, x, seed)
    orders = [list(range(n)) for n in model.width_in]
    best = _layout_cost(model, scores, orders)
    for _ in range(max_sweeps):
        improved = False
        for layer in range(1, model.depth):
            n_sum, n = model.width[layer][0], model.width_in[layer]
            for a in range(n):
                group = range(n_sum) if a < n_sum else range(n_sum, n)
                choice = None
                for b in group:
                    if b == a:
                        continue
                    order = orders[layer]
                    order[a], order[b] = order[b], order[a]
                    cost = _layout_cost(model, scores, orders)
                    order[a], order[b] = order[b], order[a]
                    if cost < best - 1e-12 * max(1.0, abs(best)):
                        best, choice = cost, b
                if choice is not None:
                    order = orders[layer]
                    order[a], order[choice] = order[choice], order[a]
                    improved = True
        if not improved:
            break
    return select_nodes(model, [None, *orders[1:-1], None])
