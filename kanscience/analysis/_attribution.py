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

from dataclasses import dataclass

import torch
from torch import Tensor

from ..core import KAN, forward_with_statistics, propagate_scores

__all__ = ["Attribution", "attribute", "feature_interaction"]


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
        nodes, _, _ = propagate_scores(
            model, statistics, layer=layer, out_score=full[layer].mean(0)
        )
    groups: dict[tuple[int, ...], int] = {}
    for row in nodes[0]:
        top = float(row.max())
        if top > neuron_th:
            key = tuple(int(i) for i in torch.nonzero(row > top * feature_th).flatten())
            groups[key] = groups.get(key, 0) + 1
    return groups
