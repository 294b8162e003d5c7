"""One variable, a sum of two library functions with their own inner constants.

``y = c_1 f_1(a_1 x + b_1) + c_2 f_2(a_2 x + b_2) + d``: the leaf of a decomposition
(``sin(2 q) + q`` of a ratio ``q``), or an edge that no single function fits (``a x + b
ln x``). The sparse sum (:mod:`kanscience.discover._sparse`) fixes the inner constants and
a single edge fit (``c f(a x + b) + d``) has one function; this is matching pursuit
between them: every library function is fitted to the data, then every function to the
residual of each of the best few first fits, and the best pairs become formulas,
refitted jointly on the data and polished (:func:`kanscience.discover._polish.screen`).

Greedy: it finds a sum whose larger term the first fit isolates (a trend plus an
oscillation, a power plus a logarithm); two comparable terms that one function with
free inner constants mimics (``exp(-x / 2) - cos(3 x)``) are left to the KAN structures.
"""

from __future__ import annotations

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


def _best(search: Search, r2: Tensor, count: int) -> list[int]:
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
    """Fit the two-function sums (see the module docstring) and add their formulas."""
    if search.fit_x.shape[1] != 1 or search.time_left() <= 0:
        return
    start = time.perf_counter()
    rows = search.options.max_symbolic
    x, y = search.fit_x[:rows, 0], search.fit_y[:rows]
    mean, std = float(x.mean()), float(x.std())
    if not std > 0:
        return
    z = (x - mean) / std
    grid = search.options.grid_number
    first = fit_affine(z, y, search.library, AFFINE_RANGE, AFFINE_RANGE, grid)
    names = search.library.names
    chosen = _best(search, first.r2[:, 0], FIRST)
    if not chosen:
        return
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
    symbol = (search.symbols[0] - mean) / std
    formulas = []
    for edge, f in enumerate(chosen):
        for g in _best(search, second.r2[:, edge], SECOND):
            terms = [
                _term(search, names[f], first.params[f, 0].tolist(), symbol),
                _term(search, names[g], second.params[g, edge].tolist(), symbol),
            ]
            formulas.append((sympy.Add(*terms), f"pursuit/{names[f]}+{names[g]}"))
    screen(search, formulas, BEST)
    search.log.append(f"pursuit: {time.perf_counter() - start:.1f}s")


def _term(search: Search, name: str, params: list[float], symbol: sympy.Expr) -> sympy.Expr:
    a, b, c, d = (sympy.Float(p) for p in params)
    return c * search.library[name].sympy_fn(a * symbol + b) + d
