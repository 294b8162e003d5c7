"""Pruning: exact sub-models, constants absorbed, parity with pykan where pykan works."""

from __future__ import annotations

import warnings

import pytest
import torch

from kanscience import KAN, Penalty, attribute, create_dataset, fit
from kanscience.analysis._prune import (
    PruneResult,
    important_nodes,
    prune,
    prune_edges,
    prune_inputs,
    prune_nodes,
)
from kanscience.analysis._surgery import remove_node

F64 = torch.float64


def inputs(n: int = 200, d: int = 3, seed: int = 1) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(n, d, generator=gen, dtype=F64) * 2 - 1


def dead_parts_model() -> KAN:
    """Hidden nodes 2, 3 get no input (constant), input 2 feeds nothing: scores are 0.

    Their outgoing edges still add a nonzero *constant* (spline(0) + silu(0) terms).
    """
    model = KAN([3, [3, 1], 1], seed=0, dtype=F64)
    for i in range(3):
        for j in (2, 3, 4):  # subnodes of sum node 2 and of mult node 3
            model.set_mode_(0, i, j, "off")
    for j in range(5):
        model.set_mode_(0, 2, j, "off")
    return model


def pykan_model(model: KAN, x: torch.Tensor):
    pytest.importorskip("kan")
    from kanscience import to_pykan

    theirs = to_pykan(model)
    theirs(x)  # pykan prunes from the activations of its last forward pass
    return theirs


# --------------------------------------------------------------------------- exactness
def test_dead_parts_score_zero_but_are_not_zero():
    model, x = dead_parts_model(), inputs()
    scores = attribute(model, x)
    assert scores.node_scores[1][2:].max() < 1e-9 and scores.input_scores[2] < 1e-9
    assert scores.node_scores[1][:2].min() > 1e-2
    assert important_nodes(model, x) == [[0, 1], [0, 1], [0]]


def test_prune_nodes_absorbs_constants_exactly(float64):
    model, x = dead_parts_model(), inputs()
    result = prune_nodes(model, x)
    assert result.kept_nodes == ((0, 1, 2), (0, 1), (0,))
    assert result.model.width == [[3, 0], [2, 0], [1, 0]]
    assert (result.model(x) - model(x)).abs().max() < 1e-12
    # pykan drops the constant the dead nodes added: its pruned output is off
    theirs = pykan_model(model, x).prune_node(log_history=False)
    offset = (theirs(x) - model(x)).abs()
    assert offset.min() > 1e-3 and (offset.max() - offset.min()) < 1e-12


def test_prune_nodes_without_absorbing_matches_pykan(float64):
    model, x = dead_parts_model(), inputs()
    ours = prune_nodes(model, x, absorb_constants=False).model
    theirs = pykan_model(model, x).prune_node(log_history=False)
    assert (ours(x) - theirs(x)).abs().max() < 1e-12


def test_prune_inputs_gives_a_smaller_interface(float64):
    model, x = dead_parts_model(), inputs()
    result = prune_inputs(model, x)
    assert result.kept_inputs == (0, 1)
    assert result.model.n_in == 2
    assert (result.model(x[:, list(result.kept_inputs)]) - model(x)).abs().max() < 1e-12
    manual = prune_inputs(model, x, active_inputs=[1, 0])
    assert manual.kept_inputs == (0, 1)


def test_small_but_nonzero_parts_change_outputs_below_1e6():
    model, x = dead_parts_model(), inputs()
    with torch.no_grad():  # revive the dead edges with a tiny, non-constant contribution
        for j in (2, 3, 4):
            model.set_mode_(0, 0, j, "n")
            model.layers[0].scale_sp[0, j] = 1e-8
            model.layers[0].scale_base[0, j] = 1e-8
    assert 0 < attribute(model, x).node_scores[1][2:].max() < 1e-2
    result = prune(model, x)
    assert result.kept_nodes[1] == (0, 1)
    assert (result.model(x) - model(x)).abs().max() < 1e-6


def test_prune_edges_switches_off_spline_and_symbolic_parts():
    model, x = dead_parts_model(), inputs()
    model.set_symbolic_(1, 0, 0, "sin", (1.0, 0.0, 0.0, 0.7), mode="ns")  # c = 0: constant 0.7
    model.set_mode_(1, 1, 0, "s")  # symbolic '0' function: contributes nothing
    result = prune_edges(model, x, threshold=1e-6)
    assert result.kept_nodes == ((0, 1, 2), (0, 1, 2, 3), (0,))
    removed = set(result.removed_edges[1])
    assert (2, 0) in removed and (3, 0) in removed and (1, 0) in removed
    assert (0, 0) not in removed  # its spline part still matters
    assert result.model.layers[1].symbolic_mask[1, 0] == 0
    assert (result.model(x) - model(x)).abs().max() < 1e-12
    edges = attribute(model, x).edge_scores
    for layer, gone in enumerate(result.removed_edges):
        for i, j in gone:
            assert edges[layer][i, j] <= 1e-6


def test_mult_nodes_are_kept_or_removed_with_all_subnodes():
    model = KAN([3, [1, 3], [1, 1], 1], mult_arity=[[], [2, 3, 2], [3], []], seed=0, dtype=F64)
    x = inputs()
    result = prune_nodes(model, x, active=[[0, 2], [1]])
    assert result.model.width == [[3, 0], [1, 1], [0, 1], [1, 0]]
    assert result.model.mult_arity == [[], [3], [3], []]
    masked = model
    for layer, node in [(1, 1), (1, 3), (2, 0)]:
        masked = remove_node(masked, layer, node)
    ours = prune_nodes(model, x, active=[[0, 2], [1]], absorb_constants=False).model
    assert (ours(x) - masked(x)).abs().max() < 1e-12


