"""The compiled feature loops (kanscience.core._kernels) against the torch path of splines."""

from __future__ import annotations

import pytest
import torch

from kanscience import KAN
from kanscience.core import _contraction as contraction
from kanscience.core import _kernels as kernels
from kanscience.core import _splines as splines


def _grid(n_in, num, k, seed, dtype):
    """Non-uniform extended grids (random interior knots)."""
    g = torch.Generator().manual_seed(seed)
    interior = torch.sort(
        torch.rand(n_in, num + 1, generator=g, dtype=torch.float64) * 2 - 1
    ).values
    return splines.extend_grid(interior, k).to(dtype)


def _samples(batch, n_in, seed, dtype):
    """Samples inside, below and above the grid, and exactly on knots."""
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(batch, n_in, generator=g, dtype=torch.float64) * 4 - 2).to(dtype)


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 2e-5)])
@pytest.mark.parametrize("k", [0, 1, 2, 3, 5, 7])  # 7: the loop for any order
@pytest.mark.parametrize("base", ["silu", "identity", "zero"])
def test_compiled_features_and_gradient_equal_the_torch_path(dtype, tol, k, base):
    grid = _grid(3, 6, k, seed=k, dtype=dtype)
    x = _samples(200, 3, seed=1, dtype=dtype)
    x[:3] = grid[:, k + 2]  # on a knot
    x[3:6] = grid[:, -1]  # on the last knot: off the grid
    table = splines.spline_table(grid, k)
    assert kernels.usable(x, grid, table)
    features, index, slopes = kernels.spline_features(x, grid, table, k, base, True)
    ref_index, values, ref_slopes = splines.local_bases(x, grid, k, table)
    reference = splines.dense_features(x, ref_index, values, grid.shape[1] - k - 1, base)
    torch.testing.assert_close(features, reference, rtol=tol, atol=tol)
    assert torch.equal(index, ref_index)
    torch.testing.assert_close(slopes, ref_slopes, rtol=tol, atol=tol * 10)
    grad = torch.randn(features.shape, generator=torch.Generator().manual_seed(2), dtype=dtype)
    grad_x = kernels.features_backward(grad, x, index, slopes, base)
    derivative = splines.base_function(base)[1](grad[..., 0], x)
    expected = derivative + (grad[..., 1:].gather(-1, ref_index) * ref_slopes).sum(-1)
    torch.testing.assert_close(grad_x, expected, rtol=tol, atol=tol * 10)


def test_non_finite_inputs_stay_non_finite():
    grid = _grid(2, 5, 3, seed=0, dtype=torch.float64)
    x = torch.tensor([[float("nan"), 0.1], [float("inf"), -float("inf")]], dtype=torch.float64)
    features, _, _ = kernels.spline_features(
        x, grid, splines.spline_table(grid, 3), 3, "silu", False
    )
    assert torch.isnan(features[0, 0]).any() and torch.isfinite(features[0, 1]).all()
    assert not torch.isfinite(features[1]).all()


def test_kernels_apply_only_where_they_are_exact_and_fast():
    grid = _grid(2, 5, 3, seed=0, dtype=torch.float64)
    table = splines.spline_table(grid, 3)
    small = torch.zeros(10, 2, dtype=torch.float64)
    assert kernels.usable(small, grid, table)
    assert not kernels.usable(small.float(), grid, table)  # mixed dtypes
    assert not kernels.usable(small.requires_grad_(), grid, table)  # a graph is wanted
    with torch.no_grad():
        assert kernels.usable(small, grid, table)
    assert not kernels.usable(
        torch.zeros(kernels.MAX_ELEMENTS + 1, 1, dtype=torch.float64), grid[:1], table[:1]
    )


def test_network_gradients_agree_with_and_without_the_kernels(monkeypatch):
    """A KAN's output and every parameter gradient equal the torch path's."""
    model = KAN([3, 4, 2], grid=5, k=3, seed=0, dtype=torch.float64)
    x = _samples(64, 3, seed=3, dtype=torch.float64).requires_grad_()

    def run():
        model.zero_grad(set_to_none=True)
        x.grad = None
        out = model(x)
        out.square().sum().backward()
        return out.detach(), [p.grad.clone() for p in model.parameters() if p.grad is not None] + [
            x.grad.clone()
        ]

    out_fast, grads_fast = run()
    monkeypatch.setattr(kernels, "MAX_ELEMENTS", 0)  # the torch path
    monkeypatch.setattr(kernels, "contract_usable", lambda *args: False)
    out_torch, grads_torch = run()
    torch.testing.assert_close(out_fast, out_torch, rtol=1e-12, atol=1e-12)
    for fast, slow in zip(grads_fast, grads_torch, strict=True):
        torch.testing.assert_close(fast, slow, rtol=1e-10, atol=1e-12)


def test_the_extension_is_built_by_the_install():
    """The loops are compiled with the package (setup.py); a new process needs no compiler."""
    assert kernels._LOOPS is not None


