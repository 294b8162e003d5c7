"""Euler-Lagrange mechanics of a Lagrangian ``L(q, v)``: accelerations, losses, rollout.

For ``L(q, v)`` with ``d`` degrees of freedom the Euler-Lagrange equations read

    M a = dL/dq - C v,    M = d2L/dv2 (the mass matrix),  C = d2L/(dv dq),

so the accelerations follow from the Hessian of ``L`` (:func:`euler_lagrange`,
:func:`lagrangian_accelerations`; a singular ``M`` raises or warns). Two differentiable
criteria compare a Lagrangian with observed accelerations: the Euler-Lagrange residual
(:func:`residual_loss`, no inverse of ``M``) and the relative acceleration error
(:func:`acceleration_loss`). :func:`rollout` integrates equations of motion (RK4) to
compare trajectories.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import torch
from torch import Tensor

__all__ = [
    "SingularMassMatrixError",
    "acceleration_loss",
    "euler_lagrange",
    "lagrangian_accelerations",
    "residual_loss",
    "rollout",
]

ScalarFn = Callable[[Tensor], Tensor]


class SingularMassMatrixError(ValueError):
    """``d2L/dqdot2`` is singular: the Lagrangian does not determine the accelerations."""


# ------------------------------------------------------------------ Euler-Lagrange
def euler_lagrange(
    lagrangian: ScalarFn, q: Tensor, v: Tensor, create_graph: bool = False
) -> tuple[Tensor, Tensor]:
    """Mass matrix and force side of the Euler-Lagrange equations ``M a = F``.

    Parameters
    ----------
    lagrangian : callable
        ``L(x) -> (n,)`` or ``(n, 1)`` of ``x = [q, v]`` (n, 2d); a KAN or a
        :func:`kanscience.symbolic.formula_to_torch` function.
    q, v : Tensor (n, d)
    create_graph : bool
        Keep the graph (to train through the result).

    Returns
    -------
    (M, F)
        ``M = d2L/dv2`` (n, d, d) and ``F = dL/dq - d2L/(dv dq) v`` (n, d).

    Examples
    --------
    >>> f = lambda x: 0.5 * x[:, 1] ** 2 + torch.cos(x[:, 0])
    >>> m, force = euler_lagrange(f, torch.tensor([[0.5]]), torch.tensor([[1.0]]))
    >>> m.item(), round(force.item(), 6)
    (1.0, -0.479426)
    """
    d = q.shape[1]
    x = torch.cat([q, v], 1).detach().requires_grad_(True)
    with torch.enable_grad():
        value = lagrangian(x).reshape(-1)
        gradient = _grad(value.sum(), x)
        rows = [_grad(gradient[:, d + j].sum(), x) for j in range(d)]
    hessian = torch.stack(rows, 1)  # (n, d, 2d): row j = d/dx of dL/dv_j
    mass = hessian[:, :, d:]
    mixed = hessian[:, :, :d]  # d2L / dv_j dq_k
    force = gradient[:, :d] - torch.einsum("njk,nk->nj", mixed, v)
    if not create_graph:
        mass, force = mass.detach(), force.detach()
    return mass, force


def _grad(output: Tensor, x: Tensor) -> Tensor:
    """d output / dx with the graph kept; zeros where ``output`` does not depend on ``x``."""
    if not output.requires_grad:
        return torch.zeros_like(x)
    (gradient,) = torch.autograd.grad(output, x, create_graph=True, allow_unused=True)
    return torch.zeros_like(x) if gradient is None else gradient


def _singular(mass: Tensor, tol: float) -> Tensor:
    values = torch.linalg.svdvals(mass)
    scale = values.max().clamp_min(1e-300)
    return values.min(1).values <= tol * scale


def lagrangian_accelerations(
    lagrangian: ScalarFn,
    q: Tensor,
    v: Tensor,
    on_singular: str = "raise",
    singular_tol: float = 1e-10,
) -> Tensor:
    """Accelerations ``a = M^-1 F`` implied by ``lagrangian`` at states ``(q, v)``.

    Parameters
    ----------
    lagrangian : callable
    q, v : Tensor (n, d)
    on_singular : {'raise', 'warn', 'ignore'}
        What to do where ``M`` is singular (smallest singular value below
        ``singular_tol`` times the largest over all states); there the result is NaN.
    singular_tol : float

    Raises
    ------
    SingularMassMatrixError
        With ``on_singular='raise'``, naming how many states are singular.
    """
    if on_singular not in ("raise", "warn", "ignore"):
        raise ValueError(f"on_singular must be 'raise', 'warn' or 'ignore', got {on_singular!r}")
    q, v = _pair(q, v)
    mass, force = euler_lagrange(lagrangian, q, v)
    bad = _singular(mass, singular_tol)
    if bool(bad.any()):
        message = (
            f"singular mass matrix d2L/dqdot2 at {int(bad.sum())} of {len(bad)} states: "
            "the Lagrangian does not determine the accelerations there"
        )
        if on_singular == "raise":
            raise SingularMassMatrixError(message)
        if on_singular == "warn":
            warnings.warn(message, RuntimeWarning, stacklevel=2)
    safe = torch.where(bad[:, None, None], torch.eye(mass.shape[1], dtype=mass.dtype), mass)
    acceleration = torch.linalg.solve(safe, force)
    return torch.where(bad[:, None], torch.nan, acceleration)


def residual_loss(lagrangian: ScalarFn, q: Tensor, v: Tensor, a: Tensor) -> Tensor:
    """``mean |M a - F|^2 / mean |M a|^2`` (differentiable): the Euler-Lagrange residual
    relative to the inertial term. No inverse of ``M``, so no barrier where ``M`` turns
    singular; for a one-layer KAN (linear in its coefficients) a Rayleigh quotient, free of
    spurious local minima. The first training phase of :func:`fit_lagrangian`."""
    return residual_of(*euler_lagrange(lagrangian, q, v, create_graph=True), a)


def residual_of(mass: Tensor, force: Tensor, a: Tensor) -> Tensor:
    """:func:`residual_loss` from the mass matrix and force side ``(M, F)``."""
    inertia = torch.einsum("njk,nk->nj", mass, a)
    return (inertia - force).pow(2).sum(1).mean() / inertia.pow(2).sum(1).mean().clamp_min(1e-300)


def acceleration_loss(lagrangian: ScalarFn, q: Tensor, v: Tensor, a: Tensor) -> Tensor:
    """``mean |a_L - a|^2 / mean |a|^2`` (differentiable), ``a_L`` from the Euler-Lagrange
    equations of ``lagrangian``; the polishing phase of :func:`fit_lagrangian`."""
    return acceleration_error_of(*euler_lagrange(lagrangian, q, v, create_graph=True), a)


def acceleration_error_of(mass: Tensor, force: Tensor, a: Tensor) -> Tensor:
    """:func:`acceleration_loss` from the mass matrix and force side ``(M, F)``."""
    predicted = torch.linalg.solve(mass, force)
    return (predicted - a).pow(2).sum(1).mean() / a.pow(2).sum(1).mean().clamp_min(1e-300)


def rollout(
    acceleration: Callable[[Tensor, Tensor], Tensor],
    q0: Tensor,
    v0: Tensor,
    dt: float,
    n_steps: int,
) -> tuple[Tensor, Tensor]:
    """Integrate ``qddot = acceleration(q, v)`` with classical RK4.

    Parameters
    ----------
    acceleration : callable
        ``(q, v) -> a``, each (n, d).
    q0, v0 : Tensor (n, d)
        Initial states (a batch of trajectories).
    dt : float
    n_steps : int

    Returns
    -------
    (q, v)
        Trajectories of shape (n_steps + 1, n, d).
    """
    if not dt > 0 or n_steps < 1:
        raise ValueError(f"dt must be > 0 and n_steps >= 1, got {dt!r}, {n_steps!r}")
    q, v = _pair(q0, v0, "q0", "v0")
    qs, vs = [q], [v]
    for _ in range(int(n_steps)):
        k1q, k1v = v, acceleration(q, v)
        k2q, k2v = v + dt / 2 * k1v, acceleration(q + dt / 2 * k1q, v + dt / 2 * k1v)
        k3q, k3v = v + dt / 2 * k2v, acceleration(q + dt / 2 * k2q, v + dt / 2 * k2v)
        k4q, k4v = v + dt * k3v, acceleration(q + dt * k3q, v + dt * k3v)
        q = q + dt / 6 * (k1q + 2 * k2q + 2 * k3q + k4q)
        v = v + dt / 6 * (k1v + 2 * k2v + 2 * k3v + k4v)
        qs.append(q)
        vs.append(v)
    return torch.stack(qs), torch.stack(vs)


def _pair(q: object, v: object, q_name: str = "q", v_name: str = "qdot") -> tuple[Tensor, Tensor]:
    out = []
    for value, name in ((q, q_name), (v, v_name)):
        if not isinstance(value, Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
        value = value.detach().to(torch.float64)
        if value.ndim == 1:
            value = value[:, None]
        if value.ndim != 2:
            raise ValueError(f"{name} must have shape (n, dof), got {tuple(value.shape)}")
        if not bool(torch.isfinite(value).all()):
            bad = int((~torch.isfinite(value)).any(1).sum())
            raise ValueError(f"{name} contains NaN or Inf in {bad} row(s)")
        out.append(value)
    if out[0].shape != out[1].shape:
        raise ValueError(
            f"{q_name} and {v_name} must have the same shape, got "
            f"{tuple(out[0].shape)} and {tuple(out[1].shape)}"
        )
    return out[0], out[1]
