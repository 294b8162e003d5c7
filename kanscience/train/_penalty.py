"""Sparsity penalties (pykan's ``reg``) as functions of explicit statistics.

Metrics (pykan's names):

- ``edge_forward_spline_n``: std of the numeric edge over (std of its input + 0.1);
- ``edge_forward_sum``: the same with the symbolic part included;
- ``edge_forward_spline_u``: std of the whole edge, not normalized;
- ``edge_backward``: the edge attribution scores;
- ``node_backward``: node attribution scores from every layer to the inputs.

For each score matrix: ``lamb_l1 * sum + lamb_entropy * (row entropy + column entropy)``;
plus ``lamb_coef * |coef|`` and ``lamb_coefdiff * |diff(coef)|`` on the spline coefficients.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from ..core import KAN, LayerStatistics, propagate_scores

__all__ = ["REG_METRICS", "l1_entropy", "coefficient_penalty", "sparsity_scores", "penalty"]

REG_METRICS = (
    "edge_forward_spline_n",
    "edge_forward_sum",
    "edge_forward_spline_u",
    "edge_backward",
    "node_backward",
)


def l1_entropy(scores: Sequence[Tensor], lamb_l1: float, lamb_entropy: float) -> Tensor:
    """pykan's L1 + entropy penalty on (in, out) score matrices.

    Entropies are taken over the inputs of each output ("row" in pykan's (out, in)
    orientation) and over the outputs of each input, each normalized by ``sum + 1``.
    """
    total = scores[0].new_zeros(())
    for vec in scores:
        p_row = vec / (vec.sum(0, keepdim=True) + 1)
        p_col = vec / (vec.sum(1, keepdim=True) + 1)
        entropy_row = -(p_row * torch.log2(p_row + 1e-4)).sum(0).mean()
        entropy_col = -(p_col * torch.log2(p_col + 1e-4)).sum(1).mean()
        total = total + lamb_l1 * vec.sum() + lamb_entropy * (entropy_row + entropy_col)
    return total


def coefficient_penalty(coefs: Sequence[Tensor], lamb_coef: float, lamb_coefdiff: float) -> Tensor:
    """``lamb_coef * sum_i mean_o |c|`` plus the same on neighbouring differences."""
    total = coefs[0].new_zeros(())
    for coef in coefs:
        if lamb_coef:
            total = total + lamb_coef * coef.abs().mean(1).sum()
        if lamb_coefdiff:
            total = total + lamb_coefdiff * coef.diff(dim=-1).abs().mean(1).sum()
    return total


def sparsity_scores(model: KAN, statistics: Sequence[LayerStatistics], metric: str) -> list[Tensor]:
    """The score matrices that ``metric`` penalizes, in (in, out) orientation."""
    if metric == "edge_forward_spline_n":
        return [s.numeric_std / (s.input_std[:, None] + 0.1) for s in statistics]
    if metric == "edge_forward_sum":
        return [s.total_std / (s.input_std[:, None] + 0.1) for s in statistics]
    if metric == "edge_forward_spline_u":
        return [s.total_std for s in statistics]
    if metric == "edge_backward":
        _, edges, _ = propagate_scores(model, statistics)
        return [e.mean(0) for e in edges]
    if metric == "node_backward":
        full, _, _ = propagate_scores(model, statistics)
        node_means = [n.mean(0) for n in full]
        scores = []
        for layer in range(1, model.depth + 1):
            nodes, _, _ = propagate_scores(model, statistics, layer, out_score=node_means[layer])
            scores.append(nodes[0].t())
        return scores
    raise ValueError(f"reg_metric must be one of {REG_METRICS}, got {metric!r}")


def penalty(
    model: KAN,
    statistics: Sequence[LayerStatistics],
    metric: str = "edge_forward_spline_n",
    lamb_l1: float = 1.0,
    lamb_entropy: float = 2.0,
    lamb_coef: float = 0.0,
    lamb_coefdiff: float = 0.0,
) -> Tensor:
    """The whole sparsity penalty of ``model`` given its statistics on a batch."""
    reg = l1_entropy(sparsity_scores(model, statistics, metric), lamb_l1, lamb_entropy)
    if lamb_coef or lamb_coefdiff:
        reg = reg + coefficient_penalty(
            [layer.coef for layer in model.layers], lamb_coef, lamb_coefdiff
        )
    return reg
