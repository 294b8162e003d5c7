"""The learned Lagrangian: a fixed kinetic prior plus a scaled MultKAN, in one of two forms.

``L(x) = T0(x) + alpha * N(x)`` with ``x = [q, qdot]``, ``T0`` a closed-form prior
(``sum(qdot_i^2) / 2`` by default) and a MultKAN (any depth, multiplication nodes):

- **mechanical** (the default): the network is a function of the positions only, with
  ``1 + d (d + 1) / 2`` outputs, read as ``N = V(q) + sum_{i <= j} qdot_i qdot_j M_ij(q)``:
  every natural mechanical Lagrangian ``qdot^T M(q) qdot / 2 - V(q)`` has this form, and
  couplings such as ``qdot_1 qdot_2 f(q)`` need no product inside the network;
- **general**: ``N`` is a MultKAN of ``[q, qdot]`` with one output (any Lagrangian, e.g. a
  relativistic one).

``alpha`` is set once at initialization (:func:`perturbation_scale`) so that the
perturbation's velocity Hessian is at most half the prior's smallest mass eigenvalue on the
training states: the mass matrix ``d2L/dqdot2`` starts positive definite everywhere on the
data, whatever the depth of the network, while the network keeps its usual O(1) internal
signals (a product node of two small signals would not train). :func:`indefinite_fraction`
measures where a trained Lagrangian's mass matrix stopped being definite.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import sympy
import torch
from torch import Tensor

from ..core import KAN
from ..symbolic import formula_to_torch
from ._euler_lagrange import SingularMassMatrixError, _singular, euler_lagrange

__all__ = [
    "LearnedLagrangian",
    "default_width",
    "even_part",
    "indefinite_fraction",
    "mechanical_width",
    "perturbation_scale",
    "starting_lagrangian",
]

ScalarFn = Callable[[Tensor], Tensor]
FORMS = ("mechanical", "general")


def default_width(dof: int) -> list:
    """``[2 d, 1]``, the general form's default. Deeper MultKANs (e.g.
    ``[2 d, [2 d, 2 d], 1]``) are accepted through ``width=`` and start positive definite
    too, but L-BFGS on the Euler-Lagrange losses does not train them reliably."""
    return [2 * dof, 1]


def mechanical_width(dof: int) -> list:
    """``[d, [2 d, d], 1 + d (d + 1) / 2]``: the mechanical form's default, one hidden layer
    of sum nodes (compositions such as ``f(q_1 - q_2)``) and multiplication nodes (products
    such as ``q_1 g(q_2)``) feeding the potential and the mass-matrix entries."""
    return [dof, [2 * dof, dof], 1 + dof * (dof + 1) // 2]


def _pairs(dof: int) -> list[tuple[int, int]]:
    return list(itertools.combinations_with_replacement(range(dof), 2))


@dataclass
class LearnedLagrangian:
    """``prior(x) + alpha * N(x)``, a callable ``(n, 2 d) -> (n,)`` (see the module docstring).

    Attributes
    ----------
    model : KAN
    prior : callable or None
        The fixed part (None: no prior, ``model`` is the whole Lagrangian).
    alpha : float
    mechanical : bool
        ``model`` is a function of ``q`` whose outputs are ``V`` and the ``M_ij`` (``i <= j``,
        row by row); else a function of ``[q, qdot]`` with one output.
    """

    model: KAN
    prior: ScalarFn | None = None
    alpha: float = 1.0
    mechanical: bool = False

    def network(self, x: Tensor) -> Tensor:
        """``N(x)`` (n,), without the prior and the scale."""
        if not self.mechanical:
            return self.model(x)[:, 0]
        dof = self.model.n_in
        outputs = self.model(x[:, :dof])
        v = x[:, dof:]
        monomials = torch.stack([v[:, i] * v[:, j] for i, j in _pairs(dof)], 1)
        return outputs[:, 0] + (outputs[:, 1:] * monomials).sum(1)

    def __call__(self, x: Tensor) -> Tensor:
        value = self.alpha * self.network(x)
        return value if self.prior is None else value + self.prior(x).reshape(-1)

    def with_model(self, model: KAN) -> LearnedLagrangian:
        """The same prior, scale and form around another network."""
        return LearnedLagrangian(model, self.prior, self.alpha, self.mechanical)

    def euler_lagrange(
        self, q: Tensor, v: Tensor, create_graph: bool = False
    ) -> tuple[Tensor, Tensor]:
        """``(M, F)`` of :func:`kanscience.physics.euler_lagrange`; in the mechanical form
        the network's part comes from :func:`mechanical_euler_lagrange` (no second
        derivative of the network, so a deep one trains as fast as its forward pass)."""
        if not self.mechanical:
            return euler_lagrange(self, q, v, create_graph=create_graph)
        mass, force = mechanical_euler_lagrange(self.model, q, v)
        mass, force = self.alpha * mass, self.alpha * force
        if self.prior is not None:
            prior_mass, prior_force = euler_lagrange(self.prior, q, v)
            mass, force = mass + prior_mass, force + prior_force
        if not create_graph:
            mass, force = mass.detach(), force.detach()
        return mass, force


def _quadratic_form(outputs: Tensor, dof: int) -> tuple[Tensor, Tensor]:
    """``(V, S)`` from the mechanical outputs: ``N = V + v^T S v / 2`` with ``S`` symmetric,
    ``S_ii = 2 M_ii`` and ``S_ij = M_ij`` (``i < j``)."""
    index = {pair: k for k, pair in enumerate(_pairs(dof))}
    rows = []
    for i in range(dof):
        row = []
        for j in range(dof):
            k = 1 + index[(min(i, j), max(i, j))]
            row.append(outputs[:, k] * (2.0 if i == j else 1.0))
        rows.append(torch.stack(row, 1))
    return outputs[:, 0], torch.stack(rows, 1)


def mechanical_euler_lagrange(model: KAN, q: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
    """``(M, F)`` of ``N = V(q) + v^T S(q) v / 2`` (the mechanical form's network ``model``),
    exact in the velocities and by central differences in the positions:
    ``M = S``, ``F = dN/dq - (dS/dq . v) v``. All shifted positions go through one forward
    pass; the step ``1e-5 (1 + max |q|)`` keeps the truncation error of a cubic spline
    (``~ h^2``) and the rounding error (``~ eps / h``) near 1e-10."""
    n, dof = q.shape
    step = 1e-5 * (1.0 + float(q.detach().abs().max()))
    along = step / (1.0 + float(v.detach().abs().max()))  # the displacement h v of dS/dq . v
    shifts = [torch.zeros_like(q), along * v, -along * v]
    for a in range(dof):
        unit = torch.zeros_like(q)
        unit[:, a] = step
        shifts += [unit, -unit]
    outputs = model(torch.cat([q + shift for shift in shifts], 0)).reshape(len(shifts), n, -1)
    potentials, forms = zip(*(_quadratic_form(o, dof) for o in outputs))

    def value(k: int) -> Tensor:
        return potentials[k] + torch.einsum("ni,nij,nj->n", v, forms[k], v) / 2

    gradient = torch.stack(
        [(value(3 + 2 * a) - value(4 + 2 * a)) / (2 * step) for a in range(dof)], 1
    )
    directional = (forms[1] - forms[2]) / (2 * along)  # (dS/dq . v)
    force = gradient - torch.einsum("nij,nj->ni", directional, v)
    return forms[0], force


def _eigenvalues(lagrangian: ScalarFn, q: Tensor, v: Tensor) -> Tensor:
    mass, _ = euler_lagrange(lagrangian, q, v)
    return torch.linalg.eigvalsh((mass + mass.transpose(1, 2)) / 2)


def perturbation_scale(
    model: ScalarFn, prior: ScalarFn, q: Tensor, v: Tensor, margin: float = 0.5
) -> float:
    """The largest ``alpha <= 1`` with ``|alpha eig(d2N/dqdot2)| <= margin * min eig(d2T0/dqdot2)``
    on the states ``(q, v)``, so that ``T0 + alpha N`` has a positive definite mass matrix
    (``model``: ``N``, a callable of ``[q, qdot]`` such as a KAN with one output)."""
    prior_min = float(_eigenvalues(prior, q, v).min())
    if not prior_min > 0:
        raise ValueError(
            "the prior's mass matrix d2L/dqdot2 is not positive definite on the data; "
            "give a prior that is a positive definite quadratic form in the velocities"
        )
    largest = float(_eigenvalues(lambda x: model(x).reshape(-1), q, v).abs().max())
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


def _given_model(model: KAN, dof: int, q: Tensor, v: Tensor) -> LearnedLagrangian:
    if not isinstance(model, KAN) or model.n_in != 2 * dof or model.n_out != 1:
        raise ValueError(f"model must be a KAN with {2 * dof} inputs [q, qdot] and 1 output")
    start = LearnedLagrangian(model.copy().to(torch.float64))
    mass, _ = euler_lagrange(start, q, v)
    if bool(_singular(mass, 1e-10).any()):
        warnings.warn(
            "the starting model has a singular mass matrix at some states; training may diverge",
            RuntimeWarning,
            stacklevel=4,
        )
    return start


def starting_lagrangian(
    model: KAN | None,
    prior: sympy.Expr | str | None,
    form: str,
    width: Any,
    grid: int,
    symbols: list[sympy.Symbol],
    x: Tensor,
    seed: int,
) -> LearnedLagrangian:
    """The prior plus a scaled network of ``form`` (see the module docstring), or the given
    ``model`` as the whole Lagrangian; ``x`` are the training states ``[q, qdot]``."""
    dof = x.shape[1] // 2
    q, v = x[:, :dof], x[:, dof:]
    if model is not None:
        return _given_model(model, dof, q, v)
    if form not in FORMS:
        raise ValueError(f"form must be one of {FORMS}, got {form!r}")
    prior_expr = cast(
        sympy.Expr,
        sum(s**2 for s in symbols[dof:]) / 2
        if prior is None
        # sympy's overloads of sympify leave out ``locals``, which the function takes
        else sympy.sympify(prior, locals={str(s): s for s in symbols}),  # pyright: ignore[reportCallIssue]
    )
    unknown = sorted(str(s) for s in prior_expr.free_symbols if s not in symbols)
    if unknown:
        raise ValueError(f"prior uses unknown symbol(s) {unknown}; known: {symbols}")
    prior_fn = formula_to_torch(prior_expr, symbols)
    if bool(_singular(euler_lagrange(prior_fn, q, v)[0], 1e-10).all()):
        raise SingularMassMatrixError(
            f"the prior {prior_expr} has a singular mass matrix d2L/dqdot2 on the data; "
            "give a prior that depends quadratically on the velocities"
        )
    mechanical = form == "mechanical"
    if width is None:
        width = mechanical_width(dof) if mechanical else default_width(dof)
    network = KAN(width, grid=grid, k=3, seed=seed, dtype=torch.float64)
    n_in, n_out = (dof, 1 + dof * (dof + 1) // 2) if mechanical else (2 * dof, 1)
    if network.n_in != n_in or network.n_out != n_out:
        raise ValueError(
            f"width must describe a KAN with {n_in} inputs and {n_out} output(s) for the "
            f"{form} form, got {network.n_in} and {network.n_out}"
        )
    network.update_grid_(q if mechanical else x)
    learned = LearnedLagrangian(network, prior_fn, 1.0, mechanical)
    learned.alpha = perturbation_scale(learned.network, prior_fn, q, v)
    return learned
