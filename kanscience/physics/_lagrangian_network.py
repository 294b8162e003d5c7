"""The learned Lagrangian: a fixed kinetic prior plus a scaled MultKAN.

``L(x) = T0(x) + alpha * N(x)`` with ``x = [q, qdot]``, ``T0`` a closed-form prior
(``sum(qdot_i^2) / 2`` by default) and ``N`` a KAN of any depth, with multiplication nodes.
``alpha`` is set once from the network at initialization (:func:`perturbation_scale`) so
that the perturbation's velocity Hessian is at most half the prior's smallest mass
eigenvalue on the training states: the mass matrix ``d2L/dqdot2`` starts positive
definite everywhere on the data, whatever the depth of ``N``, while ``N`` keeps
its usual O(1) internal signals (a product node of two small signals would not train).
:func:`indefinite_fraction` measures where a trained Lagrangian's mass matrix stopped being
definite (of the sign most states have).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from ..core import KAN
from ._euler_lagrange import euler_lagrange

__all__ = ["LearnedLagrangian", "default_width", "indefinite_fraction", "perturbation_scale"]

ScalarFn = Callable[[Tensor], Tensor]


def default_width(dof: int) -> list:
    """``[2 d, 1]``. Deeper MultKANs (e.g. ``[2 d, [2 d, 2 d], 1]``) are accepted through
    ``width=`` and start positive definite too, but L-BFGS on the Euler-Lagrange losses
    does not yet train them reliably (they stall near the prior)."""
    return [2 * dof, 1]


@dataclass
class LearnedLagrangian:
    """``prior(x) + alpha * model(x)``, a callable ``(n, 2 d) -> (n,)``.

    Attributes
    ----------
    model : KAN
    prior : callable or None
        The fixed part (None: no prior, ``model`` is the whole Lagrangian).
    alpha : float
    """

    model: KAN
    prior: ScalarFn | None = None
    alpha: float = 1.0

    def __call__(self, x: Tensor) -> Tensor:
        value = self.alpha * self.model(x)[:, 0]
        return value if self.prior is None else value + self.prior(x).reshape(-1)

    def with_model(self, model: KAN) -> LearnedLagrangian:
        """The same prior and scale around another network."""
        return LearnedLagrangian(model, self.prior, self.alpha)


def _eigenvalues(lagrangian: ScalarFn, q: Tensor, v: Tensor) -> Tensor:
    mass, _ = euler_lagrange(lagrangian, q, v)
    return torch.linalg.eigvalsh((mass + mass.transpose(1, 2)) / 2)


def perturbation_scale(
    model: KAN, prior: ScalarFn, q: Tensor, v: Tensor, margin: float = 0.5
) -> float:
    """The largest ``alpha <= 1`` with ``|alpha eig(d2N/dqdot2)| <= margin * min eig(d2T0/dqdot2)``
    on the states ``(q, v)``, so that ``T0 + alpha N`` has a positive definite mass matrix."""
    prior_min = float(_eigenvalues(prior, q, v).min())
    if not prior_min > 0:
        raise ValueError(
            "the prior's mass matrix d2L/dqdot2 is not positive definite on the data; "
            "give a prior that is a positive definite quadratic form in the velocities"
        )
    largest = float(_eigenvalues(lambda x: model(x)[:, 0], q, v).abs().max())
    return 1.0 if largest <= margin * prior_min else margin * prior_min / largest


def indefinite_fraction(lagrangian: ScalarFn, q: Tensor, v: Tensor) -> float:
    """Share of the states where ``d2L/dqdot2`` is not definite with the majority's sign
    (a Lagrangian ``a L`` with ``a < 0`` is negative definite everywhere: that is fine)."""
    values = _eigenvalues(lagrangian, q, v).detach()
    positive = (values > 0).all(1)
    negative = (values < 0).all(1)
    sign_ok = positive if int(positive.sum()) >= int(negative.sum()) else negative
    return float((~sign_ok).double().mean())


def even_part(lagrangian: ScalarFn, dof: int) -> ScalarFn:
    """``(L(q, v) + L(q, -v)) / 2``: ``L`` without its part odd in the velocities (which
    holds every total derivative ``dF(q)/dt``)."""

    def value(x: Tensor) -> Tensor:
        flipped = torch.cat([x[:, :dof], -x[:, dof:]], 1)
        return (lagrangian(x).reshape(-1) + lagrangian(flipped).reshape(-1)) / 2

    return value
