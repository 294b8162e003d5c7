"""Shared steps of the cases' learned-versus-true plots: formula values, grids, the gauge.

The panels themselves are :mod:`kanscience.physics._panels` records; these helpers only turn
sympy laws and trained KANs into the arrays the panels hold.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import sympy
import torch

from kanscience.physics import affine_gauge
from kanscience.symbolic import formula_to_torch

N_PARITY = 300  # samples per parity panel: enough to see the law, few enough to see points


def values(expr: sympy.Expr, symbols: Sequence[sympy.Symbol], x: torch.Tensor) -> np.ndarray:
    """``expr`` (sympy, of ``symbols``) at the rows of ``x`` (n, len(symbols)): float64 (n,).

    >>> a, b = sympy.symbols("a b")
    >>> values(a * b + 1, [a, b], torch.tensor([[2.0, 3.0], [0.0, 1.0]])).tolist()
    [7.0, 1.0]
    """
    x = x.detach().to(torch.float64)
    with torch.no_grad():
        out = formula_to_torch(sympy.sympify(expr), list(symbols))(x)
    return np.broadcast_to(out.detach().cpu().numpy(), (x.shape[0],)).astype(np.float64)


def box_grid(
    ranges: Sequence[tuple[float, float]], m: int
) -> tuple[np.ndarray, np.ndarray, torch.Tensor]:
    """An ``m x m`` grid over a 2-D box: axes ``x`` (m,), ``y`` (m,) and the points (m*m, 2)
    in row-major order of ``(y, x)``, so ``f(points).reshape(m, m)[i, j] = f(x[j], y[i])``
    (matplotlib's contour convention)."""
    x = np.linspace(*ranges[0], m)
    y = np.linspace(*ranges[1], m)
    gx, gy = np.meshgrid(x, y)
    points = torch.from_numpy(np.stack([gx.ravel(), gy.ravel()], 1))
    return x, y, points


def gauges(fit: Mapping[str, np.ndarray], true: np.ndarray) -> dict[str, tuple[float, float]]:
    """The affine gauge ``(a, b)`` that brings each learned law in ``fit`` closest to
    ``true`` (least squares on those points)."""
    return {label: affine_gauge(learned, true) for label, learned in fit.items()}


def in_gauge(
    fit: Mapping[str, np.ndarray], true: np.ndarray, *others: Mapping[str, np.ndarray]
) -> tuple[dict[str, np.ndarray], ...]:
    """Each learned law in ``fit`` mapped by its :func:`gauges` ``a L + b``; the same map
    applied to the same label in each of ``others`` (the law elsewhere: on a slice, on
    fresh samples).

    >>> t = np.array([0.0, 1.0, 2.0])
    >>> fitted, elsewhere = in_gauge({"L": 2 * t + 1}, t, {"L": np.array([5.0])})
    >>> fitted["L"].tolist(), elsewhere["L"].tolist()
    ([0.0, 1.0, 2.0], [2.0])
    """
    maps = gauges(fit, true)
    return tuple(
        {label: maps[label][0] * np.asarray(v) + maps[label][1] for label, v in mapping.items()}
        for mapping in (fit, *others)
    )


def gauge_note(maps: Mapping[str, tuple[float, float]], symbol: str = "a") -> str:
    """One line per law: its fitted scale, e.g. ``'formula: a = +1.000'``."""
    return "\n".join(f"{label}: {symbol} = {a:+.4g}" for label, (a, _) in maps.items())


def kan_values(model: torch.nn.Module, x: torch.Tensor) -> np.ndarray:
    """A one-output model at the rows of ``x``: float64 (n,)."""
    dtype = next(model.parameters()).dtype
    with torch.no_grad():
        out = model(x.to(dtype))
    return out.reshape(-1).detach().cpu().numpy().astype(np.float64)
