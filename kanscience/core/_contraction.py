"""The numeric part of a KAN layer as one fused autograd operation.

``y = features(x) @ W`` with ``W[i, :, o] = mask_io * [scale_base_io, scale_sp_io * coef_io]``.
Autograd through the pieces costs a dozen graph nodes per layer; this function records
one and computes the gradients of ``x``, ``coef``, ``scale_base`` and ``scale_sp`` itself.
On the CPU (float32 and float64, orders up to 15) that is the compiled contraction of
:mod:`kanscience.core._kernels`: only the ``k + 2`` nonzero features of each input are
visited, so the cost does not grow with the grid, and the features are never stored.
Elsewhere it is two matrix products and a gather on the dense features. For second
derivatives (``create_graph=True``, e.g. Hessians in hypothesis tests) either backward
recomputes the layer from differentiable pieces, so higher-order autograd stays exact.
"""

from __future__ import annotations

import torch
from torch import Tensor

from . import _kernels as kernels
from . import _splines as splines

__all__ = ["contraction_weight", "spline_contract", "uses_features"]


def contraction_weight(coef: Tensor, scale_base: Tensor, scale_sp: Tensor, mask: Tensor) -> Tensor:
    """The weights ``W`` of shape (in, G + k + 1, out)."""
    spline = (coef * scale_sp[..., None]).transpose(1, 2)  # (in, G + k, out)
    return torch.cat([scale_base[:, None, :], spline], dim=1) * mask[:, None, :]


def _parameter_grads(grad_weight, coef, scale_sp, mask, wants):
    """Gradients of ``coef``, ``scale_base`` and ``scale_sp`` (None where not wanted) from
    that of the weights ``W``."""
    if grad_weight is None:
        return None, None, None
    n_in, n_out = coef.shape[0], coef.shape[1]
    grad_weight = grad_weight.reshape(n_in, -1, n_out) * mask[:, None, :]  # (in, P, out)
    grad_spline = grad_weight[:, 1:, :].transpose(1, 2)  # (in, out, G + k)
    grad_coef = grad_spline * scale_sp[..., None] if wants[1] else None
    grad_base = grad_weight[:, 0, :] if wants[2] else None
    grad_sp = (grad_spline * coef).sum(-1) if wants[3] else None
    return grad_coef, grad_base, grad_sp


def _second_order(ctx, grad, x, coef, scale_base, scale_sp, mask, grid, table):
    """Gradients as a differentiable graph (``create_graph=True``), from a differentiable
    recomputation of the layer."""
    wants = ctx.needs_input_grad[:4]
    inputs = [t for t, w in zip((x, coef, scale_base, scale_sp), wants) if w]
    with torch.enable_grad():
        y = _composed(x, coef, scale_base, scale_sp, mask, grid, table, ctx.k, ctx.base)
        grads = iter(torch.autograd.grad(y, inputs, grad, create_graph=True))
    return tuple(next(grads) if w else None for w in wants)


def _composed(x, coef, scale_base, scale_sp, mask, grid, table, k, base):
    features = splines.spline_features(x, grid, k, base, table)
    weight = contraction_weight(coef, scale_base, scale_sp, mask)
    return features.reshape(x.shape[0], -1) @ weight.reshape(-1, coef.shape[1])


# Above this many feature entries per call the features are not kept for the backward
# pass: they are recomputed chunk by chunk (2**22 floats = 16 MiB), which bounds memory
# and keeps every intermediate below the size where the allocator starts to page-fault.
CHUNK_ELEMENTS = 2**22


