"""Checks at the boundary of a KAN: constructor options, sizes, and the inputs of a pass.

One rule for the inputs of every pass (``forward``, ``node_values``, ``update_grid_``,
``refine`` and the analyses that call :meth:`KAN.check_input`): a 2-D tensor
``(batch, n_in)`` of real floating-point numbers on the model's device. An input whose
dtype converts to the model's exactly (float16, bfloat16 or float32 into a float64 model)
is cast; anything that would lose precision or change meaning (float64 into a float32
model, integers, bools, complex numbers) is refused, as is an input on another device,
with an error naming the dtype or device and saying what to do.

Sizes are bounded before anything is allocated: a grid of more than :data:`MAX_GRID`
intervals, or a model of more than :data:`MAX_COEFFICIENTS` spline coefficients, needs
``allow_large=True``.

Examples
--------
>>> check_count("grid", 5, minimum=1)
5
>>> check_count("grid", 2.5, minimum=1)
Traceback (most recent call last):
...
TypeError: grid must be an int, got 2.5 (float)
>>> check_grid_size("grid", 10**7, allow_large=False)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
ValueError: grid=10000000 is above the limit of 1000 intervals per edge; pass allow_large=...
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Integral, Real
from typing import Any

import torch
from torch import Tensor

__all__ = [
    "MAX_COEFFICIENTS",
    "MAX_GRID",
    "check_count",
    "check_float_dtype",
    "check_grid_size",
    "check_number",
    "check_parameter_count",
    "check_pass_input",
    "check_range",
    "check_samples",
    "check_sizes",
    "per_layer",
]

MAX_GRID = 1000
"""Grid intervals per edge allowed without ``allow_large=True``. Building a layer fits
its initial splines by least squares on ``grid + 1`` points, a cost growing like
``grid**3`` (1 s at 1000 intervals, minutes at 10**4)."""

MAX_COEFFICIENTS = 10**8
"""Spline coefficients (over all edges) allowed without ``allow_large=True``: 0.8 GB in
float64, before gradients and optimizer state."""

FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def check_count(name: str, value: Any, minimum: int) -> int:
    """``value`` as an int ``>= minimum``; a TypeError for a bool, float or other type."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be an int, got {value!r} ({type(value).__name__})")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def check_number(
    name: str, value: Any, minimum: float | None = None, maximum: float | None = None
) -> float:
    """``value`` as a finite float in ``[minimum, maximum]`` (each if given), naming ``name``."""
    bound = "" if minimum is None else f" >= {minimum:g}"
    bound += "" if maximum is None else f"{' and' if bound else ''} <= {maximum:g}"
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a finite number{bound}, got {value!r}")
    number = float(value)
    if (
        not math.isfinite(number)
        or (minimum is not None and number < minimum)
        or (maximum is not None and number > maximum)
    ):
        raise ValueError(f"{name} must be a finite number{bound}, got {value!r}")
    return number


def check_range(name: str, value: Any) -> tuple[float, float]:
    """``value`` as a pair of finite floats ``(low, high)`` with ``low < high``."""
    if not isinstance(value, Sequence) or isinstance(value, str) or len(value) != 2:
        raise ValueError(f"{name} must be a pair (low, high), got {value!r}")
    low, high = (check_number(f"{name}[{i}]", v) for i, v in enumerate(value))
    if not low < high:
        raise ValueError(f"{name} must have low < high, got {value!r}")
    return low, high


def per_layer(value: Any, depth: int, name: str, minimum: int) -> list[int]:
    """An int or one int per layer, as a list of ``depth`` ints ``>= minimum``."""
    if isinstance(value, Sequence) and not isinstance(value, str):
        if len(value) != depth:
            raise ValueError(f"{name} must be an int or a list of {depth} ints, got {value!r}")
        return [check_count(f"{name}[{i}]", v, minimum) for i, v in enumerate(value)]
    return [check_count(name, value, minimum)] * depth


def check_grid_size(name: str, grid: int, allow_large: bool) -> int:
    """``grid``; a ValueError above :data:`MAX_GRID` intervals unless ``allow_large``."""
    if grid > MAX_GRID and not allow_large:
        raise ValueError(
            f"{name}={grid} is above the limit of {MAX_GRID} intervals per edge; "
            "pass allow_large=True to build it anyway"
        )
    return grid


def check_parameter_count(
    dims: Sequence[tuple[int, int]], grids: Sequence[int], orders: Sequence[int], allow_large: bool
) -> None:
    """Refuse more than :data:`MAX_COEFFICIENTS` spline coefficients unless ``allow_large``."""
    total = sum(n_in * n_out * (g + k) for (n_in, n_out), g, k in zip(dims, grids, orders))
    if total > MAX_COEFFICIENTS and not allow_large:
        raise ValueError(
            f"the model would have {total} spline coefficients, above the limit of "
            f"{MAX_COEFFICIENTS}; pass allow_large=True to build it anyway"
        )


def check_sizes(
    dims: Sequence[tuple[int, int]], grid: Any, k: Any, allow_large: bool
) -> tuple[list[int], list[int]]:
    """Per-layer grids and spline orders of layers ``(in_dim, out_dim)``, within the limits."""
    depth = len(dims)
    grids = per_layer(grid, depth, "grid", minimum=1)
    orders = per_layer(k, depth, "k", minimum=0)
    listed = isinstance(grid, Sequence) and not isinstance(grid, str)
    for layer, layer_grid in enumerate(grids):
        check_grid_size(f"grid[{layer}]" if listed else "grid", layer_grid, allow_large)
    check_parameter_count(dims, grids, orders, allow_large)
    return grids, orders


def check_float_dtype(dtype: Any) -> torch.dtype:
    """``dtype`` if it is a real floating-point torch dtype (a KAN's parameters are)."""
    if dtype not in FLOAT_DTYPES:
        raise TypeError(
            "dtype must be a real floating-point torch dtype (torch.float32, torch.float64, "
            f"...), got {dtype!r}"
        )
    return dtype


def check_pass_input(x: Any, n_in: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    """``x`` ready for a pass of a model with ``n_in`` inputs, ``dtype`` and ``device``.

    Casts float inputs that convert exactly; refuses everything else (see the module).
    """
    if not isinstance(x, Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if x.ndim != 2 or x.shape[1] != n_in:
        raise ValueError(f"x must have shape (batch, {n_in}), got {tuple(x.shape)}")
    if x.device != device:
        raise ValueError(
            f"x is on device {x.device} but the model is on {device}; move one of them "
            f"(x.to({str(device)!r}) or model.to({str(x.device)!r}))"
        )
    if x.dtype != dtype:
        if x.dtype not in FLOAT_DTYPES:
            raise TypeError(
                f"x must hold real floating-point numbers, got dtype {x.dtype}; convert it "
                f"with x.to({dtype})"
            )
        if torch.promote_types(x.dtype, dtype) != dtype:
            raise TypeError(
                f"x has dtype {x.dtype} but the model computes in {dtype}, which would round "
                f"it; pass x.to({dtype}) or convert the model with model.to({x.dtype})"
            )
        x = x.to(dtype)
    return x


def check_samples(x: Tensor, purpose: str) -> None:
    """Refuse an empty batch or NaN/Inf rows in the samples that ``purpose`` fits to."""
    if x.shape[0] == 0:
        raise ValueError(f"{purpose} needs at least one sample; x is empty")
    finite = torch.isfinite(x).all(dim=1)
    if not bool(finite.all()):
        bad = int((~finite).sum())
        raise ValueError(f"{purpose} needs finite samples; x has NaN or Inf in {bad} row(s)")
