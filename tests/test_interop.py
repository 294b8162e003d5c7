"""Parity with pykan 0.2.8: forward, round trips, grid update, refinement, penalty, attribution."""

from __future__ import annotations

import pytest
import torch

from kanscience import attribute, forward_with_statistics, from_pykan, to_pykan
from kanscience.train._penalty import REG_METRICS, penalty

kan = pytest.importorskip("kan")

CASES = [
    ([2, 5, 1], 2),
    ([3, [2, 2], 1], 2),
    ([3, [1, 2], [1, 1], 2], 3),
    ([4, [1, 2], 1], [[], [2, 3], []]),
]


def pykan_model(width, arity, seed=3, symbolic=True):
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        model = kan.MultKAN(
            width=[list(w) if isinstance(w, list) else w for w in width],
            grid=5,
            k=3,
            seed=seed,
            mult_arity=arity,
            auto_save=False,
            noise_scale=1.0,
        )
        if symbolic:
            model.fix_symbolic(
                0, 1, 0, "sin", fit_params_bool=False, verbose=False, random=True, log_history=False
            )
            model.fix_symbolic(
                0, 0, 1, "x^2", fit_params_bool=False, verbose=False, random=True, log_history=False
            )
            model.set_mode(0, 0, 1, "ns")
        with torch.no_grad():  # a nonuniform grid, as after training
            g = model.act_fun[0].grid
            g += 0.05 * torch.linspace(0, 1, g.shape[1], dtype=g.dtype) ** 2
    finally:
        torch.set_default_dtype(previous)
    return model


def inputs(n_in, n=200, seed=0):
    return (
        torch.rand(n, n_in, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * 2
        - 1
    )


@pytest.mark.parametrize("width, arity", CASES)
@pytest.mark.parametrize("symbolic", [False, True])
def test_from_pykan_forward_matches_to_1e_10(width, arity, symbolic):
    theirs = pykan_model(width, arity, symbolic=symbolic)
    ours = from_pykan(theirs)
    x = inputs(theirs.width_in[0])
    torch.testing.assert_close(ours(x), theirs(x), atol=1e-10, rtol=0)


@pytest.mark.parametrize("width, arity", CASES)
def test_round_trip_through_pykan_is_exact(width, arity):
    theirs = pykan_model(width, arity)
    back = to_pykan(from_pykan(theirs))
    x = inputs(theirs.width_in[0])
    torch.testing.assert_close(back(x), theirs(x), atol=0, rtol=0)
    for a, b in zip(back.symbolic_fun, theirs.symbolic_fun):
        assert a.funs_name == b.funs_name


@pytest.mark.parametrize("width, arity", CASES[:3])
def test_grid_update_matches_pykan_to_1e_8(width, arity):
    theirs = pykan_model(width, arity, symbolic=False)
    ours = from_pykan(theirs)
    x = inputs(theirs.width_in[0], n=300, seed=4) * 1.3
    theirs.update_grid_from_samples(x)
    ours.update_grid_(x)
    for a, b in zip(ours.layers, theirs.act_fun):
        torch.testing.assert_close(a.grid, b.grid, atol=1e-8, rtol=0)
        torch.testing.assert_close(a.coef, b.coef, atol=1e-8, rtol=0)
    torch.testing.assert_close(ours(x), theirs(x), atol=1e-8, rtol=0)


def test_refine_matches_pykan_to_1e_8(float64):
    theirs = pykan_model([2, 5, 1], 2, symbolic=False)
    x = inputs(2, n=300, seed=5)
    theirs.update_grid_from_samples(x)  # grids covered by data: a well-posed refit
    ours = from_pykan(theirs)
    theirs(x)  # pykan refines from the last batch it saw
    refined_theirs = theirs.refine(12)
    refined_ours = ours.refine(12, x)
    for a, b in zip(refined_ours.layers, refined_theirs.act_fun):
        torch.testing.assert_close(a.grid, b.grid, atol=1e-8, rtol=0)
        torch.testing.assert_close(a.coef, b.coef, atol=1e-8, rtol=0)


@pytest.mark.parametrize("metric", REG_METRICS)
@pytest.mark.parametrize("width, arity", CASES[:3])
def test_sparsity_penalty_matches_pykan(float64, metric, width, arity):
    theirs = pykan_model(width, arity)
    ours = from_pykan(theirs)
    x = inputs(theirs.width_in[0])
    theirs.get_act(x)
    if metric == "edge_backward":
        theirs.attribute(plot=False)
    if metric == "node_backward":
        theirs.node_attribute()
    expected = theirs.reg(metric, 1.0, 2.0, 0.5, 0.3).item()
    _, statistics = forward_with_statistics(ours, x)
    assert penalty(ours, statistics, metric, 1.0, 2.0, 0.5, 0.3).item() == pytest.approx(
        expected, rel=1e-10
    )


@pytest.mark.parametrize("width, arity", CASES)
def test_attribution_matches_pykan(float64, width, arity):
    theirs = pykan_model(width, arity)
    ours = from_pykan(theirs)
    x = inputs(theirs.width_in[0])
    theirs.get_act(x)
    theirs.attribute(plot=False)
    scores = attribute(ours, x)
    for a, b in zip(scores.node_scores, theirs.node_scores):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=1e-10)
    for a, b in zip(scores.edge_scores, theirs.edge_scores):
        torch.testing.assert_close(a, b.t(), atol=1e-12, rtol=1e-10)


def test_from_pykan_rejects_pruned_input_selection():
    theirs = pykan_model([3, 2, 1], 2, symbolic=False)
    theirs.input_id = torch.tensor([0, 2])
    with pytest.raises(ValueError, match="input_id"):
        from_pykan(theirs)
