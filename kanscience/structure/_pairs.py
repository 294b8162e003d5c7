"""Symmetries of pairs of variables: does ``f`` see ``x_i`` and ``x_j`` only through
``x_i - x_j``, ``x_i / x_j``, ``x_i x_j`` or ``x_i + x_j``?

The test moves every sample along the direction that keeps the combination fixed
(``x_i + h, x_j + h`` for a difference; ``s x_i, s x_j`` for a ratio) and along the
direction that changes it most, by the same amount, and compares how much ``f`` changes:

    score = rms(f(moved along the invariant direction) - f(x))
            / rms(f(moved across it) - f(x)).

An exact symmetry scores at rounding level on an exact function, and at the level of the
surrogate's error on a fitted one (the comparison is at macroscopic steps, a quarter of the
variables' range, so a surrogate's rough derivatives do not matter). Samples whose moved
point would leave the data's bounding box are left out (a surrogate is only known inside
it); multiplicative moves need positive variables.

This is AI Feynman's translational and scale symmetry test (Udrescu & Tegmark 2020), run on
any torch callable, in particular a trained KAN.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import sympy
import torch
from torch import Tensor

__all__ = ["PAIR_KINDS", "PairSymmetry", "pair_scalings", "pair_symmetries"]

PAIR_KINDS = ("difference", "ratio", "product", "sum")
_STEP = 0.25  # move by this fraction of the smaller (log-)range of the pair
_MIN_POINTS = 16


@dataclass(frozen=True)
class PairSymmetry:
    """``f`` depends on ``x_i`` and ``x_j`` through ``kind`` of them (score below a
    threshold) or not.

    Attributes
    ----------
    kind : {'difference', 'ratio', 'product', 'sum'}
    i, j : int
        Column indices (``i < j``); the combination is ``x_i - x_j``, ``x_i / x_j``,
        ``x_i x_j`` or ``x_i + x_j``.
    score : float
        Relative change along the invariant direction (see the module docstring); 0 for an
        exact symmetry.
    effect : float
        RMS change of ``f`` across the invariant direction: how much the pair matters.
    degree : float
        0 for a symmetry of ``f``; for a scaling (:func:`pair_scalings`), the ``a`` in
        ``f(s x_i, s x_j) = s^a f(x)`` (a ratio) or ``f(s x_i, x_j / s) = s^a f(x)``
        (a product).
    """

    kind: str
    i: int
    j: int
    score: float
    effect: float
    degree: float = 0.0

    def combine(self, a, b):
        """The combination of ``a`` (for ``x_i``) and ``b`` (``x_j``): tensors or sympy."""
        if self.kind == "difference":
            return a - b
        if self.kind == "ratio":
            return a / b
        if self.kind == "product":
            return a * b
        return a + b

    def expression(self, symbols: list[sympy.Symbol]) -> sympy.Expr:
        """The combination in terms of ``symbols`` (one per column)."""
        return self.combine(symbols[self.i], symbols[self.j])


def _moves(kind: str, xi: Tensor, xj: Tensor, lo: Tensor, hi: Tensor):
    """(invariant move, cross move) of columns i, j as functions of a sign ``d`` per
    sample, and the step (``h``, or ``log s`` for the multiplicative kinds)."""
    if kind in ("ratio", "product"):
        one_signed = (lo > 0) | (hi < 0)
        spans = torch.log(torch.maximum(hi.abs(), lo.abs()) / torch.minimum(hi.abs(), lo.abs()))
        log_s = _STEP * spans[one_signed].min()
        s = torch.exp(log_s)
        along = (lambda d: (xi * s**d, xj * s**d)), (lambda d: (xi * s**d, xj / s**d))
        return (along if kind == "ratio" else along[::-1]), float(log_s)
    h = _STEP * (hi - lo).min()
    along = (lambda d: (xi + d * h, xj + d * h)), (lambda d: (xi + d * h, xj - d * h))
    return (along if kind == "difference" else along[::-1]), float(h)


def _moved(
    f: Callable[[Tensor], Tensor], x: Tensor, i: int, j: int, move, lo: Tensor, hi: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """``f`` at the moved samples (moved by + or -, whichever stays inside the box), the
    sign used per sample, and the mask of samples for which one of them does."""
    values, masks = [], []
    for sign in (1.0, -1.0):
        a, b = move(sign)
        moved = x.clone()
        moved[:, i], moved[:, j] = a, b
        values.append(f(moved))
        masks.append((a >= lo[0]) & (a <= hi[0]) & (b >= lo[1]) & (b <= hi[1]))
    value = torch.where(masks[0], values[0], values[1])
    sign = torch.where(masks[0], 1.0, -1.0).to(x.dtype)
    return value, sign, masks[0] | masks[1]


def _pairs(x: Tensor, kinds: tuple[str, ...]):
    """(kind, i, j, box) for every testable pair; for a ratio, ``j`` is one-signed."""
    unknown = set(kinds) - set(PAIR_KINDS)
    if unknown:
        raise ValueError(f"kinds must be among {PAIR_KINDS}, got {sorted(unknown)}")
    lo, hi = x.min(0).values, x.max(0).values
    one_signed = ((lo > 0) | (hi < 0)).tolist()
    for i in range(x.shape[1]):
        for j in range(i + 1, x.shape[1]):
            if not (hi[i] > lo[i] and hi[j] > lo[j]):
                continue
            for kind in kinds:
                a, b = i, j
                if kind in ("ratio", "product"):
                    if not (one_signed[i] or one_signed[j]):
                        continue
                    if kind == "ratio" and not one_signed[j]:
                        a, b = j, i
                yield kind, a, b, (torch.stack([lo[a], lo[b]]), torch.stack([hi[a], hi[b]]))


def _as_vector(f: Callable[[Tensor], Tensor]) -> Callable[[Tensor], Tensor]:
    def fn(z: Tensor) -> Tensor:
        return f(z).reshape(z.shape[0])

    return fn


def _check(x: Tensor) -> None:
    if x.ndim != 2:
        raise ValueError(f"x must be (batch, n_variables), got shape {tuple(x.shape)}")


def _measured(fn: Callable[[Tensor], Tensor], x: Tensor, kinds: tuple[str, ...], noise: float):
    """For every testable pair with a measurable effect: ``(kind, i, j, f moved along the
    invariant direction, the signed step of each move (h, or log s), f at those samples,
    effect)``, over the samples whose moves stay in the box; the effect is the RMS change
    of ``f`` across the invariant direction, more than three times ``noise``."""
    base = fn(x)
    for kind, i, j, box in _pairs(x, kinds):
        (along, across), step = _moves(kind, x[:, i], x[:, j], *box)
        f_along, sign, in_along = _moved(fn, x, i, j, along, *box)
        f_across, _, in_across = _moved(fn, x, i, j, across, *box)
        if int(in_along.sum()) < _MIN_POINTS or int(in_across.sum()) < _MIN_POINTS:
            continue
        effect = float((f_across - base)[in_across].pow(2).mean().sqrt())
        if effect > 3 * noise:
            yield kind, i, j, f_along[in_along], sign[in_along] * step, base[in_along], effect


@torch.no_grad()
def pair_symmetries(
    f: Callable[[Tensor], Tensor],
    x: Tensor,
    *,
    kinds: tuple[str, ...] = PAIR_KINDS,
    noise: float = 0.0,
) -> list[PairSymmetry]:
    """Score every pair of columns of ``x`` for every kind of pair symmetry of ``f``.

    Parameters
    ----------
    f : callable
        ``(batch, n) -> (batch,)`` (or ``(batch, 1)``), e.g. a trained KAN.
    x : Tensor
        ``(batch, n)`` samples; their bounding box is the domain (no sample is moved out
        of it).
    kinds : tuple of str
        Subset of :data:`PAIR_KINDS` to test.
    noise : float
        RMS error of ``f`` as a model of the law (a surrogate's departure from it): a pair
        whose cross move changes ``f`` by less than three times this has no measurable
        effect and is not reported.

    Returns
    -------
    list of PairSymmetry
        Best (lowest score) first. The multiplicative kinds need one column of the pair
        to be one-signed (the denominator ``x_j`` of a ratio).

    Examples
    --------
    >>> x = torch.rand(200, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) + 1
    >>> f = lambda z: torch.exp(-((z[:, 0] - z[:, 1]) ** 2)) * z[:, 2]
    >>> best = pair_symmetries(f, x)[0]
    >>> best.kind, best.i, best.j, best.score < 1e-12
    ('difference', 0, 1, True)
    """
    _check(x)
    fn = _as_vector(f)
    found = []
    for kind, i, j, moved, _, base, effect in _measured(fn, x, kinds, noise):
        residual = float((moved - base).pow(2).mean().sqrt())
        found.append(PairSymmetry(kind, i, j, residual / effect, effect))
    return sorted(found, key=lambda p: p.score)


@torch.no_grad()
def pair_scalings(
    f: Callable[[Tensor], Tensor],
    x: Tensor,
    *,
    noise: float = 0.0,
) -> list[PairSymmetry]:
    """Score every pair for a scaling law: ``f(s x_i, s x_j) = s^a f(x)`` (then
    ``f = x_j^a g(x_i / x_j)``) or ``f(s x_i, x_j / s) = s^a f(x)`` (then
    ``f = x_i^a g(x_i x_j)``).

    ``a`` is fitted to ``log |f|`` along the move; the score compares the departure of
    ``f`` from ``s^a f`` along the move with the change of ``f`` across it (a symmetry is
    the case ``a = 0``). ``f`` must not vanish on ``x``; where it does, no pair is
    reported.

    Parameters
    ----------
    f, x
        As in :func:`pair_symmetries`.
    noise : float
        As in :func:`pair_symmetries`.

    Returns
    -------
    list of PairSymmetry
        Best first, with ``degree`` the fitted ``a``.

    Examples
    --------
    >>> x = torch.rand(200, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    >>> x = torch.stack([x[:, 0] + 1, 4 * x[:, 1] - 2], 1)  # sigma in [1, 2], d in [-2, 2]
    >>> f = lambda z: torch.exp(-((z[:, 1] / z[:, 0]) ** 2)) / z[:, 0]
    >>> best = pair_scalings(f, x)[0]
    >>> best.kind, (best.i, best.j), round(best.degree, 6), best.score < 1e-9
    ('ratio', (1, 0), -1.0, True)
    """
    _check(x)
    fn = _as_vector(f)
    values = fn(x)
    if not bool((values != 0).all()) or not bool(torch.isfinite(values).all()):
        return []
    found = []
    for kind, i, j, moved, step, base, effect in _measured(fn, x, ("ratio", "product"), noise):
        change = moved.abs().log() - base.abs().log()
        degree = float((change * step).sum() / step.pow(2).sum())
        residual = float((moved - torch.exp(degree * step) * base).pow(2).mean().sqrt())
        if math.isfinite(residual) and math.isfinite(degree):
            found.append(PairSymmetry(kind, i, j, residual / effect, effect, degree))
    return sorted(found, key=lambda p: p.score)
