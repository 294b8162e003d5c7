"""Symbolic regression of KAN edges: ``edge(x) ~ c * f(a * x + b) + d``.

:func:`fit_affine` fits every candidate function to every edge at once (float64):

1. a batched grid search over ``(a, b)`` (``grid_number`` points per axis, ``iterations``
   zoom levels, as pykan's ``fit_params``), scoring each grid point by the closed-form
   least-squares fit of ``(c, d)``, i.e. by the squared correlation of ``f(a x + b)``
   with ``y``; the search runs on at most ``max_samples`` quantile-spaced samples;
2. a few Levenberg-Marquardt steps on all four parameters, on all samples, for all
   edges of a function jointly (a step is kept only where it lowers the error);
3. ``(c, d)`` by exact least squares at the final ``(a, b)``.

``r2 = 1 - SSE / SST``. A constant ``y`` (``SST`` zero up to rounding) is fitted exactly by
every function (``c = 0``), so its ``r2`` is 1 and the complexity decides; grid points where
``f`` is not finite on every sample (outside its domain, overflow) are never chosen, and a
function with no such point gets ``r2 = -inf``. A zero-width range ``(v, v)`` pins that
parameter to ``v`` (useful for functions whose parameters are not identifiable, e.g.
``c * (a x + b)**2``).

:func:`suggest_symbolic` ranks the functions for one edge, :func:`auto_symbolic` fixes all
spline edges of a model, :func:`fix_symbolic` / :func:`unfix_symbolic` edit one edge.
Activations always come from :func:`kanscience.trace.trace` on the data passed in.

Ranking score (pykan's, lower is better)::

    score = (1 - weight_simple) * log2(1 + 1e-5 - r2) + weight_simple * complexity
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor

from .functions import FunctionLibrary, LibraryLike, SymbolicFunction, get_function, resolve_library
from .layers import ZERO_FUNCTION
from .network import KAN
from .trace import trace

__all__ = [
    "AffineFit",
    "AutoSymbolicResult",
    "EdgeChoice",
    "Suggestion",
    "auto_symbolic",
    "auto_symbolic_",
    "fit_affine",
    "fix_symbolic",
    "fix_symbolic_",
    "suggest_symbolic",
    "symbolic_score",
    "unfix_symbolic",
    "unfix_symbolic_",
]

_CHUNK_ELEMENTS = 1 << 22  # elements of the (edges, G, G, samples) grid tensor per chunk


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
        raise ValueError(f"{name} must have shape (n_edges, n_samples) with n_samples >= 2, "
                         f"got {tuple(tensor.shape)}")
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


def _resolve_functions(functions: object, library: LibraryLike) -> list[SymbolicFunction]:
    if functions is None:
        return list(resolve_library(library).values())
    if isinstance(functions, (str, SymbolicFunction)):
        functions = [functions]
    if isinstance(functions, FunctionLibrary):
        records = list(functions.values())
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
    r2 = torch.where(informative, sfy * sfy / (torch.where(informative, sff, 1.0) * syy[:, None]),
                     0.0)
    r2 = torch.where(torch.isfinite(r2) & torch.isfinite(s2), r2, -math.inf)
    return r2.reshape(shape[:-1])


def _grid_search(fn, x: Tensor, y: Tensor, a_lim: tuple[float, float], b_lim: tuple[float, float],
                 grid_number: int, iterations: int, zoom_number: int) -> tuple[Tensor, Tensor]:
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
            z = torch.addcmul(b_grid[s, None, :, None], a_grid[s, :, None, None],
                              x[s, None, None, :])  # (e, Ga, Gb, m)
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
    """Levenberg-Marquardt on (a, b, c, d) for all edges; returns improved params."""
    if steps <= 0:
        return params
    damping = x.new_full((x.shape[0],), 1e-3)
    sse = _sse(fn, x, y, params)
    eye = torch.eye(4, dtype=x.dtype, device=x.device)
    pinned = ~free
    for _ in range(steps):
        a, b, c, d = params.unbind(-1)
        fz, slope = _values_and_slopes(fn, a[:, None] * x + b[:, None])
        residual = c[:, None] * fz + d[:, None] - y
        jac = torch.stack([c[:, None] * slope * x, c[:, None] * slope, fz,
                           torch.ones_like(fz)], dim=-1)  # (E, n, 4)
        jac = torch.nan_to_num(jac, nan=0.0, posinf=0.0, neginf=0.0) * free.to(x.dtype)
        jtj = jac.transpose(1, 2) @ jac
        jtr = (jac * torch.nan_to_num(residual)[..., None]).sum(1)
        diag = torch.diagonal(jtj, dim1=1, dim2=2)
        scale = diag.amax(1).clamp_min(1e-300)
        lhs = jtj + damping[:, None, None] * torch.diag_embed(diag + 1e-12 * scale[:, None])
        lhs = lhs + pinned.to(x.dtype) * eye  # pinned parameters: identity rows, zero step
        step, info = torch.linalg.solve_ex(-lhs, jtr)
        ok_solve = (info == 0) & torch.isfinite(step).all(1)
        trial = params + torch.where(ok_solve[:, None], step, 0.0)
        trial_sse = _sse(fn, x, y, trial)
        better = ok_solve & (trial_sse < sse)
        params = torch.where(better[:, None], trial, params)
        sse = torch.where(better, trial_sse, sse)
        damping = torch.where(better, damping * 0.3, damping * 10.0).clamp(1e-12, 1e12)
    return params


def _sse(fn, x: Tensor, y: Tensor, params: Tensor) -> Tensor:
    a, b, c, d = params.unbind(-1)
    fz = fn(a[:, None] * x + b[:, None])
    residual = c[:, None] * fz + d[:, None] - y
    sse = (residual * residual).sum(-1)
    return torch.where(torch.isfinite(sse), sse, math.inf)


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
        Levenberg-Marquardt steps after the grid search (0: none).
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
        raise ValueError(f"x and y must have the same shape, got {tuple(x.shape)} and "
                         f"{tuple(y.shape)}")
    records = _resolve_functions(functions, library)
    a_lim, b_lim = _check_range(a_range, "a_range"), _check_range(b_range, "b_range")
    for name, value, low in (("grid_number", grid_number, 3), ("iterations", iterations, 1),
                             ("refine_steps", refine_steps, 0), ("max_samples", max_samples, 2),
                             ("zoom_number", zoom_number, 3)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    n_edges, n = x.shape
    yc = y - y.mean(1, keepdim=True)
    sst = (yc * yc).sum(1)
    constant = sst.sqrt() <= 1e-12 * (n ** 0.5) * y.abs().amax(1).clamp_min(1e-300)
    free = torch.tensor([a_lim[0] < a_lim[1], b_lim[0] < b_lim[1], True, True], device=x.device)
    xs, ys = _search_subset(x, y, max_samples)
    done: dict[int, tuple[Tensor, Tensor]] = {}
    params = x.new_empty(len(records), n_edges, 4)
    r2 = x.new_empty(len(records), n_edges)
    for position, record in enumerate(records):
        key = id(record.torch_fn)
        if key not in done:
            done[key] = _fit_one(record, x, y, xs, ys, sst, constant, a_lim, b_lim, free,
                                 grid_number, iterations, zoom_number, refine_steps)
        params[position], r2[position] = done[key]
    return AffineFit(params, r2)


def _fit_one(record: SymbolicFunction, x, y, xs, ys, sst, constant, a_lim, b_lim, free,
             grid_number, iterations, zoom_number, refine_steps) -> tuple[Tensor, Tensor]:
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


def symbolic_score(r2: Tensor | float, complexity: Tensor | float,
                   weight_simple: float = 0.8) -> Tensor:
    """pykan's ranking score ``(1 - w) * log2(1 + 1e-5 - r2) + w * complexity`` (lower is better).

    ``r2`` is clipped to at most 1; ``r2 = -inf`` gives ``+inf``.

    >>> float(symbolic_score(1.0, 2, 0.8)) < float(symbolic_score(0.5, 1, 0.8))
    True
    """
    r2 = torch.as_tensor(r2, dtype=torch.float64).clamp(max=1.0)
    complexity = torch.as_tensor(complexity, dtype=torch.float64)
    return (1 - weight_simple) * torch.log2(1 + 1e-5 - r2) + weight_simple * complexity


# ---------------------------------------------------------------- model level
@dataclass(frozen=True)
class Suggestion:
    """One ranked candidate for an edge: ``c * f(a * x + b) + d`` with ``f`` = ``name``."""

    name: str
    r2: float
    complexity: int
    score: float
    params: tuple[float, float, float, float]


@dataclass(frozen=True)
class EdgeChoice:
    """What :func:`auto_symbolic` did to edge ``(layer, i, j)``.

    ``status`` is ``'fixed'`` (set to ``name``), ``'kept'`` (already symbolic) or
    ``'below_threshold'`` (left numeric: best ``r2`` under ``r2_threshold``);
    ``suggestions`` holds the ranked candidates (empty for ``'kept'``).
    """

    layer: int
    i: int
    j: int
    status: str
    name: str
    r2: float
    complexity: int
    params: tuple[float, float, float, float]
    suggestions: tuple[Suggestion, ...] = ()


class AutoSymbolicResult(NamedTuple):
    """``(model, report)`` from :func:`auto_symbolic`."""

    model: KAN
    report: tuple[EdgeChoice, ...]


def _check_model(model: object) -> None:
    if not isinstance(model, KAN):
        raise TypeError(f"model must be a kanscience.KAN, got {type(model).__name__}")


def _library_for(model: KAN, lib: LibraryLike) -> FunctionLibrary:
    return model.library if lib is None else resolve_library(lib)


def _edge_data(model: KAN, x: Tensor, edges: Sequence[tuple[int, int, int]]
               ) -> tuple[Tensor, Tensor]:
    """Inputs and whole activations of ``edges`` on ``x``, each (n_edges, batch) float64."""
    if not isinstance(x, Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    model.check_input(x)
    reference = copy.deepcopy(model).to(torch.float64)
    with torch.no_grad():
        traces = trace(reference, x.detach().to(torch.float64))
    inputs = torch.stack([traces[l].inputs[:, i] for l, i, _ in edges]) if edges else None
    outputs = torch.stack([traces[l].activations[:, i, j] for l, i, j in edges]) if edges else None
    return inputs, outputs


def _rank(lib: FunctionLibrary, fit: AffineFit, column: int, weight_simple: float
          ) -> list[Suggestion]:
    names = lib.names
    complexity = torch.tensor([lib[n].complexity for n in names], dtype=torch.float64)
    r2 = fit.r2[:, column]
    scores = symbolic_score(r2, complexity, weight_simple)
    order = sorted(range(len(names)), key=lambda k: (float(scores[k]), k))
    return [Suggestion(names[k], float(r2[k]), int(complexity[k]), float(scores[k]),
                       tuple(float(v) for v in fit.params[k, column])) for k in order]


def suggest_symbolic(
    model: KAN, x: Tensor, layer: int, i: int, j: int, lib: LibraryLike = None,
    topk: int = 5, weight_simple: float = 0.8, a_range: Sequence[float] = (-10.0, 10.0),
    b_range: Sequence[float] = (-10.0, 10.0), **fit_options,
) -> list[Suggestion]:
    """Rank the library's functions for edge ``(layer, i, j)`` by :func:`symbolic_score`.

    The edge's whole activation on ``x`` (spline and any symbolic part) is fitted.

    Parameters
    ----------
    model : KAN
    x : Tensor (batch, n_in)
    layer, i, j : int
        Layer, input node and output subnode of the edge.
    lib : library specification, optional
        Candidates (default: the model's library).
    topk : int
        Number of suggestions returned (best first).
    weight_simple : float in [0, 1]
    a_range, b_range, **fit_options
        Passed to :func:`fit_affine`.

    Returns
    -------
    list of Suggestion
    """
    _check_model(model)
    model.check_edge(layer, i, j)
    if not 0.0 <= weight_simple <= 1.0:
        raise ValueError(f"weight_simple must be in [0, 1], got {weight_simple!r}")
    if isinstance(topk, bool) or not isinstance(topk, int) or topk < 1:
        raise ValueError(f"topk must be an int >= 1, got {topk!r}")
    library = _library_for(model, lib)
    inputs, outputs = _edge_data(model, x, [(layer, i, j)])
    fit = fit_affine(inputs, outputs, library, a_range, b_range, **fit_options)
    return _rank(library, fit, 0, weight_simple)[:topk]


def _ensure_library(model: KAN, records: Iterable[SymbolicFunction]) -> None:
    """Add records missing from the model's library (on a model we own)."""
    missing = [r for r in records if r.name not in model.library or model.library[r.name] is not r]
    if not missing:
        return
    library = model.library.with_functions(*missing)
    model.library = library
    for kan_layer in model.layers:
        kan_layer.library = library


@torch.no_grad()
def _fix(model: KAN, layer: int, i: int, j: int, name: str, params: Sequence[float]) -> None:
    """Set an edge symbolic (in place); a constant ``'0'`` edge moves its ``d`` to the bias."""
    a, b, c, d = (float(v) for v in params)
    if name == ZERO_FUNCTION:
        bias = model.subnode_bias[layer]
        bias[j] = bias[j] + model.subnode_scale[layer][j] * d
        a, b, c, d = 1.0, 0.0, 0.0, 0.0
    model.set_symbolic_(layer, i, j, name, affine=(a, b, c, d), mode="s")


def auto_symbolic_(
    model: KAN, x: Tensor, lib: LibraryLike = None, weight_simple: float = 0.8,
    r2_threshold: float = 0.0, a_range: Sequence[float] = (-10.0, 10.0),
    b_range: Sequence[float] = (-10.0, 10.0), topk: int = 5, **fit_options,
) -> tuple[EdgeChoice, ...]:
    """In-place :func:`auto_symbolic`; returns the report. On error the model is unchanged."""
    _check_model(model)
    if not 0.0 <= weight_simple <= 1.0:
        raise ValueError(f"weight_simple must be in [0, 1], got {weight_simple!r}")
    library = _library_for(model, lib)
    edges, kept = [], []
    for layer, kan_layer in enumerate(model.layers):
        numeric = (kan_layer.mask != 0).nonzero().tolist()
        edges.extend((layer, i, j) for i, j in numeric)
        symbolic = ((kan_layer.symbolic_mask != 0) & (kan_layer.mask == 0)).nonzero().tolist()
        kept.extend((layer, i, j) for i, j in symbolic)
    report: list[EdgeChoice] = []
    for layer, i, j in kept:
        affine = tuple(model.layers[layer].symbolic_affine[i, j].tolist())
        name = model.layers[layer].symbolic_names[i][j]
        complexity = model.library[name].complexity if name in model.library else 0
        report.append(EdgeChoice(layer, i, j, "kept", name, math.nan, complexity, affine))
    if edges:
        inputs, outputs = _edge_data(model, x, edges)
        fit = fit_affine(inputs, outputs, library, a_range, b_range, **fit_options)
        choices = []
        for column, (layer, i, j) in enumerate(edges):
            ranked = _rank(library, fit, column, weight_simple)
            best = ranked[0]
            status = "fixed" if best.r2 >= r2_threshold and math.isfinite(best.score) \
                else "below_threshold"
            choices.append(EdgeChoice(layer, i, j, status, best.name, best.r2, best.complexity,
                                      best.params, tuple(ranked[:topk])))
        _ensure_library(model, library.values())
        for choice in choices:
            if choice.status == "fixed":
                _fix(model, choice.layer, choice.i, choice.j, choice.name, choice.params)
        report.extend(choices)
    report.sort(key=lambda c: (c.layer, c.i, c.j))
    return tuple(report)


def auto_symbolic(
    model: KAN, x: Tensor, lib: LibraryLike = None, weight_simple: float = 0.8,
    r2_threshold: float = 0.0, a_range: Sequence[float] = (-10.0, 10.0),
    b_range: Sequence[float] = (-10.0, 10.0), topk: int = 5, **fit_options,
) -> AutoSymbolicResult:
    """A new model with every spline edge replaced by its best symbolic function.

    Every edge with an active spline part is fitted on ``x`` (all edges of all layers in
    one :func:`fit_affine` call, from a single trace) and set to the function with the
    lowest :func:`symbolic_score`, unless its ``r2`` is below ``r2_threshold``. Edges that
    are already purely symbolic are kept; edges switched off stay off. When ``'0'`` wins,
    the edge's mean on ``x`` is moved into its subnode bias. The affine parameters stay
    trainable, so :func:`kanscience.fit` can polish them afterwards.

    Parameters
    ----------
    model : KAN
    x : Tensor (batch, n_in)
    lib : library specification, optional
        Candidate functions (default: the model's library).
    weight_simple : float in [0, 1]
    r2_threshold : float
    a_range, b_range, **fit_options
        Passed to :func:`fit_affine`.
    topk : int
        Suggestions kept per edge in the report.

    Returns
    -------
    AutoSymbolicResult
        ``(model, report)``; ``report`` has one :class:`EdgeChoice` per edge considered.

    Examples
    --------
    >>> model = KAN([1, 1], seed=0, dtype=torch.float64)
    >>> model.set_symbolic_(0, 0, 0, "sin", (2.0, 0.5, 1.5, 0.0), mode="n")  # spline + sin
    >>> x = torch.linspace(-1, 1, 101, dtype=torch.float64)[:, None]
    >>> new, report = auto_symbolic(model, x, lib=["x", "sin", "x^2"])
    >>> report[0].status, new.layers[0].symbolic_names[0][0] in ("x", "sin", "x^2")
    ('fixed', True)
    """
    _check_model(model)
    new = copy.deepcopy(model)
    report = auto_symbolic_(new, x, lib, weight_simple, r2_threshold, a_range, b_range, topk,
                            **fit_options)
    return AutoSymbolicResult(new, report)


def fix_symbolic_(
    model: KAN, x: Tensor | None, layer: int, i: int, j: int, name: str | SymbolicFunction,
    a_range: Sequence[float] = (-10.0, 10.0), b_range: Sequence[float] = (-10.0, 10.0),
    **fit_options,
) -> Suggestion | None:
    """Set edge ``(layer, i, j)`` to ``name`` in place, fitting ``(a, b, c, d)`` on ``x``.

    With ``x=None`` the affine parameters are ``(1, 0, 1, 0)`` and ``None`` is returned;
    otherwise the fit (a :class:`Suggestion`, score with ``weight_simple = 0.8``).
    """
    _check_model(model)
    model.check_edge(layer, i, j)
    record = name if isinstance(name, SymbolicFunction) else get_function(name, model.library)
    if x is None:
        _ensure_library(model, [record])
        _fix(model, layer, i, j, record.name, (1.0, 0.0, 1.0, 0.0))
        return None
    inputs, outputs = _edge_data(model, x, [(layer, i, j)])
    fit = fit_affine(inputs, outputs, [record], a_range, b_range, **fit_options)
    suggestion = _rank(FunctionLibrary([record]), fit, 0, 0.8)[0]
    if not math.isfinite(suggestion.r2):
        raise ValueError(f"{record.name!r} cannot be evaluated on the inputs of edge "
                         f"({layer}, {i}, {j}) for any (a, b) in the ranges")
    _ensure_library(model, [record])
    _fix(model, layer, i, j, record.name, suggestion.params)
    return suggestion


def fix_symbolic(model: KAN, x: Tensor | None, layer: int, i: int, j: int,
                 name: str | SymbolicFunction, **options) -> KAN:
    """A new model with edge ``(layer, i, j)`` set to ``name`` (see :func:`fix_symbolic_`)."""
    _check_model(model)
    new = copy.deepcopy(model)
    fix_symbolic_(new, x, layer, i, j, name, **options)
    return new


def unfix_symbolic_(model: KAN, layer: int, i: int, j: int) -> None:
    """Return edge ``(layer, i, j)`` to a spline edge, in place."""
    _check_model(model)
    model.check_edge(layer, i, j)
    model.unset_symbolic_(layer, i, j)


def unfix_symbolic(model: KAN, layer: int, i: int, j: int) -> KAN:
    """A new model with edge ``(layer, i, j)`` back to a spline edge."""
    _check_model(model)
    model.check_edge(layer, i, j)
    new = copy.deepcopy(model)
    new.unset_symbolic_(layer, i, j)
    return new
