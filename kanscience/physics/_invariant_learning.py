"""Learning the conserved quantities of a flow as KANs, one after the other (deflation).

Quantity ``k`` adds ``lambda * mean(|Q_k^T grad H|^2 |f|^2)`` to the numerator of the
conservation loss, ``Q_k`` an orthonormal basis of the gradients already found, first with
``lambda = 1`` (leave their span), then with ``lambda = 0`` (polish conservation);
throughout, a hinge penalizes a gradient whose :func:`dependence` on that span exceeds
``1 - floor``, so polishing cannot fall back into it. A stage is *accepted* when its
conservation residual on held-out states is below the tolerance, so is the median over
those states of the cosine between its gradient and the flow (a network cannot pass by
concentrating its gradient where the flow happens to be tangent to its level sets), and
the **rank test**
passes: the median over states of the smallest singular value of the stacked,
row-normalized gradients of all accepted quantities is above ``rank_tol``. The first stage
that fails ends the search, so the count comes from the data.

Each stage tries networks from the cheapest up (``features``): ``'raw'``, a one-layer KAN
on the coordinates (sums of functions of one coordinate); ``'pairwise'``, a one-layer KAN
on the coordinates, their pairwise products and the squared norms ``x_i^2 + x_j^2`` of
their pairs (bilinear invariants such as angular momenta, and functions of the distance
in a plane such as ``1 / sqrt(x^2 + y^2 + 1)``, become additive); ``'deep'``, a KAN
``[d, 2d + 1, 1]`` on the coordinates, for other compositions. The loss of a one-layer
network is a Rayleigh quotient in its weights: it is minimized exactly
(:func:`~kanscience.physics._invariant_rayleigh.solve_one_layer`, the deflation as a
constraint); the deep one is trained by L-BFGS in the two phases above.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sympy
import torch
from torch import Tensor

from ..core import KAN, Dataset
from ..train import Batch, fit
from ._conservation import conservation_loss, conservation_residual, dependence, gradient_rank
from ._expressions import term_matrix
from ._invariant_rayleigh import solve_one_layer

__all__ = ["FEATURE_KINDS", "ConservedStage", "learn_invariants"]

FEATURE_KINDS = {
    "auto": ("raw", "pairwise", "deep"),
    "raw": ("raw",),
    "pairwise": ("pairwise",),
    "deep": ("deep",),
}


@dataclass
class ConservedStage:
    """One deflation stage: the KAN tried, its held-out conservation ``residual``, the
    median smallest singular value (``independence``) of the gradients of it and the
    quantities accepted before, whether it was ``accepted``, and the median over held-out
    states of ``|grad H . f| / (|grad H| |f|)`` (``pointwise``)."""

    index: int
    features: str
    model: KAN
    residual: float
    independence: float
    accepted: bool
    pointwise: float = float("nan")


def feature_terms(symbols: list[sympy.Symbol], kind: str) -> list[sympy.Expr]:
    """The inputs of a network of ``kind`` as expressions of the coordinates."""
    if kind != "pairwise":
        return list(symbols)
    products = [a * b for i, a in enumerate(symbols) for b in symbols[i:]]
    norms = [a**2 + b**2 for i, a in enumerate(symbols) for b in symbols[i + 1 :]]
    return list(symbols) + products + norms


def features_and_jacobian(
    terms: list[sympy.Expr], symbols: list[sympy.Symbol], x: Tensor
) -> tuple[Tensor, Tensor]:
    """Feature values (n, m) and their Jacobian (n, m, d) at states ``x``."""
    xg = x.clone().requires_grad_(True)
    with torch.enable_grad():
        u = term_matrix(terms, symbols, xg)
        jac = torch.stack(
            [
                torch.autograd.grad(u[:, k].sum(), xg, retain_graph=True)[0]
                for k in range(u.shape[1])
            ],
            1,
        )
    return u.detach(), jac.detach()


def input_gradient(model: KAN, u: Tensor, jac: Tensor, create_graph: bool) -> Tensor:
    """Gradient of ``model`` with respect to the coordinates, through its features."""
    u = u.detach().requires_grad_(True)
    with torch.enable_grad():
        h = model(u)
        (grad_u,) = torch.autograd.grad(h.sum(), u, create_graph=create_graph)
    return torch.einsum("nm,nmd->nd", grad_u, jac)


def _median_cosine(gradient: Tensor, flow: Tensor) -> float:
    """Median over states of ``|g . f| / (|g| |f|)``: small for a quantity conserved at most
    states, not only where its gradient is concentrated (the Rayleigh quotient weights
    states by ``|g|^2 |f|^2``, so a network steep in a few places can make it small)."""
    cosine = (gradient * flow).sum(1).abs()
    cosine = cosine / (gradient.norm(dim=1) * flow.norm(dim=1)).clamp_min(1e-300)
    return float(cosine.median())


def _network(kind: str, n_inputs: int, grid: int, seed: int) -> KAN:
    width: list[int] = [n_inputs, 2 * n_inputs + 1, 1] if kind == "deep" else [n_inputs, 1]
    return KAN(width, grid=grid, k=3, seed=seed, dtype=torch.float64)


def _train_stage(
    kind: str,
    u: Tensor,
    jac: Tensor,
    f: Tensor,
    basis: Tensor | None,
    split: tuple[Tensor, Tensor],
    grid: int,
    steps: tuple[int, int],
    weights: Sequence[float],
    floor: float,
    tol: float,
    seed: int,
) -> KAN:
    train, test = split
    model = _network(kind, u.shape[1], grid, seed)
    model.update_grid_(u[train])
    if model.depth == 1:
        held_out = (u[test], jac[test], f[test])
        rows = None if basis is None else basis[train]
        return solve_one_layer(
            model, (u[train], jac[train], f[train]), held_out, rows, floor, tol, (2 * grid,)
        )
    state = {"weight": weights[0]}

    def objective(m: KAN, batch: Batch) -> Tensor:
        rows = (train if batch.split == "train" else test)[batch.index]
        gradient = input_gradient(m, batch.inputs, jac[rows], create_graph=True)
        if basis is None:
            return conservation_loss(gradient, f[rows])
        loss = conservation_loss(gradient, f[rows], basis[rows], state["weight"])
        excess = torch.relu(dependence(gradient, f[rows], basis[rows]) - (1 - floor))
        return loss + excess.pow(2)

    data = Dataset(u[train], u[train, :0], u[test], u[test, :0])  # no labels: rows by index
    for weight, n_steps in zip(weights, steps):
        state["weight"] = weight
        if n_steps:
            fit(
                model,
                data,
                steps=n_steps,
                objective=objective,
                grid_schedule=None,
                progress=False,
                seed=seed,
            )
    return model


def learn_invariants(
    x: Tensor,
    f: Tensor,
    symbols: list[sympy.Symbol],
    split: tuple[Tensor, Tensor],
    *,
    limit: int,
    kinds: Sequence[str],
    grid: int,
    steps: tuple[int, int],
    weights: Sequence[float],
    floor: float,
    residual_tol: float,
    rank_tol: float,
    seed: int,
) -> tuple[list[ConservedStage], list[list[sympy.Expr]], list[Tensor]]:
    """Deflation (see the module docstring).

    Returns
    -------
    (stages, feature terms of the accepted ones, their gradients at ``x``)
    """
    test = split[1]
    prepared = {}
    for kind in kinds:
        terms = feature_terms(symbols, kind)
        prepared[kind] = (terms, *features_and_jacobian(terms, symbols, x))
    accepted_terms: list[list[sympy.Expr]] = []
    gradients: list[Tensor] = []
    stages: list[ConservedStage] = []
    while len(gradients) < limit:
        basis = torch.linalg.qr(torch.stack(gradients, 2))[0] if gradients else None
        success = False
        for kind in kinds:
            terms, u, jac = prepared[kind]
            model = _train_stage(
                kind,
                u,
                jac,
                f,
                basis,
                split,
                grid,
                steps,
                weights,
                floor,
                residual_tol,
                seed + len(stages),
            )
            gradient = input_gradient(model, u, jac, create_graph=False).detach()
            residual = conservation_residual(gradient[test], f[test])
            pointwise = _median_cosine(gradient[test], f[test])
            _, values = gradient_rank(torch.stack(gradients + [gradient], 1)[test], rank_tol)
            independence = float(values[-1])
            success = max(residual, pointwise) < residual_tol and independence > rank_tol
            stages.append(
                ConservedStage(
                    len(gradients), kind, model, residual, independence, success, pointwise
                )
            )
            if success:
                accepted_terms.append(terms)
                gradients.append(gradient)
                break
        if not success:
            break
    return stages, accepted_terms, gradients
