"""Knot grids and spline coefficients: uniform and data-adaptive grids, least-squares
coefficients, and the grid updates and refinements that keep each spline.

Examples
--------
>>> import torch
>>> grid = uniform_grid(1, num=4, k=2)
>>> grid.shape, grid[0, 2].item(), grid[0, -3].item()
(torch.Size([1, 9]), -1.0, 1.0)
>>> x = torch.linspace(-1, 0.99, 50, dtype=torch.float64)[:, None]
>>> coef = fit_coefficients(x, (2 * x)[..., None], grid.double(), 2)
>>> bool(torch.allclose(evaluate_splines(x, grid.double(), coef, 2)[..., 0], 2 * x))
True
"""

from __future__ import annotations

import torch
from torch import Tensor

from ._bases import basis_matrix, evaluate_splines, spline_table

__all__ = [
    "adaptive_grid",
    "extend_grid",
    "fit_coefficients",
    "refine_grid",
    "uniform_grid",
    "update_grid",
]


def extend_grid(grid: Tensor, k: int) -> Tensor:
    """Extend each knot vector by ``k`` equally spaced knots on both ends.

    Parameters
    ----------
    grid : Tensor, shape (n_in, G + 1)
        Interior knots, sorted along the last axis.
    k : int
        Spline order.

    Returns
    -------
    Tensor, shape (n_in, G + 2k + 1)
    """
    h = (grid[:, -1:] - grid[:, :1]) / (grid.shape[1] - 1)
    steps = torch.arange(1, k + 1, dtype=grid.dtype, device=grid.device)
    left = grid[:, :1] - h * steps.flip(0)
    right = grid[:, -1:] + h * steps
    return torch.cat([left, grid, right], dim=1)


