"""A seeded random permutation of ``range(rows)`` evaluated position by position, in memory
independent of ``rows``.

``torch.randperm(rows)`` holds every index (8 MB for a million rows); a mini-batch needs
only its own. :class:`RowPermutation` maps positions to rows through a balanced Feistel
network on ``2 * half`` bits (a bijection of ``range(4^half)`` whatever its round
function), walking the cycle until the value falls below ``rows`` (which keeps it a
bijection of ``range(rows)``; fewer than four steps on average since ``4^half < 4 rows``).

Examples
--------
>>> perm = RowPermutation(10, seed=0)
>>> sorted(perm(torch.arange(10)).tolist())
[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..core import _kernels as kernels

__all__ = ["RowPermutation"]

_ROUNDS = 4  # Luby-Rackoff: four rounds make a Feistel network a strong pseudo-random permutation
_MULTIPLIERS = (0x9E3779B1, 0x85EBCA6B, 0xC2B2AE35, 0x27D4EB2F)  # odd 32-bit mixing constants


class RowPermutation:
    """A pseudo-random permutation of ``range(rows)``, drawn from ``seed``.

    Parameters
    ----------
    rows : int
        >= 1.
    seed : int
        Seeds the round keys (a private generator).
    """

    def __init__(self, rows: int, seed: int) -> None:
        if rows < 1:
            raise ValueError(f"rows must be >= 1, got {rows}")
        self.rows = rows
        self.half = max(1, ((rows - 1).bit_length() + 1) // 2)
        generator = torch.Generator().manual_seed(seed)
        self.keys = torch.randint(0, 2**31, (_ROUNDS,), generator=generator).tolist()

    def __call__(self, positions: Tensor) -> Tensor:
        """The rows at ``positions`` (int64 in ``[0, rows)``) of the permutation."""
        compiled = kernels.permute_rows(positions, self.rows, self.half, self.keys)
        if compiled is not None:
            return compiled
        value = self._network(positions.to(torch.int64))
        outside = value >= self.rows
        while bool(outside.any()):
            value[outside] = self._network(value[outside])
            outside = value >= self.rows
        return value

    def _network(self, value: Tensor) -> Tensor:
        mask = (1 << self.half) - 1
        left, right = value >> self.half, value & mask
        for key, multiplier in zip(self.keys, _MULTIPLIERS, strict=True):
            mixed = ((right ^ key) * multiplier) & 0xFFFFFFFF  # fits int64: no overflow
            mixed = mixed ^ (mixed >> 15)
            left, right = right, left ^ (mixed & mask)
        return (left << self.half) | right
