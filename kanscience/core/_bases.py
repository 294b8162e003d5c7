"""B-spline bases: the per-interval polynomial table, local and dense bases, spline values.

Conventions (shared with pykan so that models convert exactly):

- a grid holds one knot vector per input, shape ``(n_in, G + 2k + 1)``: ``G + 1`` knots
  spanning the data range, extended by ``k`` knots on each side
  (:func:`kanscience.core._grids.uniform_grid`);
- a layer's spline coefficients have shape ``(n_in, n_out, G + k)``;
- outside the extended grid every basis is zero.

Only ``k + 1`` bases are nonzero at any point, so the bases are computed locally (the
interval index plus ``k + 1`` weights, from de Boor's triangular recursion turned into a
per-interval polynomial table) and scattered into the dense ``(batch, n_in, G + k)``
layout when a caller needs it.

Examples
--------
>>> import torch
>>> from kanscience.core._grids import uniform_grid
>>> grid = uniform_grid(1, num=5, k=3)
>>> x = torch.linspace(-1, 0.99, 7)[:, None]
>>> bool(torch.allclose(basis_matrix(x, grid, 3).sum(-1), torch.ones(7, 1)))
True
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["basis_matrix", "evaluate_splines", "local_bases", "spline_table"]


def _knot_windows(x: Tensor, grid: Tensor, k: int) -> tuple[Tensor, Tensor, Tensor]:
    """Interval index, validity and the ``2k + 2`` knots around each sample.

    Returns ``(interval, inside, window)`` with ``interval`` (batch, n_in) the index ``i``
    with ``t_i <= x < t_{i+1}`` (clamped), ``inside`` whether x lies in the extended grid,
    and ``window`` (batch, n_in, 2k + 2) the knots ``t_{i-k} .. t_{i+k+1}``.
    """
    n_in, n_knots = grid.shape
    interval = torch.searchsorted(grid, x.t().contiguous(), right=True).t() - 1
    inside = (interval >= 0) & (interval <= n_knots - 2)
    interval = interval.clamp(0, n_knots - 2)
    # pad k + 1 knots on each side so every window exists; their values never reach a
    # valid basis, they only need nonzero spacing to keep the recursion finite
    h_left = (grid[:, 1:2] - grid[:, :1]).clamp_min(1e-3)
    h_right = (grid[:, -1:] - grid[:, -2:-1]).clamp_min(1e-3)
    steps = torch.arange(1, k + 2, dtype=grid.dtype, device=grid.device)
    padded = torch.cat(
        [grid[:, :1] - h_left * steps.flip(0), grid, grid[:, -1:] + h_right * steps], dim=1
    )
    width = padded.shape[1]
    offsets = torch.arange(2 * k + 2, device=grid.device)
    rows = torch.arange(n_in, device=grid.device)[None, :, None] * width
    flat_index = rows + (interval + 1)[..., None] + offsets
    window = padded.reshape(-1)[flat_index]
    return interval, inside, window


def _safe_ratio(num: Tensor, den: Tensor) -> Tensor:
    """num / den with 0 where den == 0 (repeated knots), gradient-safe."""
    zero = den == 0
    return torch.where(zero, torch.zeros_like(num), num / torch.where(zero, 1.0, den))


def _recursive_bases(x: Tensor, grid: Tensor, k: int) -> tuple[Tensor, Tensor, Tensor]:
    """Reference local bases by de Boor's recursion: (interval, inside, values).

    ``values[..., r]`` is ``B_{i-k+r, k}(x)`` for the interval ``i`` holding ``x``.
    """
    interval, inside, t = _knot_windows(x, grid, k)
    bases = [torch.ones_like(x)]
    for j in range(1, k + 1):
        new = []
        saved = torch.zeros_like(x)
        for r in range(j):
            left = x - t[..., k + r + 1 - j]
            right = t[..., k + r + 1] - x
            temp = _safe_ratio(bases[r], right + left)
            new.append(saved + right * temp)
            saved = left * temp
        new.append(saved)
        bases = new
    return interval, inside, torch.stack(bases, dim=-1)


def spline_table(grid: Tensor, k: int) -> Tensor:
    """Per-interval polynomial form of the nonzero bases, for fast evaluation.

    On interval ``i`` (``t_i <= x < t_{i+1}``), with ``s = (x - t_i) / (t_{i+1} - t_i)``,
    ``B_{i-k+r}(x) = sum_p C[p, r] s^p``. Rows are indexed by
    ``searchsorted(grid, x, right=True)``: row ``i + 1`` holds ``[t_i, 1 / h_i, C.flatten()]``
    for interval ``i``; the first row (below the grid) and the last (at or above the last
    knot) are all zeros. Computed in float64 from the recursion.

    Returns
    -------
    Tensor, shape (n_in, G + 2k + 2, 2 + (k + 1)**2), dtype of ``grid``.
    """
    g = grid.detach().to(torch.float64)
    n_in, n_knots = g.shape
    n_intervals = n_knots - 1
    s = (torch.arange(k + 1, dtype=torch.float64, device=g.device) + 0.5) / (k + 1)
    h = g[:, 1:] - g[:, :-1]  # (n_in, n_intervals)
    points = g[:, :-1, None] + h[..., None] * s  # (n_in, n_intervals, k + 1)
    _, _, values = _recursive_bases(points.reshape(n_in, -1).t(), g, k)
    n_basis = n_knots - k - 1
    index = (
        torch.arange(n_intervals, device=g.device)[:, None]
        - k
        + torch.arange(k + 1, device=g.device)
    )
    valid = (index >= 0) & (index < n_basis)  # (n_intervals, k + 1)
    values = values.reshape(n_intervals, k + 1, n_in, k + 1).permute(2, 0, 1, 3)  # in, i, q, r
    vandermonde = s[:, None] ** torch.arange(k + 1, dtype=torch.float64, device=g.device)
    coefficients = torch.linalg.solve(vandermonde, values)  # (in, i, p, r)
    nonempty = h > 0
    coefficients = coefficients * valid[None, :, None, :] * nonempty[..., None, None]
    inv_h = torch.where(nonempty, 1.0 / torch.where(nonempty, h, 1.0), 0.0)
    rows = torch.cat([g[:, :-1, None], inv_h[..., None], coefficients.flatten(2)], dim=-1)
    outside = rows.new_zeros(n_in, 1, rows.shape[-1])
    return torch.cat([outside, rows, outside], dim=1).to(grid.dtype)


def _gather_rows(table: Tensor, index: Tensor) -> Tensor:
    """``table[index].t()``, shape (width, N).

    For large N one 1-D gather per column (from a table that fits in cache) gives
    contiguous rows for the elementwise work that follows; for small N a single row gather
    (its transpose viewed, not copied) has less dispatch overhead.
    """
    if index.numel() * table.shape[1] < 2**17:  # small: strided rows are cheap enough
        return torch.nn.functional.embedding(index, table).t()
    columns = table.t().contiguous()
    out = table.new_empty(table.shape[1], index.numel())
    for column, target in zip(columns, out):
        torch.index_select(column, 0, index, out=target)
    return out


def local_bases(
    x: Tensor, grid: Tensor, k: int, table: Tensor | None = None, derivatives: bool = True
) -> tuple[Tensor, Tensor, Tensor | None]:
    """The ``k + 1`` nonzero B-spline bases at each sample and their x-derivatives.

    Parameters
    ----------
    x : Tensor, shape (batch, n_in)
    grid : Tensor, shape (n_in, G + 2k + 1)
    k : int
    table : Tensor, optional
        ``spline_table(grid, k)``, when the caller keeps it between calls.
    derivatives : bool
        Also return the derivatives (else None in their place).

    Returns
    -------
    index : LongTensor, shape (batch, n_in, k + 1)
        Basis indices in ``[0, G + k)`` (entries of invalid bases are clamped).
    values : Tensor, shape (batch, n_in, k + 1)
        Basis values (zero for bases outside ``[0, G + k)`` or samples off the grid).
    derivatives : Tensor, shape (batch, n_in, k + 1)
        d(values)/dx.

    Notes
    -----
    Differentiable torch operations: under grad mode the results carry a graph to ``x``
    (used for higher derivatives).
    """
    if table is None:
        table = spline_table(grid, k)
    n_in, n_knots = grid.shape
    n_rows, width = table.shape[1], table.shape[2]
    batch = x.shape[0]
    row = torch.searchsorted(grid, x.t().contiguous(), right=True).t()  # interval + 1
    flat = (row + torch.arange(0, n_in * n_rows, n_rows, device=x.device)).reshape(-1)
    entries = _gather_rows(table.reshape(-1, width), flat)  # (width, N), coefficient-major
    s = (x.reshape(-1) - entries[0]) * entries[1]  # (N,)
    n = k + 1
    coefficient = [entries[2 + p * n : 2 + (p + 1) * n] for p in range(n)]  # each (n, N)
    values = coefficient[k]
    for p in range(k - 1, -1, -1):  # Horner in s
        values = torch.addcmul(coefficient[p], values, s)
    slopes = None
    if derivatives:
        if k == 0:
            slopes = torch.zeros(batch, n_in, n, dtype=values.dtype, device=values.device)
        else:  # Horner for sum_p p C_p s^(p-1)
            slopes = coefficient[k] * k
            for p in range(k - 1, 0, -1):
                slopes = torch.add(slopes * s, coefficient[p], alpha=p)
            slopes = (slopes * entries[1]).t().view(batch, n_in, n)
    index = row.reshape(-1)[:, None] + torch.arange(-k - 1, 0, device=x.device)
    index = index.clamp_(0, n_knots - k - 2).view(batch, n_in, n)
    return index, values.t().view(batch, n_in, n), slopes


def basis_matrix(x: Tensor, grid: Tensor, k: int, table: Tensor | None = None) -> Tensor:
    """Dense B-spline bases, shape (batch, n_in, G + k); equals pykan's ``B_batch``.

    Differentiable with respect to ``x`` through the local recursion.
    """
    index, values, _ = local_bases(x, grid, k, table, derivatives=False)
    n_basis = grid.shape[1] - k - 1
    return values.new_zeros(*values.shape[:-1], n_basis).scatter_add(-1, index, values)


def evaluate_splines(
    x: Tensor, grid: Tensor, coef: Tensor, k: int, table: Tensor | None = None
) -> Tensor:
    """Per-edge spline values, shape (batch, n_in, n_out); pykan's ``coef2curve``.

    Parameters
    ----------
    x : Tensor, shape (batch, n_in)
    grid : Tensor, shape (n_in, G + 2k + 1)
    coef : Tensor, shape (n_in, n_out, G + k)
    table : Tensor, optional
        ``spline_table(grid, k)`` if the caller keeps it.
    """
    return torch.einsum("bin,ion->bio", basis_matrix(x, grid, k, table), coef)
