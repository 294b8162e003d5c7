"""Symbolic edges to spline edges: a compiled formula as a plain, trainable KAN.

:func:`symbolic_to_spline` fits every active edge with a B-spline on the range its input
takes over a box of model inputs. Node ranges come from samples refined by projected
gradient steps; knots follow the edges' fourth derivative (a cubic spline's error grows
like h^4 times it), so 1/x, log or sqrt edges near their singular end get dense knots.

Examples
--------
>>> import sympy, torch
>>> from compiler import compile_formula
>>> x, y = sympy.symbols("x y")
>>> model = compile_formula(sympy.exp(sympy.sin(sympy.pi * x) + y**2), [x, y])
>>> spline = symbolic_to_spline(model, (-1.0, 1.0), grid=20)
>>> u = torch.rand(200, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
>>> u = 2 * u - 1
>>> bool((spline(u) - model(u)).abs().max() < 1e-3 * model(u).abs().max())
True
"""

from __future__ import annotations

import torch
from torch import Tensor

from kanscience.core import (
    KAN,
    KANLayer,
    extend_grid,
    fit_coefficients,
    node_values,
    spline_features,
)

from .build import RangesLike, normalize_ranges
from .domain import box_points
from .expand import active_edges, copy_affine, rebuild

__all__ = ["symbolic_to_spline"]


def _edge_values(layer: KANLayer, x: Tensor) -> Tensor:
    """Every edge's output on inputs ``x`` (batch, in), shape (batch, in, out)."""
    features = spline_features(x, layer.grid, layer.k, layer.base_fun, layer.table())
    spline = torch.einsum("bin,ion->bio", features[..., 1:], layer.coef)
    values = layer.mask * (layer.scale_base * features[..., :1] + layer.scale_sp * spline)
    batch = torch.arange(x.shape[0], device=x.device)[:, None]
    for name, (ins, outs) in layer.symbolic_groups().items():
        values = values.index_put(
            (batch, ins, outs), layer.symbolic_edge_values(x, ins, outs, name), accumulate=True
        )
    return values


def _interpolate(u: Tensor, xs: Tensor, ys: Tensor) -> Tensor:
    """Piecewise-linear ``ys(u)`` per column; ``xs`` increasing along dim 0."""
    index = (
        torch.searchsorted(xs.t().contiguous(), u.t().contiguous()).t().clamp(1, xs.shape[0] - 1)
    )
    x0, x1 = xs.gather(0, index - 1), xs.gather(0, index)
    y0, y1 = ys.gather(0, index - 1), ys.gather(0, index)
    weight = torch.where(x1 > x0, (u - x0) / (x1 - x0).clamp_min(1e-300), torch.zeros_like(u))
    return y0 + weight * (y1 - y0)


def _fine_points(lo: Tensor, hi: Tensor, n: int) -> Tensor:
    """(n, in) increasing points per input: the mean of a uniform and a geometric sequence
    (dense towards the end nearest zero, where 1/x, log, sqrt... bend most) when zero is
    outside the range, else uniform."""
    steps = torch.linspace(0, 1, n, dtype=lo.dtype, device=lo.device)[:, None]
    uniform = lo + (hi - lo) * steps
    positive, negative = lo > 0, hi < 0
    near = torch.where(negative, -hi, lo).clamp_min(1e-300)
    far = torch.where(negative, -lo, hi).clamp_min(1e-300)
    ratio = torch.where(positive | negative, far / near, torch.ones_like(lo))
    geometric = near * ratio**steps
    geometric = torch.where(negative, -geometric, geometric)
    geometric = torch.where(negative, geometric.flip(0), geometric)
    geometric = torch.where(positive | negative, geometric, uniform)
    points = 0.5 * (uniform + geometric)
    points[0], points[-1] = lo, hi
    return points


def _adaptive_knots(layer: KANLayer, lo: Tensor, hi: Tensor, num: int, fine: int = 2049) -> Tensor:
    """Interior knots (in, num + 1) equidistributing the largest fourth derivative to the
    power 1/4 over the edges leaving each node (the density that balances a cubic
    spline's error), mixed 9:1 with a uniform density."""
    t = _fine_points(lo, hi, fine)  # (m, in)
    values = _edge_values(layer, t) * active_edges(layer)  # (m, in, out)
    divided = values
    for order in range(1, 5):  # divided differences; 24 f[t0..t4] ~ f''''
        span = (t[order:] - t[:-order]).clamp_min(1e-300)[..., None]
        divided = (divided[1:] - divided[:-1]) / span
    fourth = torch.nan_to_num(24 * divided.abs(), nan=0.0, posinf=0.0).amax(-1)  # (m-4, in)
    density = torch.cat([fourth[:2], fourth, fourth[-1:]]) ** 0.25  # one per fine interval
    width = t[1:] - t[:-1]
    mass = (density * width).sum(0, keepdim=True)
    uniform = (hi - lo)[None, :]
    density = torch.where(
        mass > 0, 0.9 * density / mass.clamp_min(1e-300) + 0.1 / uniform, 1.0 / uniform
    )
    cumulative = torch.cat([torch.zeros_like(density[:1]), (density * width).cumsum(0)])
    cumulative = cumulative / cumulative[-1:]
    levels = torch.linspace(0, 1, num + 1, dtype=lo.dtype, device=lo.device)[:, None]
    knots = _interpolate(levels.expand(-1, lo.shape[0]).contiguous(), cumulative, t).t()
    knots[:, 0], knots[:, -1] = lo, hi
    return knots.contiguous()


