"""Spline features of a layer's inputs as one autograd function: ``[base(x), B_0(x), ...]``.

The :func:`spline_features` autograd function has an analytic first derivative and stays
differentiable to second order (Hessians of a KAN work). On the CPU, batches that are not
large run the first-order work as compiled loops (:mod:`kanscience.core._kernels`, C built
at install).

Examples
--------
>>> import torch
>>> from kanscience.core._grids import uniform_grid
>>> features = spline_features(torch.zeros(4, 2), uniform_grid(2, num=5, k=3), 3)
>>> features.shape, float(features[0, 0, 0])
(torch.Size([4, 2, 9]), 0.0)
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from . import _kernels as kernels
from ._bases import local_bases, spline_table

__all__ = [
    "BASE_FUNCTION_NAMES",
    "base_function",
    "dense_features",
    "features_and_slopes",
    "features_backward",
    "spline_features",
]


def _silu_vjp(grad: Tensor, x: Tensor) -> Tensor:
    if torch.is_grad_enabled() and (grad.requires_grad or x.requires_grad):
        sigmoid = torch.sigmoid(x)  # differentiable again (higher derivatives)
        return grad * sigmoid * (1 + x * (1 - sigmoid))
    return torch.ops.aten.silu_backward(grad, x)  # one fused kernel


BaseVjp = Callable[[Tensor, Tensor], Tensor]

# name -> (f, vjp) with vjp(grad, x) = grad * f'(x)
_BASE_FUNCTIONS: dict[str, tuple[Callable[[Tensor], Tensor], BaseVjp]] = {
    "silu": (torch.nn.functional.silu, _silu_vjp),
    "identity": (lambda x: x, lambda grad, x: grad),
    "zero": (torch.zeros_like, lambda grad, x: torch.zeros_like(grad)),
}
BASE_FUNCTION_NAMES = tuple(_BASE_FUNCTIONS)


def base_function(name: str) -> tuple[Callable[[Tensor], Tensor], BaseVjp]:
    """``(f, vjp)`` of a residual base function by name ('silu', 'identity', 'zero'), with
    ``vjp(grad, x) = grad * f'(x)``."""
    if name not in _BASE_FUNCTIONS:
        raise ValueError(f"base must be one of {BASE_FUNCTION_NAMES}, got {name!r}")
    return _BASE_FUNCTIONS[name]


def features_and_slopes(
    x: Tensor, grid: Tensor, k: int, base: str, table: Tensor, derivatives: bool
) -> tuple[Tensor, Tensor, Tensor | None]:
    """``(features, index, slopes)``: :func:`spline_features` of ``x`` with the indices
    and x-derivatives of the local bases (None unless ``derivatives``) that
    :func:`features_backward` takes; one compiled loop where :mod:`kanscience.core._kernels`
    applies."""
    if kernels.usable(x, grid, table):
        return kernels.spline_features(x, grid, table, k, base, derivatives)
    index, values, slopes = local_bases(x, grid, k, table, derivatives)
    return dense_features(x, index, values, grid.shape[1] - k - 1, base), index, slopes


def dense_features(x: Tensor, index: Tensor, values: Tensor, n_basis: int, base: str) -> Tensor:
    """``[base(x), B_0(x), ..., B_{n_basis-1}(x)]`` from local bases.

    Returns
    -------
    Tensor, shape (batch, n_in, n_basis + 1)
    """
    features = x.new_zeros(*x.shape, n_basis + 1)
    features[..., 0] = base_function(base)[0](x)
    features[..., 1:].scatter_add_(-1, index, values)
    return features


def features_backward(
    grad: Tensor, x: Tensor, index: Tensor, derivatives: Tensor, base: str
) -> Tensor:
    """d(loss)/dx from d(loss)/d(features) (batch, n_in, n_basis + 1)."""
    if kernels.usable(x, grad, derivatives):
        return kernels.features_backward(grad, x, index, derivatives, base)
    grad_x = base_function(base)[1](grad[..., 0], x)
    return grad_x + (grad[..., 1:].gather(-1, index) * derivatives).sum(-1)


class _SplineFeatures(torch.autograd.Function):
    """features = [base(x), B_0(x), ..., B_{G+k-1}(x)] per input, with analytic backward."""

    @staticmethod
    def forward(ctx, x: Tensor, grid: Tensor, k: int, base: str, table: Tensor) -> Tensor:  # type: ignore[override]
        features, index, derivatives = features_and_slopes(
            x, grid, k, base, table, ctx.needs_input_grad[0]
        )
        ctx.save_for_backward(x, grid, table, index, derivatives)
        ctx.k, ctx.base = k, base
        return features

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        x, grid, table, index, derivatives = ctx.saved_tensors
        if torch.is_grad_enabled():
            # higher-order request (create_graph=True): recompute with a graph to x
            index, _, derivatives = local_bases(x, grid, ctx.k, table)
        assert derivatives is not None  # saved by forward whenever x needs a gradient
        return features_backward(grad, x, index, derivatives, ctx.base), None, None, None, None


def spline_features(
    x: Tensor, grid: Tensor, k: int, base: str = "silu", table: Tensor | None = None
) -> Tensor:
    """Residual-base value and dense B-spline bases of each input, in one tensor.

    Parameters
    ----------
    x : Tensor, shape (batch, n_in)
    grid : Tensor, shape (n_in, G + 2k + 1)
    k : int
    base : {'silu', 'identity', 'zero'}
    table : Tensor, optional
        ``spline_table(grid, k)`` kept by the caller (computed here otherwise).

    Returns
    -------
    Tensor, shape (batch, n_in, G + k + 1)
        ``[..., 0]`` is ``base(x)``, ``[..., 1:]`` the bases. A layer contracts it with its
        weights in one matrix product.
    """
    base_function(base)  # validates the name
    if table is None:
        table = spline_table(grid, k)
    return _SplineFeatures.apply(x, grid, k, base, table)
