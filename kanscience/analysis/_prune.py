"""Pruning: drop unimportant nodes, edges and inputs, returning a new, smaller KAN.

Importance comes from :func:`~kanscience.analysis.attribute` on explicit data ``x``
(pykan's scores, exactly). A part is removed when its score is at most the threshold, as
in pykan. Differences from pykan's ``prune_*``:

- the result is a new model built by :func:`~kanscience.analysis.select_nodes`: every
  tensor, node/subnode affine parameter and symbolic function is sliced consistently, and
  a multiplication node is kept or removed together with all of its subnodes (pykan's
  ``prune_node`` breaks on mixed-arity multiplication nodes and loses symbolic functions
  of pruned models);
- ``absorb_constants=True`` (default) moves the mean of every removed edge on ``x`` into
  the bias of the subnode it fed, so a removed part that is constant on the data (a
  score of 0 does not mean a value of 0) leaves the outputs exactly unchanged; pykan
  drops that constant;
- pruning inputs gives a model with fewer inputs plus the kept input indices
  (:attr:`PruneResult.kept_inputs`), instead of pykan's hidden ``input_id``;
- an edge is removed whole: its spline and its symbolic part (pykan keeps the symbolic
  part of a pruned edge on);
- a layer never becomes empty: where every node scores below the threshold the best one
  is kept.

Examples
--------
>>> import torch
>>> from kanscience import KAN
>>> model = KAN([3, 4, 1], seed=0)
>>> x = torch.rand(64, 3) * 2 - 1
>>> result = prune(model, x)
>>> result.model.n_in, len(result.kept_nodes)
(3, 3)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from ..core import KAN, check_index, trace
from ._attribution import attribute
from ._surgery import _check_model, _check_selection, select_nodes, subnodes_of

__all__ = ["PruneResult", "important_nodes", "prune", "prune_edges", "prune_inputs", "prune_nodes"]


@dataclass(frozen=True)
class PruneResult:
    """A pruned model and what was kept.

    Attributes
    ----------
    model : KAN
        The new model (the original is never modified).
    kept_nodes : tuple of tuples of int
        For every node layer (inputs first), the indices in the *original* model of the
        nodes the new model keeps, in order.
    removed_edges : tuple of tuples of (int, int)
        For every layer of edges, the edges ``(i, j)`` (indices in the *new* model) that
        edge pruning switched off.
    """

    model: KAN
    kept_nodes: tuple[tuple[int, ...], ...]
    removed_edges: tuple[tuple[tuple[int, int], ...], ...]

    @property
    def kept_inputs(self) -> tuple[int, ...]:
        """Original indices of the inputs the new model takes: feed it ``x[:, kept_inputs]``."""
        return self.kept_nodes[0]


# ----------------------------------------------------------------------------- checks
def _check_threshold(value: object, name: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        and not (isinstance(value, Tensor) and value.numel() == 1)
    ):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)  # type: ignore[arg-type]
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value}")
    return value


def _prepare(model: KAN, x: object) -> Tensor:
    _check_model(model)
    if not isinstance(x, Tensor):
        raise TypeError(
            f"x must be a torch.Tensor of shape (batch, {model.n_in}), got {type(x).__name__}"
        )
    x = model.check_input(x)
    if x.shape[0] < 2:
        raise ValueError(f"x needs at least 2 samples to score the model, got {x.shape[0]}")
    if not torch.is_floating_point(x) or not bool(torch.isfinite(x).all()):
        raise ValueError("x must hold finite floating-point values")
    return x.to(model.layers[0].coef)


def _check_absorb(value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"absorb_constants must be a bool, got {type(value).__name__}")
    return value


def _sorted_indices(values: object, size: int, name: str) -> list[int]:
    if isinstance(values, Tensor):
        values = values.tolist()
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise TypeError(f"{name} must be a list of node indices, got {values!r}")
    return sorted(check_index(v, size, f"{name} entry") for v in values)


def _above(scores: Tensor, threshold: float) -> list[int]:
    """Indices scoring above ``threshold``; the best one when none does."""
    kept = torch.nonzero(scores > threshold).flatten().tolist()
    return kept or [int(torch.argmax(scores))]


def important_nodes(model: KAN, x: Tensor, threshold: float = 1e-2) -> list[list[int]]:
    """Indices of the nodes of every layer scoring above ``threshold`` on ``x``.

    Input and output layers are included (the best node of a layer is listed when none
    scores above the threshold).

    >>> import torch
    >>> from kanscience import KAN
    >>> important_nodes(KAN([2, 3, 1], seed=0), torch.rand(32, 2), threshold=0.0)
    [[0, 1], [0, 1, 2], [0]]
    """
    x = _prepare(model, x)
    threshold = _check_threshold(threshold, "threshold")
    return [_above(s, threshold) for s in attribute(model, x).node_scores]


# ----------------------------------------------------------------------------- absorb
@torch.no_grad()
def _edge_means(model: KAN, x: Tensor) -> list[Tensor]:
    return [t.activations.mean(0) for t in trace(model, x)]


@torch.no_grad()
def _absorb(new: KAN, model: KAN, x: Tensor, removed: list[Tensor], nodes: list[list[int]]) -> None:
    """Add the mean of the removed edges of ``model`` to the subnode biases of ``new``.

    ``removed[l]`` is a boolean (in, out) mask of removed edges of layer ``l`` of
    ``model``; ``nodes`` the node selection that made ``new`` out of ``model``.
    """
    means = _edge_means(model, x)
    for layer, gone in enumerate(removed):
        if not bool(gone.any()):
            continue
        shift = (means[layer] * gone).sum(0)  # (out,) in the old subnode indices
        cols = [s for node in nodes[layer + 1] for s in subnodes_of(model, layer + 1, node)]
        shift = shift[torch.tensor(cols, dtype=torch.long, device=shift.device)]
        new.subnode_bias[layer].add_(shift * new.subnode_scale[layer])


def _active_edges(model: KAN, layer: int) -> Tensor:
    kan_layer = model.layers[layer]
    return (kan_layer.mask != 0) | (kan_layer.symbolic_mask != 0)


def _select(model: KAN, x: Tensor, nodes: list[list[int]], absorb: bool) -> KAN:
    new = select_nodes(model, nodes)
    if absorb:
        removed = []
        for layer in range(model.depth):
            dropped = torch.ones(model.width_in[layer], dtype=torch.bool)
            dropped[nodes[layer]] = False
            rows = dropped.to(model.layers[layer].mask.device)[:, None]
            removed.append(rows & _active_edges(model, layer))
        _absorb(new, model, x, removed, nodes)
    return new


def _no_edges(model: KAN) -> tuple[tuple[tuple[int, int], ...], ...]:
    return tuple(() for _ in range(model.depth))


# ----------------------------------------------------------------------------- prune
def prune_nodes(
    model: KAN,
    x: Tensor,
    threshold: float = 1e-2,
    active: Sequence[Sequence[int]] | None = None,
    absorb_constants: bool = True,
) -> PruneResult:
    """Remove the hidden nodes whose score on ``x`` is at most ``threshold``.

    Parameters
    ----------
    model : KAN
    x : Tensor (batch, n_in)
        Data for the scores (and for the constants absorbed).
    threshold : float >= 0
        pykan's ``prune_node`` threshold.
    active : list of lists of int, optional
        The hidden nodes to keep, one list per hidden layer (pykan's
        ``active_neurons_id``); overrides ``threshold``.
    absorb_constants : bool
        Move the mean of the removed nodes' outgoing edges into the next subnode biases.

    Returns
    -------
    PruneResult
    """
    x = _prepare(model, x)
    absorb = _check_absorb(absorb_constants)
    if active is None:
        threshold = _check_threshold(threshold, "threshold")
        scores = attribute(model, x).node_scores
        hidden = [_above(scores[layer], threshold) for layer in range(1, model.depth)]
    else:
        if (
            isinstance(active, (str, bytes))
            or not isinstance(active, Sequence)
            or (len(active) != model.depth - 1)
        ):
            raise ValueError(
                f"active must list the nodes to keep for each of the {model.depth - 1} hidden "
                f"layer(s), got {active!r}"
            )
        hidden = [
            _sorted_indices(chosen, model.width_in[layer + 1], f"active[{layer}]")
            for layer, chosen in enumerate(active)
        ]
    nodes = _check_selection(model, [None, *hidden, None])
    new = _select(model, x, nodes, absorb)
    return PruneResult(new, tuple(tuple(n) for n in nodes), _no_edges(model))


@torch.no_grad()
def prune_edges(
    model: KAN, x: Tensor, threshold: float = 3e-2, absorb_constants: bool = True
) -> PruneResult:
    """Switch off every active edge whose score on ``x`` is at most ``threshold``.

    Both the spline and the symbolic part of a pruned edge are switched off; its mean on
    ``x`` moves into the bias of its subnode when ``absorb_constants``. Nodes stay.
    """
    x = _prepare(model, x)
    absorb = _check_absorb(absorb_constants)
    threshold = _check_threshold(threshold, "threshold")
    scores = attribute(model, x).edge_scores
    removed = [
        (s.to(model.layers[l].mask.device) <= threshold) & _active_edges(model, l)
        for l, s in enumerate(scores)
    ]
    new = model.copy()
    for layer, gone in enumerate(removed):
        kan_layer = new.layers[layer]
        kan_layer.mask[gone] = 0.0
        kan_layer.symbolic_mask[gone] = 0.0
        kan_layer.invalidate_symbolic_cache()
    nodes = [list(range(n)) for n in model.width_in]
    if absorb:
        _absorb(new, model, x, removed, nodes)
    edges = tuple(tuple((int(i), int(j)) for i, j in torch.nonzero(g).tolist()) for g in removed)
    return PruneResult(new, tuple(tuple(n) for n in nodes), edges)


def prune(
    model: KAN,
    x: Tensor,
    node_th: float = 1e-2,
    edge_th: float = 3e-2,
    absorb_constants: bool = True,
) -> PruneResult:
    """:func:`prune_nodes` then :func:`prune_edges` (scores recomputed in between), as pykan.

    >>> import torch
    >>> from kanscience import KAN
    >>> model = KAN([2, 5, 1], seed=0)
    >>> result = prune(model, torch.rand(100, 2) * 2 - 1, node_th=0.05)
    >>> result.model.width_in[1] <= 5
    True
    """
    _check_threshold(node_th, "node_th")
    _check_threshold(edge_th, "edge_th")
    nodes = prune_nodes(model, x, node_th, absorb_constants=absorb_constants)
    edges = prune_edges(nodes.model, x, edge_th, absorb_constants=absorb_constants)
    return PruneResult(edges.model, nodes.kept_nodes, edges.removed_edges)


def prune_inputs(
    model: KAN,
    x: Tensor,
    threshold: float = 1e-2,
    active_inputs: Sequence[int] | None = None,
    absorb_constants: bool = True,
) -> PruneResult:
    """Remove the inputs whose score on ``x`` is at most ``threshold``.

    The new model takes ``x[:, result.kept_inputs]``. ``active_inputs`` lists the inputs
    to keep instead (pykan's manual mode).

    >>> import torch
    >>> from kanscience import KAN
    >>> model = KAN([3, 2, 1], seed=0)
    >>> result = prune_inputs(model, torch.rand(50, 3), active_inputs=[0, 2])
    >>> result.kept_inputs, result.model.n_in
    ((0, 2), 2)
    """
    x = _prepare(model, x)
    absorb = _check_absorb(absorb_constants)
    if active_inputs is None:
        threshold = _check_threshold(threshold, "threshold")
        inputs = _above(attribute(model, x).input_scores, threshold)
    else:
        inputs = _sorted_indices(active_inputs, model.n_in, "active_inputs")
    nodes = _check_selection(model, [inputs, *([None] * model.depth)])
    new = _select(model, x, nodes, absorb)
    return PruneResult(new, tuple(tuple(n) for n in nodes), _no_edges(model))