def _node_ranges(
    model: KAN, x: Tensor, bounds: Tensor, steps: int = 40
) -> list[tuple[Tensor, Tensor]]:
    """(lo, hi) of every layer's input nodes over the box: the extremes on the samples
    ``x``, refined by projected sign-gradient steps from the best sample of each."""
    lower, upper = bounds[:, 0].to(x), bounds[:, 1].to(x)
    with torch.no_grad():
        values = node_values(model, x)[:-1]
    ranges = [(lower, upper)]
    if len(values) == 1:
        return ranges
    starts, layers, nodes, signs = [], [], [], []
    for l, v in enumerate(values[1:], 1):  # hidden layers; inputs are the box itself
        for reduce, sign in ((torch.argmin, 1.0), (torch.argmax, -1.0)):
            starts.append(x[reduce(v, 0)])
            layers += [l] * v.shape[1]
            nodes += range(v.shape[1])
            signs += [sign] * v.shape[1]
    z = torch.cat(starts).clone()
    layers_t = torch.tensor(layers)
    groups = [(l, (layers_t == l).nonzero().flatten()) for l in range(1, len(values))]
    node_t = torch.tensor(nodes, device=x.device)
    sign_t = torch.tensor(signs, dtype=x.dtype, device=x.device)
    step = 0.05 * (upper - lower)
    for _ in range(steps):
        z.requires_grad_(True)
        with torch.enable_grad():
            all_values = node_values(model, z)
            objective = torch.stack(
                [(sign_t[rows] * all_values[l][rows, node_t[rows]]).sum() for l, rows in groups]
            ).sum()
            (grad,) = torch.autograd.grad(objective, z)
        z = torch.clamp(z.detach() - step * torch.nan_to_num(grad).sign(), lower, upper)
        step = step * 0.9
    with torch.no_grad():
        extra = node_values(model, z)[:-1]
    for v, w in zip(values[1:], extra[1:]):
        both = torch.cat([v, w[torch.isfinite(w).all(1)]])
        ranges.append((both.min(0).values, both.max(0).values))
    return ranges


@torch.no_grad()
def symbolic_to_spline(
    model: KAN,
    ranges: RangesLike,
    grid: int = 20,
    n_samples: int = 4096,
    seed: int = 0,
    adaptive: bool = True,
) -> KAN:
    """A copy of ``model`` whose active edges are splines fitted to the current edges.

    The range of every node is taken from ``n_samples`` random points and the corners of
    the box ``ranges``, refined by a few projected gradient steps towards each node's
    minimum and maximum; each layer gets ``grid`` intervals on its inputs' ranges, placed
    where the edges leaving each node bend most (``adaptive``: knot density proportional
    to the fourth derivative to the power 1/4) or uniformly. Every active edge (symbolic,
    spline or both) is then replaced by the least-squares spline
    (:func:`kanscience.core.fit_coefficients`) through eight points per interval, with
    ``scale_base = 0`` and ``scale_sp = 1``.

    Parameters
    ----------
    model : KAN
    ranges : (lo, hi), list of pairs, or dict by input name
    grid : int
        Grid intervals of the new splines.
    n_samples : int
        Random points (besides the corners of the box) that set the node ranges.
    seed : int
    adaptive : bool
        Curvature-adapted knots (default) or uniform ones.

    Returns
    -------
    KAN
        Same class and node structure as ``model``, no symbolic edges.
    """
    if not isinstance(grid, int) or grid < 1:
        raise ValueError(f"grid must be a positive int, got {grid!r}")
    names = getattr(model, "input_names", None) or [f"x_{i}" for i in range(model.n_in)]
    bounds = torch.tensor(normalize_ranges(ranges, names), dtype=torch.float64)
    dtype, device = model.layers[0].coef.dtype, model.layers[0].coef.device
    x = box_points(bounds, n_samples, seed).to(dtype=dtype, device=device)
    if not all(bool(torch.isfinite(v).all()) for v in node_values(model, x)):
        raise ValueError("the model is not finite on ranges; cannot fit splines there")
    ranges = _node_ranges(model, x, bounds)
    new = rebuild(model, model.width, model.mult_arity, grid=[grid] * model.depth)
    for l, (src, dst, (lo, hi)) in enumerate(zip(model.layers, new.layers, ranges)):
        flat = hi - lo <= 1e-12 * (1 + lo.abs())
        lo, hi = torch.where(flat, lo - 1, lo), torch.where(flat, hi + 1, hi)
        if adaptive:
            knots = _adaptive_knots(src, lo, hi, grid)
        else:
            steps = torch.linspace(0, 1, grid + 1, dtype=dtype, device=device)
            knots = lo[:, None] + (hi - lo)[:, None] * steps
        extended = extend_grid(knots, dst.k)
        fractions = torch.linspace(0, 1, 9, dtype=dtype, device=device)[:-1]
        dense = knots[:, :-1, None] + (knots[:, 1:] - knots[:, :-1])[..., None] * fractions
        dense = torch.cat([dense.reshape(src.in_dim, -1), knots[:, -1:]], 1).t().contiguous()
        dst.grid.copy_(extended)
        dst.coef.copy_(fit_coefficients(dense, _edge_values(src, dense), extended, dst.k))
        dst.scale_base.zero_()
        dst.scale_sp.fill_(1.0)
        dst.mask.copy_(active_edges(src).to(dtype))
        dst.symbolic_mask.zero_()
        dst.invalidate_symbolic_cache()
        copy_affine(model, new, l, list(range(model.width_in[l + 1])), list(range(src.out_dim)))
    return new
