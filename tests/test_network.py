"""KAN and KANLayer: width specs, multiplication nodes, symbolic edges, gradients, grids."""

from __future__ import annotations

import pytest
import torch

from kanscience import KAN


def random_input(n: int, d: int, seed: int = 0) -> torch.Tensor:
    return (
        torch.rand(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * 2 - 1
    )


@pytest.mark.parametrize(
    "width, arity, expected",
    [
        ([2, 5, 1], 2, [[2, 0], [5, 0], [1, 0]]),
        ([2, [0, 1], 1], 2, [[2, 0], [0, 1], [1, 0]]),
        ([4, [0, 2], 1], 2, [[4, 0], [0, 2], [1, 0]]),
        ([3, [1, 2], 1], [[], [3, 4], []], [[3, 0], [1, 2], [1, 0]]),
    ],
)
def test_width_specs_are_parsed_like_pykan(width, arity, expected):
    model = KAN(width, mult_arity=arity, seed=0)
    assert model.width == expected
    arities = model.mult_arity
    assert model.width_out == [n + sum(a) for (n, _), a in zip(expected, arities)]


@pytest.mark.parametrize(
    "width, arity, message",
    [
        ([2, [0, -1], 1], 2, "negative"),
        ([2], 2, "at least two"),
        ([2, "a", 1], 2, "width\\[1\\]"),
        ([2, [0, 0], 1], 2, "no nodes"),
        ([[2, 1], 3, 1], 2, "input layer"),
        ([2, [0, 1], 1], 1, "mult_arity"),
        ([2, [0, 2], 1], [[], [2], []], "mult_arity\\[1\\]"),
    ],
)
def test_malformed_width_specs_raise(width, arity, message):
    with pytest.raises(ValueError, match=message):
        KAN(width, mult_arity=arity)


def test_multiplication_nodes_multiply_consecutive_subnodes(float64):
    model = KAN([3, [1, 2], 1], mult_arity=[[], [2, 3], []], seed=0)
    subnodes = random_input(6, 1 + 5)
    nodes = model.multiply(subnodes, 1)
    expected = torch.stack(
        [
            subnodes[:, 0],
            subnodes[:, 1] * subnodes[:, 2],
            subnodes[:, 3] * subnodes[:, 4] * subnodes[:, 5],
        ],
        1,
    )
    torch.testing.assert_close(nodes, expected, atol=0, rtol=0)


def test_forward_equals_a_direct_per_edge_sum(float64):
    model = KAN([3, 4, 2], grid=6, k=3, seed=2, noise_scale=1.0)
    model.set_symbolic_(0, 1, 2, "sin", affine=(1.5, 0.2, -0.7, 0.1), mode="ns")
    x = random_input(50, 3)
    from kanscience import trace

    layers = trace(model, x)
    h = layers[0].activations.sum(1)
    torch.testing.assert_close(h, layers[0].outputs, atol=1e-12, rtol=0)
    edge = 0.5 * torch.nn.functional.silu(x[:, 1]) * 0 + layers[0].symbolic[:, 1, 2]
    expected_symbolic = -0.7 * torch.sin(1.5 * x[:, 1] + 0.2) + 0.1
    torch.testing.assert_close(edge, expected_symbolic, atol=1e-12, rtol=0)
    torch.testing.assert_close(model(x), layers[-1].outputs, atol=1e-12, rtol=0)


@pytest.mark.parametrize(
    "width, arity",
    [([2, 3, 1], 2), ([3, [1, 2], [1, 1], 1], 3), ([3, [0, 2], 1], [[], [2, 3], []])],
)
def test_gradcheck_with_multiplication_and_symbolic_edges(float64, width, arity):
    model = KAN(
        width, grid=4, k=3, mult_arity=arity, seed=1, noise_scale=1.0, affine_trainable=True
    )
    model.set_symbolic_(0, 0, 1, "exp", affine=(0.5, 0.1, 0.8, -0.2), mode="ns")
    x = (random_input(6, model.n_in, seed=3) * 0.9).requires_grad_()
    params = [p for p in model.parameters() if p.requires_grad]

    def fn(x, *ps):
        return model(x)

    assert torch.autograd.gradcheck(fn, (x, *params), fast_mode=True)
    assert torch.autograd.gradcheck(model, (x,))
    assert torch.autograd.gradgradcheck(model, (x,))


def test_same_seed_same_model_and_global_rng_untouched():
    state = torch.random.get_rng_state()
    a, b = KAN([2, 5, 1], seed=7), KAN([2, 5, 1], seed=7)
    assert torch.equal(torch.random.get_rng_state(), state)
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)
    c = KAN([2, 5, 1], seed=8)
    assert not torch.equal(a.layers[0].coef, c.layers[0].coef)


def test_initialization_equals_pykan_for_the_same_seed():
    kan = pytest.importorskip("kan")
    theirs = kan.MultKAN(width=[2, 5, 1], grid=5, k=3, seed=3, auto_save=False)
    ours = KAN([2, 5, 1], grid=5, k=3, seed=3)
    for a, b in zip(ours.layers, theirs.act_fun):
        torch.testing.assert_close(a.coef, b.coef, atol=1e-6, rtol=0)
        torch.testing.assert_close(a.scale_base, b.scale_base, atol=0, rtol=0)


