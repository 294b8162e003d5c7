"""The last layer of a mechanical Lagrangian network, solved by linear least squares.

In the mechanical form (:mod:`kanscience.physics._lagrangian_network`) the network ``N`` is
``V(q) + sum_k m_k(v) M_k(q)`` with velocity monomials ``m_k``, and each output is a linear
combination of the last layer's features ``phi(h(q))`` (its spline bases and base function
on the hidden nodes ``h``): with the hidden layers fixed, the Lagrangian is linear in the
last layer's weights, and so is its Euler-Lagrange residual ``M a - F``. Gradient training
leaves those weights short of their optimum; :func:`polish_last_layer` solves for them
exactly (a ridge-damped least-squares step from the trained weights, on the training
states) and keeps the result only where it lowers the held-out residual.

For a term ``phi(q) m(v)`` the residual is
``R_j = phi (d2m/dv_j dv . a) - m dphi/dq_j + (grad phi . v) dm/dv_j``, exact in the
velocities; ``grad phi`` comes from central differences of the features in the positions.
"""

from __future__ import annotations

import itertools

import torch
from torch import Tensor

from ..core import KAN, contraction_weight
from ._euler_lagrange import residual_of
from ._lagrangian_network import LearnedLagrangian

__all__ = ["polish_last_layer"]

RIDGE = 1e-10
"""Damping of the least-squares step, relative to the mean diagonal of the normal matrix:
it only fixes the directions the data cannot see (a constant shared by the bases of all
hidden nodes, the potential's constant)."""


def _features(model: KAN, q: Tensor) -> Tensor:
    """The last layer's features of the positions ``q``: (n, in, G + k + 1)."""
    hidden = model.node_values(q)[-2]
    last = model.layers[-1]
    return last.features(hidden).reshape(len(q), last.in_dim, -1)


def _linear_outputs(model: KAN) -> tuple[Tensor, Tensor] | None:
    """``(scale, bias)`` with ``output = scale * (phi W) + bias`` per output, or None when
    the last layer is not linear in its weights (multiplication or symbolic nodes)."""
    layer = model.depth - 1
    last = model.layers[layer]
    if model.width_out[-1] != model.n_out or last.has_symbolic or last.out_dim != model.n_out:
        return None
    scale = model.node_scale[layer] * model.subnode_scale[layer]
    bias = model.node_scale[layer] * model.subnode_bias[layer] + model.node_bias[layer]
    return scale.detach(), bias.detach()


