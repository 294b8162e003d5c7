"""Symmetry and general separability tests on any torch callable, via gradients.

* :func:`symmetry` -- ``f`` sees ``x_A`` only through one combination ``phi(x_A)``: the
  direction of ``grad_A f`` does not change when the other variables do.
* :func:`general_separability` -- ``f = h(p(x_A) + q(x_B))``: symmetric in ``A`` and in
  ``B``, and the ratio of the two gradients' norms factors.

Inputs and scores follow :mod:`kanscience.structure._hypothesis` (rescaled variables,
unit-free scores in [0, 1], a property holds below its threshold). Default thresholds,
from the exact Feynman equations (float64, 100-500 points): exact structure scores
~1e-15; the weakest broken symmetry scores 0.011 and the weakest broken general
separability 0.025.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ._interactions import _derangement, _gradient
from ._sampling import (
    Ranges,
    Seed,
    _as_callable,
    _check_block,
    _check_threshold,
    _generator,
    _inputs,
)

__all__ = [
    "GENERAL_THRESHOLD",
    "SYMMETRY_THRESHOLD",
    "GeneralSeparabilityResult",
    "SymmetryResult",
    "general_separability",
    "symmetry",
]

SYMMETRY_THRESHOLD = 1e-3
GENERAL_THRESHOLD = 1e-3
_TINY = 1e-12  # gradients below this fraction of the largest are left out of angle tests


@dataclass(frozen=True)
class SymmetryResult:
    """Outcome of :func:`symmetry`: mean ``|sin|`` angle change of ``grad_group f``."""

    group: tuple[int, ...]
    symmetric: bool
    score: float


@dataclass(frozen=True)
class GeneralSeparabilityResult:
    """Outcome of :func:`general_separability`; ``score`` is the largest sub-score."""

    groups: tuple[tuple[int, ...], tuple[int, ...]]
    separable: bool
    score: float
    symmetry_scores: tuple[float, float]
    ratio_score: float


def _angle_change(u: torch.Tensor, v: torch.Tensor) -> float:
    """Mean |sin| of the angle between rows of u and v (rows with ~0 norm left out)."""
    if u.shape[1] < 2:
        return 0.0
    nu, nv = u.norm(dim=1), v.norm(dim=1)
    peak = torch.maximum(nu.max(), nv.max())
    ok = (nu > _TINY * peak) & (nv > _TINY * peak)
    if not bool(ok.any()):
        return 0.0
    w = u[ok, :, None] * v[ok, None, :]
    wedge = (w - w.transpose(1, 2)).pow(2).sum((1, 2)).div(2).sqrt()
    return float((wedge / (nu[ok] * nv[ok])).clamp(max=1.0).mean())


def _swap(x: torch.Tensor, cols: tuple[int, ...], perm: torch.Tensor) -> torch.Tensor:
    out = x.clone()
    out[:, list(cols)] = x[perm][:, list(cols)]
    return out


def symmetry(
    f: Callable,
    x: torch.Tensor | np.ndarray | None,
    group: Sequence[int],
    *,
    threshold: float = SYMMETRY_THRESHOLD,
    ranges: Ranges | None = None,
    n_samples: int = 300,
    seed: Seed = 0,
) -> SymmetryResult:
    """Test whether ``f`` depends on ``x[:, group]`` only through one combination.

    Each point is paired with a copy whose other variables come from another point;
    the score is the mean ``|sin|`` of the angle between the rescaled ``grad_group f``
    at the two. A group of one variable, or of all variables, is trivially symmetric.

    Parameters
    ----------
    f, x, ranges, n_samples
        As in :func:`separability`.
    group : sequence of int
        Variable indices.
    threshold : float in (0, 1)
        Symmetric when the score is below it.
    seed : int or torch.Generator
        Randomness of sampling and pairing.

    Returns
    -------
    SymmetryResult

    Examples
    --------
    >>> f = lambda x: x[:, 2] / (1 + x[:, 0] ** 2 + x[:, 1] ** 2)
    >>> symmetry(f, None, (0, 1), ranges=[(1, 2)] * 3).symmetric
    True
    >>> symmetry(f, None, (0, 2), ranges=[(1, 2)] * 3).symmetric
    False
    """
    _check_threshold(threshold)
    f = _as_callable(f)
    gen = _generator(seed)
    x = _inputs(x, ranges, n_samples, gen)
    d = x.shape[1]
    group = _check_block(group, d, "group")
    rest = tuple(i for i in range(d) if i not in group)
    if len(group) < 2 or not rest:
        return SymmetryResult(group=group, symmetric=True, score=0.0)
    scale = x.std(0)[list(group)]
    x_other = _swap(x, rest, _derangement(x.shape[0], gen))
    score = _angle_change(
        _gradient(f, x)[:, list(group)] * scale, _gradient(f, x_other)[:, list(group)] * scale
    )
    return SymmetryResult(group=group, symmetric=score < threshold, score=score)


def general_separability(
    f: Callable,
    x: torch.Tensor | np.ndarray | None,
    groups: Sequence[Sequence[int]],
    *,
    threshold: float = GENERAL_THRESHOLD,
    ranges: Ranges | None = None,
    n_samples: int = 300,
    seed: Seed = 0,
) -> GeneralSeparabilityResult:
    """Test ``f(x) = h(p(x_A) + q(x_B))`` for a bipartition ``groups = (A, B)``.

    Necessary and sufficient (smooth ``f``, nonzero gradient): ``f`` is symmetric in ``A``
    and in ``B`` (``symmetry_scores``), and ``rho = |grad_B f| / |grad_A f|`` factors as
    ``alpha(x_A) beta(x_B)``: on quadruples ``(a, b), (a, b'), (a', b), (a', b')``,
    ``D = log rho(a,b) + log rho(a',b') - log rho(a,b') - log rho(a',b) = 0``
    (``ratio_score``: mean of ``|D| / (1 + |D|)``).  pykan checks only that gradient
    ratios factor, which also accepts ``x1*y1 + x2*y2`` split as ``{x1} | {y1, x2, y2}``.

    Parameters
    ----------
    f, x, ranges, n_samples, seed
        As in :func:`symmetry`.
    groups : pair of index sequences
        Disjoint, non-empty, together all variables.
    threshold : float in (0, 1)
        Separable when the largest sub-score is below it.

    Returns
    -------
    GeneralSeparabilityResult

    Examples
    --------
    >>> f = lambda x: (x[:, 0] + x[:, 1]) / (1 + x[:, 0] * x[:, 1])
    >>> general_separability(f, None, ((0,), (1,)), ranges=[(0.1, 0.9)] * 2).separable
    True
    """
    _check_threshold(threshold)
    f = _as_callable(f)
    gen = _generator(seed)
    x = _inputs(x, ranges, n_samples, gen)
    d = x.shape[1]
    if d < 2:
        raise ValueError(f"general separability needs at least two variables, x has {d}")
    if isinstance(groups, (str, bytes)) or len(groups) != 2:
        raise ValueError(f"groups must be a pair (A, B) of index sequences, got {groups!r}")
    a, b = _check_block(groups[0], d, "groups[0]"), _check_block(groups[1], d, "groups[1]")
    if set(a) & set(b) or len(a) + len(b) != d:
        raise ValueError(
            f"groups must split all {d} variables into two disjoint blocks, got {groups!r}"
        )
    perm = _derangement(x.shape[0], gen)
    scale = x.std(0)
    g_ab = _gradient(f, x) * scale  # (a, b)
    g_ab2 = _gradient(f, _swap(x, b, perm)) * scale  # (a, b')
    g_a2b = _gradient(f, _swap(x, a, perm)) * scale  # (a', b)
    g_a2b2 = g_ab[perm]  # (a', b')
    la, lb = list(a), list(b)
    sym = (_angle_change(g_ab[:, la], g_ab2[:, la]), _angle_change(g_ab[:, lb], g_a2b[:, lb]))

    def log_rho(g: torch.Tensor) -> torch.Tensor:
        return torch.log(g[:, lb].norm(dim=1)) - torch.log(g[:, la].norm(dim=1))

    dev = (log_rho(g_ab) + log_rho(g_a2b2) - log_rho(g_ab2) - log_rho(g_a2b)).abs()
    dev = dev[torch.isfinite(dev)]
    ratio = float((dev / (1 + dev)).mean()) if dev.numel() else 0.0
    score = max(sym[0], sym[1], ratio)
    return GeneralSeparabilityResult(
        groups=(a, b),
        separable=score < threshold,
        score=score,
        symmetry_scores=sym,
        ratio_score=ratio,
    )
