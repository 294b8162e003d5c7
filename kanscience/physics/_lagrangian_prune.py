"""Pruning a refitted Lagrangian: a term stays only where the held-out data need it.

The Euler-Lagrange residual fixes a Lagrangian only up to its null space over the
candidate terms, and that space can be larger than the gauge: where one coordinate is
cyclic (the cart of a cart-pole), the reduced Lagrangian of the others (a Routhian) fits
the same data, so ``L + nu R`` does for every ``nu`` and a sum of null vectors can carry a
term that no single law needs. Such a term cannot simply be deleted (the others must
change with it), so each removal is **refitted**: the remaining terms get the smallest
right singular vector of their Euler-Lagrange operator on the fitting data
(:func:`refit_without`), and the held-out accelerations judge the result.

A removal is kept (:func:`prune_terms`) when the refitted law's held-out error stays within
a tenth of the tolerance (or within the current error, if larger: effects the tolerance
says the data cannot resolve are not part of the law), or when it is **not significantly
worse** than the current law on the same held-out states (:func:`significantly_worse`: a
paired test on the per-state squared residuals, from their own sample statistics) and
still within the tolerance. Among the removals kept, the one with the lowest held-out
error is taken, one at a time, until none is left.

Examples
--------
>>> import sympy
>>> q = torch.linspace(-1, 1, 200, dtype=torch.float64)[:, None]
>>> v = torch.linspace(-2, 2, 200, dtype=torch.float64).flip(0)[:, None]
>>> a = -torch.sin(q)  # L = xd^2/2 + cos(x); deleting the x^2 term alone leaves 0.9 cos(x)
>>> x, xd = sympy.symbols("x xd")
>>> law = xd**2 / 2 + 0.9 * sympy.cos(x) - 0.05 * x**2
>>> error, pruned = prune_terms(law, [x, xd], (q, v, a), (q, v, a), 1e-3)
>>> pruned, error < 1e-12
(0.5*xd**2 + 1.0*cos(x), True)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import cast

import sympy
import torch
from torch import Tensor

from ..symbolic import formula_to_torch
from ._euler_lagrange import euler_lagrange, lagrangian_accelerations
from ._expressions import combine_terms, split_terms

__all__ = [
    "held_out_error",
    "held_out_residuals",
    "prune_terms",
    "refit_without",
    "relative_error",
    "significantly_worse",
    "term_operator",
]

Data = tuple[Tensor, Tensor, Tensor]

SIGNIFICANCE_Z = 2.0
"""Standard errors by which a removal's mean squared residual must exceed the current
law's for the removal to count as significantly worse (a one-sided test at about 2%)."""


def relative_error(predicted: Tensor, true: Tensor) -> float:
    """Relative RMS error ``sqrt(mean |p - t|^2 / mean |t|^2)`` (inf where ``p`` is not finite)."""
    if not bool(torch.isfinite(predicted).all()):
        return math.inf
    return float(
        (predicted - true).pow(2).sum(1).mean().sqrt()
        / true.pow(2).sum(1).mean().sqrt().clamp_min(1e-300)
    )


def term_operator(
    terms: Sequence[sympy.Expr], symbols: list[sympy.Symbol], q: Tensor, v: Tensor, a: Tensor
) -> Tensor:
    """Euler-Lagrange residual ``M a - F`` of each term: (n * d, n_terms)."""
    columns = []
    for term in terms:
        mass, force = euler_lagrange(formula_to_torch(term, symbols), q, v)
        columns.append((torch.einsum("njk,nk->nj", mass, a) - force).reshape(-1))
    return torch.stack(columns, 1)


def held_out_residuals(expr: sympy.Expr, symbols: list[sympy.Symbol], test: Data) -> Tensor | None:
    """``qddot`` of ``expr`` minus the observed one at the states of ``test``: (n, d); None
    where the accelerations cannot be computed or are not finite."""
    q, v, a = test
    try:
        predicted = lagrangian_accelerations(
            formula_to_torch(expr, symbols), q, v, on_singular="ignore"
        )
    except (ValueError, RuntimeError):
        return None
    if not bool(torch.isfinite(predicted).all()):
        return None
    return predicted - a


def _error(residual: Tensor | None, test: Data) -> float:
    if residual is None:
        return math.inf
    return relative_error(residual + test[2], test[2])


def held_out_error(expr: sympy.Expr, symbols: list[sympy.Symbol], test: Data) -> float:
    """Relative RMS acceleration error of ``expr`` on ``test`` (inf where not finite)."""
    return _error(held_out_residuals(expr, symbols, test), test)


