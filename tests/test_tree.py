"""Tests for kanscience.structure._tree and _build_tree: tree shapes, exports, drawing."""

from __future__ import annotations

import os

import matplotlib
import networkx as nx
import pytest
import torch

from kanscience.structure import Tree, TreeNode, build_tree, sample_inputs

matplotlib.use("Agg")

UNIT = [(0.5, 2.0)] * 4


def product_of_sums(x):
    return (x[:, 0] + x[:, 1]) * (x[:, 2] + x[:, 3])


def distance(x):
    return torch.sqrt((x[:, 0] - x[:, 1]) ** 2 + (x[:, 2] - x[:, 3]) ** 2)


def velocity_addition(x):
    return (x[:, 0] + x[:, 1]) / (1 + x[:, 0] * x[:, 1])


def test_product_of_sums():
    tree = build_tree(product_of_sums, ranges=UNIT)
    assert tree.shape() == "mul(add(x1,x2),add(x3,x4))"
    assert tree.root.kind == "mul" and tree.root.score < 1e-10
    assert {c.variables for c in tree.root.children} == {(0, 1), (2, 3)}


def test_distance_is_general_over_an_add_of_two_pairs():
    """sqrt(s) of s = (x1-x2)^2 + (x3-x4)^2: h(add(.,.)); each pair is h(x1 - x2)."""
    tree = build_tree(distance, ranges=[(0.0, 3.0)] * 4)
    assert tree.shape() == "general(add(general(add(x1,x2)),general(add(x3,x4))))"
    (inner,) = tree.root.children
    assert inner.kind == "add"
    assert sorted(c.variables for c in inner.children) == [(0, 1), (2, 3)]
    assert tree.root.score < 1e-10


def test_velocity_addition_is_symmetric_general_node():
    """(u+v)/(1+uv) = tanh(artanh u + artanh v): both leaves under one add in h."""
    tree = build_tree(velocity_addition, var_names=["u", "v"], ranges=[(0.1, 0.9)] * 2)
    assert tree.shape() == "general(add(u,v))"
    swapped = build_tree(
        lambda x: velocity_addition(x.flip(1)), var_names=["u", "v"], ranges=[(0.1, 0.9)] * 2
    )
    assert swapped.shape() == tree.shape()


def test_symmetric_block_and_product_with_offset():
    def f(x):
        return x[:, 2] / (1 + x[:, 0] ** 2 + x[:, 1] ** 2)

    assert build_tree(f, ranges=UNIT[:3]).shape() == "mul(general(add(x1,x2)),x3)"

    def dot(x):
        return x[:, 0] * x[:, 1] + x[:, 2] * x[:, 3]

    assert build_tree(dot, ranges=UNIT).shape() == "add(mul(x1,x2),mul(x3,x4))"


def test_unstructured_and_single_variable():
    tree = build_tree(lambda x: x[:, 0] + x[:, 1] + x[:, 0] * x[:, 1] ** 2, ranges=UNIT[:2])
    assert tree.shape() == "general(x1,x2)"
    assert build_tree(lambda x: torch.sin(x[:, 0]), ranges=UNIT[:1]).shape() == "x1"


def test_symmetric_group_inside_unstructured_function():
    def f(x):  # F(x1*x2 + x3, x4) with no further structure
        s = x[:, 0] * x[:, 1] + x[:, 2]
        return torch.sin(s) * x[:, 3] + x[:, 3] ** 2 * torch.cos(s)

    tree = build_tree(f, ranges=UNIT)
    assert tree.shape() == "general(general(add(general(add(x1,x2)),x3)),x4)"


def test_tree_is_deterministic_given_seed_and_data():
    x = sample_inputs(UNIT, 200, seed=5)
    a = build_tree(distance, x, seed=1)
    b = build_tree(distance, x.numpy(), seed=1)
    assert a == b


def test_to_networkx_counts():
    tree = build_tree(product_of_sums, ranges=UNIT, var_names=["a", "b", "c", "d"])
    graph = tree.to_networkx()
    assert isinstance(graph, nx.DiGraph) and nx.is_arborescence(graph)
    assert graph.number_of_nodes() == 7 and graph.number_of_edges() == 6
    assert graph.nodes[0]["kind"] == "mul"
    leaves = sorted(graph.nodes[i]["label"] for i in graph if graph.out_degree(i) == 0)
    assert leaves == ["a", "b", "c", "d"]
    general = build_tree(distance, ranges=[(0.0, 3.0)] * 4).to_networkx()
    assert general.number_of_nodes() == 10 and general.number_of_edges() == 9


def test_to_dot_names_every_variable():
    names = ["alpha", "beta", "gamma_1", "delta"]
    dot = build_tree(distance, ranges=[(0.0, 3.0)] * 4, var_names=names).to_dot()
    assert dot.lstrip().startswith("digraph")
    for name in names:
        assert name in dot


def test_plot_returns_figure_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    tree = build_tree(product_of_sums, ranges=UNIT)
    fig = tree.plot()
    assert isinstance(fig, matplotlib.figure.Figure)
    assert len(fig.axes) == 1 and len(fig.axes[0].texts) == 7  # 3 symbols + 4 names
    assert os.listdir(tmp_path) == []
    fig2 = matplotlib.figure.Figure()
    ax = fig2.add_subplot()
    assert tree.plot(ax=ax) is fig2
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("fmt", ["svg", "png"])
def test_render_writes_only_the_given_path(tmp_path, monkeypatch, fmt):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "sub"
    out.mkdir()
    path = build_tree(product_of_sums, ranges=UNIT).render(out / f"tree.{fmt}", format=fmt)
    assert path == out / f"tree.{fmt}" and path.stat().st_size > 100
    assert sorted(os.listdir(tmp_path)) == ["sub"] and os.listdir(out) == [f"tree.{fmt}"]
    head = path.read_bytes()[:8]
    assert head.startswith(b"\x89PNG") if fmt == "png" else b"<" in head


def test_bad_arguments():
    with pytest.raises(ValueError, match="var_names must be 4 distinct strings"):
        build_tree(product_of_sums, ranges=UNIT, var_names=["a", "a", "b", "c"])
    with pytest.raises(ValueError, match="max_exhaustive must be an int >= 2"):
        build_tree(product_of_sums, ranges=UNIT, max_exhaustive=1)
    with pytest.raises(ValueError, match="format must be 'svg' or 'png'"):
        build_tree(product_of_sums, ranges=UNIT).render("t.pdf", format="pdf")
    with pytest.raises(ValueError, match="kind must be one of"):
        TreeNode("sum", (0,))
    with pytest.raises(ValueError, match="'var' nodes are exactly"):
        TreeNode("add", (0, 1))
    with pytest.raises(ValueError, match="f returned NaN or Inf"):
        build_tree(lambda x: torch.log(x[:, 0] - 1.0), ranges=UNIT[:2])


def test_shape_sorts_children_canonically():
    def leaf(i):
        return TreeNode("var", (i,))

    a = Tree(
        TreeNode("mul", (0, 1, 2), (TreeNode("add", (1, 2), (leaf(2), leaf(1))), leaf(0))),
        ("x", "y", "z"),
    )
    b = Tree(
        TreeNode("mul", (0, 1, 2), (leaf(0), TreeNode("add", (1, 2), (leaf(1), leaf(2))))),
        ("x", "y", "z"),
    )
    assert a.shape() == b.shape() == "mul(add(y,z),x)"
