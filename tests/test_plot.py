"""The KAN diagram: one inset per active edge, pykan's colours and alphas, no files."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import sympy
import torch
from matplotlib.figure import Figure

from kanscience import KAN, attribute
from kanscience.core._trace import trace
from kanscience.plot._diagram import edge_color, plot

F64 = torch.float64


def model_and_data():
    model = KAN([3, [2, 2], [1, 1], 1], mult_arity=[[], [2, 3], [2], []], seed=0, dtype=F64)
    model.set_symbolic_(0, 1, 2, "sin", (1.2, 0.1, 0.7, 0.05), mode="ns")
    model.set_symbolic_(1, 3, 1, "x^2", (0.5, 0.1, 0.3, -0.2), mode="s")
    model.set_mode_(0, 2, 3, "off")
    model.set_mode_(1, 0, 0, "off")
    gen = torch.Generator().manual_seed(0)
    return model, torch.rand(100, 3, generator=gen, dtype=F64) * 2 - 1


def edge_axes(fig: Figure) -> dict[tuple[int, int, int], object]:
    axes = {}
    for ax in fig.axes:
        if ax.get_label().startswith("edge "):
            l, i, j = (int(v) for v in ax.get_label()[5:].split(","))
            axes[(l, i, j)] = ax
    return axes


def test_one_inset_per_active_edge_and_no_file(no_files_written):
    model, x = model_and_data()
    fig = plot(model, x, in_vars=["a", "b", sympy.Symbol("theta")], out_vars=["y"])
    assert isinstance(fig, Figure)
    # layer 0: 3 x 7 edges, layer 1: 4 x 3, layer 2: 2 x 1; two switched off
    active = sum(int(((l.mask != 0) | (l.symbolic_mask != 0)).sum()) for l in model.layers)
    assert active == 21 + 12 + 2 - 2
    insets = edge_axes(fig)
    assert len(insets) == active
    assert (0, 2, 3) not in insets and (1, 0, 0) not in insets
    diagram = [ax for ax in fig.axes if ax.get_label() == "diagram"]
    assert len(diagram) == 1
    texts = [t.get_text() for t in diagram[0].texts]
    assert "a" in texts and r"$\theta$" in texts and "y" in texts
    assert sum(t.get_gid().startswith("mult") for t in diagram[0].texts if t.get_gid()) == 3
    assert sum(t.get_gid().startswith("sum") for t in diagram[0].texts if t.get_gid()) == 7 + 3 + 1


def test_insets_show_the_traced_curve_with_pykan_colours_and_alpha():
    model, x = model_and_data()
    beta = 3.0
    fig = plot(model, x, beta=beta)
    insets = edge_axes(fig)
    with torch.no_grad():
        tr, scores = trace(model, x), attribute(model, x).edge_scores
    for (l, i, j), colour in [((0, 1, 2), "purple"), ((1, 3, 1), "red"), ((0, 0, 0), "black")]:
        (line,) = insets[(l, i, j)].get_lines()
        assert line.get_color() == colour
        order = torch.argsort(tr[l].inputs[:, i])
        np.testing.assert_allclose(line.get_xdata(), tr[l].inputs[order, i].numpy())
        np.testing.assert_allclose(line.get_ydata(), tr[l].activations[order, i, j].numpy())
        assert line.get_alpha() == pytest.approx(np.tanh(beta * float(scores[l][i, j])))


def test_path_writes_exactly_that_file(no_files_written):
    model, x = model_and_data()
    plot(model, x, path="diagram.png", title="t")
    assert os.listdir(".") == ["diagram.png"]
    assert os.path.getsize("diagram.png") > 1000
    os.remove("diagram.png")


def test_edge_color_code():
    assert [edge_color(1, 0), edge_color(0, 1), edge_color(0.5, 1), edge_color(0, 0)] == [
        "black",
        "red",
        "purple",
        None,
    ]


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"in_vars": ["a", "b"]}, ValueError, "in_vars must name all 3"),
        ({"out_vars": "y"}, TypeError, "out_vars must be a list"),
        ({"beta": 0}, ValueError, "beta must be a finite number > 0"),
        ({"scale": -1.0}, ValueError, "scale must be"),
        ({"scale": "big"}, TypeError, "scale must be a positive number"),
    ],
)
def test_bad_input(kwargs, error, match):
    model, x = model_and_data()
    with pytest.raises(error, match=match):
        plot(model, x, **kwargs)


def test_bad_data():
    model, x = model_and_data()
    with pytest.raises(ValueError, match=r"shape \(batch, 3\)"):
        plot(model, x[:, :2])
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        plot(model, x.numpy())