def significantly_worse(trial: Tensor, current: Tensor, z: float = SIGNIFICANCE_Z) -> bool:
    """Whether the residuals ``trial`` (n, d) are significantly larger than ``current`` on
    the same states: the mean of the per-state differences of squared norms exceeds ``z``
    standard errors of that mean.

    >>> current = torch.full((100, 1), 0.1, dtype=torch.float64)
    >>> significantly_worse(1.5 * current, current), significantly_worse(current, current)
    (True, False)
    """
    difference = trial.pow(2).sum(1) - current.pow(2).sum(1)
    n = difference.numel()
    if n < 2:
        return bool(difference.sum() > 0)
    standard_error = float(difference.std()) / math.sqrt(n)
    return float(difference.mean()) > z * standard_error


def refit_without(
    pairs: Sequence[tuple[sympy.Expr, sympy.Expr]], drop: int, operator: Tensor
) -> sympy.Expr | None:
    """The law on the terms of ``pairs`` without the ``drop``-th, its coefficients the
    smallest right singular vector of ``operator``'s remaining (normalized) columns; None
    when nothing is left."""
    keep = [k for k in range(len(pairs)) if k != drop]
    if not keep:
        return None
    columns = operator[:, keep]
    norms = columns.norm(dim=0).clamp_min(1e-300)
    vector = torch.linalg.svd(columns / norms, full_matrices=False).Vh[-1] / norms
    vector = vector / vector.abs().max()
    return combine_terms(
        [(sympy.Float(float(w), 15), pairs[k][1]) for w, k in zip(vector, keep) if float(w) != 0]
    )


def _inner_float_snaps(
    expr: sympy.Expr, pairs: Sequence[tuple[sympy.Expr, sympy.Expr]]
) -> list[sympy.Expr]:
    """A float inside a function (a phase, a rate) replaced by the nearest integer or a
    simple multiple of pi."""
    inner = [
        c for c in expr.atoms(sympy.Float) if not any(c == coefficient for coefficient, _ in pairs)
    ]
    out = []
    for c in inner:
        for simple in (
            sympy.Integer(round(float(c))),
            sympy.nsimplify(c, [sympy.pi], tolerance=1e-3 * max(1.0, abs(float(c)))),
        ):
            out.append(cast(sympy.Expr, expr.xreplace({c: simple})))
    return out


def prune_terms(
    expr: sympy.Expr,
    symbols: list[sympy.Symbol],
    train: Data,
    test: Data,
    tolerance: float,
) -> tuple[float, sympy.Expr]:
    """Drop the terms of ``expr`` that the held-out data do not need (see the module
    docstring); then snap floats inside functions where the held-out error allows.

    Parameters
    ----------
    expr : sympy.Expr
        A refitted Lagrangian in ``symbols`` (``q`` then ``qdot``).
    symbols : list of sympy.Symbol
    train, test : (q, qdot, qddot)
        Fitting data (for the refits) and held-out data (for the verdicts).
    tolerance : float
        Largest relative RMS acceleration error of an accepted law.

    Returns
    -------
    (error, expr)
        The pruned law and its held-out relative acceleration error.
    """
    residual = held_out_residuals(expr, symbols, test)
    error = _error(residual, test)
    while True:
        pairs = split_terms(expr, symbols)
        if len(pairs) <= 1:
            break
        allowed = max(tolerance / 10, error)
        trials = [combine_terms(pairs[:k] + pairs[k + 1 :]) for k in range(len(pairs))]
        operator = term_operator([t for _, t in pairs], symbols, *train)
        if bool(torch.isfinite(operator).all()):
            trials += [
                t for k in range(len(pairs)) if (t := refit_without(pairs, k, operator)) is not None
            ]
        best = _best_acceptable(expr, trials, symbols, test, residual, allowed, tolerance)
        if best is None:  # no term can go: a simpler constant inside a function?
            best = _best_acceptable(
                expr, _inner_float_snaps(expr, pairs), symbols, test, residual, allowed, tolerance
            )
        if best is None:
            break
        error, expr, residual = best
    return error, expr


def _best_acceptable(
    expr: sympy.Expr,
    trials: Sequence[sympy.Expr],
    symbols: list[sympy.Symbol],
    test: Data,
    current: Tensor | None,
    allowed: float,
    tolerance: float,
) -> tuple[float, sympy.Expr, Tensor] | None:
    """The trial of lowest held-out error among those acceptable (see the module docstring)."""
    best = None
    for trial in trials:
        if trial == expr:
            continue
        residual = held_out_residuals(trial, symbols, test)
        if residual is None:
            continue
        error = _error(residual, test)
        acceptable = error <= allowed or (
            error <= tolerance
            and current is not None
            and not significantly_worse(residual, current)
        )
        if acceptable and (best is None or error < best[0]):
            best = (error, trial, residual)
    return best
