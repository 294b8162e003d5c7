"""Modules of a trained KAN: an importance-weighted graph and its communities.

:func:`importance_graph` turns a (pruned) network into a ``networkx.DiGraph`` whose nodes
are the network's nodes ``(layer, index)`` and whose edge weights are attribution scores
(:func:`~kanscience.analysis.attribute` on explicit data; the scores of the edges into
all subnodes of a multiplication node are added up). :func:`find_communities` runs a
seeded community detection on it (networkx's Louvain or greedy modularity; Infomap when
the optional ``infomap`` package is installed) and :func:`input_modules` reads off which
input variables belong together.

Examples
--------
>>> import torch
>>> from kanscience import KAN
>>> model = KAN([4, 2, 1], seed=0)
>>> with torch.no_grad():  # inputs 0, 1 -> hidden 0 and inputs 2, 3 -> hidden 1
...     _ = model.layers[0].mask.copy_(torch.tensor([[1., 0], [1, 0], [0, 1], [0, 1]]))
>>> input_modules(model, torch.rand(100, 4) * 2 - 1)
((0, 1), (2, 3))
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Hashable
from typing import TYPE_CHECKING

from torch import Tensor

from ..core import KAN
from ._attribution import attribute
from ._surgery import _check_model, subnodes_of

if TYPE_CHECKING:  # networkx is imported by the functions that build or read graphs
    import networkx as nx

__all__ = ["COMMUNITY_METHODS", "find_communities", "importance_graph", "input_modules"]

COMMUNITY_METHODS = ("louvain", "greedy", "infomap")


def _check_nonnegative(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value}")
    return float(value)


def importance_graph(model: KAN, x: Tensor, threshold: float = 0.0) -> nx.DiGraph:
    """The network as a weighted directed graph of its nodes.

    Parameters
    ----------
    model : KAN
    x : Tensor (batch, n_in)
        Data for the attribution scores.
    threshold : float >= 0
        Edges whose weight is at most ``threshold`` are left out (all nodes stay).

    Returns
    -------
    networkx.DiGraph
        Nodes ``(layer, index)`` with attributes ``layer``, ``index``, ``kind``
        ('input', 'sum' or 'mult') and ``score`` (node score); edges
        ``(l, i) -> (l + 1, m)`` with attribute ``weight``: the summed scores of the
        edges from node ``i`` into the subnodes of node ``m``.
    """
    _check_model(model)
    threshold = _check_nonnegative(threshold, "threshold")
    if not isinstance(x, Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    x = model.check_input(x)
    if x.shape[0] < 2:
        raise ValueError(f"x needs at least 2 samples to score the model, got {x.shape[0]}")
    scores = attribute(model, x.to(model.layers[0].coef))
    import networkx as nx

    graph = nx.DiGraph()
    for layer, node_scores in enumerate(scores.node_scores):
        n_sum = model.width[layer][0]
        for index, score in enumerate(node_scores.tolist()):
            kind = "input" if layer == 0 else ("sum" if index < n_sum else "mult")
            graph.add_node((layer, index), layer=layer, index=index, kind=kind, score=score)
    for layer, edge_scores in enumerate(scores.edge_scores):
        edge_scores = edge_scores.detach().double().cpu()
        for target in range(model.width_in[layer + 1]):
            weights = edge_scores[:, subnodes_of(model, layer + 1, target)].sum(1).tolist()
            for source, weight in enumerate(weights):
                if weight > threshold:
                    graph.add_edge((layer, source), (layer + 1, target), weight=weight)
    return graph


def _infomap(graph: nx.Graph, seed: int) -> list[set[Hashable]]:
    import infomap  # optional dependency, checked by the caller

    nodes = list(graph.nodes)
    ids = {node: k for k, node in enumerate(nodes)}
    im = infomap.Infomap(silent=True, seed=seed, two_level=True)
    for node in nodes:
        im.add_node(ids[node])
    for u, v, weight in graph.edges(data="weight"):
        im.add_link(ids[u], ids[v], weight)
    im.run()
    modules: dict[int, set[Hashable]] = {}
    for node_id, module_id in im.get_modules().items():
        modules.setdefault(module_id, set()).add(nodes[node_id])
    return list(modules.values())


def find_communities(
    graph: nx.Graph, method: str = "louvain", seed: int = 0, resolution: float = 1.0
) -> list[frozenset]:
    """Communities of a weighted graph (edge attribute ``weight``), seeded.

    Parameters
    ----------
    graph : networkx.Graph or DiGraph
        Treated as undirected.
    method : {'louvain', 'greedy', 'infomap'}
        networkx's ``louvain_communities`` or ``greedy_modularity_communities``, or
        Infomap (needs the optional ``infomap`` package).
    seed : int
    resolution : float > 0
        Modularity resolution (Louvain and greedy); larger values give smaller modules.

    Returns
    -------
    list of frozenset
        Every node of the graph in exactly one community, ordered by their smallest node.
    """
    import networkx as nx

    if not isinstance(graph, nx.Graph):
        raise TypeError(f"graph must be a networkx graph, got {type(graph).__name__}")
    if method not in COMMUNITY_METHODS:
        raise ValueError(f"method must be one of {COMMUNITY_METHODS}, got {method!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    if _check_nonnegative(resolution, "resolution") == 0:
        raise ValueError("resolution must be > 0, got 0")
    undirected = graph.to_undirected(as_view=False) if graph.is_directed() else graph
    if undirected.number_of_edges() == 0:
        found = [{node} for node in undirected.nodes]
    elif method == "louvain":
        found = nx.community.louvain_communities(
            undirected, weight="weight", resolution=resolution, seed=seed
        )
    elif method == "greedy":
        found = nx.community.greedy_modularity_communities(
            undirected, weight="weight", resolution=resolution
        )
    else:
        if importlib.util.find_spec("infomap") is None:
            raise ImportError(
                "method='infomap' needs the optional package 'infomap' (pip install infomap)"
            )
        found = _infomap(undirected, seed)
    return sorted((frozenset(c) for c in found if c), key=lambda c: min(c))


def input_modules(
    model: KAN,
    x: Tensor,
    threshold: float = 3e-2,
    method: str = "louvain",
    seed: int = 0,
    resolution: float = 1.0,
) -> tuple[tuple[int, ...], ...]:
    """Groups of input variables that the network processes together.

    The communities of :func:`importance_graph` (edges above ``threshold``, pykan's edge
    pruning threshold) restricted to the inputs. An input without important edges is a
    group of its own.

    Returns
    -------
    tuple of tuples of int
        A partition of ``range(model.n_in)``, each group sorted, groups ordered by their
        first input.
    """
    graph = importance_graph(model, x, threshold)
    groups = []
    for community in find_communities(graph, method, seed, resolution):
        inputs = tuple(sorted(index for layer, index in community if layer == 0))
        if inputs:
            groups.append(inputs)
    return tuple(sorted(groups))
