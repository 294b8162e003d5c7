"""Fused CPU loops for the B-spline layers, compiled C (``kanscience/core/_loops.c``).

A small KAN (the networks of science: a few inputs, grid 5) is dispatch-bound: evaluating
the bases with torch takes about twenty tensor operations per layer (interval search,
table gather, Horner for the values and the slopes, index arithmetic, scatter), each
costing a few microseconds whatever its size. Here the same computation is one compiled
loop over the samples, and the x-gradient of the features another:

- :func:`spline_features` gives what :func:`kanscience.core.local_bases` and
  :func:`kanscience.core._features.dense_features` give together (features, basis indices,
  slopes) from the same per-interval table;
- :func:`features_backward` gives :func:`kanscience.core._features.features_backward`;
- :func:`contract` and :func:`contract_backward` give a layer's numeric output
  ``features(x) @ W`` and the gradients of ``x`` and of the parameters that make ``W``,
  without forming the features: per input value they visit only the ``k + 2`` nonzero
  features and their rows of ``W`` (read or written once per group of samples in the same
  grid interval), so the cost does not grow with the grid, and only ``x`` and ``W`` are
  kept for the backward pass. Large calls are cut into chunks of rows (forward) or of
  inputs (backward) that torch's own OpenMP threads take in turn;
- :func:`permute_rows` gives the rows of the streamed fit's permutation
  (:class:`kanscience.train._permutation.RowPermutation`).

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

import ctypes

import torch
from torch import Tensor

__all__ = [
    "MAX_ELEMENTS",
    "contract",
    "contract_backward",
    "contract_usable",
    "features_backward",
    "permute_rows",
    "spline_features",
    "usable",
]

MAX_ELEMENTS = 2**15
"""Largest ``batch * n_in`` sent to the compiled loops (one thread); above it torch's
vectorized operations on all threads are faster."""

_BASES = {"silu": 0, "identity": 1, "zero": 2}

MAX_ORDER = 15
"""Highest spline order the compiled contraction takes (``KS_MAX_BASES - 1`` in C)."""

THREADED_WORK = 2**18
"""Multiply-adds (``batch * n_in * (k + 2) * n_out``) above which a contraction is split
over threads; below it waking them costs more than it saves."""


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


def contract_usable(x: Tensor, k: int, *tensors: Tensor) -> bool:
    """Whether :func:`contract` applies: the extension built, an order it takes, and CPU
    tensors of one float dtype (it runs inside autograd functions, in any grad mode).
    Asked on every layer pass: plain attribute tests (1.6 us; comparing device types in a
    generator took 7)."""
    if _LOOPS is None or k > MAX_ORDER or not x.is_cpu or x.ndim != 2:
        return False
    dtype = x.dtype  # dtypes are singletons
    if dtype is not torch.float32 and dtype is not torch.float64:
        return False
    for tensor in tensors:  # noqa: SIM110 (all() over a generator: 2.4 us against 1.6)
        if tensor.dtype is not dtype or not tensor.is_cpu:
            return False
    return True


def _openmp_parallel() -> int:
    """Address of ``GOMP_parallel`` in the OpenMP runtime torch has loaded (0 if none is
    found): the contraction runs its chunks on torch's worker threads, which after each
    parallel torch operation spin for a while and would halve the speed of threads of
    our own sharing their cores."""
    try:
        with open("/proc/self/maps") as maps:  # Linux; elsewhere the loops run on one thread
            paths = {line.split()[-1] for line in maps if "omp" in line.rsplit("/", 1)[-1]}
    except OSError:
        return 0
    for path in sorted(paths):
        try:
            function = ctypes.CDLL(path, mode=ctypes.RTLD_LOCAL).GOMP_parallel
        except (OSError, AttributeError):
            continue
        return ctypes.cast(function, ctypes.c_void_p).value or 0
    return 0


_PARALLEL: list[int] = []  # found on first use


def _threads(work: int) -> tuple[int, int]:
    """``(GOMP_parallel address, threads)`` for a contraction of ``work`` multiply-adds."""
    if work <= THREADED_WORK or torch.get_num_threads() < 2:
        return 0, 1
    if not _PARALLEL:
        _PARALLEL.append(_openmp_parallel())
    return _PARALLEL[0], torch.get_num_threads()


def _pointers(*tensors: Tensor | None) -> list[int]:
    return [0 if t is None else t.data_ptr() for t in tensors]


def _sizes(x: Tensor, coef: Tensor, grid: Tensor, table: Tensor, k: int, base: str) -> tuple:
    """The size, type and thread arguments that follow the addresses in a contraction."""
    batch, n_in = x.shape
    n_out = coef.shape[1]
    return (
        batch,
        n_in,
        n_out,
        grid.shape[1],
        table.shape[1],
        k,
        _BASES[base],
        x.dtype == torch.float64,
        *_threads(batch * n_in * (k + 2) * n_out),
    )


def contract(
    x: Tensor,
    grid: Tensor,
    table: Tensor,
    coef: Tensor,
    scale_base: Tensor,
    scale_sp: Tensor,
    mask: Tensor,
    k: int,
    base: str,
) -> tuple[Tensor, Tensor]:
    """``(y, W)``: the layer's weights ``W`` (n_in, G + k + 1, n_out) of
    :func:`kanscience.core._contraction.contraction_weight` and ``y = features(x) @ W``
    (batch, n_out)."""
    assert _LOOPS is not None, "callers check contract_usable() first"
    batch, n_in = x.shape
    # only addresses are taken (no graph to detach from inside an autograd function)
    tensors = [t.contiguous() for t in (x, grid, table, coef, scale_base, scale_sp, mask)]
    weight = x.new_empty(n_in, coef.shape[2] + 1, coef.shape[1])
    y = x.new_empty(batch, coef.shape[1])
    _LOOPS.contract(
        False,
        *_pointers(*tensors, weight, y, None, None, None, None, None, None),
        *_sizes(x, coef, grid, table, k, base),
    )
    return y, weight


def contract_backward(
    x: Tensor,
    grid: Tensor,
    table: Tensor,
    coef: Tensor,
    scale_sp: Tensor,
    mask: Tensor,
    weight: Tensor,
    grad_y: Tensor,
    k: int,
    base: str,
    want_x: bool,
    want_parameters: bool = True,
) -> tuple[Tensor | None, Tensor | None, Tensor | None, Tensor | None]:
    """``(grad_x, grad_coef, grad_base, grad_sp)`` of :func:`contract` for the output
    gradient ``grad_y`` (batch, n_out); ``grad_x`` None unless ``want_x``, the parameters'
    None unless ``want_parameters`` (then their loops are skipped: attribution on a frozen
    model needs only ``grad_x``)."""
    assert _LOOPS is not None, "callers check contract_usable() first"
    x, grid, table, coef, scale_sp, mask, weight, grad_y = (
        t.contiguous() for t in (x, grid, table, coef, scale_sp, mask, weight, grad_y)
    )
    grad_x = torch.empty_like(x) if want_x else None
    grad_coef = grad_base = grad_sp = scratch = None
    if want_parameters:
        grad_coef, grad_base, grad_sp = (torch.empty_like(t) for t in (coef, mask, mask))
        scratch = torch.empty_like(weight)  # the weights' gradient, alive through the call
    _LOOPS.contract(
        True,
        *_pointers(x, grid, table, coef, None, scale_sp, mask, weight, None, grad_y, scratch),
        *_pointers(grad_x, grad_coef, grad_base, grad_sp),
        *_sizes(x, coef, grid, table, k, base),
    )
    return grad_x, grad_coef, grad_base, grad_sp


def permute_rows(positions: Tensor, rows: int, half: int, keys: list[int]) -> Tensor | None:
    """``RowPermutation``'s rows at ``positions`` (:mod:`kanscience.train._permutation`)
    as one compiled loop, or None where the extension is missing or ``positions`` is not on
    the CPU (the caller then uses its torch operations): the cycle walk of a few batch
    entries costs one pass of about twenty tensor operations each in torch."""
    if _LOOPS is None or positions.device.type != "cpu":
        return None
    positions = positions.to(torch.int64).contiguous()
    out = torch.empty_like(positions)
    _LOOPS.permute(positions.data_ptr(), out.data_ptr(), positions.numel(), rows, half, *keys)
    return out


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
