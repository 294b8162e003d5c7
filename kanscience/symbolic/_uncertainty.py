"""How sure a fit is of its constants: standard errors and confidence intervals.

At the least-squares optimum ``theta`` of ``sum_i (f(x_i; theta) - y_i)^2`` with ``N``
samples and ``P`` constants, the linearized (Gauss-Newton) covariance of the constants is

    cov = sigma^2 (J^T J)^-1,    sigma^2 = RSS / (N - P),

with ``J`` the (N, P) Jacobian of the residuals, the one the Levenberg-Marquardt fit
(:func:`kanscience.symbolic.fit_constants`) steps with. The standard errors are the square
roots of its diagonal, and a ``level`` interval is ``theta +- q SE`` with ``q`` the
Student-t quantile of ``N - P`` degrees of freedom (scipy's, when scipy is installed; the
normal quantile otherwise, which is narrower by under 2% from 60 degrees of freedom on).
The inverse is taken through the singular values of ``J``: a constant the data cannot
determine (one of a product of two free constants) has an infinite standard error.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import sympy
import torch
from torch import Tensor

from ..core._functions import LibraryLike
from ._constants import constant_template, fit_template, residual_jacobian

__all__ = ["ConstantEstimate", "ConstantUncertainty", "constant_uncertainty", "t_quantile"]

# a direction of the constants along which J is flat to this fraction of its largest
# singular value (times the size of the problem) is one the data do not determine
_RANK_TOLERANCE = torch.finfo(torch.float64).eps
# a constant with this much weight in such a direction is itself undetermined
_NULL_WEIGHT = 1e-6


@dataclass(frozen=True)
class ConstantEstimate:
    """One fitted constant: its value, standard error and confidence interval."""

    value: float
    standard_error: float
    lower: float
    upper: float


@dataclass(frozen=True)
class ConstantUncertainty:
    """The constants of a formula fitted to data, with their uncertainty.

    Attributes
    ----------
    expr : sympy.Expr
        The formula with the fitted constants.
    constants : tuple of ConstantEstimate
        One per distinct float of the formula given, in the order of its values (the
        order of :func:`kanscience.symbolic.fit_constants`).
    sigma : float
        Residual standard deviation ``sqrt(RSS / (N - P))``.
    dof : int
        Degrees of freedom ``N - P``.
    level : float
        Confidence level of the intervals.
    """

    expr: sympy.Expr
    constants: tuple[ConstantEstimate, ...]
    sigma: float
    dof: int
    level: float


def t_quantile(probability: float, dof: int) -> float:
    """The ``probability`` quantile of Student's t with ``dof`` degrees of freedom
    (scipy's when installed, else the normal quantile, its limit for many samples).

    >>> round(t_quantile(0.975, 10**6), 3)
    1.96
    """
    try:
        from scipy import stats
    except ImportError:
        return statistics.NormalDist().inv_cdf(probability)
    return float(stats.t.ppf(probability, dof))


def _covariance_diagonal(jacobian: Tensor) -> Tensor:
    """diag((J^T J)^-1) through the SVD of ``J``; ``inf`` for undetermined constants."""
    _, singular, vh = torch.linalg.svd(jacobian, full_matrices=True)
    cutoff = singular.max() * _RANK_TOLERANCE * max(jacobian.shape) if singular.numel() else 0.0
    kept = singular > cutoff
    rank = int(kept.sum())
    v = vh.T
    diagonal = (v[:, :rank] ** 2 / singular[:rank] ** 2).sum(dim=1)
    null_weight = (v[:, rank:] ** 2).sum(dim=1)
    return torch.where(null_weight > _NULL_WEIGHT, torch.inf, diagonal)


def constant_uncertainty(
    expr: sympy.Expr,
    variables: Sequence[sympy.Symbol | str],
    x: Tensor,
    y: Tensor,
    *,
    level: float = 0.95,
    refit: bool = True,
    steps: int = 30,
    library: LibraryLike = None,
) -> ConstantUncertainty:
    """Fit the constants of ``expr`` to the data and say how sure the fit is of them.

    Parameters
    ----------
    expr : sympy.Expr
        Every float is a constant (equal floats are one); integers and rationals are fixed.
    variables : sequence of sympy symbols or names, in the column order of ``x``
    x : Tensor (N, n_vars)
    y : Tensor (N,) or (N, 1)
    level : float
        Confidence level of the intervals, in (0, 1).
    refit : bool
        Refit the constants first (Levenberg-Marquardt, ``steps`` iterations, as
        :func:`~kanscience.symbolic.fit_constants`); ``False`` takes the floats of ``expr``
        as the optimum.
    library : library specification, optional
        Extra function heads (see :func:`kanscience.symbolic.formula_to_torch`).

    Returns
    -------
    ConstantUncertainty
        See the module docstring for the standard errors and intervals.

    Examples
    --------
    >>> t = sympy.Symbol("t")
    >>> x = torch.linspace(0, 1, 101, dtype=torch.float64)[:, None]
    >>> wiggle = 0.01 * torch.cos(40 * x[:, 0])  # a deterministic stand-in for noise
    >>> fit = constant_uncertainty(1.0 * t + 0.5, [t], x, 3 * x[:, 0] + 2 + wiggle)
    >>> [round(c.value, 2) for c in fit.constants]
    [2.0, 3.0]
    >>> bool(fit.constants[1].lower < 3 < fit.constants[1].upper)
    True
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps must be an int >= 0, got {steps!r}")
    if not isinstance(x, Tensor) or not isinstance(y, Tensor):
        raise TypeError(f"x and y must be tensors, got {type(x).__name__}, {type(y).__name__}")
    symbols = [sympy.Symbol(v) if isinstance(v, str) else v for v in variables]
    template, params, start = constant_template(expr)
    n, p = x.shape[0], len(params)
    if n <= p:
        raise ValueError(f"x must have more samples than the {p} constants, got {n}")
    evaluate = residual_jacobian(template, params, symbols, x, y, library)
    if refit and params:
        theta = fit_template(template, params, start, symbols, x, y, steps, library)
    else:
        theta = torch.tensor(start, dtype=torch.float64)
    residual, jacobian = evaluate(theta)
    if not (torch.isfinite(residual).all() and torch.isfinite(jacobian).all()):
        raise ValueError("the formula or its derivatives are not finite on x")
    dof = n - p
    sigma = math.sqrt(float((residual**2).sum()) / dof)
    errors = sigma * _covariance_diagonal(jacobian).sqrt() if params else torch.zeros(0)
    q = t_quantile(0.5 + level / 2, dof)
    estimates = tuple(
        ConstantEstimate(value, error, value - q * error, value + q * error)
        for value, error in zip(theta.tolist(), errors.tolist())
    )
    fitted = cast(
        sympy.Expr, template.xreplace({s: sympy.Float(v) for s, v in zip(params, theta.tolist())})
    )
    return ConstantUncertainty(fitted, estimates, sigma, dof, level)
