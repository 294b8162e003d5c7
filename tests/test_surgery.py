"""Structural edits: select/swap/auto_swap keep the function, masks edit exactly one thing."""

from __future__ import annotations

import os

import pytest
import torch

from kanscience import KAN, create_dataset, fit
from kanscience.analysis._layout import auto_swap, connection_cost
from kanscience.analysis._surgery import (
    module,
    remove_edge,
    remove_node,
    select_nodes,
    set_mode,
    subnodes_of,
    swap,
)
from kanscience.core._trace import trace
from kanscience.io._checkpoint import load, save

F64 = torch.float64


def random_model(seed: int = 0) -> KAN:
    """Mult nodes of mixed arity in two layers, symbolic edges, non-identity affines."""
    gen = torch.Generator().manual_seed(seed)
    model = KAN([3, [2, 2], [1, 2], 1], mult_arity=[[], [2, 3], [2, 3], []], seed=seed, dtype=F64)
    with torch.no_grad():
        for params in (model.node_scale, model.node_bias, model.subnode_scale, model.subnode_bias):
            for p in params:
                p.copy_(0.5 + 0.5 * torch.rand(p.shape, generator=gen, dtype=F64))
    model.set_symbolic_(0, 1, 2, "sin", (1.2, 0.1, 0.7, 0.05), mode="ns")
    model.set_symbolic_(1, 3, 1, "x^2", (0.5, 0.1, 0.3, -0.2), mode="s")
    model.set_symbolic_(1, 0, 4, "exp", (0.5, 0.1, 0.3, -0.2), mode="s")
    model.set_symbolic_(2, 2, 0, "tanh", (2.0, 0.0, 1.5, 0.1), mode="s")
    return model


def inputs(n: int = 200, d: int = 3, seed: int = 1) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(n, d, generator=gen, dtype=F64) * 2 - 1


def snapshot(model: KAN) -> tuple[dict, list]:
    state = {k: v.clone() for k, v in model.state_dict().items()}
    return state, [[row[:] for row in layer.symbolic_names] for layer in model.layers]


def assert_same_model(model: KAN, snap: tuple[dict, list]) -> None:
    state, names = snap
    for key, value in model.state_dict().items():
        assert torch.equal(value, state[key]), key
    assert [layer.symbolic_names for layer in model.layers] == names


# --------------------------------------------------------------------------- swap
@pytest.mark.parametrize(
    "layer, i1, i2", [(1, 0, 1), (1, 2, 3), (1, 3, 2), (2, 1, 2), (2, 0, 0), (-2, 2, -1)]
)
def test_swap_keeps_outputs_to_1e12(layer, i1, i2):
    model, x = random_model(), inputs()
    swapped = swap(model, layer, i1, i2)
    assert (swapped(x) - model(x)).abs().max() < 1e-12


def test_swap_moves_parameters_names_and_arity():
    model = random_model()
    swapped = swap(model, 1, 2, 3)  # mult nodes of arity 2 and 3
    assert swapped.mult_arity[1] == [3, 2]
    assert torch.equal(swapped.node_scale[0], model.node_scale[0][[0, 1, 3, 2]])
    # subnodes of node 2 (2, 3) and node 3 (4, 5, 6) move as blocks: new order 0 1 4 5 6 2 3
    order = [0, 1, 4, 5, 6, 2, 3]
    assert torch.equal(swapped.subnode_bias[0], model.subnode_bias[0][order])
    assert torch.equal(swapped.layers[0].coef, model.layers[0].coef[:, order])
    assert torch.equal(swapped.layers[1].scale_base, model.layers[1].scale_base[[0, 1, 3, 2]])
    assert swapped.layers[1].symbolic_names[2][1] == "x^2"  # edge (3 -> 1) now starts at 2
    assert swapped.layers[0].symbolic_names[1][order.index(2)] == "sin"


def test_swap_twice_is_the_identity():
    model = random_model()
    twice = swap(swap(model, 1, 2, 3), 1, 2, 3)
    assert_same_model(twice, snapshot(model))


def test_pykan_swap_changes_the_function_ours_does_not(float64):
    pytest.importorskip("kan")
    from kanscience import to_pykan

    model, x = random_model(), inputs()
    theirs = to_pykan(model)
    assert (theirs(x) - model(x)).abs().max() < 1e-12
    theirs.swap(1, 2, 3, log_history=False)
    assert (theirs(x) - model(x)).abs().max() > 1e-4
    assert (swap(model, 1, 2, 3)(x) - model(x)).abs().max() < 1e-12


