"""Affine fits of candidate functions to sampled curves: ``y ~ c * f(a * x + b) + d``.

:func:`fit_affine` fits every candidate function to every curve (edge) at once (float64):

1. a batched grid search over ``(a, b)`` (``grid_number`` points per axis, ``iterations``
   zoom levels, as pykan's ``fit_params``), scoring each grid point by the closed-form
   least-squares fit of ``(c, d)``, i.e. by the squared correlation of ``f(a x + b)``
   with ``y``; the search runs on at most ``max_samples`` quantile-spaced samples;
2. a few Levenberg-Marquardt steps (:func:`kanscience.core.least_squares`) on all four
   parameters, on all samples, for all edges of a function jointly (a step is kept only
   where it lowers the error);
3. ``(c, d)`` by exact least squares at the final ``(a, b)``.

``r2 = 1 - SSE / SST``. A constant ``y`` (``SST`` zero up to rounding) is fitted exactly by
every function (``c = 0``), so its ``r2`` is 1 and the complexity decides; grid points where
``f`` is not finite on every sample (outside its domain, overflow) are never chosen, and a
function with no such point gets ``r2 = -inf``. A zero-width range ``(v, v)`` pins that
parameter to ``v`` (useful for functions whose parameters are not identifiable, e.g.
``c * (a x + b)**2``).

Ranking score (pykan's, lower is better, :func:`symbolic_score`)::

    score = (1 - weight_simple) * log2(1 + 1e-5 - r2) + weight_simple * complexity
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import NamedTuple

import torch
from torch import Tensor

from ..core import ZERO_FUNCTION, NormalEquations, least_squares, normal_equations
from ..core._functions import (
    FunctionLibrary,
    LibraryLike,
    SymbolicFunction,
    get_function,
    resolve_library,
)

__all__ = ["AffineFit", "fit_affine", "symbolic_score"]

_CHUNK_ELEMENTS = 1 << 22  # elements of the (edges, G, G, samples) grid tensor per chunk
# Damped solves per refinement step: a few, since an edge whose function cannot fit it
# keeps rejecting steps, and the grid search already started every edge near its optimum.
_REFINE_TRIALS = 4


class AffineFit(NamedTuple):
    """Result of :func:`fit_affine`: ``params`` (n_funcs, n_edges, 4) = (a, b, c, d) and
    ``r2`` (n_funcs, n_edges), both float64, functions in the order given."""

    params: Tensor
    r2: Tensor


def _as_edges(value: object, name: str) -> Tensor:
    tensor = torch.as_tensor(value).detach().to(torch.float64)
    if tensor.ndim == 1:
        tensor = tensor[None, :]
    if tensor.ndim != 2 or tensor.shape[1] < 2:
        raise ValueError(
            f"{name} must have shape (n_edges, n_samples) with n_samples >= 2, "
            f"got {tuple(tensor.shape)}"
        )
    if not bool(torch.isfinite(tensor).all()):
        raise ValueError(f"{name} contains NaN or Inf")
    return tensor


def _check_range(value: Sequence[float], name: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (lo, hi), got {value!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi):
        raise ValueError(f"{name} must be finite with lo <= hi, got {value!r}")
    return lo, hi


def _resolve_functions(
    functions: Iterable[str | SymbolicFunction] | FunctionLibrary | str | SymbolicFunction | None,
    library: LibraryLike,
) -> list[SymbolicFunction]:
    if functions is None:
        return list(resolve_library(library).values())
    if isinstance(functions, FunctionLibrary):
        records = list(functions.values())
    elif isinstance(functions, (str, SymbolicFunction)):
        records = [get_function(functions, library)]
    else:
        records = [get_function(f, library) for f in functions]
    if not records:
        raise ValueError("functions is empty; give at least one function name")
    return records


def _stats(f_values: Tensor, y_centered: Tensor, syy: Tensor) -> Tensor:
    """Squared correlation of every row of ``f_values`` (e, ..., m) with ``y`` (e, m).

    Uses raw sums (no centered copy of the big tensor); a row with a non-finite value gives
    a non-finite sum and is marked ``-inf``; a row whose variance is lost in rounding
    (``var < 1e-10 * mean square``) counts as constant (r2 = 0).
    """
    m = f_values.shape[-1]
    shape = f_values.shape
    flat = f_values.reshape(shape[0], -1, m)
    s1 = flat.sum(-1)
    s2 = torch.linalg.vector_norm(flat, dim=-1) ** 2
    sfy = (flat @ y_centered[:, :, None])[..., 0]
    sff = s2 - s1 * s1 / m
    informative = sff > 1e-10 * s2
    r2 = torch.where(
        informative, sfy * sfy / (torch.where(informative, sff, 1.0) * syy[:, None]), 0.0
    )
    r2 = torch.where(torch.isfinite(r2) & torch.isfinite(s2), r2, -math.inf)
    return r2.reshape(shape[:-1])


def _grid_search(
    fn,
    x: Tensor,
    y: Tensor,
    a_lim: tuple[float, float],
    b_lim: tuple[float, float],
    grid_number: int,
    iterations: int,
    zoom_number: int,
) -> tuple[Tensor, Tensor]:
    """Best (a, b) per edge by zoomed grid search (pykan's ``fit_params`` schedule)."""
    n_edges, m = x.shape
    options = {"dtype": x.dtype, "device": x.device}
    yc = y - y.mean(1, keepdim=True)
    syy = (yc * yc).sum(1)
    syy = torch.where(syy > 0, syy, 1.0)
    a_lo, a_hi = (torch.full((n_edges,), v, **options) for v in a_lim)
    b_lo, b_hi = (torch.full((n_edges,), v, **options) for v in b_lim)
    for level in range(iterations):
        points = grid_number if level == 0 else zoom_number
        t = torch.linspace(0, 1, points, **options)
        a_grid = a_lo[:, None] + (a_hi - a_lo)[:, None] * t
        b_grid = b_lo[:, None] + (b_hi - b_lo)[:, None] * t
        best = torch.empty(n_edges, dtype=torch.long, device=x.device)
        chunk = max(1, _CHUNK_ELEMENTS // (points * points * m))
        for start in range(0, n_edges, chunk):
            s = slice(start, start + chunk)
            z = torch.addcmul(
                b_grid[s, None, :, None], a_grid[s, :, None, None], x[s, None, None, :]
            )  # (e, Ga, Gb, m)
            r2 = _stats(fn(z), yc[s], syy[s])
            best[s] = r2.reshape(r2.shape[0], -1).argmax(1)
        ia, ib = best // points, best % points
        a_best = a_grid.gather(1, ia[:, None])[:, 0]
        b_best = b_grid.gather(1, ib[:, None])[:, 0]
        a_lo, a_hi = _zoom(a_grid, ia, points)
        b_lo, b_hi = _zoom(b_grid, ib, points)
    return a_best, b_best


def _zoom(grid: Tensor, index: Tensor, n: int) -> tuple[Tensor, Tensor]:
    """pykan's zoom: the two neighbouring cells, or the boundary cell."""
    lo = grid.gather(1, (index - 1).clamp(0, n - 1)[:, None])[:, 0]
    hi = grid.gather(1, (index + 1).clamp(0, n - 1)[:, None])[:, 0]
    return lo, hi


def _linear_fit(fz: Tensor, y: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Least-squares (c, d) of ``y ~ c f + d`` per row, and the SSE (inf where not finite)."""
    finite = torch.isfinite(fz).all(-1)
    fz = torch.where(torch.isfinite(fz), fz, 0.0)
    f_mean, y_mean = fz.mean(-1, keepdim=True), y.mean(-1, keepdim=True)
    fc, yc = fz - f_mean, y - y_mean
    sff = (fc * fc).sum(-1)
    scale = fz.abs().amax(-1).clamp_min(1e-300)
    informative = sff > (1e-12 * scale) ** 2 * fz.shape[-1]
    c = torch.where(informative, (fc * yc).sum(-1) / torch.where(informative, sff, 1.0), 0.0)
    d = y_mean[..., 0] - c * f_mean[..., 0]
    residual = c[..., None] * fz + d[..., None] - y
    sse = (residual * residual).sum(-1)
    sse = torch.where(finite & torch.isfinite(sse), sse, math.inf)
    return c, d, sse


def _values_and_slopes(fn, z: Tensor) -> tuple[Tensor, Tensor]:
    with torch.enable_grad():
        z = z.detach().requires_grad_(True)
        fz = fn(z)
        (slope,) = torch.autograd.grad(fz.sum(), z, allow_unused=True)
    slope = torch.zeros_like(z) if slope is None else slope
    return fz.detach(), torch.nan_to_num(slope, nan=0.0, posinf=0.0, neginf=0.0)


def _refine(fn, x: Tensor, y: Tensor, params: Tensor, free: Tensor, steps: int) -> Tensor:
    """Levenberg-Marquardt on (a, b, c, d) for all edges at once; returns improved params.

    Each edge is one problem of :func:`kanscience.core.least_squares`; a pinned parameter's
    Jacobian column is zero, so its step is zero.
    """
    if steps <= 0:
        return params
    mask = free.to(x.dtype)

    def evaluate(points: Tensor, rows: Tensor | None) -> NormalEquations:
        xs, ys = (x, y) if rows is None else (x[rows], y[rows])
        a, b, c, d = points.unbind(-1)
        fz, slope = _values_and_slopes(fn, a[:, None] * xs + b[:, None])
        residual = c[:, None] * fz + d[:, None] - ys
        jacobian = torch.stack(
            [c[:, None] * slope * xs, c[:, None] * slope, fz, torch.ones_like(fz)], dim=-1
        )  # (E, n, 4)
        return normal_equations(residual, jacobian * mask)

    refined, _ = least_squares(evaluate, params, max_steps=steps, max_trials=_REFINE_TRIALS)
    return refined


def _search_subset(x: Tensor, y: Tensor, max_samples: int) -> tuple[Tensor, Tensor]:
    if x.shape[1] <= max_samples:
        return x, y
    order = torch.argsort(x, dim=1)
    pick = torch.linspace(0, x.shape[1] - 1, max_samples, device=x.device).round().long()
    index = order[:, pick]
    return x.gather(1, index), y.gather(1, index)


def fit_affine(
    x: Tensor,
    y: Tensor,
    functions: Iterable[str | SymbolicFunction] | FunctionLibrary | None = None,
    a_range: Sequence[float] = (-10.0, 10.0),
    b_range: Sequence[float] = (-10.0, 10.0),
    grid_number: int = 101,
    iterations: int = 3,
    refine_steps: int = 12,
    max_samples: int = 64,
    zoom_number: int = 21,
    library: LibraryLike = None,
) -> AffineFit:
    """Fit ``y ~ c * f(a * x + b) + d`` for every function and every edge at once.

    Parameters
    ----------
    x, y : Tensor of shape (n_edges, n_samples) or (n_samples,)
        Edge inputs and activations (converted to float64).
    functions : iterable of names or SymbolicFunction, or a FunctionLibrary
        Candidates; default: every function of ``library``.
    a_range, b_range : (lo, hi)
        Grid-search ranges of ``a`` and ``b``; ``lo == hi`` pins the parameter.
    grid_number : int
        Grid points per axis (>= 3).
    iterations : int
        Zoom levels of the grid search (>= 1): the first level uses ``grid_number`` points
        per axis, each further level ``zoom_number`` points across the best cell's
        neighbours (pykan zooms with ``grid_number`` points each time; the refinement
        below makes the finer levels cheap to replace).
    refine_steps : int
        Most Levenberg-Marquardt steps after the grid search (0: none); an edge stops
        earlier once a step no longer lowers its error.
    max_samples : int
        Quantile-spaced samples per edge used in the grid search (the refinement and the
        reported ``r2`` use all samples).
    zoom_number : int
        Grid points per axis of the zoom levels (>= 3).
    library : library specification, optional
        Where function names are looked up (default library if None).

    Returns
    -------
    AffineFit
        ``params`` (n_funcs, n_edges, 4) and ``r2`` (n_funcs, n_edges).

    Examples
    --------
    >>> x = torch.linspace(-1, 1, 200, dtype=torch.float64)
    >>> fit = fit_affine(x, 2 * torch.sin(1.5 * x + 0.5) - 1, ["sin"], a_range=(0, 3),
    ...                  b_range=(-1, 1))
    >>> [round(v, 6) for v in fit.params[0, 0].tolist()], round(float(fit.r2[0, 0]), 9)
    ([1.5, 0.5, 2.0, -1.0], 1.0)
    """
    x, y = _as_edges(x, "x"), _as_edges(y, "y")
    if x.shape != y.shape:
        raise ValueError(
            f"x and y must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}"
        )
    records = _resolve_functions(functions, library)
    a_lim, b_lim = _check_range(a_range, "a_range"), _check_range(b_range, "b_range")
    for name, value, low in (
        ("grid_number", grid_number, 3),
        ("iterations", iterations, 1),
        ("refine_steps", refine_steps, 0),
        ("max_samples", max_samples, 2),
        ("zoom_number", zoom_number, 3),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    n_edges, n = x.shape
    yc = y - y.mean(1, keepdim=True)
    sst = (yc * yc).sum(1)
    constant = sst.sqrt() <= 1e-12 * (n**0.5) * y.abs().amax(1).clamp_min(1e-300)
    free = torch.tensor([a_lim[0] < a_lim[1], b_lim[0] < b_lim[1], True, True], device=x.device)
    xs, ys = _search_subset(x, y, max_samples)
    done: dict[int, tuple[Tensor, Tensor]] = {}
    params = x.new_empty(len(records), n_edges, 4)
    r2 = x.new_empty(len(records), n_edges)
    for position, record in enumerate(records):
        key = id(record.torch_fn)
        if key not in done:
            done[key] = _fit_one(
                record,
                x,
                y,
                xs,
                ys,
                sst,
                constant,
                a_lim,
                b_lim,
                free,
                grid_number,
                iterations,
                zoom_number,
                refine_steps,
            )
        params[position], r2[position] = done[key]
    return AffineFit(params, r2)


def _fit_one(
    record: SymbolicFunction,
    x,
    y,
    xs,
    ys,
    sst,
    constant,
    a_lim,
    b_lim,
    free,
    grid_number,
    iterations,
    zoom_number,
    refine_steps,
) -> tuple[Tensor, Tensor]:
    fn = record.torch_fn
    n_edges = x.shape[0]
    if record.name == ZERO_FUNCTION:
        a = x.new_full((n_edges,), min(max(1.0, a_lim[0]), a_lim[1]))
        b = x.new_full((n_edges,), min(max(0.0, b_lim[0]), b_lim[1]))
    else:
        a, b = _grid_search(fn, xs, ys, a_lim, b_lim, grid_number, iterations, zoom_number)
    with torch.no_grad():
        c, d, _ = _linear_fit(fn(a[:, None] * x + b[:, None]), y)
        params = torch.stack([a, b, c, d], -1)
        if record.name != ZERO_FUNCTION:
            active = ~constant
            if bool(active.any()):
                refined = _refine(fn, x[active], y[active], params[active], free, refine_steps)
                params = params.clone()
                params[active] = refined
        a, b = params[:, 0], params[:, 1]
        c, d, sse = _linear_fit(fn(a[:, None] * x + b[:, None]), y)
    params = torch.stack([a, b, c, d], -1)
    safe_sst = torch.where(constant, 1.0, sst)
    r2 = torch.where(constant, 1.0, 1.0 - sse / safe_sst)
    r2 = torch.where(torch.isfinite(sse), r2, -math.inf)
    params = torch.where(torch.isfinite(sse)[:, None], params, torch.nan)
    return params, r2


def symbolic_score(
    r2: Tensor | float, complexity: Tensor | float, weight_simple: float = 0.8
) -> Tensor:
    """pykan's ranking score ``(1 - w) * log2(1 + 1e-5 - r2) + w * complexity`` (lower is better).

    ``r2`` is clipped to at most 1; ``r2 = -inf`` gives ``+inf``.

    >>> float(symbolic_score(1.0, 2, 0.8)) < float(symbolic_score(0.5, 1, 0.8))
    True
    """
    r2 = torch.as_tensor(r2, dtype=torch.float64).clamp(max=1.0)
    complexity = torch.as_tensor(complexity, dtype=torch.float64)
    return (1 - weight_simple) * torch.log2(1 + 1e-5 - r2) + weight_simple * complexity