def test_mixed_arity_pruning_matches_pykan(float64):
    model = KAN([3, [1, 3], [1, 1], 1], mult_arity=[[], [2, 3, 2], [3], []], seed=0, dtype=F64)
    model.set_symbolic_(0, 2, 3, "x^2", (1.0, 0.2, 0.5, 0.0), mode="ns")
    x = inputs()
    ours = prune_nodes(model, x, active=[[0, 2], [0, 1]], absorb_constants=False).model
    theirs = pykan_model(model, x).prune_node(active_neurons_id=[[0, 2], [0, 1]], log_history=False)
    assert theirs.width == ours.width
    assert (ours(x) - theirs(x)).abs().max() < 1e-12


def test_a_layer_never_becomes_empty(float64):
    model, x = KAN([2, 3, 1], seed=0, dtype=F64), inputs(d=2)
    best = int(attribute(model, x).node_scores[1].argmax())
    result = prune_nodes(model, x, threshold=1e9)
    assert result.kept_nodes[1] == (best,)
    assert prune_inputs(model, x, threshold=1e9).model.n_in == 1
    with warnings.catch_warnings():  # pykan divides by the zero width while building
        warnings.simplefilter("ignore", RuntimeWarning)
        theirs = pykan_model(model, x).prune_node(threshold=1e9, log_history=False)
        assert theirs.width[1] == [0, 0]  # pykan builds a layer without nodes ...
        with pytest.raises(RuntimeError, match="non-empty"):  # ... that cannot run
            theirs(x)


def test_pruned_model_stays_trainable_and_keeps_dtype():
    model = KAN([3, 4, 1], seed=0, dtype=torch.float32)
    x = inputs().float()
    result = prune(model, x, node_th=0.05)
    assert isinstance(result, PruneResult)
    assert result.model.layers[0].coef.dtype == torch.float32
    result.model(x).sum().backward()
    assert result.model.layers[0].coef.grad is not None
    assert model.layers[0].coef.grad is None  # the original is untouched


# --------------------------------------------------------------------------- training
@pytest.fixture(scope="module")
def trained_on_two_of_five():
    def f(x):
        return torch.sin(torch.pi * x[:, [1]]) + x[:, [3]] ** 2

    data = create_dataset(f, n_var=5, train_num=300, test_num=100, seed=0, dtype=F64)
    model = KAN([5, 3, 1], grid=3, seed=0, dtype=F64)
    fit(model, data, steps=20, penalty=Penalty(lamb=1e-2), progress=False)
    return model, data


def test_pruning_keeps_exactly_the_two_used_inputs(trained_on_two_of_five, no_files_written):
    model, data = trained_on_two_of_five
    x = data.train_input
    result = prune_inputs(model, x)
    assert result.kept_inputs == (1, 3)
    full = prune(model, x)
    assert (full.model(x) - model(x)).abs().max() < 0.05 * float(data.train_label.std())
    both = prune_inputs(full.model, x)
    assert both.kept_inputs == (1, 3)
    with torch.no_grad():
        reduced = both.model(data.test_input[:, [1, 3]])
    rmse = float(((reduced - data.test_label) ** 2).mean().sqrt())
    assert rmse < 0.1 * float(data.test_label.std())


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda m, x: prune_nodes(m, x, threshold=-0.1), ValueError, "threshold must be a finite"),
        (lambda m, x: prune_nodes(m, x, threshold=float("nan")), ValueError, "finite number >= 0"),
        (lambda m, x: prune_nodes(m, x, threshold="0.1"), TypeError, "threshold must be a real"),
        (lambda m, x: prune_edges(m, x, threshold=True), TypeError, "threshold must be a real"),
        (lambda m, x: prune(m, x, node_th=-1), ValueError, "node_th must be"),
        (lambda m, x: prune(m, x, edge_th=float("inf")), ValueError, "edge_th must be"),
        (lambda m, x: prune_nodes(m, x[:, :2]), ValueError, r"shape \(batch, 3\)"),
        (lambda m, x: prune_nodes(m, x[:1]), ValueError, "at least 2 samples"),
        (lambda m, x: prune_nodes(m, x.numpy()), TypeError, "x must be a torch.Tensor"),
        (lambda m, x: prune_nodes(m, x * float("nan")), ValueError, "finite"),
        (lambda m, x: prune_nodes(m, x, active=[[0]]), ValueError, "each of the 2 hidden"),
        (lambda m, x: prune_nodes(m, x, active=[[0], [9]]), ValueError, "out of range"),
        (lambda m, x: prune_nodes(m, x, active=[[0, 0], [0]]), ValueError, "repeats a node"),
        (lambda m, x: prune_nodes(m, x, active=[[], [0]]), ValueError, "is empty"),
        (lambda m, x: prune_inputs(m, x, active_inputs=[0, 3]), ValueError, "out of range"),
        (lambda m, x: prune_inputs(m, x, active_inputs="01"), TypeError, "list of node indices"),
        (lambda m, x: prune_nodes(m, x, absorb_constants=1), TypeError, "absorb_constants"),
        (lambda m, x: prune_nodes(torch.nn.Linear(3, 1), x), TypeError, "kanscience KAN"),
    ],
)
def test_bad_input_is_rejected_and_model_unchanged(call, error, match):
    model, x = KAN([3, 4, [1, 1], 1], seed=0, dtype=F64), inputs()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(error, match=match):
        call(model, x)
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
