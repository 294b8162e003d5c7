"""Pure B-spline math: knot grids, bases, least-squares coefficients, grid updates.

Conventions (shared with pykan so that models convert exactly):

- a grid holds one knot vector per input, shape ``(n_in, G + 2k + 1)``: ``G + 1`` knots
  spanning the data range, extended by ``k`` knots on each side;
- a layer's spline coefficients have shape ``(n_in, n_out, G + k)``;
- outside the extended grid every basis is zero.

Only ``k + 1`` bases are nonzero at any point, so the bases are computed locally (the
interval index plus ``k + 1`` weights, de Boor's triangular recursion) and scattered into
the dense ``(batch, n_in, G + k)`` layout that one matrix product contracts. The
:func:`spline_features` autograd function has an analytic first derivative and stays
differentiable to second order (Hessians of a KAN work). On the CPU, batches that are not
large run the first-order work as compiled loops (:mod:`kanscience.core._kernels`, numba).

Examples
--------
>>> import torch
>>> grid = uniform_grid(1, num=5, k=3)
>>> x = torch.linspace(-1, 0.99, 7)[:, None]
>>> bool(torch.allclose(basis_matrix(x, grid, 3).sum(-1), torch.ones(7, 1)))
True
"""

from __future__ import annotations

import torch
from torch import Tensor

from . import _kernels as kernels

__all__ = [
    "adaptive_grid",
    "basis_matrix",
    "evaluate_splines",
    "extend_grid",
    "fit_coefficients",
    "local_bases",
    "refine_grid",
    "spline_features",
    "spline_table",
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


def _silu_vjp(grad: Tensor, x: Tensor) -> Tensor:
    if torch.is_grad_enabled() and (grad.requires_grad or x.requires_grad):
        sigmoid = torch.sigmoid(x)  # differentiable again (higher derivatives)
        return grad * sigmoid * (1 + x * (1 - sigmoid))
    return torch.ops.aten.silu_backward(grad, x)  # one fused kernel


# name -> (f, vjp) with vjp(grad, x) = grad * f'(x)
_BASE_FUNCTIONS = {
    "silu": (torch.nn.functional.silu, _silu_vjp),
    "identity": (lambda x: x, lambda grad, x: grad),
    "zero": (torch.zeros_like, lambda grad, x: torch.zeros_like(grad)),
}
BASE_FUNCTION_NAMES = tuple(_BASE_FUNCTIONS)


def base_function(name: str):
    """``(f, vjp)`` of a residual base function by name ('silu', 'identity', 'zero'), with
    ``vjp(grad, x) = grad * f'(x)``."""
    if name not in _BASE_FUNCTIONS:
        raise ValueError(f"base must be one of {BASE_FUNCTION_NAMES}, got {name!r}")
    return _BASE_FUNCTIONS[name]


def features_and_slopes(
    x: Tensor, grid: Tensor, k: int, base: str, table: Tensor, derivatives: bool
) -> tuple[Tensor, Tensor, Tensor | None]:
    """``(features, index, slopes)``: :func:`spline_features` of ``x`` with the indices
    and x-derivatives of the local bases (None unless ``derivatives``) that
    :func:`features_backward` takes; one compiled loop where :mod:`kanscience.core._kernels`
    applies."""
    if kernels.usable(x, grid, table):
        return kernels.spline_features(x, grid, table, k, base, derivatives)
    index, values, slopes = local_bases(x, grid, k, table, derivatives)
    return dense_features(x, index, values, grid.shape[1] - k - 1, base), index, slopes


def dense_features(x: Tensor, index: Tensor, values: Tensor, n_basis: int, base: str) -> Tensor:
    """``[base(x), B_0(x), ..., B_{n_basis-1}(x)]`` from local bases, shape (batch, n_in, n_basis + 1)."""
    features = x.new_zeros(*x.shape, n_basis + 1)
    features[..., 0] = base_function(base)[0](x)
    features[..., 1:].scatter_add_(-1, index, values)
    return features


def features_backward(
    grad: Tensor, x: Tensor, index: Tensor, derivatives: Tensor, base: str
) -> Tensor:
    """d(loss)/dx from d(loss)/d(features) (batch, n_in, n_basis + 1)."""
    if kernels.usable(x, grad, derivatives):
        return kernels.features_backward(grad, x, index, derivatives, base)
    grad_x = base_function(base)[1](grad[..., 0], x)
    return grad_x + (grad[..., 1:].gather(-1, index) * derivatives).sum(-1)


class _SplineFeatures(torch.autograd.Function):
    """features = [base(x), B_0(x), ..., B_{G+k-1}(x)] per input, with analytic backward."""

    @staticmethod
    def forward(ctx, x: Tensor, grid: Tensor, k: int, base: str, table: Tensor) -> Tensor:  # type: ignore[override]
        features, index, derivatives = features_and_slopes(
            x, grid, k, base, table, ctx.needs_input_grad[0]
        )
        ctx.save_for_backward(x, grid, table, index, derivatives)
        ctx.k, ctx.base = k, base
        return features

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        x, grid, table, index, derivatives = ctx.saved_tensors
        if torch.is_grad_enabled():
            # higher-order request (create_graph=True): recompute with a graph to x
            index, _, derivatives = local_bases(x, grid, ctx.k, table)
        return features_backward(grad, x, index, derivatives, ctx.base), None, None, None, None


def spline_features(
    x: Tensor, grid: Tensor, k: int, base: str = "silu", table: Tensor | None = None
) -> Tensor:
    """Residual-base value and dense B-spline bases of each input, in one tensor.

    Parameters
    ----------
    x : Tensor, shape (batch, n_in)
    grid : Tensor, shape (n_in, G + 2k + 1)
    k : int
    base : {'silu', 'identity', 'zero'}
    table : Tensor, optional
        ``spline_table(grid, k)`` kept by the caller (computed here otherwise).

    Returns
    -------
    Tensor, shape (batch, n_in, G + k + 1)
        ``[..., 0]`` is ``base(x)``, ``[..., 1:]`` the bases. A layer contracts it with its
        weights in one matrix product.
    """
    base_function(base)  # validates the name
    if table is None:
        table = spline_table(grid, k)
    return _SplineFeatures.apply(x, grid, k, base, table)


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