def test_swap_rejects_bad_arguments_and_leaves_model_unchanged():
    model = random_model()
    snap = snapshot(model)
    with pytest.raises(ValueError, match="hidden layer"):
        swap(model, 0, 0, 1)
    with pytest.raises(ValueError, match="hidden layer"):
        swap(model, 3, 0, 0)
    with pytest.raises(ValueError, match="sum node with a multiplication node"):
        swap(model, 1, 0, 2)
    with pytest.raises(ValueError, match="i2=4 is out of range"):
        swap(model, 1, 0, 4)
    with pytest.raises(ValueError, match="layer=7 is out of range"):
        swap(model, 7, 0, 1)
    with pytest.raises(TypeError, match="i1 must be an int"):
        swap(model, 1, 1.0, 0)
    with pytest.raises(TypeError, match="i1 must be an int"):
        swap(model, 1, True, 0)
    with pytest.raises(TypeError, match="model must be a kanscience KAN"):
        swap(torch.nn.Linear(2, 2), 1, 0, 1)
    assert_same_model(model, snap)


# --------------------------------------------------------------------------- auto swap
def test_auto_swap_keeps_outputs_and_lowers_cost():
    model, x = random_model(), inputs()
    arranged = auto_swap(model, x)
    assert (arranged(x) - model(x)).abs().max() < 1e-12
    assert connection_cost(arranged, x) <= connection_cost(model, x) + 1e-12
    # without data: a seeded sample on the input grids, deterministic
    again = auto_swap(model)
    assert (again(x) - model(x)).abs().max() < 1e-12
    assert_same_model(auto_swap(model), snapshot(again))


def test_auto_swap_uncrosses_a_crossed_network():
    model = KAN([2, 2, 2], seed=0, dtype=F64)
    for layer, i, j in [(0, 0, 0), (0, 1, 1), (1, 0, 0), (1, 1, 1)]:
        model.set_mode_(layer, i, j, "off")  # only the crossing edges 0->1, 1->0 stay
    x = inputs(d=2)
    assert connection_cost(model, x) > 0.1
    arranged = auto_swap(model, x)
    assert connection_cost(arranged, x) < 1e-9  # every important edge is vertical
    assert torch.equal(arranged.layers[0].mask, torch.eye(2, dtype=F64))
    assert (arranged(x) - model(x)).abs().max() < 1e-12


def test_auto_swap_rejects_bad_arguments():
    model = random_model()
    with pytest.raises(ValueError, match="max_sweeps must be a positive int"):
        auto_swap(model, max_sweeps=0)
    with pytest.raises(ValueError, match=r"x must have shape \(batch, 3\)"):
        auto_swap(model, torch.zeros(5, 2, dtype=F64))
    with pytest.raises(ValueError, match="at least 2 samples"):
        auto_swap(model, torch.zeros(1, 3, dtype=F64))


# --------------------------------------------------------------------------- select
def test_select_nodes_equals_removing_the_others():
    """Dropping nodes is the same function as switching all their edges off."""
    model, x = random_model(), inputs()
    keep = [None, [0, 3], [1], None]
    small = select_nodes(model, keep)
    masked = model
    for layer, node in [(1, 1), (1, 2), (2, 0), (2, 2)]:
        masked = remove_node(masked, layer, node)
    assert small.width == [[3, 0], [1, 1], [0, 1], [1, 0]]
    assert small.mult_arity == [[], [3], [2], []]
    assert (small(x) - masked(x)).abs().max() < 1e-12


def test_select_nodes_keeps_dtype_grads_and_reorders_inputs():
    model = KAN([3, [2, 1], 2], seed=0, dtype=torch.float32, affine_trainable=True)
    model.layers[0].scale_base.requires_grad_(False)
    small = select_nodes(model, [[2, 0], [0, 2], [1]])
    assert small.layers[0].coef.dtype == torch.float32
    assert not small.layers[0].scale_base.requires_grad
    assert small.node_scale[0].requires_grad
    x = inputs().float()
    masked = remove_node(remove_node(model, 0, 1), 1, 1)
    assert small(x[:, [2, 0]]).shape == (200, 1)
    assert (small(x[:, [2, 0]]) - masked(x)[:, [1]]).abs().max() < 1e-6


@pytest.mark.parametrize(
    "nodes, error, match",
    [
        ([None, None], ValueError, "one index list per layer"),
        ([None, [], None], ValueError, "nodes\\[1\\] is empty"),
        ([None, [0, 0], None], ValueError, "repeats a node"),
        ([None, [2, 0], None], ValueError, "sum nodes .* before multiplication nodes"),
        ([None, [0, 5], None], ValueError, "out of range"),
        ([None, "01", None], TypeError, "must be a list of ints"),
        ("abc", TypeError, "nodes must be a list"),
    ],
)
def test_select_nodes_rejects_bad_selections(nodes, error, match):
    model = KAN([3, [2, 1], 2], seed=0)
    with pytest.raises(error, match=match):
        select_nodes(model, nodes)


