"""Divide and conquer by linearity: ``f = A(rest) + x_k B(rest)``.

Many laws are affine in one of their variables without being separable in it: the
displacement ``(x - u t) / sqrt(1 - u^2 / c^2)`` in ``x``, ``cos(w t) + a cos(w t)^2`` in
``a``. On a smooth surrogate ``F`` of the data, ``x_k`` enters affinely when ``F`` at the
interior points of ``x_k``'s range lies on the line through its values at the two ends,
for every value of the other variables (:func:`linear_columns`). Then the intercept ``A``
and the slope ``B`` of the least-squares line of ``F`` in ``x_k`` are two problems of one
variable fewer, searched on surrogate data (recursively: a part may be affine again, or
split), and ``A + x_k B`` is refitted on the real data.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import NamedTuple

import sympy
import torch
from torch import Tensor

from ._reduce import CLEAR_SCORE, MAX_SCORE
from ._search import Search, SurrogateModel
from ._split import assemble_best, simplest_fits, surrogate_search

__all__: list[str] = []

_POINTS = 5  # values of x_k at which the surrogate is compared with the line
MIN_EFFECT = 10.0
"""Least change of ``F`` across ``x_k``'s range, in units of the surrogate's error, for a
linearity that holds only up to that error (below it any variable looks linear)."""


def _with_column(z: Tensor, column: int, value: float) -> Tensor:
    """``z`` with a column of ``value`` inserted at position ``column``."""
    inserted = torch.full((z.shape[0], 1), value, dtype=z.dtype)
    return torch.cat([z[:, :column], inserted, z[:, column:]], 1)


def linearity(fn: Callable[[Tensor], Tensor], x: Tensor, column: int) -> tuple[float, float]:
    """``(departure, change)``: the RMS departure of ``fn`` at interior points of
    ``column``'s range (the other columns as in ``x``) from the line through its values
    at the ends, and the RMS change of ``fn`` across the range.

    Examples
    --------
    >>> x = torch.rand(100, 2, dtype=torch.float64) + 1
    >>> departure, change = linearity(lambda z: z[:, 0] * torch.sin(z[:, 1]) + 1, x, 0)
    >>> departure < 1e-12 < change
    True
    """
    lo, hi = float(x[:, column].min()), float(x[:, column].max())
    points = torch.linspace(lo, hi, _POINTS, dtype=x.dtype)
    rest = torch.cat([x[:, :column], x[:, column + 1 :]], 1)
    with torch.no_grad():
        values = torch.stack([fn(_with_column(rest, column, float(p))) for p in points])
    share = ((points - lo) / (hi - lo))[:, None]
    line = values[0] + share * (values[-1] - values[0])
    departure = float((values - line).pow(2).mean().sqrt())
    change = float((values[-1] - values[0]).pow(2).mean().sqrt())
    return departure, change


def linear_columns(fn: Callable[[Tensor], Tensor], x: Tensor, error: float) -> list[int]:
    """The columns in which ``fn`` is affine, most clearly first: the departure from the
    line is below :data:`~kanscience.discover._reduce.CLEAR_SCORE` of the change, or, for
    a change of at least :data:`MIN_EFFECT` errors, no more than twice the surrogate's
    ``error`` and below :data:`~kanscience.discover._reduce.MAX_SCORE` of the change plus
    what that error adds (the rule of the pair tests)."""
    scored = []
    for column in range(x.shape[1]):
        if float(x[:, column].max() - x[:, column].min()) <= 0:
            continue
        departure, change = linearity(fn, x, column)
        if not (math.isfinite(departure) and change > 0):
            continue
        score = departure / change
        noisy = (
            change >= MIN_EFFECT * error
            and departure <= 2 * error
            and score <= MAX_SCORE + 2 * error / change
        )
        if score <= CLEAR_SCORE or noisy:
            scored.append((score, column))
    return [column for _, column in sorted(scored)]


class _Parts(NamedTuple):
    """``A`` and ``B`` of ``F = A + x_k B`` as functions of the other columns, and their
    errors."""

    intercept: Callable[[Tensor], Tensor]
    slope: Callable[[Tensor], Tensor]
    intercept_error: float
    slope_error: float


def _parts(fn: Callable[[Tensor], Tensor], x: Tensor, column: int, error: float) -> _Parts:
    """The least-squares line of ``fn`` through :data:`_POINTS` values of ``column``
    between its 5% and 95% quantiles (inside the data, where the surrogate is most
    accurate) at every value of the other columns. The errors of its slope and intercept
    follow from the larger of the surrogate's ``error`` and the RMS residual from the line
    (the surrogate's own departures from linearity, which its validation error can
    underrate)."""
    quantiles = torch.tensor([0.05, 0.95], dtype=x.dtype)
    lo, hi = torch.quantile(x[:, column], quantiles).tolist()
    points = torch.linspace(lo, hi, _POINTS, dtype=x.dtype)
    centred = points - points.mean()
    sxx = float(centred.pow(2).sum())

    def fit(z: Tensor) -> tuple[Tensor, Tensor]:
        values = torch.stack([fn(_with_column(z, column, float(p))) for p in points])
        slope = (centred[:, None] * values).sum(0) / sxx
        return values.mean(0) - float(points.mean()) * slope, slope

    rest = torch.cat([x[:, :column], x[:, column + 1 :]], 1)
    with torch.no_grad():
        values = torch.stack([fn(_with_column(rest, column, float(p))) for p in points])
        intercept, slope = fit(rest)
        line = intercept + points[:, None] * slope
        residual = math.sqrt(float((values - line).pow(2).sum(0).mean()) / (_POINTS - 2))
    sigma = max(error, residual)
    slope_error = sigma / math.sqrt(sxx)
    intercept_error = sigma * math.sqrt(1 / _POINTS + float(points.mean()) ** 2 / sxx)
    return _Parts(lambda z: fit(z)[0], lambda z: fit(z)[1], intercept_error, slope_error)


def affine_branch(
    search: Search, surrogate: SurrogateModel, depth: int, explore: Callable[..., None]
) -> None:
    """Split ``search`` as ``A + x_k B`` in the clearest affine column of ``surrogate``
    (see the module docstring); ``explore(sub_search, surrogate=..., depth=...)``
    searches ``A`` and ``B``."""
    fn, error = surrogate
    start = time.perf_counter()
    try:
        columns = linear_columns(fn, search.fit_x[:300], error)
    except (ValueError, RuntimeError):
        return
    if not columns:
        return
    column = columns[0]
    rest = [k for k in range(search.fit_x.shape[1]) if k != column]
    x = search.fit_x[:, rest]
    found = _parts(fn, search.fit_x, column, error)
    parts: list[list[sympy.Expr]] = []
    pieces = [(found.intercept, found.intercept_error), (found.slope, found.slope_error)]
    for position, (part, part_error) in enumerate(pieces):
        with torch.no_grad():
            values = part(x)
        if not bool(torch.isfinite(values).all()):
            return
        if float(values.std()) <= 2 * part_error:  # constant up to the surrogate's error
            parts.append([sympy.Float(float(values.mean()))])
            continue
        share = search.time_left() / (2 - position + 0.5)
        sub = surrogate_search(search, x, values, rest, share, part_error)
        inner = (part, part_error) if len(rest) >= 2 else None
        explore(sub, surrogate=inner, depth=max(depth - 1, 0))
        search.log.extend(f"  {'AB'[position]}: {line}" for line in sub.log)
        options = simplest_fits(sub, part_error)
        if not options:
            return
        parts.append(options)
    symbol = search.symbols[column]
    source = f"affine({symbol})"
    assemble_best(search, parts, lambda terms: terms[0] + symbol * terms[1], source)
    search.log.append(f"{source}: {time.perf_counter() - start:.1f}s")
