"""Modules of a KAN: the importance graph and its communities."""

from __future__ import annotations

import importlib.util

import networkx as nx
import pytest
import torch

from kanscience import KAN, Penalty, attribute, create_dataset, fit
from kanscience.analysis._modularity import find_communities, importance_graph, input_modules
from kanscience.analysis._prune import prune

F64 = torch.float64


def inputs(n: int = 200, d: int = 4, seed: int = 1) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(n, d, generator=gen, dtype=F64) * 2 - 1


def adjusted_rand(groups_a, groups_b) -> float:
    sklearn = pytest.importorskip("sklearn.metrics")
    n = sum(len(g) for g in groups_a)
    labels = []
    for groups in (groups_a, groups_b):
        label = [0] * n
        for k, group in enumerate(groups):
            for i in group:
                label[i] = k
        labels.append(label)
    return float(sklearn.adjusted_rand_score(*labels))


def two_block_model() -> KAN:
    """Inputs 0, 2 -> hidden 0; inputs 1, 3 -> hidden 1 (a mult node); both -> output."""
    model = KAN([4, [1, 1], 1], seed=0, dtype=F64)
    for i, j in [(0, 1), (0, 2), (2, 1), (2, 2), (1, 0), (3, 0)]:
        model.set_mode_(0, i, j, "off")
    return model


def test_importance_graph_weights_are_attribution_scores():
    model, x = two_block_model(), inputs()
    graph = importance_graph(model, x)
    scores = attribute(model, x)
    assert set(graph.nodes) == {(0, i) for i in range(4)} | {(1, 0), (1, 1), (2, 0)}
    assert graph.nodes[(1, 1)]["kind"] == "mult" and graph.nodes[(1, 0)]["kind"] == "sum"
    assert graph.nodes[(0, 3)]["score"] == pytest.approx(float(scores.input_scores[3]))
    # the mult node's weight adds the scores of the edges into both of its subnodes
    expected = float(scores.edge_scores[0][1, 1] + scores.edge_scores[0][1, 2])
    assert graph.edges[(0, 1), (1, 1)]["weight"] == pytest.approx(expected, rel=1e-12)
    assert graph.edges[(1, 0), (2, 0)]["weight"] == pytest.approx(
        float(scores.edge_scores[1][0, 0]), rel=1e-12
    )
    # switched-off edges score ~1e-12; a threshold leaves them out
    assert graph.number_of_edges() == 10
    pruned = importance_graph(model, x, threshold=1e-6)
    assert set(pruned.edges) == {
        ((0, 0), (1, 0)),
        ((0, 2), (1, 0)),
        ((0, 1), (1, 1)),
        ((0, 3), (1, 1)),
        ((1, 0), (2, 0)),
        ((1, 1), (2, 0)),
    }


@pytest.mark.parametrize("method", ["louvain", "greedy"])
def test_input_modules_of_a_two_block_model(method):
    model, x = two_block_model(), inputs()
    assert input_modules(model, x, method=method) == ((0, 2), (1, 3))


def test_find_communities_is_seeded_and_covers_every_node():
    graph = nx.DiGraph()
    for a, b in [(0, 1), (1, 2), (0, 2), (3, 4), (4, 5), (3, 5)]:
        graph.add_edge(a, b, weight=1.0)
    graph.add_edge(2, 3, weight=0.1)
    graph.add_node(6)  # isolated
    found = find_communities(graph, seed=3)
    assert found == [frozenset({0, 1, 2}), frozenset({3, 4, 5}), frozenset({6})]
    assert find_communities(graph, seed=3) == found
    assert find_communities(graph, method="greedy") == found


@pytest.mark.skipif(importlib.util.find_spec("infomap") is None, reason="infomap not installed")
def test_infomap_finds_the_two_blocks():
    model, x = two_block_model(), inputs()
    assert input_modules(model, x, method="infomap") == ((0, 2), (1, 3))


@pytest.mark.skipif(importlib.util.find_spec("infomap") is not None, reason="infomap installed")
def test_infomap_without_the_package_names_it():
    with pytest.raises(ImportError, match="infomap"):
        find_communities(nx.path_graph(3), method="infomap")


@pytest.mark.parametrize("seed", [0, 1])
def test_trained_additive_modules_are_found(seed, no_files_written):
    """f = g(x0, x2) + h(x1, x3): modules {0, 2} and {1, 3}, before and after pruning."""

    def f(x):
        return (x[:, [0]] + x[:, [2]]) ** 2 + torch.sin(torch.pi * (x[:, [1]] + x[:, [3]]) / 2)

    data = create_dataset(f, n_var=4, train_num=200, test_num=100, seed=seed, dtype=F64)
    model = KAN([4, 4, 1], grid=3, seed=seed, dtype=F64)
    fit(model, data, steps=15, penalty=Penalty(lamb=1e-2), progress=False)
    x = data.train_input
    truth = ((0, 2), (1, 3))
    assert adjusted_rand(input_modules(model, x), truth) == 1.0
    assert adjusted_rand(input_modules(prune(model, x).model, x), truth) == 1.0
    assert adjusted_rand(input_modules(model, x, method="greedy"), truth) == 1.0


def test_a_single_module_is_not_split(no_files_written):
    def f(x):
        return torch.sin(x.sum(1, keepdim=True))

    data = create_dataset(f, n_var=4, train_num=200, test_num=50, seed=0, dtype=F64)
    model = KAN([4, 2, 1], grid=3, seed=0, dtype=F64)
    fit(model, data, steps=10, penalty=Penalty(lamb=1e-2), progress=False)
    assert input_modules(model, data.train_input) == ((0, 1, 2, 3),)


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda m, x: importance_graph(m, x, threshold=-1.0), ValueError, "threshold must be"),
        (lambda m, x: importance_graph(m, x[:, :3]), ValueError, r"shape \(batch, 4\)"),
        (lambda m, x: importance_graph(m, x[:1]), ValueError, "at least 2 samples"),
        (lambda m, x: importance_graph(m, x.numpy()), TypeError, "x must be a torch.Tensor"),
        (lambda m, x: input_modules(m, x, method="leiden"), ValueError, "method must be one of"),
        (lambda m, x: input_modules(m, x, resolution=0.0), ValueError, "resolution must be > 0"),
        (lambda m, x: input_modules(m, x, seed=1.5), TypeError, "seed must be an int"),
        (lambda m, x: find_communities([(0, 1)]), TypeError, "networkx graph"),
    ],
)
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call(two_block_model(), inputs())