def test_subnodes_of():
    model = random_model()
    assert subnodes_of(model, 1, 1) == [1]
    assert subnodes_of(model, 1, 2) == [2, 3]
    assert subnodes_of(model, 1, 3) == [4, 5, 6]
    assert subnodes_of(model, 2, 2) == [3, 4, 5]
    with pytest.raises(ValueError, match="node=4 is out of range"):
        subnodes_of(model, 1, 4)


# --------------------------------------------------------------------------- masks
def test_remove_edge_subtracts_exactly_that_edge():
    model, x = random_model(), inputs()
    acts = trace(model, x)[2].activations
    edited = remove_edge(model, 2, 2, 0)  # symbolic tanh edge into the output sum node
    gain = model.node_scale[2][0] * model.subnode_scale[2][0]  # the output's affine maps
    assert (edited(x) - (model(x) - gain * acts[:, 2, 0:1])).abs().max() < 1e-12
    assert edited.layers[2].mask[2, 0] == 0 and edited.layers[2].symbolic_mask[2, 0] == 0
    assert model.layers[2].symbolic_mask[2, 0] == 1  # original untouched


def test_remove_node_of_a_mult_node_cuts_all_its_subnodes():
    model, x = random_model(), inputs()
    edited = remove_node(model, 1, 3)  # arity-3 mult node: subnodes 4, 5, 6 of layer 1
    layer0, layer1 = edited.layers[0], edited.layers[1]
    assert not layer0.mask[:, 4:7].any() and not layer0.symbolic_mask[:, 4:7].any()
    assert not layer1.mask[3].any() and not layer1.symbolic_mask[3].any()
    assert layer0.mask[:, :4].all()
    assert (trace(edited, x)[1].activations[:, 3] == 0).all()


def test_set_mode_switches_an_ns_edge_to_its_symbolic_part():
    model, x = random_model(), inputs()
    before = trace(model, x)[0]
    edited = set_mode(model, 0, 1, 2, "s")
    after = trace(edited, x)[0]
    assert torch.allclose(after.activations[:, 1, 2], before.symbolic[:, 1, 2], atol=1e-12)
    assert model.layers[0].mask[1, 2] == 1
    with pytest.raises(ValueError, match="mode must be one of"):
        set_mode(model, 0, 1, 2, "symbolic")
    with pytest.raises(ValueError, match="j=7 is out of range"):
        set_mode(model, 0, 1, 7, "s")


# --------------------------------------------------------------------------- module
def test_module_masks_match_pykan_semantics():
    model = KAN([4, 4, [0, 1]], seed=0)
    first = module(model, 0, "[0,1]->[0,1]->[0,1]->[0]")
    expected0 = torch.tensor(
        [[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 1], [0, 0, 1, 1]], dtype=torch.float32
    )
    assert torch.equal(first.layers[0].mask, expected0)
    assert torch.equal(first.layers[1].mask, torch.tensor([[1, 0], [1, 0], [0, 1], [0, 1.0]]))
    both = module(first, 0, [[2, 3], [2, 3], [2, 3], [1]])
    assert torch.equal(both.layers[0].mask, expected0)
    assert torch.equal(both.layers[1].mask, first.layers[1].mask)


@pytest.mark.parametrize(
    "chain, match",
    [
        ("[0,1]", "at least a node group and a subnode group"),
        ("[0,1]->[0,a]", "chain must look like"),
        ("0,1->[1]", "chain must look like"),
        ("[0,1]->[]", "is empty"),
        ("[0,9]->[1]", "chain group 0 .* out of range"),
        ("[0]->[0]->[0]->[0]->[0]->[0]", "spans 3 layer"),
    ],
)
def test_module_rejects_malformed_chains(chain, match):
    model = KAN([4, 4, [0, 1]], seed=0)
    snap = snapshot(model)
    with pytest.raises(ValueError, match=match):
        module(model, 0, chain)
    assert_same_model(model, snap)


def test_module_blocks_stay_disconnected_after_training(no_files_written):
    """f = g(x1, x2) * h(x3, x4) on a modular [4, 4, [0, 1]] net: cross-block edges stay 0."""

    def f(x):
        return torch.exp(0.5 * (x[:, [0]] + x[:, [1]])) * (1.5 + torch.sin(x[:, [2]] * x[:, [3]]))

    data = create_dataset(f, n_var=4, train_num=200, test_num=100, seed=0, dtype=F64)
    model = KAN([4, 4, [0, 1]], grid=3, seed=0, dtype=F64)
    model = module(model, 0, "[0,1]->[0,1]->[0,1]->[0]")
    model = module(model, 0, "[2,3]->[2,3]->[2,3]->[1]")
    history = fit(model, data, opt="LBFGS", steps=15, progress=False)
    assert history.test_loss[-1] < 0.05 * float(data.test_label.std())
    free = KAN([4, 4, [0, 1]], grid=3, seed=0, dtype=F64)
    free = fit(free, data, opt="LBFGS", steps=15, progress=False)
    assert history.test_loss[-1] < 2 * free.test_loss[-1]  # the imposed structure costs no accuracy
    acts = trace(model, data.test_input)
    assert (acts[0].activations[:, :2, 2:] == 0).all() and (
        acts[0].activations[:, 2:, :2] == 0
    ).all()
    assert (acts[1].activations[:, :2, 1] == 0).all() and (acts[1].activations[:, 2:, 0] == 0).all()
    from kanscience.structure._hypothesis import separability

    result = separability(model, data.test_input, mode="mul")
    assert result.groups == ((0, 1), (2, 3))
    assert result.score < 1e-12


