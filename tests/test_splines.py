"""B-spline math: agreement with pykan, partition of unity, polynomial reproduction,
convergence order h^(k+1), derivatives, least squares and grid operations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kanscience.core import _splines as splines


def pykan_spline():
    """pykan's spline module; only the parity tests need it (they skip without pykan)."""
    return pytest.importorskip("kan.spline")


def random_grid(n_in: int, n_knots: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.sort(
        torch.rand(n_in, n_knots, generator=g, dtype=torch.float64) * 2 - 1, dim=1
    ).values


@pytest.mark.parametrize("k", [0, 1, 2, 3, 4, 5])
def test_basis_equals_pykan_on_nonuniform_grid(k):
    grid = random_grid(3, 14, seed=k)
    x = (
        torch.rand(400, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 2.4
        - 1.2
    )
    ours = splines.basis_matrix(x, grid, k)
    theirs = pykan_spline().B_batch(x, grid, k=k).to(torch.float64)
    torch.testing.assert_close(ours, theirs, atol=1e-12, rtol=0)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_partition_of_unity_inside_the_grid(k):
    grid = splines.uniform_grid(2, num=7, k=k, dtype=torch.float64)
    x = torch.linspace(-1, 1 - 1e-9, 301, dtype=torch.float64)[:, None].expand(301, 2)
    total = splines.basis_matrix(x, grid, k).sum(-1)
    torch.testing.assert_close(total, torch.ones_like(total), atol=1e-13, rtol=0)


def test_bases_vanish_outside_the_extended_grid():
    grid = splines.uniform_grid(1, num=5, k=3, dtype=torch.float64)
    x = torch.tensor([[grid[0, 0] - 1e-3], [grid[0, -1]], [grid[0, -1] + 1.0]], dtype=torch.float64)
    assert torch.count_nonzero(splines.basis_matrix(x, grid, 3)) == 0


@pytest.mark.parametrize("k", [1, 2, 3])
def test_polynomials_of_degree_k_are_reproduced_exactly(k):
    grid = random_grid(1, 9 + 2 * k, seed=10 + k)
    inner = grid[:, k : grid.shape[1] - k]
    x = torch.linspace(float(inner[0, 0]), float(inner[0, -1]) - 1e-9, 200, dtype=torch.float64)[
        :, None
    ]
    y = (
        (0.3 - 1.2 * x + 0.7 * x**2 - 0.4 * x**3 * (k >= 3))[..., None]
        if k >= 2
        else (0.3 - 1.2 * x)[..., None]
    )
    coef = splines.fit_coefficients(x, y, grid, k)
    torch.testing.assert_close(splines.evaluate_splines(x, grid, coef, k), y, atol=1e-10, rtol=0)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_interpolation_error_falls_like_h_to_the_k_plus_1(k):
    def f(x):
        return torch.sin(2.5 * x) * torch.exp(x / 2)

    errors, widths = [], []
    for num in (8, 16, 32, 64):
        grid = splines.uniform_grid(1, num=num, k=k, dtype=torch.float64)
        x = torch.linspace(-1, 1 - 1e-12, 40 * num, dtype=torch.float64)[:, None]
        coef = splines.fit_coefficients(x, f(x)[..., None], grid, k)
        x_test = torch.linspace(-0.9, 0.9, 997, dtype=torch.float64)[:, None]
        errors.append(
            float((splines.evaluate_splines(x_test, grid, coef, k)[..., 0] - f(x_test)).abs().max())
        )
        widths.append(2.0 / num)
    slope = np.polyfit(np.log(widths), np.log(errors), 1)[0]
    assert slope == pytest.approx(k + 1, abs=0.35), errors


@pytest.mark.parametrize("base", ["silu", "identity", "zero"])
def test_feature_gradients_first_and_second_order(base):
    grid = random_grid(2, 12, seed=3)
    g = torch.Generator().manual_seed(5)
    x = (torch.rand(12, 2, generator=g, dtype=torch.float64) * 1.2 - 0.6).requires_grad_()
    fn = lambda x: splines.spline_features(x, grid, 3, base)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x,))
    assert torch.autograd.gradgradcheck(fn, (x,))


def test_piecewise_constant_splines_have_zero_slopes_of_the_bases_shape():
    grid = random_grid(3, 9, seed=0)
    x = torch.rand(50, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    index, values, slopes = splines.local_bases(x, grid, 0)
    assert slopes.shape == values.shape == index.shape == (50, 3, 1)
    assert torch.equal(slopes, torch.zeros_like(values))
    xg = x.clone().requires_grad_()
    (grad,) = torch.autograd.grad(splines.spline_features(xg, grid, 0, "identity").sum(), xg)
    torch.testing.assert_close(grad, torch.ones_like(x), atol=0, rtol=0)  # d(identity)/dx


def test_least_squares_matches_pykan_curve2coef():
    grid = random_grid(2, 12, seed=7)
    g = torch.Generator().manual_seed(2)
    x = torch.rand(300, 2, generator=g, dtype=torch.float64) * 1.4 - 0.7
    y = torch.stack([torch.sin(3 * x), torch.cos(2 * x), x**2], dim=-1)
    ours = splines.fit_coefficients(x, y, grid, 3)
    theirs = pykan_spline().curve2coef(x, y, grid, 3)
    torch.testing.assert_close(ours, theirs, atol=1e-8, rtol=0)


def test_least_squares_survives_a_degenerate_design():
    grid = splines.uniform_grid(1, num=5, k=3, dtype=torch.float64)
    x = torch.full((50, 1), 0.3, dtype=torch.float64)  # every sample in one interval
    coef = splines.fit_coefficients(x, torch.ones(50, 1, 1, dtype=torch.float64), grid, 3)
    assert torch.isfinite(coef).all()
    torch.testing.assert_close(
        splines.evaluate_splines(x, grid, coef, 3), torch.ones(50, 1, 1, dtype=torch.float64)
    )


def test_uniform_grid_rejects_an_empty_range():
    with pytest.raises(ValueError, match="grid_range"):
        splines.uniform_grid(1, 5, 3, grid_range=(1.0, 1.0))
