"""Fused CPU loops for the B-spline features, compiled C (``kanscience/core/_loops.c``).

A small KAN (the networks of science: a few inputs, grid 5) is dispatch-bound: evaluating
the bases with torch takes about twenty tensor operations per layer (interval search,
table gather, Horner for the values and the slopes, index arithmetic, scatter), each
costing a few microseconds whatever its size. Here the same computation is one compiled
loop over the samples, and the x-gradient of the features another:

- :func:`spline_features` gives what :func:`kanscience.core.local_bases` and
  :func:`kanscience.core._features.dense_features` give together (features, basis indices,
  slopes) from the same per-interval table;
- :func:`features_backward` gives :func:`kanscience.core._features.features_backward`.

The results equal the torch path's to rounding (NaN and Inf kept). :func:`usable` says when
the loops apply: the extension built (it is compiled when the package is installed; an
install without a C compiler skips it and every feature comes from torch), tensors on the
CPU in float32 or float64 that need no graph (the autograd functions call these inside
their forward and first-order backward), and batches small enough that torch's
vectorized, multi-threaded operations are not faster. The loops are machine code from the
start: a new process calls them without a compilation pause, and they run without the
GIL.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["MAX_ELEMENTS", "features_backward", "spline_features", "usable"]

MAX_ELEMENTS = 2**15
"""Largest ``batch * n_in`` sent to the compiled loops (one thread); above it torch's
vectorized operations on all threads are faster."""

_BASES = {"silu": 0, "identity": 1, "zero": 2}


def _extension():
    """The compiled module, or None where the package was installed without it."""
    try:
        from . import _loops  # type: ignore[attr-defined]
    except ImportError:
        return None
    return _loops


_LOOPS = _extension()


def usable(x: Tensor, *tensors: Tensor) -> bool:
    """Whether the compiled loops apply to ``x`` (batch, n_in) and the other ``tensors``."""
    return (
        x.device.type == "cpu"
        and x.dtype in (torch.float32, torch.float64)
        and x.ndim == 2
        and x.numel() <= MAX_ELEMENTS
        and all(t.dtype == x.dtype and t.device.type == "cpu" for t in tensors)
        and not (torch.is_grad_enabled() and any(t.requires_grad for t in (x, *tensors)))
        and _LOOPS is not None
    )


def spline_features(
    x: Tensor, grid: Tensor, table: Tensor, k: int, base: str, slopes: bool
) -> tuple[Tensor, Tensor, Tensor | None]:
    """``(features, index, slopes)`` as the torch path in :mod:`kanscience.core._features` gives
    them: features (batch, n_in, G + k + 1), the ``k + 1`` basis indices (clamped) and the
    bases' x-derivatives (batch, n_in, k + 1), the latter None unless ``slopes``."""
    assert _LOOPS is not None, "callers check usable() first"
    batch, n_in = x.shape
    n_knots = grid.shape[1]
    x, grid, table = (t.detach().contiguous() for t in (x, grid, table))
    features = x.new_empty(batch, n_in, n_knots - k)
    index = torch.empty(batch, n_in, k + 1, dtype=torch.int64)
    derivatives = x.new_empty(batch, n_in, k + 1 if slopes else 0)
    _LOOPS.features(
        *(t.data_ptr() for t in (x, grid, table, features, index, derivatives)),
        batch,
        n_in,
        n_knots,
        table.shape[1],
        k,
        _BASES[base],
        slopes,
        x.dtype == torch.float64,
    )
    return features, index, derivatives if slopes else None


def features_backward(grad: Tensor, x: Tensor, index: Tensor, slopes: Tensor, base: str) -> Tensor:
    """d(loss)/dx (batch, n_in) from d(loss)/d(features) (batch, n_in, G + k + 1)."""
    assert _LOOPS is not None, "callers check usable() first"
    grad, x, index, slopes = (t.detach().contiguous() for t in (grad, x, index, slopes))
    out = x.new_empty(x.shape)
    _LOOPS.backward(
        *(t.data_ptr() for t in (grad, x, index, slopes, out)),
        x.shape[0],
        x.shape[1],
        grad.shape[-1],
        index.shape[-1],
        _BASES[base],
        x.dtype == torch.float64,
    )
    return out
