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
written to disk), unless a cache folder is given (:func:`set_kernel_cache`, or the
environment variable ``KANSCIENCE_KERNEL_CACHE``): numba then keeps the compiled code
there, and a new process loads it instead of compiling (numba's own cache: keyed by the
loops' code, the spline order, the CPU and numba's version).
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import torch
from torch import Tensor

__all__ = [
    "CACHE_VARIABLE",
    "MAX_ELEMENTS",
    "features_backward",
    "kernel_cache",
    "set_kernel_cache",
    "spline_features",
    "usable",
]

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


CACHE_VARIABLE = "KANSCIENCE_KERNEL_CACHE"
"""Environment variable naming the kernel cache folder (read when the loops are first
compiled; :func:`set_kernel_cache` overrides it)."""
_UNSET = object()
_cache_folder: object = _UNSET


def set_kernel_cache(folder: str | os.PathLike | None) -> None:
    """Keep the compiled spline loops in ``folder`` (created when first written), so that
    a new process loads them instead of compiling them (about a second); None: compile in
    memory, write nothing (the default, unless :data:`CACHE_VARIABLE` names a folder).

    Loops already compiled in this process are compiled again, or loaded, on next use.

    Parameters
    ----------
    folder : str, path or None
        A folder the user controls, or None to turn the cache off.

    Raises
    ------
    ValueError
        If ``folder`` is an empty string or an existing file.
    """
    global _cache_folder
    if folder is not None:
        if not isinstance(folder, (str, os.PathLike)) or not str(folder):
            raise ValueError(f"folder must be a path or None, got {folder!r}")
        if Path(folder).is_file():
            raise ValueError(f"folder must be a folder, got the file {str(folder)!r}")
        folder = str(Path(folder).expanduser().resolve())
    _cache_folder = folder
    _loops.cache_clear()


def kernel_cache() -> str | None:
    """The folder the compiled loops are kept in, or None (see :func:`set_kernel_cache`)."""
    if _cache_folder is not _UNSET:
        return _cache_folder  # type: ignore[return-value]
    folder = os.environ.get(CACHE_VARIABLE, "")
    return str(Path(folder).expanduser().resolve()) if folder else None


@contextlib.contextmanager
def _numba_cache_dir(numba, folder: str) -> Iterator[None]:
    """numba's cache folder set to ``folder`` while loops are decorated (numba picks a
    function's cache location then), and restored afterwards."""
    previous = numba.config.CACHE_DIR
    numba.config.CACHE_DIR = folder
    try:
        yield
    finally:
        numba.config.CACHE_DIR = previous


@cache
def _loops(k: int):
    """The two loops for spline order ``k``, compiled on first use (``k`` is a constant
    to numba: its loops unroll, 2.5x faster than a run-time order)."""
    numba = _numba()
    assert numba is not None, "callers check usable() first"
    folder = kernel_cache()
    with _numba_cache_dir(numba, folder) if folder else contextlib.nullcontext():
        return _compiled_loops(numba, k, folder is not None)


def _compiled_loops(numba, k: int, on_disk: bool):
    """The two loops for spline order ``k`` (decorated: numba compiles them on first
    call, or loads them from its cache when ``on_disk``)."""
    n = k + 1

    @numba.njit(nogil=True, fastmath=_FLAGS, cache=on_disk)
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

    @numba.njit(nogil=True, fastmath=_FLAGS, cache=on_disk)
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
