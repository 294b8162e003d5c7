"""Pairwise interaction matrices of a callable, the core of the separability tests.

``f`` maps a float64 tensor ``(n, d)`` to ``(n,)`` or ``(n, 1)`` row by row.  Variable
``i`` and ``j`` do not interact in ``g`` (``g = f``, or ``log|f|`` for products) when
``g(x) = u(x without x_j) + v(x without x_i)``, equivalently when

* the mixed derivative ``d2 g / dx_i dx_j`` vanishes (:func:`hessian_interactions`), or
* the mixed difference ``g(x_i', x_j') - g(x_i', x_j) - g(x_i, x_j') + g(x_i, x_j)``
  vanishes for every pair of points (:func:`difference_interactions`).

The two agree on exact functions.  On a *fitted* model they differ: differentiating
twice amplifies the wiggles of the fit, while a mixed difference of four function
values is off by at most four times the fit error, so a spurious interaction of a
fitted model stays at the level of its relative error.  Both scores are unit-free and
lie in [0, 1].
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

__all__ = ["difference_interactions", "hessian_interactions"]

_ROW_FLOOR = 1e-2  # rows of H below 1% of the point's largest entry are normalized by that 1%

Groups = tuple[tuple[int, ...], ...]


# ---------------------------------------------------------------------- evaluation
def _evaluate(f: Callable, x: torch.Tensor) -> torch.Tensor:
    y = f(x)
    if not isinstance(y, torch.Tensor):
        raise TypeError(f"f must return a torch.Tensor, got {type(y).__name__}")
    n = x.shape[0]
    if y.shape not in ((n,), (n, 1)):
        raise ValueError(
            f"f must return shape ({n},) or ({n}, 1) for x of shape "
            f"{tuple(x.shape)}, got {tuple(y.shape)}"
        )
    y = y.reshape(n)
    if not bool(torch.isfinite(y).all()):
        raise ValueError("f returned NaN or Inf on the sample points")
    return y


def _gradient(f: Callable, x: torch.Tensor, create_graph: bool = False) -> torch.Tensor:
    if not x.requires_grad:
        x = x.detach().requires_grad_(True)
    y = _evaluate(f, x)
    if not y.requires_grad:
        raise ValueError("f(x) has no autograd graph; f must be built from torch operations")
    (g,) = torch.autograd.grad(y.sum(), x, create_graph=create_graph)
    if not bool(torch.isfinite(g).all()):
        raise ValueError("the gradient of f is NaN or Inf at some sample points")
    return g if create_graph else g.detach()


def _hessian(f: Callable, x: torch.Tensor) -> torch.Tensor:
    x = x.detach().requires_grad_(True)
    g = _gradient(f, x, create_graph=True)  # rows of f are independent: d/dx sum_k f(x_k)
    n, d = x.shape
    if not g.requires_grad:  # f is affine
        return torch.zeros(n, d, d, dtype=x.dtype)
    rows = []
    for i in range(d):
        (h,) = torch.autograd.grad(g[:, i].sum(), x, retain_graph=True, allow_unused=True)
        rows.append(torch.zeros_like(x) if h is None else h.detach())
    hess = torch.stack(rows, dim=1)
    if not bool(torch.isfinite(hess).all()):
        raise ValueError("the Hessian of f is NaN or Inf at some sample points")
    return hess


def _log_abs(f: Callable) -> Callable:
    return lambda z: torch.log(torch.abs(_evaluate(f, z)))


# ---------------------------------------------------------------------- matrices
def hessian_interactions(f: Callable, x: torch.Tensor, *, log: bool = False) -> np.ndarray:
    """Mean normalized mixed second derivatives of ``f`` (or ``log|f|``) on ``x``.

    Per point, ``|H_ij| s_i s_j`` (``s`` the standard deviations of the columns of ``x``)
    is divided by ``sqrt(r_i r_j)``, ``r_i`` the largest entry of row ``i`` (floored at
    1% of the point's largest entry); the matrix is the mean over points.

    Parameters
    ----------
    f : callable
        ``(n, d)`` float64 tensor -> ``(n,)`` or ``(n, 1)``, twice differentiable with
        torch autograd; nonzero on ``x`` when ``log``.
    x : torch.Tensor of shape (n, d), float64
    log : bool
        Score ``log|f|`` (products) instead of ``f`` (sums).

    Returns
    -------
    np.ndarray of shape (d, d)
        Symmetric, entries in [0, 1]; the diagonal measures each variable's curvature.

    Examples
    --------
    >>> x = torch.rand(50, 2, dtype=torch.float64) + 1
    >>> float(hessian_interactions(lambda z: z[:, 0] * z[:, 1], x, log=True)[0, 1]) < 1e-12
    True
    """
    hess = _hessian(_log_abs(f) if log else f, x)
    s = (hess * x.std(0)[None, :, None] * x.std(0)[None, None, :]).abs()
    peak = s.amax(dim=(1, 2), keepdim=True)[:, :, 0]
    rows = torch.maximum(s.amax(dim=2), _ROW_FLOOR * peak)
    den = (rows[:, :, None] * rows[:, None, :]).sqrt()
    return torch.where(den > 0, s / den.clamp_min(1e-300), torch.zeros_like(s)).mean(0).numpy()


def _derangement(n: int, gen: torch.Generator) -> torch.Tensor:
    order = torch.randperm(n, generator=gen)
    perm = torch.empty_like(order)
    perm[order] = order.roll(-1)  # every point is paired with another one
    return perm


@torch.no_grad()
def difference_interactions(
    f: Callable, x: torch.Tensor, *, log: bool = False, generator: torch.Generator | None = None
) -> np.ndarray:
    """Root-mean-square mixed differences of ``f`` (or ``log|f|``), normalized.

    Every point ``x`` is paired with another sample point ``x'``; ``x^S`` takes the
    coordinates in ``S`` from ``x'``.  With ``D_i = g(x^{i}) - g(x)`` and
    ``D_ij = g(x^{ij}) - g(x^{i}) - g(x^{j}) + g(x)``, entry ``(i, j)`` is
    ``rms(D_ij) / sqrt(rms(D_i) rms(D_j))``, clipped at 1 (the diagonal is 0).  Only
    function values are used: no autograd graph is needed, and a fitted model with
    relative error ``e`` has spurious entries of order ``e`` (derivatives amplify it).

    Parameters
    ----------
    f : callable
        ``(n, d)`` float64 tensor -> ``(n,)`` or ``(n, 1)``.
    x : torch.Tensor of shape (n, d), float64
        The points and their partners both come from ``x``.
    log : bool
        Score ``log|f|`` (products) instead of ``f`` (sums); quadruples where ``f``
        vanishes at a corner are left out.
    generator : torch.Generator, optional
        Randomness of the pairing (default: a generator seeded with 0).

    Returns
    -------
    np.ndarray of shape (d, d)
        Symmetric, entries in [0, 1].

    Examples
    --------
    >>> x = torch.rand(50, 3, dtype=torch.float64) + 1
    >>> m = difference_interactions(lambda z: z[:, 0] * z[:, 1] + z[:, 2], x)
    >>> bool(m[0, 1] > 0.1), float(m[0, 2]) < 1e-12
    (True, True)
    """
    n, d = x.shape
    perm = _derangement(n, generator or torch.Generator().manual_seed(0))
    pairs = [(i, j) for i in range(d) for j in range(i + 1, d)]
    corners = [x]
    for cols in [[i] for i in range(d)] + [list(p) for p in pairs]:
        z = x.clone()
        z[:, cols] = x[perm][:, cols]
        corners.append(z)
    g = _evaluate(f, torch.cat(corners)).reshape(len(corners), n)
    if log:
        g = torch.log(torch.abs(g))
    base, single = g[0], g[1 : d + 1] - g[0]
    mixed = (
        torch.stack([g[d + 1 + k] - g[1 + i] - g[1 + j] + base for k, (i, j) in enumerate(pairs)])
        if pairs
        else single[:0]
    )
    ok = torch.isfinite(single).all(0) & torch.isfinite(mixed).all(0)
    if not bool(ok.any()):
        raise ValueError(
            "log|f| is infinite at a corner of every quadruple (f vanishes "
            "there); it cannot be scored"
        )

    def rms(t: torch.Tensor) -> torch.Tensor:
        return t[:, ok].pow(2).mean(1).sqrt()

    scale, cross = rms(single), rms(mixed)
    out = torch.zeros(d, d, dtype=x.dtype)
    for k, (i, j) in enumerate(pairs):
        den = (scale[i] * scale[j]).sqrt()
        out[i, j] = out[j, i] = (cross[k] / den).clamp(max=1.0) if den > 0 else 0.0
    return out.numpy()


def _blocks(m: np.ndarray, threshold: float) -> tuple[Groups, float]:
    """Connected components of the pairs scoring >= threshold, and the split score:
    the largest cross-block entry, or for one block the weakest edge needed to join it
    (Kruskal on the complete graph, heaviest pairs first)."""
    d = m.shape[0]
    comp = list(range(d))
    edges = sorted(
        ((float(m[i, j]), i, j) for i in range(d) for j in range(i + 1, d)), reverse=True
    )
    score = 1.0
    for w, i, j in edges:
        ci, cj = comp[i], comp[j]
        if ci == cj:
            continue
        if w < threshold:  # the heaviest pair left between blocks
            score = w
            break
        comp = [ci if c == cj else c for c in comp]
        score = min(score, w)
    blocks: dict[int, list[int]] = {}
    for i, c in enumerate(comp):
        blocks.setdefault(c, []).append(i)
    return tuple(sorted(tuple(b) for b in blocks.values())), score