def uniform_grid(
    n_in: int,
    num: int,
    k: int,
    grid_range: tuple[float, float] = (-1.0, 1.0),
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """Uniform extended grid of ``num`` intervals on ``grid_range`` for ``n_in`` inputs.

    Returns
    -------
    Tensor, shape (n_in, num + 2k + 1)
    """
    lo, hi = float(grid_range[0]), float(grid_range[1])
    if not hi > lo:
        raise ValueError(f"grid_range must be increasing (lo < hi), got {grid_range!r}")
    knots = torch.linspace(lo, hi, num + 1, dtype=dtype, device=device)
    return extend_grid(knots[None, :].expand(n_in, num + 1), k)


def fit_coefficients(
    x: Tensor, y: Tensor, grid: Tensor, k: int, table: Tensor | None = None
) -> Tensor:
    """Least-squares spline coefficients for samples of each edge (pykan's ``curve2coef``).

    Parameters
    ----------
    x : Tensor, shape (batch, n_in)
    y : Tensor, shape (batch, n_in, n_out)
        Target value of edge (i, j) at ``x[:, i]``.
    grid : Tensor, shape (n_in, G + 2k + 1)
    table : Tensor, optional
        ``spline_table(grid, k)`` if the caller keeps it.

    Returns
    -------
    Tensor, shape (n_in, n_out, G + k)

    Notes
    -----
    One least-squares solve per input with all its outputs as right-hand sides. Degenerate
    designs (all samples in one interval, say) get the minimum-norm solution; a solver
    failure falls back to the pseudo-inverse instead of crashing.
    """
    if x.ndim != 2 or y.ndim != 3 or y.shape[:2] != x.shape:
        raise ValueError(
            f"expected x (batch, n_in) and y (batch, n_in, n_out), got {tuple(x.shape)} "
            f"and {tuple(y.shape)}"
        )
    design = basis_matrix(x, grid, k, table).transpose(0, 1)  # (n_in, batch, n_basis)
    target = y.transpose(0, 1)  # (n_in, batch, n_out)
    try:
        # gelsd (SVD) gives the minimum-norm solution of rank-deficient designs; the
        # default gelsy returns zeros for some of them
        driver = "gelsd" if design.device.type == "cpu" else None
        solution = torch.linalg.lstsq(design, target, driver=driver).solution
        if not torch.isfinite(solution).all():
            raise RuntimeError("non-finite least-squares solution")
    except RuntimeError:
        solution = torch.linalg.pinv(design) @ target
    return solution.transpose(1, 2).contiguous()


def adaptive_grid(x_sorted: Tensor, num: int, grid_eps: float) -> Tensor:
    """Interior knots from samples: pykan's mix of percentile and uniform grids.

    Parameters
    ----------
    x_sorted : Tensor, shape (batch, n_in)
        Samples sorted along the batch axis.
    num : int
        Number of intervals.
    grid_eps : float
        1 gives a uniform grid over the sample range, 0 the sample percentiles.

    Returns
    -------
    Tensor, shape (n_in, num + 1)
    """
    batch = x_sorted.shape[0]
    ids = [int(batch / num * i) for i in range(num)] + [batch - 1]
    percentile = x_sorted[ids, :].t()
    h = (percentile[:, -1:] - percentile[:, :1]) / num
    steps = torch.arange(num + 1, dtype=x_sorted.dtype, device=x_sorted.device)
    uniform = percentile[:, :1] + h * steps
    return grid_eps * uniform + (1 - grid_eps) * percentile


def update_grid(
    x: Tensor,
    grid: Tensor,
    coef: Tensor,
    k: int,
    grid_eps: float,
    mode: str = "sample",
    table: Tensor | None = None,
    return_table: bool = False,
) -> tuple[Tensor, ...]:
    """Move the grid to the data and refit the coefficients to keep each spline.

    Parameters
    ----------
    x : Tensor, shape (batch, n_in)
        Inputs of the layer.
    grid, coef : the layer's current grid and coefficients.
    mode : {'sample', 'grid'}
        Refit at the samples (pykan's default) or at ``2G + 1`` points of the new grid.
    table : Tensor, optional
        ``spline_table(grid, k)`` of the current grid if the caller keeps it.
    return_table : bool
        Also return ``spline_table`` of the new grid (computed anyway).

    Returns
    -------
    (grid, coef) : the new grid (n_in, G + 2k + 1) and coefficients (n_in, n_out, G + k),
    then the new grid's table if ``return_table``.
    """
    if mode not in ("sample", "grid"):
        raise ValueError(f"mode must be 'sample' or 'grid', got {mode!r}")
    num = grid.shape[1] - 1 - 2 * k
    x_sorted = torch.sort(x, dim=0).values
    new_grid = extend_grid(adaptive_grid(x_sorted, num, grid_eps), k)
    if mode == "grid":
        x_sorted = adaptive_grid(x_sorted, 2 * num, grid_eps).t()
    y = evaluate_splines(x_sorted, grid, coef, k, table)
    new_table = spline_table(new_grid, k)
    new_coef = fit_coefficients(x_sorted, y, new_grid, k, new_table)
    return (new_grid, new_coef, new_table) if return_table else (new_grid, new_coef)


def refine_grid(
    x: Tensor, grid: Tensor, coef: Tensor, k: int, new_num: int
) -> tuple[Tensor, Tensor]:
    """A grid of ``new_num`` intervals and coefficients reproducing the current splines.

    The new interior knots interpolate the old ones piecewise linearly (pykan's
    ``initialize_grid_from_parent``); the coefficients are a least-squares fit of the old
    splines at the samples ``x``.

    Returns
    -------
    (grid, coef) : shapes (n_in, new_num + 2k + 1) and (n_in, n_out, new_num + k).
    """
    num = grid.shape[1] - 1 - 2 * k
    knots = grid[:, k : grid.shape[1] - k]  # (n_in, num + 1)
    position = torch.linspace(0, num, new_num + 1, dtype=grid.dtype, device=grid.device)
    lower = position.floor().long().clamp(max=num - 1)
    frac = position - lower
    interior = knots[:, lower] * (1 - frac) + knots[:, lower + 1] * frac
    new_grid = extend_grid(interior, k)
    y = evaluate_splines(x, grid, coef, k)
    return new_grid, fit_coefficients(x, y, new_grid, k)
