"""One variable, a sum of two library functions with their own inner constants.

``y = c_1 f_1(a_1 x + b_1) + c_2 f_2(a_2 x + b_2) + d``: the leaf of a decomposition
(``sin(2 q) + q`` of a ratio ``q``), or an edge that no single function fits (``a x + b
ln x``). The sparse sum (:mod:`kanscience.discover._sparse`) fixes the inner constants and
a single edge fit (``c f(a x + b) + d``) has one function; this is matching pursuit
between them: every library function is fitted to the data, then every function to the
residual of each of the best few first fits, and the best pairs become formulas,
refitted jointly on the data and polished (:func:`kanscience.discover._polish.screen`).
For a target of one sign the same runs on ``1 / y``, single functions included (no KAN
edge fits ``1 / y``): Planck's ``1 / (exp(a q) - 1)`` and ``1 / cosh(a q)`` with an inner
constant the sparse sum does not have.

Greedy: it finds a sum whose larger term the first fit isolates (a trend plus an
oscillation, a power plus a logarithm); two comparable terms that one function with
free inner constants mimics (``exp(-x / 2) - cos(3 x)``) are left to the KAN structures.
"""

from __future__ import annotations

import math
import time

import sympy
import torch
from torch import Tensor

from ..symbolic import fit_affine, symbolic_score
from ._polish import screen
from ._search import Search

__all__: list[str] = []

FIRST, SECOND = 3, 2
"""First functions whose residual gets a second fit, and second functions kept per first
(each the best by score and the best by R^2)."""
BEST = 6
"""Formulas polished, by rank, of those refitted."""
AFFINE_RANGE = (-5.0, 5.0)
"""Grid ranges of ``a`` and ``b`` on the standardized variable."""
RECIPROCAL_MARGIN = 10.0
"""``1 / y`` is fitted where ``|y|`` exceeds this multiple of the noise's bound."""


def best_functions(search: Search, r2: Tensor, count: int) -> list[int]:
    """Indices of the best functions of one edge's fits: the ``count`` best by score
    (simplicity against R^2), then the ``count`` best by R^2 alone (a pursuit's second
    term must fit what the first leaves, however complex), skipping fits that explain
    nothing (a constant function)."""
    library = search.library
    complexity = torch.tensor(
        [library[name].complexity for name in library.names], dtype=torch.float64
    )
    scores = symbolic_score(r2, complexity, search.options.weight_simple)
    useful = [i for i in range(len(r2)) if bool(torch.isfinite(scores[i])) and r2[i] > 1e-6]
    by_score = sorted(useful, key=lambda i: float(scores[i]))[:count]
    by_r2 = sorted(useful, key=lambda i: -float(r2[i]))[:count]
    return list(dict.fromkeys(by_score + by_r2))


def pursuit_branch(search: Search) -> None:
    """Fit the two-function sums (see the module docstring) to ``y`` and, for a target of
    one sign, to ``1 / y`` (``1 / (exp(a q) - 1)``, ``1 / cosh(a q)``: one function, or
    two, with free inner constants), and add their formulas."""
    if search.fit_x.shape[1] != 1 or search.time_left() <= 0:
        return
    start = time.perf_counter()
    rows = search.options.max_symbolic
    x, y = search.fit_x[:rows, 0], search.fit_y[:rows]
    mean, std = float(x.mean()), float(x.std())
    if not std > 0:
        return
    symbol = (search.symbols[0] - mean) / std
    screen(search, _pursue(search, (x - mean) / std, y, symbol, "pursuit"), BEST)
    # 1 / y on the rows where y is well above the noise (its error there is at most a
    # tenth of its size; the best validation error so far bounds the noise)
    noise = search.noise_bound()
    signal = y.abs() > RECIPROCAL_MARGIN * (noise if math.isfinite(noise) else 0.0)
    if bool((y[signal] > 0).all() or (y[signal] < 0).all()) and int(signal.sum()) >= 20:
        x = x[signal]
        z, name = (x - mean) / std, "pursuit(1/y)"
        formulas = _pursue(search, z, 1 / y[signal], symbol, name, singles=True)
        screen(search, [(1 / expr, source) for expr, source in formulas], BEST)
    search.log.append(f"pursuit: {time.perf_counter() - start:.1f}s")


def _pursue(
    search: Search, z: Tensor, y: Tensor, symbol: sympy.Expr, name: str, singles: bool = False
) -> list[tuple[sympy.Expr, str]]:
    """The best pairs of fits of ``y`` on the standardized ``z`` (``symbol``), and with
    ``singles`` the best single-function fits (on ``y`` itself a KAN edge makes those)."""
    grid = search.options.grid_number
    first = fit_affine(z, y, search.library, AFFINE_RANGE, AFFINE_RANGE, grid)
    names = search.library.names
    chosen = best_functions(search, first.r2[:, 0], FIRST)
    if not chosen:
        return []
    formulas = []
    if singles:
        formulas = [
            (_term(search, names[f], first.params[f, 0].tolist(), symbol), f"{name}/{names[f]}")
            for f in chosen
        ]
    residuals = []
    for f in chosen:
        a, b, c, d = first.params[f, 0].tolist()
        residuals.append(y - (c * search.library[names[f]].torch_fn(a * z + b) + d))
    second = fit_affine(
        z.expand(len(chosen), -1),
        torch.stack(residuals),
        search.library,
        AFFINE_RANGE,
        AFFINE_RANGE,
        grid,
    )
    for edge, f in enumerate(chosen):
        for g in best_functions(search, second.r2[:, edge], SECOND):
            terms = [
                _term(search, names[f], first.params[f, 0].tolist(), symbol),
                _term(search, names[g], second.params[g, edge].tolist(), symbol),
            ]
            formulas.append((sympy.Add(*terms), f"{name}/{names[f]}+{names[g]}"))
    return formulas


def _term(search: Search, name: str, params: list[float], symbol: sympy.Expr) -> sympy.Expr:
    a, b, c, d = (sympy.Float(p) for p in params)
    return c * search.library[name].sympy_fn(a * symbol + b) + d
