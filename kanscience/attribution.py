"""Edge, node and input importance scores (pykan's ``attribute``), from explicit data.

Scores flow backwards from the outputs: a node's score is split over its incoming edges
in proportion to each edge's activation spread relative to its subnode's spread; a
multiplication node passes its whole score to each of its factors.

Examples
--------
>>> import torch
>>> from kanscience import KAN
>>> model = KAN([3, 2, 1], seed=0)
>>> scores = attribute(model, torch.rand(50, 3) * 2 - 1)
>>> scores.input_scores.shape
torch.Size([3])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from .network import KAN
from .trace import LayerStatistics, forward_with_statistics

__all__ = ["Attribution", "attribute", "propagate_scores", "feature_interaction"]


@dataclass(frozen=True)
class Attribution:
    """Scores averaged over the output nodes (pykan's ``node_scores``/``edge_scores``).

    Attributes
    ----------
    node_scores : list of (width_in[l],) tensors, l = 0..depth.
    edge_scores : list of (in, out) tensors, one per layer.
    subnode_scores : list of (width_out[l],) tensors, l = 1..depth.
    per_output : list of (n_out, width_in[l]) node scores for each output separately.
    """

    node_scores: list[Tensor]
    edge_scores: list[Tensor]
    subnode_scores: list[Tensor]
    per_output: list[Tensor]

    @property
    def input_scores(self) -> Tensor:
        """Importance of each input variable, shape (n_in,)."""
        return self.node_scores[0]


def _node_to_subnode(scores: Tensor, n_sum: int, arities: Sequence[int]) -> Tensor:
    """(K, nodes) -> (K, subnodes): a product node's score goes to each of its factors."""
    if not arities:
        return scores
    repeats = torch.tensor(list(arities), device=scores.device)
    return torch.cat([scores[:, :n_sum], scores[:, n_sum:].repeat_interleave(repeats, dim=1)], 1)


def propagate_scores(
    model: KAN, statistics: Sequence[LayerStatistics], layer: int | None = None,
    out_score: Tensor | None = None,
) -> tuple[list[Tensor], list[Tensor], list[Tensor]]:
    """Back-propagate scores from the nodes of ``layer`` (default: the outputs) to the inputs.

    Returns
    -------
    node_scores : list of (K, width_in[l]) for l = 0..layer
    edge_scores : list of (K, in, out) for layers 0..layer-1
    subnode_scores : list of (K, width_out[l]) for l = 1..layer
    where K is the number of nodes of ``layer`` (each row starts from one of them, scaled
    by ``out_score`` when given).
    """
    end = model.depth if layer is None else int(layer)
    n_start = model.width_in[end]
    device = statistics[0].total_std.device
    dtype = statistics[0].total_std.dtype
    node = torch.eye(n_start, device=device, dtype=dtype)
    if out_score is not None:
        node = torch.diag(out_score.to(dtype))
    nodes, edges, subnodes = [node], [], []
    for index in range(end, 0, -1):
        n_sum = model.width[index][0]
        subnode = _node_to_subnode(node, n_sum, model.mult_arity[index])
        stats = statistics[index - 1]
        edge = stats.total_std[None] * (subnode / (stats.subnode_std + 1e-4))[:, None, :]
        node = edge.sum(-1)
        nodes.append(node)
        edges.append(edge)
        subnodes.append(subnode)
    return nodes[::-1], edges[::-1], subnodes[::-1]


def attribute(model: KAN, x: Tensor) -> Attribution:
    """Importance scores of every node and edge of ``model`` on inputs ``x`` (batch, n_in)."""
    with torch.no_grad():
        _, statistics = forward_with_statistics(model, x)
        nodes, edges, subnodes = propagate_scores(model, statistics)
    return Attribution(
        node_scores=[n.mean(0) for n in nodes],
        edge_scores=[e.mean(0) for e in edges],
        subnode_scores=[s.mean(0) for s in subnodes],
        per_output=nodes,
    )


def feature_interaction(
    model: KAN, x: Tensor, layer: int, neuron_th: float = 1e-2, feature_th: float = 1e-2
) -> dict[tuple[int, ...], int]:
    """Which groups of inputs the nodes of ``layer`` depend on, with their counts.

    A node counts if its largest input score exceeds ``neuron_th``; its group is the inputs
    scoring above ``feature_th`` times that maximum.
    """
    if not 0 < layer <= model.depth:
        raise ValueError(f"layer must be in [1, {model.depth}], got {layer}")
    with torch.no_grad():
        _, statistics = forward_with_statistics(model, x)
        full, _, _ = propagate_scores(model, statistics)
        nodes, _, _ = propagate_scores(model, statistics, layer=layer, out_score=full[layer].mean(0))
    groups: dict[tuple[int, ...], int] = {}
    for row in nodes[0]:
        top = float(row.max())
        if top > neuron_th:
            key = tuple(int(i) for i in torch.nonzero(row > top * feature_th).flatten())
            groups[key] = groups.get(key, 0) + 1
    return groups
