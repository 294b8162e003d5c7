"""Levenberg-Marquardt: damped Gauss-Newton on a batch of nonlinear least-squares problems.

Each of ``batch`` independent problems minimizes ``cost(p) = sum(r(p) ** 2)`` over its own
parameter row ``p``. A step solves, in float64 by Cholesky,

    (J^T J + lam D) delta = -J^T r,    D = diag(J^T J)    (Marquardt's scaling)

and keeps ``p + delta`` only where the cost falls. The damping follows Nielsen's rule
(H. B. Nielsen, *Damping parameter in Marquardt's method*, IMM-REP-1999-05): after a kept
step with gain ratio ``rho`` (actual over predicted decrease) ``lam *= max(1/3, 1 - (2 rho
- 1)^3)`` and ``nu = 2``; after a rejected trial ``lam *= nu`` and ``nu *= 2``.

The caller supplies the normal equations, not the Jacobian: ``evaluate(params, rows)``
returns :class:`NormalEquations` of the problems ``rows`` (an index tensor; ``None``: all
of them) at ``params``, one row per problem. Small problems form them from the residuals
and the Jacobian with :func:`normal_equations`; training a KAN accumulates them over row
chunks of a structured Jacobian that is never stored whole. A trial point is judged by the
equations formed there, which are also those of the next step (one evaluation per kept
step); a trial for a few problems of a big batch evaluates only those. A call can resume
where another stopped (``equations`` and ``damping`` from its :class:`LeastSquaresResult`).

Examples
--------
Fit ``y = p0 * exp(p1 * t)``:

>>> t = torch.linspace(0, 1, 20, dtype=torch.float64)
>>> y = 2.0 * torch.exp(-1.5 * t)
>>> def evaluate(p, rows):
...     model = p[:, :1] * torch.exp(p[:, 1:] * t)
...     jacobian = torch.stack([model / p[:, :1], model * t], -1)
...     return normal_equations(model - y, jacobian)
>>> params, result = least_squares(evaluate, torch.tensor([[1.0, 0.0]], dtype=torch.float64))
>>> [round(v, 12) for v in params[0].tolist()], bool(result.converged[0])
([2.0, -1.5], True)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor

__all__ = [
    "Damping",
    "LeastSquaresResult",
    "NormalEquations",
    "least_squares",
    "normal_equations",
]

# Marquardt's scaling of a column with no curvature (a parameter the residuals do not
# depend on): this fraction of the largest diagonal entry, so the system stays definite.
_SCALE_FLOOR = 1e-12


class NormalEquations(NamedTuple):
    """The Gauss-Newton system at a point, float64: ``gram = J^T J`` (batch, P, P),
    ``gradient = J^T r`` (batch, P) and ``cost = sum r^2`` (batch,), ``inf`` where the
    residuals are not finite."""

    gram: Tensor
    gradient: Tensor
    cost: Tensor


class Damping(NamedTuple):
    """Nielsen's damping state per problem: ``value`` (lam) and ``growth`` (nu), (batch,)."""

    value: Tensor
    growth: Tensor


class LeastSquaresResult(NamedTuple):
    """What :func:`least_squares` did, per problem.

    ``cost`` (batch,) at the returned parameters; ``iterations`` (batch,) steps taken;
    ``converged`` (batch,) whether the last step lowered the cost by at most ``tol * cost``
    (a step that no trial could improve lowers it by zero); ``equations`` at the returned
    parameters and the ``damping`` state, to resume with.
    """

    cost: Tensor
    iterations: Tensor
    converged: Tensor
    equations: NormalEquations
    damping: Damping


def normal_equations(residual: Tensor, jacobian: Tensor) -> NormalEquations:
    """Normal equations from residuals (batch, N) and their Jacobian (batch, N, P).

    Computed in float64. Non-finite entries count as zero in ``J^T J`` and ``J^T r`` and
    make the cost ``inf`` (a point outside a function's domain is never accepted).

    >>> r = torch.tensor([[1.0, float("nan")]])
    >>> normal_equations(r, torch.ones(1, 2, 1)).cost.tolist()
    [inf]
    """
    if residual.ndim != 2 or jacobian.ndim != 3 or jacobian.shape[:2] != residual.shape:
        raise ValueError(
            "residual must be (batch, N) and jacobian (batch, N, P), got "
            f"{tuple(residual.shape)} and {tuple(jacobian.shape)}"
        )
    residual, jacobian = residual.double(), jacobian.double()
    cost = (residual * residual).sum(-1)
    cost = torch.where(torch.isfinite(cost), cost, math.inf)
    residual = torch.nan_to_num(residual, nan=0.0, posinf=0.0, neginf=0.0)
    jacobian = torch.nan_to_num(jacobian, nan=0.0, posinf=0.0, neginf=0.0)
    gram = jacobian.mT @ jacobian
    gradient = (jacobian.mT @ residual[..., None])[..., 0]
    return NormalEquations(gram, gradient, cost)