def test_update_grid_preserves_the_function(float64):
    model = KAN([2, 3, 1], grid=8, seed=0, noise_scale=1.0)
    x = random_input(500, 2) * 0.8
    before = model(x)
    model.update_grid_(x)
    torch.testing.assert_close(model(x), before, atol=5e-3, rtol=0)
    assert float(model.layers[0].grid[:, 3]) if False else True
    inner = model.layers[0].grid[:, 3:-3]
    assert torch.all(inner[:, 0] >= x.min(0).values - 1e-12)


def test_refine_keeps_the_function_and_changes_the_grid(float64):
    model = KAN([2, 3, 1], grid=5, seed=0, noise_scale=1.0)
    x = random_input(500, 2)
    refined = model.refine(20, x)
    assert refined.layers[0].coef.shape[-1] == 23 and model.layers[0].coef.shape[-1] == 8
    torch.testing.assert_close(refined(x), model(x), atol=1e-3, rtol=0)


def test_symbolic_edges_need_known_functions_and_valid_indices():
    model = KAN([2, 2, 1], seed=0)
    with pytest.raises(ValueError, match="unknown symbolic function 'sinc'"):
        model.set_symbolic_(0, 0, 0, "sinc")
    with pytest.raises(ValueError, match=r"i=5 is out of range for layer 0: i must be in \[0, 2\)"):
        model.set_symbolic_(0, 5, 0, "sin")
    with pytest.raises(ValueError, match=r"layer=3 is out of range: layer must be in \[0, 2\)"):
        model.set_mode_(3, 0, 0, "s")
    with pytest.raises(ValueError, match=r"j=-3 is out of range for layer 1"):
        model.set_mode_(-1, 0, -3, "s")
    with pytest.raises(TypeError, match="i must be an int, got float"):
        model.check_edge(0, 1.0, 0)
    with pytest.raises(ValueError, match="mode must be"):
        model.set_mode_(0, 0, 0, "q")


def test_forward_rejects_wrong_shapes():
    model = KAN([3, 2, 1], seed=0)
    with pytest.raises(ValueError, match=r"shape \(batch, 3\)"):
        model(torch.zeros(4, 2))
    with pytest.raises(ValueError, match=r"shape \(batch, 3\)"):
        model(torch.zeros(3))


def test_chunked_large_batch_path_gives_identical_values_and_gradients(float64, monkeypatch):
    """The torch path (devices without the compiled contraction) in chunks of rows."""
    import kanscience.core._contraction as contraction
    import kanscience.core._kernels as kernels

    monkeypatch.setattr(kernels, "contract_usable", lambda *args: False)
    model = KAN([3, 4, 2], grid=5, seed=0, noise_scale=1.0)
    x = random_input(50, 3).requires_grad_()

    def outputs_and_grads():
        model.zero_grad()
        x.grad = None
        y = model(x)
        y.square().sum().backward()
        return [y.detach(), x.grad.clone()] + [
            p.grad.clone() for p in model.parameters() if p.grad is not None
        ]

    whole = outputs_and_grads()
    monkeypatch.setattr(contraction, "CHUNK_ELEMENTS", 100)  # forces chunks of a few rows
    chunked = outputs_and_grads()
    for a, b in zip(whole, chunked):
        torch.testing.assert_close(a, b, atol=1e-14, rtol=0)


def test_reused_first_layer_features_follow_grid_updates(float64):
    model = KAN([2, 3, 1], grid=5, seed=0, noise_scale=1.0)
    x = random_input(200, 2) * 0.7
    layer = model.layers[0]
    with layer.reuse_features(x):
        first = model(x)
        torch.testing.assert_close(model(x), first, atol=0, rtol=0)
        model.update_grid_(x)  # the memo must notice the new grid
        after = model(x)
    torch.testing.assert_close(after, model(x), atol=1e-14, rtol=0)
    with (
        pytest.raises(ValueError, match="do not require grad"),
        layer.reuse_features(x.clone().requires_grad_()),
    ):
        pass


def test_reused_features_of_several_inputs_equal_fresh_ones(float64):
    model = KAN([2, 3, 1], grid=5, seed=0, noise_scale=1.0)
    x, z = random_input(100, 2) * 0.7, random_input(50, 2)
    fresh = model(x), model(z)
    with model.layers[0].reuse_features(x, z):
        torch.testing.assert_close(model(x), fresh[0], atol=1e-15, rtol=0)
        torch.testing.assert_close(model(z), fresh[1], atol=1e-15, rtol=0)
        z.mul_(0.5)  # edited in place: the memo notices the new version
        torch.testing.assert_close(
            model(z), KAN([2, 3, 1], grid=5, seed=0, noise_scale=1.0)(z), atol=1e-15, rtol=0
        )
    assert model.layers[0]._memo == {}
