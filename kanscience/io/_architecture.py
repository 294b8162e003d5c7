"""Check a checkpoint's architecture against its tensors before a model is built.

A config is only text: it may claim a width of ``10**8`` or a grid that its tensors do
not have. Building such a model would allocate (or loop) first and fail late, so the
claimed shapes are derived here with integer arithmetic alone and compared with the
shapes of the stored tensors; any mismatch is a ``ValueError`` naming the field.

Examples
--------
>>> import torch
>>> from kanscience import KAN
>>> model = KAN([2, 3, 1], seed=0)
>>> names = [layer.symbolic_names for layer in model.layers]
>>> check_architecture(model.config(), names, model.state_dict())
>>> config = dict(model.config(), width=[[2, 0], [10**8, 0], [1, 0]])
>>> check_architecture(config, names, model.state_dict())
Traceback (most recent call last):
    ...
ValueError: width[1] claims 100000000 nodes, more than the 192 numbers stored in the file
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torch import Tensor

from ..core import parse_mult_arity, parse_width

__all__ = ["check_architecture"]


def _count(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{field} must be an int, got {value!r}")
    return value


def _bounded_width(width: Any, stored: int) -> list[list[int]]:
    """``parse_width`` after checking that no entry claims more nodes than numbers stored."""
    if not isinstance(width, list):
        raise ValueError(f"width must be a list, got {type(width).__name__}")
    for position, entry in enumerate(width):
        counts = entry if isinstance(entry, list) else [entry]
        for count in counts:
            if isinstance(count, int) and count > stored:
                raise ValueError(
                    f"width[{position}] claims {count} nodes, more than the "
                    f"{stored} numbers stored in the file"
                )
    return parse_width(width)


def _per_layer(value: Any, depth: int, field: str) -> list[int]:
    if not isinstance(value, list) or len(value) != depth:
        raise ValueError(f"{field} must list one int per layer ({depth}), got {value!r}")
    return [_count(v, f"{field}[{i}]") for i, v in enumerate(value)]


def _layer_dims(architecture: Mapping[str, Any], stored: int) -> list[tuple[int, int]]:
    """(in_dim, out_dim) of every layer, from ``width`` and ``mult_arity``."""
    width = _bounded_width(architecture.get("width"), stored)
    arity = architecture.get("mult_arity")
    if not isinstance(arity, (int, list)) or isinstance(arity, bool):
        raise ValueError(f"mult_arity must be an int or a list, got {arity!r}")
    if isinstance(arity, list):
        for position, entry in enumerate(arity):
            if isinstance(entry, int) and entry * width[position][1] > stored:
                raise ValueError(f"mult_arity[{position}] claims more subnodes than stored")
    arities = parse_mult_arity(arity, width)
    return [
        (sum(width[layer]), width[layer + 1][0] + sum(arities[layer + 1]))
        for layer in range(len(width) - 1)
    ]


def _expected_shapes(
    architecture: Mapping[str, Any], stored: int
) -> tuple[list[tuple[int, int]], dict[str, tuple[int, ...]]]:
    dims = _layer_dims(architecture, stored)
    grids = _per_layer(architecture.get("grid"), len(dims), "grid")
    orders = _per_layer(architecture.get("k"), len(dims), "k")
    shapes: dict[str, tuple[int, ...]] = {}
    for layer, ((n_in, n_out), grid, k) in enumerate(zip(dims, grids, orders)):
        shapes[f"layers.{layer}.coef"] = (n_in, n_out, grid + k)
        shapes[f"layers.{layer}.grid"] = (n_in, grid + 2 * k + 1)
        for name in ("scale_base", "scale_sp", "mask", "symbolic_mask"):
            shapes[f"layers.{layer}.{name}"] = (n_in, n_out)
        shapes[f"layers.{layer}.symbolic_affine"] = (n_in, n_out, 4)
    return dims, shapes


def _check_symbolic_names(names: Any, dims: Sequence[tuple[int, int]]) -> None:
    if not isinstance(names, list) or len(names) != len(dims):
        raise ValueError(f"symbolic_names must list one table per layer ({len(dims)})")
    for layer, (table, (n_in, n_out)) in enumerate(zip(names, dims)):
        if (
            not isinstance(table, list)
            or len(table) != n_in
            or any(not isinstance(row, list) or len(row) != n_out for row in table)
            or any(not isinstance(name, str) for row in table for name in row)
        ):
            raise ValueError(
                f"symbolic_names[{layer}] must be {n_in} rows of {n_out} function names"
            )


def check_architecture(
    architecture: Mapping[str, Any],
    symbolic_names: Any,
    tensors: Mapping[str, Tensor],
) -> None:
    """Raise ``ValueError`` unless ``architecture`` describes exactly ``tensors``.

    Parameters
    ----------
    architecture : mapping
        ``KAN.config()`` as read from a file (widths, grids, spline orders, arities).
    symbolic_names : list
        Per layer, ``in_dim`` rows of ``out_dim`` function names.
    tensors : mapping of str to Tensor
        The stored state dict.

    Raises
    ------
    ValueError
        Naming the first field whose claimed shape the tensors do not have. Only integer
        arithmetic on the claimed sizes is done, so a huge claim fails at once.
    """
    stored = sum(t.numel() for t in tensors.values())
    dims, shapes = _expected_shapes(architecture, stored)
    for name, shape in shapes.items():
        if name not in tensors:
            raise ValueError(f"the file has no tensor {name!r} for the claimed architecture")
        if tuple(tensors[name].shape) != shape:
            raise ValueError(
                f"tensor {name!r} has shape {tuple(tensors[name].shape)}, "
                f"the architecture claims {shape}"
            )
    _check_symbolic_names(symbolic_names, dims)