def _rows(equations: NormalEquations, rows: Tensor) -> NormalEquations:
    return NormalEquations(*(part[rows] for part in equations))


def _put(equations: NormalEquations, rows: Tensor, new: NormalEquations) -> NormalEquations:
    """``equations`` with the problems ``rows`` replaced by ``new``."""
    merged = []
    for part, value in zip(equations, new):
        part = part.clone()
        part[rows] = value
        merged.append(part)
    return NormalEquations(*merged)


def _shrink(
    equations: NormalEquations,
    delta: Tensor,
    scale: Tensor,
    damping: Tensor,
    decrease: Tensor,
    min_damping: float,
) -> Tensor:
    """The damping after a kept step: ``lam * max(1/3, 1 - (2 rho - 1)^3)`` (Nielsen).

    ``rho`` is the actual ``decrease`` over the Gauss-Newton model's predicted one,
    ``-(2 g.delta + delta.G delta) = lam delta.D delta - g.delta`` since ``delta`` solves
    ``(G + lam D) delta = -g`` (``rho = 0`` where the model predicts no decrease).
    """
    predicted = torch.linalg.vecdot(delta, damping[:, None] * scale * delta - equations.gradient)
    ratio = torch.where(predicted > 0, decrease / predicted, 0.0)
    factor = (1 - (2 * ratio - 1) ** 3).clamp_min(1 / 3)
    return (damping * factor).clamp_min(min_damping)