def test_strided_inputs_give_the_contiguous_result():
    grid = _grid(3, 5, 3, seed=0, dtype=torch.float64)
    table = splines.spline_table(grid, 3)
    x = _samples(3, 40, seed=4, dtype=torch.float64).t()  # (40, 3), not contiguous
    assert not x.is_contiguous()
    strided = kernels.spline_features(x, grid, table, 3, "silu", True)
    contiguous = kernels.spline_features(x.contiguous(), grid, table, 3, "silu", True)
    for a, b in zip(strided, contiguous, strict=True):
        assert a is not None and b is not None and torch.equal(a, b)


def test_inconsistent_sizes_are_refused_before_any_memory_is_touched():
    grid = _grid(2, 5, 3, seed=0, dtype=torch.float64)
    table = splines.spline_table(grid, 3)
    x = torch.zeros(4, 2, dtype=torch.float64)
    out = torch.empty(4, 2, 6, dtype=torch.float64)
    index = torch.empty(4, 2, 4, dtype=torch.int64)
    pointers = [t.data_ptr() for t in (x, grid, table, out, index, index)]
    with pytest.raises(ValueError, match="inconsistent sizes"):  # table rows != knots + 1
        kernels._LOOPS.features(*pointers, 4, 2, grid.shape[1], table.shape[1] - 1, 3, 0, 0, 1)
    with pytest.raises(ValueError, match="inconsistent sizes"):  # fewer features than bases
        kernels._LOOPS.backward(*pointers[:5], 4, 2, 3, 4, 0, 1)


def _layer_tensors(n_in, n_out, num, k, seed, dtype):
    """Coefficients, scales and a mask with switched-off edges, all but the mask trainable."""
    g = torch.Generator().manual_seed(seed)

    def draw(*shape):
        return torch.randn(*shape, generator=g, dtype=torch.float64).to(dtype).requires_grad_()

    mask = (torch.rand(n_in, n_out, generator=g) > 0.2).to(dtype)
    return draw(n_in, n_out, num + k), draw(n_in, n_out), draw(n_in, n_out), mask


def _torch_layer(x, coef, scale_base, scale_sp, mask, grid, k, base):
    """The layer from torch operations only: dense features times the weights."""
    table = splines.spline_table(grid, k)
    index, values, _ = splines.local_bases(x, grid, k, table)
    features = splines.dense_features(x, index, values, grid.shape[1] - k - 1, base)
    weight = contraction.contraction_weight(coef, scale_base, scale_sp, mask)
    return features.reshape(x.shape[0], -1) @ weight.reshape(-1, coef.shape[1])


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-10), (torch.float32, 1e-4)])
@pytest.mark.parametrize("k", [0, 1, 3, 5, 7])  # 7: the loop for any order
@pytest.mark.parametrize("base", ["silu", "identity", "zero"])
@pytest.mark.parametrize("n_out", [3, 37])  # fewer and more outputs than a vector holds
def test_compiled_contraction_equals_dense_features_times_weights(dtype, tol, k, base, n_out):
    """Output and the gradients of x, coef, scale_base and scale_sp, with samples on
    knots and off the grid (where the clamped bases coincide)."""
    grid = _grid(4, 9, k, seed=k, dtype=dtype)
    x = _samples(150, 4, seed=5, dtype=dtype)
    x[:3] = grid[:, k + 2][:, None].T.expand(3, 4)
    x = x.requires_grad_()
    coef, scale_base, scale_sp, mask = _layer_tensors(4, n_out, 9, k, seed=6, dtype=dtype)
    inputs = (x, coef, scale_base, scale_sp)
    assert kernels.contract_usable(x, k, coef, grid)
    grad = torch.randn(150, n_out, generator=torch.Generator().manual_seed(7), dtype=dtype)
    compiled = contraction.spline_contract(x, coef, scale_base, scale_sp, mask, grid, k, base)
    reference = _torch_layer(x, coef, scale_base, scale_sp, mask, grid, k, base)
    scale = float(reference.detach().abs().max())
    torch.testing.assert_close(compiled, reference, rtol=tol, atol=tol * scale)
    # with k = 0 and no residual base the layer is piecewise constant in x: no path to x
    wanted = torch.autograd.grad(reference, inputs, grad, allow_unused=True)
    for got, want, tensor in zip(torch.autograd.grad(compiled, inputs, grad), wanted, inputs):
        want = torch.zeros_like(tensor) if want is None else want
        torch.testing.assert_close(got, want, rtol=tol, atol=tol * float(want.abs().max()))


