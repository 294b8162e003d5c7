"""Fused CPU loops for the B-spline features, compiled by numba when it is installed.

A small KAN (the networks of science: a few inputs, grid 5) is dispatch-bound: evaluating
the bases with torch takes about twenty tensor operations per layer (interval search,
table gather, Horner for the values and the slopes, index arithmetic, scatter), each
costing a few microseconds whatever its size. Here the same computation is one compiled
loop over the samples, and the x-gradient of the features another:

- :func:`spline_features` gives what :func:`kanscience.core.local_bases` and
  :func:`kanscience.core._features.dense_features` give together (features, basis indices,
  slopes) from the same per-interval table;
- :func:`features_backward` gives :func:`kanscience.core._features.features_backward`.

The results equal the torch path's to rounding (float contraction and reassociation
allowed, NaN and Inf kept). :func:`usable` says when the loops apply: numba importable,
tensors on the CPU in float32 or float64 that need no graph (the autograd functions call
these inside their forward and first-order backward), and batches small enough that
torch's vectorized, multi-threaded operations are not faster. numba compiles the loops
for each spline order and dtype on first use (about a second, in memory: nothing is
written to disk).
"""

from __future__ import annotations

import math
from functools import cache

import torch
from torch import Tensor

__all__ = ["MAX_ELEMENTS", "features_backward", "spline_features", "usable"]

MAX_ELEMENTS = 2**15
"""Largest ``batch * n_in`` sent to the compiled loops (one thread); above it torch's
vectorized operations on all threads are faster."""

_FLAGS = {"nsz", "arcp", "contract", "afn", "reassoc"}  # fast math that keeps NaN and Inf
_BASES = {"silu": 0, "identity": 1, "zero": 2}


@cache
def _numba():
    """The numba module, imported on first use (half a second); None without it."""
    try:
        import numba
    except (ImportError, OSError):  # not installed, or its LLVM library does not load
        return None
    return numba


@cache
def _loops(k: int):
    """The two loops for spline order ``k``, compiled on first use (``k`` is a constant
    to numba: its loops unroll, 2.5x faster than a run-time order)."""
    numba = _numba()
    assert numba is not None, "callers check usable() first"
    n = k + 1

    @numba.njit(nogil=True, fastmath=_FLAGS)
    def features_loop(x, grid, table, base, features, index, slopes, want_slopes):
        batch, n_in = x.shape
        n_knots = grid.shape[1]
        n_basis = n_knots - n
        for b in range(batch):
            for i in range(n_in):
                value_x = x[b, i]
                low, high = 0, n_knots  # searchsorted(right=True): the table row
                while low < high:
                    middle = (low + high) >> 1
                    if grid[i, middle] <= value_x:
                        low = middle + 1
                    else:
                        high = middle
                for c in range(n_basis + 1):
                    features[b, i, c] = 0
                if base == 0:
                    features[b, i, 0] = value_x / (1 + math.exp(-value_x))
                elif base == 1:
                    features[b, i, 0] = value_x
                s = (value_x - table[i, low, 0]) * table[i, low, 1]
                for r in range(n):
                    basis = min(max(low - n + r, 0), n_basis - 1)
                    index[b, i, r] = basis
                    value = table[i, low, 2 + k * n + r]
                    for p in range(k - 1, -1, -1):  # Horner in s
                        value = value * s + table[i, low, 2 + p * n + r]
                    features[b, i, 1 + basis] += value
                    if want_slopes:
                        slope = k * table[i, low, 2 + k * n + r]
                        for p in range(k - 1, 0, -1):
                            slope = slope * s + p * table[i, low, 2 + p * n + r]
                        slopes[b, i, r] = slope * table[i, low, 1]

    @numba.njit(nogil=True, fastmath=_FLAGS)
    def backward_loop(grad, x, index, slopes, base, out):
        batch, n_in = x.shape
        for b in range(batch):
            for i in range(n_in):
                value_x = x[b, i]
                total = 0.0
                if base == 0:
                    sigmoid = 1 / (1 + math.exp(-value_x))
                    total = grad[b, i, 0] * sigmoid * (1 + value_x * (1 - sigmoid))
                elif base == 1:
                    total = grad[b, i, 0]
                for r in range(n):
                    total += grad[b, i, 1 + index[b, i, r]] * slopes[b, i, r]
                out[b, i] = total

    return features_loop, backward_loop


def usable(x: Tensor, *tensors: Tensor) -> bool:
    """Whether the compiled loops apply to ``x`` (batch, n_in) and the other ``tensors``."""
    return (
        x.device.type == "cpu"
        and x.dtype in (torch.float32, torch.float64)
        and x.ndim == 2
        and x.numel() <= MAX_ELEMENTS
        and all(t.dtype == x.dtype and t.device.type == "cpu" for t in tensors)
        and not (torch.is_grad_enabled() and any(t.requires_grad for t in (x, *tensors)))
        and _numba() is not None
    )


def spline_features(
    x: Tensor, grid: Tensor, table: Tensor, k: int, base: str, slopes: bool
) -> tuple[Tensor, Tensor, Tensor | None]:
    """``(features, index, slopes)`` as the torch path in :mod:`kanscience.core._features` gives
    them: features (batch, n_in, G + k + 1), the ``k + 1`` basis indices (clamped) and the
    bases' x-derivatives (batch, n_in, k + 1), the latter None unless ``slopes``."""
    batch, n_in = x.shape
    n_basis = grid.shape[1] - k - 1
    features = x.new_empty(batch, n_in, n_basis + 1)
    index = torch.empty(batch, n_in, k + 1, dtype=torch.int64)
    derivatives = x.new_empty(batch, n_in, k + 1 if slopes else 0)
    _loops(k)[0](
        x.detach().contiguous().numpy(),
        grid.detach().contiguous().numpy(),
        table.detach().contiguous().numpy(),
        _BASES[base],
        features.numpy(),
        index.numpy(),
        derivatives.numpy(),
        slopes,
    )
    return features, index, derivatives if slopes else None


def features_backward(grad: Tensor, x: Tensor, index: Tensor, slopes: Tensor, base: str) -> Tensor:
    """d(loss)/dx (batch, n_in) from d(loss)/d(features) (batch, n_in, G + k + 1)."""
    out = x.new_empty(x.shape)
    _loops(index.shape[-1] - 1)[1](
        grad.detach().contiguous().numpy(),
        x.detach().contiguous().numpy(),
        index.contiguous().numpy(),
        slopes.detach().contiguous().numpy(),
        _BASES[base],
        out.numpy(),
    )
    return out