# --------------------------------------------------------------------------- round trips
def _edited_models():
    model = random_model()
    x = inputs()
    return x, {
        "swap": swap(model, 1, 2, 3),
        "auto_swap": auto_swap(model, x),
        "select": select_nodes(model, [None, [0, 3], [0, 2], None]),
        "remove_edge": remove_edge(model, 1, 0, 4),
        "remove_node": remove_node(model, 2, 1),
        "set_mode": set_mode(model, 0, 1, 2, "s"),
        "module": module(model, 0, "[0,1]->[0,1,2,3]"),
    }


def test_surgery_results_round_trip_through_state_dict_and_deepcopy():
    x, edited = _edited_models()
    for name, model in edited.items():
        expected = model(x)
        assert torch.equal(model.copy()(x), expected), name
        fresh = KAN(**{**model.config(), "library": model.library}, dtype=F64)
        fresh.load_state_dict(model.state_dict())
        for target, source in zip(fresh.layers, model.layers):
            target.symbolic_names = [row[:] for row in source.symbolic_names]
            target.invalidate_symbolic_cache()
        assert torch.equal(fresh(x), expected), name


def test_surgery_results_round_trip_through_save_load(tmp_path):
    x, edited = _edited_models()
    for name, model in edited.items():
        path = tmp_path / f"{name}.safetensors"
        save(model, path)
        assert torch.equal(load(path)(x), model(x)), name
    assert sorted(os.listdir(tmp_path)) == sorted(f"{n}.safetensors" for n in edited)


def test_negative_indices_mean_the_same_through_every_entry_point():
    """One index rule (kanscience.core.check_index) for surgery, KAN methods and fix_symbolic."""
    from kanscience.symbolic import fix_symbolic

    model = KAN([3, [2, 1], 2], seed=0, dtype=F64)
    x = torch.rand(16, 3, generator=torch.Generator().manual_seed(0), dtype=F64)
    last_in, last_out = model.width_in[1] - 1, model.width_out[2] - 1
    assert model.edge_index(-1, -1, -2) == (1, last_in, last_out - 1)
    assert model.check_edge(-1, -1, -2) is model.layers[1]

    def same(a: KAN, b: KAN) -> None:
        for (name, t), (_, u) in zip(a.state_dict().items(), b.state_dict().items()):
            assert torch.equal(t, u), name
        assert [l.symbolic_names for l in a.layers] == [l.symbolic_names for l in b.layers]
        torch.testing.assert_close(a(x), b(x), atol=0, rtol=0)

    in_place = model.copy()
    in_place.set_mode_(-1, -1, -2, "off")
    same(set_mode(model, -1, -1, -2, "off"), set_mode(model, 1, last_in, last_out - 1, "off"))
    same(set_mode(model, -1, -1, -2, "off"), in_place)
    same(remove_edge(model, -2, -3, -1), remove_edge(model, 0, 0, model.width_out[1] - 1))
    same(
        fix_symbolic(model, None, -1, 0, -1, "sin"),
        fix_symbolic(model, None, 1, 0, last_out, "sin"),
    )
    symbolic = model.copy()
    symbolic.set_symbolic_(-1, 0, -1, "sin")
    same(symbolic, fix_symbolic(model, None, 1, 0, last_out, "sin"))

    message = r"j=-4 is out of range for layer 1: j must be in \[0, 2\)"
    for call in (
        lambda: set_mode(model, -1, 0, -4, "off"),
        lambda: remove_edge(model, 1, 0, -4),
        lambda: model.check_edge(-1, 0, -4),
        lambda: model.set_mode_(1, 0, -4, "s"),
        lambda: fix_symbolic(model, None, -1, 0, -4, "sin"),
    ):
        with pytest.raises(ValueError, match=message):
            call()
    for call in (lambda: set_mode(model, 0, 1.0, 0, "n"), lambda: model.check_edge(0, 1.0, 0)):
        with pytest.raises(TypeError, match="i must be an int, got float"):
            call()