def _check(
    params: Tensor, max_steps: int, max_trials: int, tol: float, damping: float | Damping
) -> None:
    if not isinstance(params, Tensor) or params.ndim != 2:
        raise ValueError(
            f"params must be a tensor of shape (batch, P), got {getattr(params, 'shape', params)}"
        )
    for name, value, low in (("max_steps", max_steps, 0), ("max_trials", max_trials, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    if not tol >= 0:
        raise ValueError(f"tol must be >= 0, got {tol!r}")
    if not isinstance(damping, Damping) and not (math.isfinite(damping) and damping >= 0):
        raise ValueError(f"damping must be a float >= 0 or a Damping, got {damping!r}")


def least_squares(
    evaluate: Callable[[Tensor, Tensor | None], NormalEquations],
    params: Tensor,
    *,
    max_steps: int = 100,
    max_trials: int = 10,
    tol: float = 1e-15,
    damping: float | Damping = 1e-3,
    equations: NormalEquations | None = None,
    min_damping: float = 1e-15,
) -> tuple[Tensor, LeastSquaresResult]:
    """Minimize ``sum(r(p) ** 2)`` for every row of ``params`` by Levenberg-Marquardt.

    Parameters
    ----------
    evaluate : callable
        ``evaluate(points, rows)`` -> :class:`NormalEquations` of the problems ``rows``
        (a long tensor (k,) of batch indices, or ``None`` for all) at ``points`` (k, P).
    params : Tensor, shape (batch, P)
        Starting points. Steps are solved in float64 and added in ``params``'s dtype.
    max_steps : int
        Steps per problem.
    max_trials : int
        Damped solves per step; a step whose every trial fails to lower the cost ends that
        problem with its parameters unchanged.
    tol : float
        A problem stops (converged) once a step lowers its cost by at most ``tol * cost``.
    damping : float or Damping
        Initial ``lam`` (0: the first trial is a plain Gauss-Newton step), or the state of
        an earlier call to resume.
    equations : NormalEquations, optional
        The equations at ``params`` when the caller has them (else one ``evaluate``).
    min_damping : float
        Floor of ``lam`` after a kept step, and where a rejected trial raises it from.

    Returns
    -------
    params : Tensor, shape (batch, P)
    result : LeastSquaresResult

    Examples
    --------
    Rosenbrock's function ``(1 - u)^2 + 100 (v - u^2)^2`` from two starts at once:

    >>> def evaluate(p, rows):
    ...     u, v = p.unbind(-1)
    ...     r = torch.stack([1 - u, 10 * (v - u * u)], -1)
    ...     zero = torch.zeros_like(u)
    ...     jac = torch.stack([torch.stack([-torch.ones_like(u), zero], -1),
    ...                        torch.stack([-20 * u, 10 + zero], -1)], -2)
    ...     return normal_equations(r, jac)
    >>> start = torch.tensor([[-1.2, 1.0], [2.0, 2.0]], dtype=torch.float64)
    >>> params, result = least_squares(evaluate, start)
    >>> params.tolist(), result.converged.tolist()
    ([[1.0, 1.0], [1.0, 1.0]], [True, True])
    """
    _check(params, max_steps, max_trials, tol, damping)
    batch = params.shape[0]
    options = {"dtype": torch.float64, "device": params.device}
    if isinstance(damping, Damping):
        lam, nu = damping.value.to(**options), damping.growth.to(**options)
    else:
        lam, nu = torch.full((batch,), float(damping), **options), torch.full((batch,), 2.0)
        nu = nu.to(**options)
    current = evaluate(params, None) if equations is None else equations
    iterations = torch.zeros(batch, dtype=torch.long, device=params.device)
    active = torch.ones(batch, dtype=torch.bool, device=params.device)
    converged = ~active
    for _ in range(max_steps):
        iterations += active
        before = current.cost
        diagonal = current.gram.diagonal(dim1=-2, dim2=-1)
        if batch == 1:
            scale = diagonal.clamp_min(_SCALE_FLOOR * float(diagonal.max().clamp_min(1e-300)))
        else:
            floor = _SCALE_FLOOR * diagonal.amax(-1, keepdim=True).clamp_min(1e-300)
            scale = torch.maximum(diagonal, floor)
        pending = active
        for _ in range(max_trials):
            lhs = current.gram + torch.diag_embed(lam[:, None] * scale)
            factor, info = torch.linalg.cholesky_ex(lhs)
            delta = torch.cholesky_solve(-current.gradient[..., None], factor)[..., 0]
            # a non-finite delta is judged (and rejected) by the cost it leads to
            stepping = pending & (info == 0)
            accepted = stepping
            if bool(stepping.all()):  # every problem at once (a single one: always)
                trial_params = params + delta.to(params.dtype)
                trial = evaluate(trial_params, None)
                accepted = trial.cost < before  # NaN compares False: rejected
                if bool(accepted.all()):
                    lam = _shrink(current, delta, scale, lam, before - trial.cost, min_damping)
                    nu = torch.full_like(nu, 2.0)
                    params, current = trial_params, trial
                elif bool(accepted.any()):
                    shrunk = _shrink(current, delta, scale, lam, before - trial.cost, min_damping)
                    lam = torch.where(accepted, shrunk, lam)
                    nu = torch.where(accepted, 2.0, nu)
                    params = torch.where(accepted[:, None], trial_params, params)
                    current = _put(current, accepted, _rows(trial, accepted))
            elif bool(stepping.any()):  # a few problems: evaluate only those
                rows = stepping.nonzero()[:, 0]
                trial_params = params[rows] + delta[rows].to(params.dtype)
                trial = evaluate(trial_params, rows)
                kept = trial.cost < before[rows]
                if bool(kept.any()):
                    at = rows[kept]
                    shrunk = _shrink(
                        _rows(current, at),
                        delta[at],
                        scale[at],
                        lam[at],
                        before[at] - trial.cost[kept],
                        min_damping,
                    )
                    lam, nu, params = lam.clone(), nu.clone(), params.clone()
                    lam[at], nu[at], params[at] = shrunk, 2.0, trial_params[kept]
                    current = _put(current, at, _rows(trial, kept))
                accepted = torch.zeros_like(stepping).index_put_((rows,), kept)
            pending = pending & ~accepted
            if not bool(pending.any()):
                break
            lam = torch.where(pending, lam.clamp_min(min_damping) * nu, lam)
            nu = torch.where(pending, 2 * nu, nu)
        # a step none of whose trials was kept leaves the cost as it was: a zero decrease
        done = active & (current.cost >= before * (1 - tol))
        converged = converged | done
        active = active & ~done
        if not bool(active.any()):
            break
    return params, LeastSquaresResult(
        current.cost, iterations, converged, current, Damping(lam, nu)
    )
