"""The conservation criteria of a flow ``dx/dt = f(x)``, as pure tensor functions.

A quantity ``H`` is conserved when ``grad H . f = 0`` at every state. The loss is the
normalized (scale-free) ratio

    loss(H) = mean((grad H . f)^2) / mean(|grad H|^2 |f|^2),

a Rayleigh quotient for a one-layer KAN (linear in its spline coefficients), which has no
spurious local minima (a per-sample normalization does). :func:`dependence` measures how
much of a gradient lies in the span of quantities already found, and the **rank test**
(:func:`gradient_rank`) counts functionally independent quantities: the median over states
of the singular values of their stacked, row-normalized gradients. The checks of the states
and flows these criteria are given live here too, shared by the workflow
(:mod:`kanscience.physics._conserved`) and the formula search
(:mod:`kanscience.physics._conserved_formulas`).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

__all__ = [
    "conservation_loss",
    "conservation_residual",
    "dependence",
    "gradient_rank",
]

FlowLike = Callable[[Tensor], Tensor] | Tensor


# ------------------------------------------------------------------ pure criteria
def conservation_loss(
    gradient: Tensor, flow: Tensor, basis: Tensor | None = None, weight: float = 0.0
) -> Tensor:
    """``(mean((g.f)^2) + weight * mean(|basis^T g|^2 |f|^2)) / mean(|g|^2 |f|^2)``.

    Parameters
    ----------
    gradient, flow : Tensor (n, d)
    basis : Tensor (n, d, k), optional
        Orthonormal columns per state (gradients of quantities already found).
    weight : float
    """
    f2 = flow.pow(2).sum(1)
    numerator = (gradient * flow).sum(1).pow(2).mean()
    if basis is not None and weight:
        inside = torch.einsum("nd,ndk->nk", gradient, basis).pow(2).sum(1)
        numerator = numerator + weight * (inside * f2).mean()
    return numerator / (gradient.pow(2).sum(1) * f2).mean().clamp_min(1e-300)


def dependence(gradient: Tensor, flow: Tensor, basis: Tensor) -> Tensor:
    """Fraction ``mean(|basis^T g|^2 |f|^2) / mean(|g|^2 |f|^2)`` of the gradient lying in
    the span of ``basis`` (n, d, k) (1: dependent on the quantities found, 0: orthogonal)."""
    f2 = flow.pow(2).sum(1)
    inside = torch.einsum("nd,ndk->nk", gradient, basis).pow(2).sum(1)
    return (inside * f2).mean() / (gradient.pow(2).sum(1) * f2).mean().clamp_min(1e-300)


def conservation_residual(gradient: Tensor, flow: Tensor) -> float:
    """Square root of :func:`conservation_loss`: the RMS of ``cos(grad H, f)`` weighted
    by ``|grad H| |f|``; 0 for an exactly conserved quantity."""
    return float(conservation_loss(gradient.detach(), flow.detach()).sqrt())


def gradient_rank(gradients: Tensor, rank_tol: float = 0.1) -> tuple[int, Tensor]:
    """Numerical rank of quantities from their gradients at many states.

    Parameters
    ----------
    gradients : Tensor (n, k, d)
        Gradient of each of ``k`` quantities at ``n`` states.
    rank_tol : float
        A singular value of the row-normalized ``(k, d)`` matrix counts when its median
        over states is above ``rank_tol``.

    Returns
    -------
    (int, Tensor)
        The rank and the median singular values, largest first.

    Examples
    --------
    >>> x = torch.randn(50, 2, dtype=torch.float64)
    >>> g = torch.stack([x, 2 * x, torch.stack([-x[:, 1], x[:, 0]], 1)], 1)
    >>> gradient_rank(g)[0]
    2
    """
    if gradients.ndim != 3:
        raise ValueError(f"gradients must have shape (n, k, d), got {tuple(gradients.shape)}")
    if gradients.shape[1] == 0:
        return 0, gradients.new_zeros(0)
    normalized = gradients / gradients.norm(dim=2, keepdim=True).clamp_min(1e-300)
    values = torch.linalg.svdvals(normalized).median(0).values
    return int((values > rank_tol).sum()), values


# ------------------------------------------------------------------ inputs
def _states(x: object, name: str = "x") -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of states (n, d), got {type(x).__name__}")
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 1:
        raise ValueError(
            f"{name} must have shape (n_states, d) with n_states >= 2, got {tuple(x.shape)}"
        )
    if not bool(torch.isfinite(x).all()):
        bad = int((~torch.isfinite(x)).any(1).sum())
        raise ValueError(f"{name} contains NaN or Inf in {bad} row(s)")
    return x.detach().to(torch.float64)


def _flow_values(flow: FlowLike, x: Tensor) -> Tensor:
    values = flow(x) if callable(flow) else flow
    if not isinstance(values, Tensor):
        raise TypeError(
            f"flow must be a callable returning a tensor or a tensor, got {type(values).__name__}"
        )
    if tuple(values.shape) != tuple(x.shape):
        raise ValueError(
            f"flow must give one velocity per state with the states' dimension, "
            f"shape {tuple(x.shape)}; got {tuple(values.shape)}"
        )
    if not bool(torch.isfinite(values).all()):
        raise ValueError("flow contains NaN or Inf")
    return values.detach().to(torch.float64)
