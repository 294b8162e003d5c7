"""How stable the best formula is: does it stay best on resampled data? And how sure
the fit is of the constants of each formula of a Pareto front.

A bootstrap resample of the data (rows drawn with replacement) refits the constants of
every candidate on the rows drawn and scores each on the rows left out (out of bag), and
the candidates are ranked as :func:`kanscience.discover.discover` ranks them
(:func:`~kanscience.discover._ranking.rank`: the simplest one within a relative tolerance
of the best validation error first). Only constants are refitted, so a resample costs a
few Levenberg-Marquardt steps per candidate, not a new search. The stability of the
best formula is the fraction of resamples in which it still ranks first.

:func:`front_uncertainty` gives, for every formula of a front, that fraction and its
constants with standard errors (:func:`kanscience.symbolic.constant_uncertainty` at the
formula's constants, on all the data); its result shows itself as the Pareto table with
both (text and HTML).
:func:`~kanscience.discover.discover` computes neither: they are asked for, with the data.
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
from ..symbolic import ConstantUncertainty, constant_uncertainty, fit_constants, formula_to_torch
from ._display import front_html, front_text
from ._forms import SYMPY_ERRORS
from ._ranking import Candidate, rank

__all__ = ["FormulaStability", "FrontUncertainty", "formula_stability", "front_uncertainty"]


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


@dataclass(frozen=True)
class FrontUncertainty:
    """How sure the data are of each formula of a Pareto front.

    Attributes
    ----------
    candidates : tuple of Candidate
        The formulas, best first, as given.
    variables : tuple of sympy.Symbol
    stability : FormulaStability
        ``stability.wins[k]``: the fraction of bootstrap resamples in which candidate
        ``k`` ranks first when the constants of all are refitted.
    constants : tuple of ConstantUncertainty or None
        Per candidate, its constants with standard errors and confidence intervals on
        all the data (``None`` where the formula is not finite there).
    """

    candidates: tuple[Candidate, ...]
    variables: tuple[sympy.Symbol, ...]
    stability: FormulaStability
    constants: tuple[ConstantUncertainty | None, ...]

    def __str__(self) -> str:
        """The Pareto table with each formula's stability and constants +- SE."""
        return front_text(self.candidates, self)

    def _repr_html_(self) -> str:
        """The Pareto table (MathML formulas) with stability and constants +- SE."""
        return front_html(self.candidates, self.variables, None, (), self)


def _constants_of(
    expr: sympy.Expr,
    symbols: Sequence[sympy.Symbol],
    x: Tensor,
    y: Tensor,
    level: float,
    refit: bool,
    steps: int,
    library: LibraryLike,
) -> ConstantUncertainty | None:
    if not expr.atoms(sympy.Float):  # nothing to fit (a closed-form constant included)
        return ConstantUncertainty(expr, (), math.nan, x.shape[0], level)
    try:
        return constant_uncertainty(
            expr, symbols, x, y, level=level, refit=refit, steps=steps, library=library
        )
    except (*SYMPY_ERRORS, ValueError, RuntimeError):
        return None


def front_uncertainty(
    candidates: Sequence[Candidate],
    variables: Sequence[sympy.Symbol | str],
    x: Tensor,
    y: Tensor,
    *,
    n_resamples: int = 30,
    level: float = 0.95,
    refit: bool = False,
    relative: float = 0.02,
    steps: int = 30,
    seed: int = 0,
    library: LibraryLike = None,
) -> FrontUncertainty:
    """The stability of every formula of a Pareto front (:func:`formula_stability`) and
    its constants with standard errors (:func:`kanscience.symbolic.constant_uncertainty`).

    Only constants are refitted (``n_resamples`` Levenberg-Marquardt fits of ``steps``
    iterations per formula, and one Jacobian), never a new search.

    Parameters
    ----------
    candidates : sequence of Candidate
        Typically ``result.candidates`` of :func:`~kanscience.discover.discover`.
    variables : sequence of sympy symbols or names, in the column order of ``x``
        Typically ``result.variables``.
    x : Tensor (N, n_vars)
    y : Tensor (N,) or (N, 1)
    n_resamples : int
        Bootstrap resamples of the stability.
    level : float
        Confidence level of the constants' intervals, in (0, 1).
    refit : bool
        Refit each formula's constants on ``x, y`` before taking their standard errors;
        by default the constants are the formula's own (those the table shows), and the
        standard errors are those of the fit at them.
    relative, steps, seed, library
        As in :func:`formula_stability`.

    Returns
    -------
    FrontUncertainty
        Printed or shown in a notebook, the Pareto table with a stability column and
        the constants ``value +- standard error``.

    Examples
    --------
    >>> t = sympy.Symbol("t")
    >>> x = torch.linspace(0.1, 2, 60, dtype=torch.float64)[:, None]
    >>> y = 2 * torch.exp(-x[:, 0]) + 0.01 * torch.cos(50 * x[:, 0])
    >>> law = Candidate(2.0 * sympy.exp(-1.0 * t), 6, 0.0, 1.0)
    >>> line = Candidate(1.0 * t + 1.0, 5, 0.0, 1.0)
    >>> found = front_uncertainty([law, line], [t], x, y, n_resamples=10)
    >>> found.stability.wins
    (1.0, 0.0)
    >>> [(c.value, round(c.standard_error, 4)) for c in found.constants[0].constants]
    [(-1.0, 0.0024), (2.0, 0.0033)]
    >>> start = Candidate(1.0 * sympy.exp(-0.5 * t), 6, 0.0, 1.0)
    >>> fitted = front_uncertainty([start], [t], x, y, n_resamples=1, refit=True).constants[0]
    >>> [round(c.value, 2) for c in fitted.constants]
    [-1.0, 2.0]
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    stability = formula_stability(
        candidates,
        variables,
        x,
        y,
        n_resamples=n_resamples,
        relative=relative,
        steps=steps,
        seed=seed,
        library=library,
    )
    symbols = tuple(sympy.Symbol(v) if isinstance(v, str) else v for v in variables)
    x = x.detach().to(torch.float64)
    y = y.detach().to(torch.float64).reshape(-1)
    constants = tuple(
        _constants_of(c.expr, symbols, x, y, level, refit, steps, library) for c in candidates
    )
    return FrontUncertainty(tuple(candidates), symbols, stability, constants)