def test_the_input_gradient_alone_skips_the_parameters_and_is_the_same():
    """Attribution on a frozen layer asks for the gradient of x only: the compiled backward
    then skips the weights' gradient, and the gradient of x is bitwise the one computed
    beside the parameters' (threads over inputs: each column of it by one thread)."""
    grid = _grid(5, 7, 3, seed=1, dtype=torch.float64)
    x = _samples(400, 5, seed=2, dtype=torch.float64).requires_grad_()
    coef, scale_base, scale_sp, mask = _layer_tensors(5, 6, 7, 3, seed=3, dtype=torch.float64)
    grad = torch.randn(400, 6, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    y = contraction.spline_contract(x, coef, scale_base, scale_sp, mask, grid, 3)
    (with_parameters, *_) = torch.autograd.grad(y, (x, coef, scale_base, scale_sp), grad)
    frozen = [t.detach() for t in (coef, scale_base, scale_sp)]
    y = contraction.spline_contract(x, *frozen, mask, grid, 3)
    (alone,) = torch.autograd.grad(y, x, grad)
    assert torch.equal(alone, with_parameters)
    table = splines.spline_table(grid, 3)
    _, weight = kernels.contract(x.detach(), grid, table, *frozen, mask, 3, "silu")
    grads = kernels.contract_backward(
        x.detach(), grid, table, frozen[0], frozen[2], mask, weight, grad, 3, "silu", True, False
    )
    assert torch.equal(grads[0], alone) and grads[1:] == (None, None, None)


def test_threads_share_a_contraction_without_changing_a_bit(monkeypatch):
    """Large contractions run in chunks on torch's threads: every row (forward) and every
    input (backward) is summed by one thread in one order, so the result is the one-thread
    result exactly."""
    grid = _grid(8, 5, 3, seed=0, dtype=torch.float32)
    x = _samples(3000, 8, seed=1, dtype=torch.float32).requires_grad_()
    coef, scale_base, scale_sp, mask = _layer_tensors(8, 64, 5, 3, seed=2, dtype=torch.float32)
    inputs = (x, coef, scale_base, scale_sp)

    def run():
        y = contraction.spline_contract(x, coef, scale_base, scale_sp, mask, grid, 3)
        return (y, *torch.autograd.grad(y.square().sum(), inputs))

    threads = torch.get_num_threads()
    torch.set_num_threads(max(threads, 2))
    try:
        assert kernels._threads(3000 * 8 * 5 * 64)[1] > 1
        shared = run()
        monkeypatch.setattr(kernels, "THREADED_WORK", 10**12)
        assert kernels._threads(3000 * 8 * 5 * 64)[1] == 1
        alone = run()
    finally:
        torch.set_num_threads(threads)
    for a, b in zip(shared, alone, strict=True):
        assert torch.equal(a, b)


def test_second_derivatives_through_the_compiled_contraction_are_exact():
    grid = _grid(2, 4, 3, seed=0, dtype=torch.float64)
    x = torch.rand(6, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64) - 0.5
    coef, scale_base, scale_sp, mask = _layer_tensors(2, 3, 4, 3, seed=1, dtype=torch.float64)

    def layer(x, coef, scale_base, scale_sp):
        return contraction.spline_contract(x, coef, scale_base, scale_sp, mask, grid, 3)

    inputs = (x.requires_grad_(), coef, scale_base, scale_sp)
    assert torch.autograd.gradgradcheck(layer, inputs)


def test_orders_beyond_the_compiled_loops_take_the_torch_path():
    grid = _grid(2, 20, kernels.MAX_ORDER + 1, seed=0, dtype=torch.float64)
    x = torch.zeros(3, 2, dtype=torch.float64)
    assert kernels.contract_usable(x, kernels.MAX_ORDER, grid)
    assert not kernels.contract_usable(x, kernels.MAX_ORDER + 1, grid)
    assert not kernels.contract_usable(x.float(), 3, grid)  # mixed dtypes
    with pytest.raises(ValueError, match="contract: inconsistent sizes"):
        kernels._LOOPS.contract(
            False,
            *[0] * 15,
            3,
            2,
            1,
            grid.shape[1],
            grid.shape[1] + 1,
            kernels.MAX_ORDER + 1,
            0,
            True,
            0,
            1,
        )


def test_fixed_inputs_form_no_features_on_the_compiled_path():
    """reuse_features memoizes dense features for the torch path only: the compiled
    contraction recomputes the few bases it needs and stores none."""
    model = KAN([2, 3, 1], grid=5, k=3, seed=0, dtype=torch.float64)
    x = _samples(50, 2, seed=8, dtype=torch.float64)
    layer = model.layers[0]
    with layer.reuse_features(x):
        inside = model(x)
        assert layer._memo[id(x)].features is None
    torch.testing.assert_close(inside, model(x), rtol=0, atol=0)


@pytest.mark.parametrize("rows", [1, 2, 7, 1000, 99_999, 1 << 20, 12_345_678])
def test_compiled_row_permutation_equals_the_torch_network(rows, monkeypatch):
    """The compiled cycle walk gives the rows of the torch Feistel network, a bijection."""
    from kanscience.train._permutation import RowPermutation

    permutation = RowPermutation(rows, seed=rows)
    positions = torch.arange(min(rows, 4096))
    compiled = permutation(positions)
    monkeypatch.setattr(kernels, "_LOOPS", None)
    assert torch.equal(compiled, permutation(positions))
    if rows <= 4096:
        assert sorted(compiled.tolist()) == list(range(rows))
    assert int(compiled.min()) >= 0 and int(compiled.max()) < rows
