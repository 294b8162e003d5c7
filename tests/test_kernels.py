"""The compiled feature loops (kanscience.core._kernels) against the torch path of splines."""

from __future__ import annotations

import pytest
import torch

from kanscience import KAN
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