def _chunks(batch: int, per_row: int) -> list[slice]:
    size = max(1, CHUNK_ELEMENTS // max(per_row, 1))
    return [slice(start, min(start + size, batch)) for start in range(0, batch, size)]


def _local(x, grid, table, k, base, need_x):
    features, index, derivatives = splines.features_and_slopes(x, grid, k, base, table, need_x)
    return features.reshape(x.shape[0], -1), index, derivatives


class _SplineContract(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, coef, scale_base, scale_sp, mask, grid, table, k, base, features):  # type: ignore[override]
        need_x = ctx.needs_input_grad[0]
        weight = contraction_weight(coef, scale_base, scale_sp, mask).reshape(-1, coef.shape[1])
        ctx.k, ctx.base = k, base
        chunks = _chunks(x.shape[0], weight.shape[0]) if features is None else [slice(None)]
        if len(chunks) > 1:  # large batch: keep only x, recompute features in backward
            y = torch.cat([_local(x[c], grid, table, k, base, False)[0] @ weight for c in chunks])
            ctx.save_for_backward(
                x, coef, scale_base, scale_sp, mask, grid, table, None, weight, None, None
            )
            return y
        index = derivatives = None
        if features is None:
            flat, index, derivatives = _local(x, grid, table, k, base, need_x)
        else:
            flat = features.reshape(x.shape[0], -1)
            if need_x:
                index, _, derivatives = splines.local_bases(x, grid, k, table, True)
        ctx.save_for_backward(
            x, coef, scale_base, scale_sp, mask, grid, table, flat, weight, index, derivatives
        )
        # MKL is 2x faster on skinny products this way round; callers get a contiguous output
        return (weight.t() @ flat.t()).t().contiguous()

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        (x, coef, scale_base, scale_sp, mask, grid, table, flat, weight, index, derivatives) = (
            ctx.saved_tensors
        )
        wants = ctx.needs_input_grad[:4]
        if torch.is_grad_enabled():  # create_graph=True: differentiate a differentiable copy
            grads = _second_order(ctx, grad, x, coef, scale_base, scale_sp, mask, grid, table)
            return (*grads, *(None,) * 6)
        if flat is None:  # recompute chunk by chunk
            grad_weight = torch.zeros_like(weight) if any(wants[1:]) else None
            grad_x = torch.empty_like(x) if wants[0] else None
            for c in _chunks(x.shape[0], weight.shape[0]):
                flat_c, index_c, derivatives_c = _local(
                    x[c], grid, table, ctx.k, ctx.base, wants[0]
                )
                if grad_weight is not None:
                    grad_weight.addmm_(flat_c.t(), grad[c])
                if grad_x is not None:
                    assert derivatives_c is not None  # computed when x needs a gradient
                    grad_features = (grad[c] @ weight.t()).view(*x[c].shape, -1)
                    grad_x[c] = splines.features_backward(
                        grad_features, x[c], index_c, derivatives_c, ctx.base
                    )
        else:
            grad_weight = (grad.t() @ flat).t() if any(wants[1:]) else None
            grad_x = None
            if wants[0]:
                grad_features = (grad @ weight.t()).view(*x.shape, -1)
                grad_x = splines.features_backward(grad_features, x, index, derivatives, ctx.base)
        grads = _parameter_grads(grad_weight, coef, scale_sp, mask, wants)
        return grad_x, *grads, None, None, None, None, None, None


class _SparseContract(torch.autograd.Function):
    """The same layer through the compiled contraction (:func:`kernels.contract`): the
    features are never formed, the weights are assembled and their gradients taken
    apart in the compiled loops, and only ``x`` and ``W`` are kept for the backward pass."""

    @staticmethod
    def forward(ctx, x, coef, scale_base, scale_sp, mask, grid, table, k, base):  # type: ignore[override]
        y, weight = kernels.contract(x, grid, table, coef, scale_base, scale_sp, mask, k, base)
        ctx.k, ctx.base = k, base
        ctx.save_for_backward(x, coef, scale_base, scale_sp, mask, grid, table, weight)
        return y

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        x, coef, scale_base, scale_sp, mask, grid, table, weight = ctx.saved_tensors
        if torch.is_grad_enabled():  # create_graph=True: differentiate a differentiable copy
            grads = _second_order(ctx, grad, x, coef, scale_base, scale_sp, mask, grid, table)
            return (*grads, *(None,) * 5)
        wants = ctx.needs_input_grad[:4]
        grads = kernels.contract_backward(
            x,
            grid,
            table,
            coef,
            scale_sp,
            mask,
            weight,
            grad,
            ctx.k,
            ctx.base,
            wants[0],
            want_parameters=any(wants[1:]),
        )
        return *(g if w else None for g, w in zip(grads, wants)), None, None, None, None, None


def uses_features(x: Tensor, coef: Tensor, grid: Tensor, k: int) -> bool:
    """Whether :func:`spline_contract` contracts dense features here (so that features
    computed once for a fixed input save work) rather than the compiled contraction,
    which never forms them."""
    return not kernels.contract_usable(x, k, coef, grid)


def spline_contract(
    x: Tensor,
    coef: Tensor,
    scale_base: Tensor,
    scale_sp: Tensor,
    mask: Tensor,
    grid: Tensor,
    k: int,
    base: str = "silu",
    table: Tensor | None = None,
    features: Tensor | None = None,
) -> Tensor:
    """Numeric layer output ``features(x) @ W``, shape (batch, out).

    Parameters
    ----------
    x : (batch, in)
    coef : (in, out, G + k)
    scale_base, scale_sp, mask : (in, out)
    grid : (in, G + 2k + 1)
    k : int
    base : residual function name
    table : ``splines.spline_table(grid, k)`` if the caller keeps it
    features : precomputed ``splines.spline_features(x, ...)`` of a constant ``x``, used
        where the compiled contraction does not apply (it needs no features)
    """
    if table is None:
        table = splines.spline_table(grid, k)
    if kernels.contract_usable(x, k, coef, scale_base, scale_sp, mask, grid):
        return _SparseContract.apply(x, coef, scale_base, scale_sp, mask, grid, table, k, base)
    if features is not None:
        features = features.detach()
    return _SplineContract.apply(
        x, coef, scale_base, scale_sp, mask, grid, table, k, base, features
    )
