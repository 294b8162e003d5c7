"""The inputs of a structure test: sample points, seeds and checked arguments.

Every test takes any callable ``f`` mapping a float64 tensor ``(n, d)`` to ``(n,)`` or
``(n, 1)``, row by row, and either points ``x`` or per-variable ``ranges`` to sample
uniformly with an explicit ``seed`` (an int seeds a private generator; the global RNG is
never used). The helpers here check those arguments once for all tests.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch

__all__ = ["Ranges", "Seed", "sample_inputs"]

Ranges = Sequence[Sequence[float]] | Mapping[str, Sequence[float]]
Seed = int | torch.Generator


def _generator(seed: Seed) -> torch.Generator:
    if isinstance(seed, torch.Generator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int or a torch.Generator, got {type(seed).__name__}")
    return torch.Generator().manual_seed(int(seed))


def sample_inputs(ranges: Ranges, n_samples: int = 300, *, seed: Seed = 0) -> torch.Tensor:
    """Sample points uniformly and independently from per-variable ranges (float64).

    Parameters
    ----------
    ranges : sequence of (low, high) or mapping name -> (low, high)
        One interval per variable, in order.
    n_samples : int
        Number of points.
    seed : int or torch.Generator
        Source of randomness; an int seeds a private generator.

    Returns
    -------
    torch.Tensor
        Shape ``(n_samples, len(ranges))``.

    Examples
    --------
    >>> sample_inputs([(0, 1), (2, 3)], 4, seed=0).shape
    torch.Size([4, 2])
    """
    bounds = list(ranges.values()) if isinstance(ranges, Mapping) else list(ranges)
    try:
        lohi = torch.tensor([[float(b[0]), float(b[1])] for b in bounds], dtype=torch.float64)
    except (TypeError, IndexError, ValueError) as err:
        raise ValueError(f"ranges must hold (low, high) pairs, got {ranges!r}") from err
    if len(bounds) == 0 or not bool(torch.all(lohi[:, 0] < lohi[:, 1])):
        raise ValueError(
            f"ranges must be non-empty with low < high for each variable, got {ranges!r}"
        )
    if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 2:
        raise ValueError(f"n_samples must be an int >= 2, got {n_samples!r}")
    u = torch.rand(n_samples, len(bounds), dtype=torch.float64, generator=_generator(seed))
    return lohi[:, 0] + u * (lohi[:, 1] - lohi[:, 0])


def _inputs(x, ranges: Ranges | None, n_samples: int, gen: torch.Generator) -> torch.Tensor:
    if x is None:
        if ranges is None:
            raise ValueError("give either x (an (n, d) array) or ranges, got neither")
        return sample_inputs(ranges, n_samples, seed=gen)
    x = torch.as_tensor(x).detach().to(torch.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"x must have shape (n, d) with n >= 2, got {tuple(x.shape)}")
    if not bool(torch.isfinite(x).all()):
        raise ValueError("x contains NaN or Inf")
    if bool((x.std(0) == 0).any()):
        raise ValueError(
            f"x has constant columns {torch.nonzero(x.std(0) == 0).flatten().tolist()}"
            "; every variable must vary"
        )
    return x.clone()


def _as_callable(f: Callable) -> Callable:
    if not callable(f):
        raise TypeError(f"f must be callable, got {type(f).__name__}")
    if isinstance(f, torch.nn.Module) and any(p.dtype != torch.float64 for p in f.parameters()):
        f = copy.deepcopy(f).double()  # the tests run in float64; the caller's model is untouched
    return f


def _check_threshold(threshold: float, name: str = "threshold") -> None:
    if (
        isinstance(threshold, bool)
        or not isinstance(threshold, (int, float))
        or not 0.0 < float(threshold) < 1.0
    ):
        raise ValueError(f"{name} must be a number in (0, 1), got {threshold!r}")


def _check_block(block: Sequence[int], d: int, name: str) -> tuple[int, ...]:
    try:
        out = tuple(int(i) for i in block)
    except TypeError as err:
        raise ValueError(f"{name} must be a sequence of variable indices, got {block!r}") from err
    if len(out) == 0 or len(set(out)) != len(out) or not all(0 <= i < d for i in out):
        raise ValueError(f"{name} must hold distinct indices in [0, {d}), got {block!r}")
    return tuple(sorted(out))
