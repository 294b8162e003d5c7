"""How stable the best formula is: does it stay best on resampled data?

A bootstrap resample of the data (rows drawn with replacement) refits the constants of
every candidate on the rows drawn and scores each on the rows left out (out of bag), and
the candidates are ranked as :func:`kanscience.discover.discover` ranks them
(:func:`~kanscience.discover._ranking.rank`: the simplest one within a relative tolerance
of the best validation error first). Only constants are refitted, so a resample costs a
few Levenberg-Marquardt steps per candidate, not a new search. The stability of the
best formula is the fraction of resamples in which it still ranks first.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

import sympy
import torch
from torch import Tensor

from ..core._functions import LibraryLike
from ..symbolic import fit_constants, formula_to_torch
from ._forms import SYMPY_ERRORS
from ._ranking import Candidate, rank

__all__ = ["FormulaStability", "formula_stability"]


@dataclass(frozen=True)
class FormulaStability:
    """Bootstrap stability of a ranking of candidates.

    Attributes
    ----------
    fraction : float
        Fraction of resamples in which the first candidate given ranks first.
    wins : tuple of float
        For each candidate given (in order), the fraction of resamples it ranks first.
    n_resamples : int
    """

    fraction: float
    wins: tuple[float, ...]
    n_resamples: int


def _out_of_bag_rmse(
    expr: sympy.Expr,
    symbols: Sequence[sympy.Symbol],
    x: Tensor,
    y: Tensor,
    drawn: Tensor,
    left_out: Tensor,
    steps: int,
    library: LibraryLike,
) -> tuple[sympy.Expr, float]:
    """``expr`` refitted on the rows ``drawn`` and its RMSE on the rows ``left_out``
    (``inf`` where the formula fails there)."""
    try:
        refitted = fit_constants(expr, symbols, x[drawn], y[drawn], steps=steps, library=library)
        prediction = formula_to_torch(refitted, list(symbols), library)(x[left_out])
    except (*SYMPY_ERRORS, RuntimeError):
        return expr, math.inf
    rmse = float(((prediction - y[left_out]) ** 2).mean().sqrt())
    return refitted, rmse if math.isfinite(rmse) else math.inf


def formula_stability(
    candidates: Sequence[Candidate],
    variables: Sequence[sympy.Symbol | str],
    x: Tensor,
    y: Tensor,
    *,
    n_resamples: int = 100,
    relative: float = 0.02,
    steps: int = 30,
    seed: int = 0,
    library: LibraryLike = None,
) -> FormulaStability:
    """The fraction of bootstrap resamples of the data in which the first candidate stays
    best when the constants of all candidates are refitted.

    Parameters
    ----------
    candidates : sequence of Candidate
        Typically the Pareto front of :func:`~kanscience.discover.discover`, best first
        (``result.candidates``).
    variables : sequence of sympy symbols or names, in the column order of ``x``
    x : Tensor (N, n_vars)
    y : Tensor (N,) or (N, 1)
    n_resamples : int
    relative : float
        Relative out-of-bag RMSE within which candidates count as equally good (the
        simplest wins), raised to ``8 / n_out_of_bag`` as in :func:`discover`.
    steps : int
        Levenberg-Marquardt iterations per refit.
    seed : int
        Of the resampling.
    library : library specification, optional
        Extra function heads of the formulas.

    Returns
    -------
    FormulaStability

    Examples
    --------
    >>> t = sympy.Symbol("t")
    >>> x = torch.linspace(0.1, 2, 60, dtype=torch.float64)[:, None]
    >>> y = 2 * torch.exp(-x[:, 0]) + 0.01 * torch.cos(50 * x[:, 0])
    >>> law = Candidate(1.0 * sympy.exp(-1.0 * t), 6, 0.0, 1.0)
    >>> line = Candidate(1.0 * t + 1.0, 5, 0.0, 1.0)
    >>> formula_stability([law, line], [t], x, y, n_resamples=10).fraction
    1.0
    """
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, int) or n_resamples < 1:
        raise ValueError(f"n_resamples must be an int >= 1, got {n_resamples!r}")
    if not relative >= 0:
        raise ValueError(f"relative must be >= 0, got {relative!r}")
    if not candidates or not all(isinstance(c, Candidate) for c in candidates):
        raise ValueError(
            f"candidates must be a non-empty sequence of Candidate, got {candidates!r}"
        )
    if not isinstance(x, Tensor) or not isinstance(y, Tensor):
        raise TypeError(f"x and y must be tensors, got {type(x).__name__}, {type(y).__name__}")
    symbols = [sympy.Symbol(v) if isinstance(v, str) else v for v in variables]
    x = x.detach().to(torch.float64)
    y = y.detach().to(torch.float64).reshape(-1)
    n = x.shape[0]
    if x.ndim != 2 or x.shape[1] != len(symbols) or y.shape[0] != n or n < 2:
        raise ValueError(
            f"x must be (N, {len(symbols)}) and y (N,) with N >= 2, got "
            f"{tuple(x.shape)} and {tuple(y.shape)}"
        )
    spread = float(y.std())
    generator = torch.Generator().manual_seed(seed)
    wins = [0] * len(candidates)
    for _ in range(n_resamples):
        drawn = torch.randint(n, (n,), generator=generator)
        out_of_bag = torch.ones(n, dtype=torch.bool)
        out_of_bag[drawn] = False
        left_out = out_of_bag.nonzero()[:, 0] if out_of_bag.any() else drawn
        refitted = []
        for c in candidates:
            expr, rmse = _out_of_bag_rmse(c.expr, symbols, x, y, drawn, left_out, steps, library)
            refitted.append(dataclasses.replace(c, expr=expr, val_rmse=rmse))
        tolerance = max(relative, 8 / left_out.numel())
        front, _ = rank(refitted, spread, relative=tolerance)
        if front:
            wins[next(k for k, c in enumerate(refitted) if c is front[0])] += 1
    shares = tuple(w / n_resamples for w in wins)
    return FormulaStability(shares[0], shares, n_resamples)