def _residual_columns(
    model: KAN, scale: Tensor, q: Tensor, v: Tensor, a: Tensor, alpha: float
) -> tuple[Tensor, Tensor, Tensor]:
    """Euler-Lagrange residual ``M a - F`` and inertia ``M a`` of each weight (each
    (n * d, n_weights)) and the mask of the active weights (in, G + k + 1, out)."""
    n, dof = q.shape
    last = model.layers[-1]
    step = 1e-5 * (1.0 + float(q.abs().max()))
    shifted = [q]
    for axis in range(dof):
        unit = torch.zeros_like(q)
        unit[:, axis] = step
        shifted += [q + unit, q - unit]
    with torch.no_grad():
        phi_all = _features(model, torch.cat(shifted, 0)).reshape(len(shifted), n, -1)
    phi = phi_all[0]  # (n, F)
    grad = torch.stack(
        [(phi_all[1 + 2 * i] - phi_all[2 + 2 * i]) / (2 * step) for i in range(dof)], 1
    )  # (n, d, F)
    along = torch.einsum("ndf,nd->nf", grad, v)  # grad phi . v
    pairs = list(itertools.combinations_with_replacement(range(dof), 2))
    blocks = [-grad]  # the potential: m = 1
    inertia = [torch.zeros_like(grad)]
    for i, j in pairs:
        m = v[:, i] * v[:, j]
        dm = torch.zeros(n, dof, dtype=v.dtype)  # dm/dv_l
        dm[:, i] += v[:, j]
        dm[:, j] += v[:, i]
        hessian_a = torch.zeros(n, dof, dtype=v.dtype)  # (d2m/dv_l dv) . a
        hessian_a[:, i] += a[:, j]
        hessian_a[:, j] += a[:, i]
        inertia.append(phi[:, None, :] * hessian_a[:, :, None])
        blocks.append(inertia[-1] - m[:, None, None] * grad + along[:, None, :] * dm[:, :, None])
    active = (last.mask != 0)[:, None, :].expand(last.in_dim, phi.shape[1] // last.in_dim, -1)
    keep = active.reshape(-1)

    def flat(parts: list[Tensor]) -> Tensor:
        # (n, d, F, out), scaled by the output's affine scale and alpha
        return (torch.stack(parts, -1) * (alpha * scale)).reshape(n * dof, -1)[:, keep]

    return flat(blocks), flat(inertia), active


def _with_weights(model: KAN, weight: Tensor) -> KAN:
    """A copy of ``model`` whose last layer contracts with ``weight`` (in, G + k + 1, out)."""
    copy = model.copy()
    last = copy.layers[-1]
    with torch.no_grad():
        on = last.mask != 0
        sp = last.scale_sp
        usable = on & (sp.abs() > 0)
        last.scale_base.copy_(torch.where(on, weight[:, 0, :], last.scale_base))
        spline = weight[:, 1:, :].transpose(1, 2)  # (in, out, G + k)
        ratio = spline / torch.where(usable, sp, torch.ones_like(sp))[..., None]
        last.coef.copy_(torch.where(usable[..., None], ratio, last.coef))
    return copy


def polish_last_layer(
    learned: LearnedLagrangian,
    train: tuple[Tensor, Tensor, Tensor],
    test: tuple[Tensor, Tensor, Tensor],
) -> tuple[LearnedLagrangian, float, float]:
    """The least-squares optimum of the last layer's weights (see the module docstring).

    Parameters
    ----------
    learned : LearnedLagrangian
        A mechanical-form Lagrangian (others are returned unchanged).
    train, test : (q, qdot, qddot)
        States and accelerations for the solve and for the held-out check.

    Returns
    -------
    (learned, before, after)
        The polished Lagrangian (a new object; ``learned`` itself when the step did not
        lower the held-out residual or the network is not linear in its last layer) and
        the held-out relative residual (:func:`kanscience.physics.residual_loss`) before
        and after.
    """
    q_test, v_test, a_test = test
    before = float(residual_of(*learned.euler_lagrange(q_test, v_test), a_test))
    linear = _linear_outputs(learned.model) if learned.mechanical else None
    if linear is None:
        return learned, before, before
    scale, _ = linear
    q, v, a = train
    model = learned.model
    columns, inertia_columns, active = _residual_columns(model, scale, q, v, a, learned.alpha)
    mass, force = learned.euler_lagrange(q, v)
    inertia = torch.einsum("njk,nk->nj", mass, a).reshape(-1)
    residual = inertia - force.reshape(-1)
    # L' = t L + sum delta_f term_f with the inertia's projection on the current one fixed
    # (t + g . delta = 1): without it the least squares shrink the whole Lagrangian
    # towards zero, where every residual vanishes
    g = inertia_columns.T @ inertia / float(inertia @ inertia)
    columns = columns - residual[:, None] * g[None, :]
    normal = columns.T @ columns
    damping = RIDGE * float(normal.diagonal().mean().clamp_min(1e-300))
    eye = torch.eye(len(normal), dtype=normal.dtype)
    try:
        delta = torch.linalg.solve(normal + damping * eye, -(columns.T @ residual))
    except RuntimeError:
        return learned, before, before
    last = model.layers[-1]
    t = 1.0 - float(g @ delta)  # any sign: a L is a Lagrangian for every a != 0
    if not abs(t) > 1e-8:
        return learned, before, before
    with torch.no_grad():
        weight = contraction_weight(last.coef, last.scale_base, last.scale_sp, last.mask)
        weight = weight.clone()
        weight[active] += delta / t  # L' / t: the prior keeps its coefficient
    polished = learned.with_model(_with_weights(model, weight))
    after = float(residual_of(*polished.euler_lagrange(q_test, v_test), a_test))
    if not after < before:
        return learned, before, before
    return polished, before, after
