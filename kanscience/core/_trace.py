"""Explicit per-edge analysis of a KAN on given data (never computed in ``forward``).

- :func:`trace` materializes every edge's activation, shape (batch, in, out) per layer,
  for plots and symbolic fitting.
- :func:`forward_with_statistics` returns the output together with differentiable
  per-edge standard deviations, without forming the (batch, in, out) tensors: the std of
  a numeric edge is ``sqrt(w^T Cov(features) w)``. Training uses it for the sparsity
  penalty, attribution for its scores.

Orientation is ours: edge tensors are ``(..., in, out)`` (pykan uses ``(..., out, in)``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from . import _splines as splines
from ._network import KAN

__all__ = ["LayerTrace", "LayerStatistics", "trace", "forward_with_statistics", "propagate_scores"]


@dataclass(frozen=True)
class LayerTrace:
    """Everything one layer computes on a batch.

    Attributes
    ----------
    inputs : (batch, in) node values entering the layer (pykan's ``acts[l]``).
    spline : (batch, in, out) the bare spline ``sum_n coef * B_n`` (pykan's postspline).
    numeric : (batch, in, out) ``mask * (scale_base * base + scale_sp * spline)``.
    symbolic : (batch, in, out) ``symbolic_mask * (c f(a x + b) + d)``.
    activations : (batch, in, out) numeric + symbolic (pykan's postacts).
    subnodes : (batch, out) sums at the subnodes, before the subnode affine map.
    outputs : (batch, width_in[l + 1]) node values after the layer.
    """

    inputs: Tensor
    spline: Tensor
    numeric: Tensor
    symbolic: Tensor
    activations: Tensor
    subnodes: Tensor
    outputs: Tensor


@dataclass(frozen=True)
class LayerStatistics:
    """Batch standard deviations of one layer's edges and subnodes (differentiable).

    Attributes
    ----------
    input_std : (in,) std of each input node.
    numeric_std : (in, out) std of the numeric part of each edge.
    total_std : (in, out) std of each edge's whole activation.
    subnode_std : (out,) std of each subnode sum.
    """

    input_std: Tensor
    numeric_std: Tensor
    total_std: Tensor
    subnode_std: Tensor


def _layer_weight(layer) -> Tensor:
    """The layer's contraction weights as (in, G + k + 1, out)."""
    return layer.spline_weight().reshape(layer.in_dim, -1, layer.out_dim)


def _symbolic_edges(layer, x: Tensor) -> Tensor:
    values = x.new_zeros(x.shape[0], layer.in_dim, layer.out_dim)
    for name, (ins, outs) in layer.symbolic_groups().items():
        values = values.index_put(
            (torch.arange(x.shape[0], device=x.device)[:, None], ins, outs),
            layer.symbolic_edge_values(x, ins, outs, name),
        )
    return values


def trace(model: KAN, x: Tensor) -> list[LayerTrace]:
    """Per-edge activations of every layer on inputs ``x`` (batch, n_in).

    Gradients flow through the result when ``x`` or the parameters require them; wrap in
    ``torch.no_grad()`` for plain analysis.
    """
    x = model.check_input(x)
    traces = []
    for index, layer in enumerate(model.layers):
        features = splines.spline_features(x, layer.grid, layer.k, layer.base_fun, layer.table())
        gate = layer.mask
        spline = torch.einsum("bin,ion->bio", features[..., 1:], layer.coef)
        base = features[..., 0:1]
        numeric = gate * (layer.scale_base * base + layer.scale_sp * spline)
        symbolic = _symbolic_edges(layer, x)
        activations = numeric + symbolic
        subnodes = activations.sum(1)
        outputs = model.nodes_from_subnodes(subnodes, index)
        traces.append(LayerTrace(x, spline, numeric, symbolic, activations, subnodes, outputs))
        x = outputs
    return traces


def _std_from_covariance(features: Tensor, weight: Tensor) -> Tensor:
    """std over the batch of ``features[:, i, :] @ weight[i, :, o]`` for every (i, o)."""
    centered = features - features.mean(0)
    covariance = torch.einsum("bip,biq->ipq", centered, centered) / max(features.shape[0] - 1, 1)
    variance = torch.einsum("ipo,ipq,iqo->io", weight, covariance, weight)
    # clamp: masked edges have zero variance, and sqrt'(0) would poison the gradient
    return variance.clamp_min(1e-30).sqrt()


def forward_with_statistics(
    model: KAN, x: Tensor, singularity_avoiding: bool = False, y_th: float = 10.0
) -> tuple[Tensor, list[LayerStatistics]]:
    """The model output and per-layer edge statistics from one pass over ``x``."""
    x = model.check_input(x)
    statistics = []
    for index, layer in enumerate(model.layers):
        features = layer.features(x)
        weight = _layer_weight(layer)
        subnodes = features.reshape(x.shape[0], -1) @ weight.reshape(-1, layer.out_dim)
        numeric_std = _std_from_covariance(features, weight)
        total_std = numeric_std
        for name, (ins, outs) in layer.symbolic_groups().items():
            symbolic = layer.symbolic_edge_values(x, ins, outs, name, singularity_avoiding, y_th)
            numeric = torch.einsum("bep,pe->be", features[:, ins, :], weight[ins, :, outs].t())
            edge_std = (numeric + symbolic).std(0).clamp_min(1e-15)
            total_std = total_std.index_put((ins, outs), edge_std)
            subnodes = subnodes.index_add(1, outs, symbolic)
        statistics.append(LayerStatistics(x.std(0), numeric_std, total_std, subnodes.std(0)))
        x = model.nodes_from_subnodes(subnodes, index)
    return x, statistics


def _node_to_subnode(scores: Tensor, n_sum: int, arities: Sequence[int]) -> Tensor:
    """(K, nodes) -> (K, subnodes): a product node's score goes to each of its factors."""
    if not arities:
        return scores
    repeats = torch.tensor(list(arities), device=scores.device)
    return torch.cat([scores[:, :n_sum], scores[:, n_sum:].repeat_interleave(repeats, dim=1)], 1)


def propagate_scores(
    model: KAN,
    statistics: Sequence[LayerStatistics],
    layer: int | None = None,
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
