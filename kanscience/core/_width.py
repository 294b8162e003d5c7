"""Width specs of a KAN: sum nodes, multiplication nodes and their arities.

Width spec (pykan-compatible): ``width=[2, 5, 1]`` for sum nodes only, or entries
``[n_sum, n_mult]`` such as ``[2, [0, 1], 1]``. ``mult_arity`` is an int for all
multiplication nodes, or one list of arities per layer of ``width``.

Examples
--------
>>> parse_width([2, [0, 1], 1])
[[2, 0], [0, 1], [1, 0]]
>>> parse_mult_arity([[], [3], []], [[2, 0], [0, 1], [1, 0]])
[[], [3], []]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import SupportsIndex

import torch
from torch import Tensor

__all__ = ["WidthSpec", "multiply_subnodes", "parse_mult_arity", "parse_width", "product_index"]

WidthSpec = Sequence["int | Sequence[int]"]


def parse_width(width: WidthSpec) -> list[list[int]]:
    """Normalize a width spec to ``[[n_sum, n_mult], ...]``.

    Raises
    ------
    ValueError
        For fewer than two layers, negative counts, entries that are neither an int nor a
        pair, or a layer without nodes.
    """
    if not isinstance(width, Sequence) or isinstance(width, str) or len(width) < 2:
        raise ValueError(f"width must be a list of at least two layers, got {width!r}")
    parsed = []
    for position, entry in enumerate(width):
        if isinstance(entry, SupportsIndex) and not isinstance(entry, bool):
            pair = [int(entry), 0]
        elif (
            isinstance(entry, Sequence)
            and len(entry) == 2
            and all(isinstance(v, SupportsIndex) and not isinstance(v, bool) for v in entry)
        ):
            pair = [int(entry[0]), int(entry[1])]
        else:
            raise ValueError(
                f"width[{position}] must be an int or a pair [n_sum, n_mult], got {entry!r}"
            )
        if pair[0] < 0 or pair[1] < 0:
            raise ValueError(f"width[{position}] has a negative node count: {entry!r}")
        if pair[0] + pair[1] == 0:
            raise ValueError(f"width[{position}] has no nodes: {entry!r}")
        parsed.append(pair)
    if parsed[0][1] != 0:
        raise ValueError(f"the input layer width[0] cannot have multiplication nodes: {width[0]!r}")
    return parsed


def parse_mult_arity(
    mult_arity: int | Sequence[Sequence[int]], width: list[list[int]]
) -> list[list[int]]:
    """Per-layer lists of multiplication-node arities (``[]`` for layers without any)."""
    if isinstance(mult_arity, SupportsIndex):
        arity = int(mult_arity)
        if arity < 2:
            raise ValueError(f"mult_arity must be >= 2, got {mult_arity!r}")
        return [[arity] * n_mult for _, n_mult in width]
    if not isinstance(mult_arity, Sequence) or len(mult_arity) != len(width):
        raise ValueError(
            f"mult_arity must be an int or one list of arities per layer ({len(width)} "
            f"lists), got {mult_arity!r}"
        )
    arities = []
    for position, (entry, (_, n_mult)) in enumerate(zip(mult_arity, width)):
        entry = (
            []
            if entry is None
            else ([int(entry)] * n_mult if isinstance(entry, int) else list(entry))
        )
        if len(entry) != n_mult or any(int(a) < 2 for a in entry):
            raise ValueError(
                f"mult_arity[{position}] must list {n_mult} arities >= 2, "
                f"got {mult_arity[position]!r}"
            )
        arities.append([int(a) for a in entry])
    return arities


def product_index(n_sum: int, arities: Sequence[int]) -> tuple[int, int, Tensor | None]:
    """``(n_sum, max_arity, index)`` of a layer for :func:`multiply_subnodes`.

    ``index`` gathers the factors of each multiplication node from the subnodes padded by
    a column of ones; None when all nodes have the same arity (a plain reshape).
    """
    if not arities or len(set(arities)) == 1:
        return n_sum, (arities[0] if arities else 0), None
    width, total = max(arities), sum(arities)
    index, start = [], 0
    for arity in arities:
        index.extend(list(range(start, start + arity)) + [total] * (width - arity))
        start += arity
    return n_sum, width, torch.tensor(index)


def multiply_subnodes(subnodes: Tensor, n_sum: int, arity: int, index: Tensor | None) -> Tensor:
    """Node values from subnode values: sum nodes pass, each product node multiplies its
    factors (``n_sum``, ``arity``, ``index`` from :func:`product_index`)."""
    if arity == 0:
        return subnodes
    factors, batch = subnodes[:, n_sum:], subnodes.shape[0]
    if index is None:
        products = factors.reshape(batch, factors.shape[1] // arity, arity).prod(-1)
    else:
        padded = torch.cat([factors, factors.new_ones(batch, 1)], dim=1)
        gathered = padded[:, index.to(subnodes.device)]
        products = gathered.reshape(batch, len(index) // arity, arity).prod(-1)
    return torch.cat([subnodes[:, :n_sum], products], dim=1)
