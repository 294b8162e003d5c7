"""A one-layer invariant KAN solved exactly: the conservation loss is a Rayleigh quotient.

A one-layer KAN ``H(u) = Phi(u) w`` (``Phi``: the base function and the B-splines of each
input; ``w``: the weights) has the gradient ``grad_x H = sum_k w_k G_k`` with
``G_k = Phi_k'(u_i(k)) grad_x u_i(k)``, linear in ``w``. So the conservation loss
(:func:`~kanscience.physics._conservation.conservation_loss`) is ``w^T A w / w^T B w`` with

    A = mean(P^T P),  P[n, k] = G_k . f (state n),    B = mean(G_k . G_l |f|^2),

and its minimizer is the generalized eigenvector of the smallest eigenvalue: no starting
point, no optimizer tolerance (gradient training stops near a residual of ``1e-3``, short
of the spline's own accuracy, and from some starting points far from any invariant).

* Deflation: the quantities found before enter through ``D = mean(|Q^T G w|^2 |f|^2)``
  (``Q``: an orthonormal basis of their gradients per state); the solution's dependence
  ``D / B`` must be at most ``1 - floor`` (the constraint of gradient training). It is
  sought in the span of the fewest most-conserved eigenvectors that holds such weights,
  so that the constraint costs no conservation when an independent invariant is
  representable (see :func:`_deflated`).
* Generalization: a roughness penalty ``alpha R`` (squared second differences of the
  B-spline coefficients of each edge) and the grid are chosen by the conservation
  residual on held-out states; directions of ``w`` whose gradient energy is a negligible
  fraction of the largest one (an input's function moved into a redundant one) are left
  out, as the data cannot fix them.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor

from ..core import KAN

__all__ = ["basis_gradients", "solve_one_layer"]

# directions of the weights with less gradient energy than this fraction of the largest
# are dropped (constants: the B-splines sum to one; near-copies of one function on
# redundant inputs)
_RANGE_TOL = 1e-8
_PENALTIES = tuple(10.0**e for e in range(-10, -1, 2))  # alpha, relative to tr A / tr R
_MULTIPLIERS = tuple(10.0 ** (e / 2) for e in range(-8, 9))  # mu, relative to tr A / tr D

States = tuple[Tensor, Tensor, Tensor]  # features u (n, m), Jacobian (n, m, d), flow (n, d)


def basis_gradients(model: KAN, u: Tensor, jac: Tensor) -> Tensor:
    """Gradients (n, K, d) with respect to the coordinates of the ``K`` basis functions of
    a one-layer ``model`` at features ``u`` (n, m) with Jacobian ``jac`` (n, m, d), times
    the output's affine scale: ``grad H = sum_k w_k G[:, k]`` for the layer's weights."""
    layer = model.layers[0]
    inputs = u.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        phi = layer.features(inputs)  # (n, m, n_basis); entry (i, b) depends on u_i only
        slopes = torch.stack(
            [
                torch.autograd.grad(phi[:, :, b].sum(), inputs, retain_graph=True)[0]
                for b in range(phi.shape[2])
            ],
            2,
        )
    scale = (model.node_scale[0] * model.subnode_scale[0]).detach()
    gradients = slopes[:, :, :, None] * jac[:, :, None, :] * scale
    return gradients.reshape(u.shape[0], -1, jac.shape[2])


def _set_weights(model: KAN, weights: Tensor) -> None:
    layer = model.layers[0]
    shaped = weights.reshape(layer.in_dim, -1)  # per input: base weight, spline weights
    with torch.no_grad():
        layer.scale_base.copy_(shaped[:, :1])
        layer.scale_sp.fill_(1.0)
        layer.coef.copy_(shaped[:, None, 1:])


def _penalty(model: KAN) -> Tensor:
    layer = model.layers[0]
    n_splines = layer.coef.shape[2]
    difference = torch.diff(torch.eye(n_splines, dtype=layer.coef.dtype), n=2, dim=0)
    block = torch.zeros(n_splines + 1, n_splines + 1, dtype=layer.coef.dtype)
    block[1:, 1:] = difference.T @ difference
    return torch.block_diag(*[block] * layer.in_dim)


class _Quotient:
    """Numerator ``A``, metric ``B`` and deflation ``D`` of a one-layer model on states."""

    def __init__(self, model: KAN, states: States, basis: Tensor | None) -> None:
        u, jac, flow = states
        gradients = basis_gradients(model, u, jac)
        f2 = flow.pow(2).sum(1)
        along = torch.einsum("nkd,nd->nk", gradients, flow)
        self.numerator = along.T @ along / u.shape[0]
        self.metric = torch.einsum("nkd,nld,n->kl", gradients, gradients, f2) / u.shape[0]
        self.deflation = None
        if basis is not None:
            inside = torch.einsum("nkd,ndj->nkj", gradients, basis)
            self.deflation = torch.einsum("nkj,nlj,n->kl", inside, inside, f2) / u.shape[0]

    def ratio(self, matrix: Tensor, weights: Tensor) -> float:
        value = (weights @ matrix @ weights) / (weights @ self.metric @ weights)
        return float(value.clamp_min(0))


def _whitened(numerator: Tensor, metric: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """``(W, lambda, V)``: ``W`` maps coordinates in which the metric is the identity to
    weights (on the metric's range); ``lambda, V``: eigenpairs of the numerator there,
    smallest first."""
    energy, vectors = torch.linalg.eigh(metric)
    kept = energy > _RANGE_TOL * float(energy.max())
    whiten = vectors[:, kept] / energy[kept].sqrt()
    values, modes = torch.linalg.eigh(whiten.T @ numerator @ whiten)
    return whiten, values.clamp_min(0), modes


def _least_dependent(deflation: Tensor, k: int) -> float:
    return float(torch.linalg.eigvalsh(deflation[:k, :k])[0])


def _deflated(fitted: _Quotient, numerator: Tensor, floor: float, tol: float) -> Tensor:
    """The most conserved weights whose dependence on the quantities found is at most
    ``1 - floor``: among the ``k`` most conserved eigenvectors, the smallest ``k`` whose span
    holds such weights (bisection: the spans are nested); in that span, the minimizer of
    ``A + mu D`` with the smallest ``mu`` that meets the constraint. When that costs more
    conservation than ``tol`` (no independent invariant is representable), the most
    conserved weights instead: the rank test then rejects them, as the evidence that the
    best conserved quantity depends on the ones found."""
    whiten, values, modes = _whitened(numerator, fitted.metric)
    if fitted.deflation is None:
        return whiten @ modes[:, 0]
    deflation = modes.T @ whiten.T @ fitted.deflation @ whiten @ modes
    low, high = 1, values.shape[0]
    if _least_dependent(deflation, high) > 1 - floor:
        return whiten @ modes[:, int(torch.diagonal(deflation).argmin())]
    while low < high:
        middle = (low + high) // 2
        if _least_dependent(deflation, middle) <= 1 - floor:
            high = middle
        else:
            low = middle + 1
    conserved, dependent = torch.diag(values[:high]), deflation[:high, :high]
    unit = float(conserved.trace() / dependent.trace().clamp_min(1e-300))
    y = modes.new_zeros(high)
    for multiplier in _MULTIPLIERS:
        y = torch.linalg.eigh(conserved + unit * multiplier * dependent)[1][:, 0]
        if float(y @ dependent @ y) <= 1 - floor:
            break
    weights = whiten @ (modes[:, :high] @ y)
    if fitted.ratio(fitted.numerator, weights) ** 0.5 > tol:
        return whiten @ modes[:, 0]
    return weights


def solve_one_layer(
    model: KAN,
    train: States,
    test: States,
    basis: Tensor | None,
    floor: float,
    tol: float,
    grids: tuple[int, ...] = (),
) -> KAN:
    """The one-layer ``model`` (one output, grids already placed on the training features)
    with the weights that minimize the conservation loss (see the module docstring), at
    its grid or one of ``grids`` (refined from it), whichever conserves best on ``test``.

    Parameters
    ----------
    model : KAN
        A one-layer KAN with one output.
    train, test : (u, jac, flow)
        Feature values (n, m), their Jacobian (n, m, d) with respect to the coordinates,
        and the flow (n, d) at the training and the held-out states.
    basis : Tensor (n_train, d, k), optional
        Orthonormal basis of the gradients of the quantities found before, per training
        state.
    floor : float
        The solution's gradient keeps at least this fraction outside their span, unless
        that costs a conservation residual above ``tol`` (see :func:`_deflated`).
    tol : float
    grids : tuple of int
        Finer grids to try as well.

    Returns
    -------
    KAN
        A new model; ``model`` is unchanged.
    """
    layer = model.layers[0]
    if model.depth != 1 or layer.out_dim != 1:
        raise ValueError(f"model must be a one-layer KAN with one output, got {model.width}")
    best, best_residual = model, float("inf")
    for grid in (layer.num, *grids):
        candidate = copy.deepcopy(model) if grid == layer.num else model.refine(grid, train[0])
        with torch.no_grad():
            candidate.layers[0].mask.fill_(1.0)
        fitted, held_out = _Quotient(candidate, train, basis), _Quotient(candidate, test, None)
        penalty = _penalty(candidate)
        unit = float(torch.trace(fitted.numerator) / torch.trace(penalty).clamp_min(1e-300))
        for alpha in _PENALTIES:
            weights = _deflated(fitted, fitted.numerator + unit * alpha * penalty, floor, tol)
            residual = held_out.ratio(held_out.numerator, weights) ** 0.5
            if residual < best_residual:
                best, best_residual = copy.deepcopy(candidate), residual
                _set_weights(best, weights)
    return best
