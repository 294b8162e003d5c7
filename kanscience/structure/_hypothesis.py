"""Separability and symmetry tests on any torch callable, via autograd derivatives.

``f`` is any callable mapping a float64 tensor ``(n, d)`` to ``(n,)`` or ``(n, 1)``,
row by row (a KAN, an MLP, a lambdified formula).  Inputs are either given as ``x``
or sampled uniformly from ``ranges`` with an explicit ``seed``.  Each variable is
rescaled by its standard deviation, so every score is unit-free and lies in [0, 1];
a property holds when its score is *below* the threshold.

* :func:`separability` -- ``f = sum_k f_k(x_Gk)`` (Hessian of ``f``) or
  ``prod_k f_k(x_Gk)`` (Hessian of ``log|f|``); groups = connected interacting pairs;
  ``method='difference'`` scores mixed differences of values instead, for fitted models
  (:mod:`kanscience.structure._interactions`).
* :func:`symmetry` -- ``f`` sees ``x_A`` only through one combination ``phi(x_A)``.
* :func:`general_separability` -- ``f = h(p(x_A) + q(x_B))``.
* :func:`detect_separability` -- the top-level label: additive, multiplicative or none.

Default thresholds, from the exact Feynman equations (float64, 100-500 points): exact
structure scores ~1e-15; the weakest true interaction scores 0.03 (``asin(l/(n d))``,
multiplicative), the weakest broken symmetry 0.011 and the weakest broken general
separability 0.025; with ``method='difference'`` the weakest true interaction scores 0.019.
For a learned, approximate model use ``method='difference'`` and raise the threshold
above the model's relative error (spurious mixed differences of a fit are of that order).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch

from kanscience.structure._interactions import (
    _blocks,
    _derangement,
    _evaluate,
    _gradient,
    difference_interactions,
    hessian_interactions,
)

__all__ = [
    "GENERAL_THRESHOLD",
    "SEPARABILITY_THRESHOLD",
    "SYMMETRY_THRESHOLD",
    "GeneralSeparabilityResult",
    "SeparabilityReport",
    "SeparabilityResult",
    "SymmetryResult",
    "detect_separability",
    "general_separability",
    "sample_inputs",
    "separability",
    "symmetry",
]

SEPARABILITY_THRESHOLD = 5e-3
SYMMETRY_THRESHOLD = 1e-3
GENERAL_THRESHOLD = 1e-3
_TINY = 1e-12  # gradients below this fraction of the largest are left out of angle tests

Ranges = Sequence[Sequence[float]] | Mapping[str, Sequence[float]]
Seed = int | torch.Generator
Groups = tuple[tuple[int, ...], ...]


@dataclass(frozen=True)
class SeparabilityResult:
    """Outcome of :func:`separability`.

    ``score`` is the largest cross-block entry of ``interaction_matrix`` (computed by
    ``method``) for the reported ``groups``; with a single group it is the same quantity
    for the best two-way split.  ``separable`` is ``score < threshold``.
    """

    mode: str
    separable: bool
    groups: Groups
    score: float
    interaction_matrix: np.ndarray = field(compare=False, repr=False)
    method: str = "hessian"

    @property
    def hessian_matrix(self) -> np.ndarray:
        """``interaction_matrix`` under its former name."""
        return self.interaction_matrix


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


@dataclass(frozen=True)
class SeparabilityReport:
    """Outcome of :func:`detect_separability`.

    ``label`` is ``'additive'``, ``'multiplicative'`` or ``'none'``; ``groups`` are the
    blocks of that label (one block for ``'none'``).  ``multiplicative`` is ``None``
    where ``f`` vanishes on the sample (its score is then NaN).
    """

    label: Literal["additive", "multiplicative", "none"]
    groups: Groups
    additive_score: float
    multiplicative_score: float
    additive: SeparabilityResult | None = field(compare=False, repr=False)
    multiplicative: SeparabilityResult | None = field(compare=False, repr=False)


# --------------------------------------------------------------------------- inputs
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


# ----------------------------------------------------------------------- public API
def separability(
    f: Callable,
    x: torch.Tensor | np.ndarray | None = None,
    *,
    mode: Literal["add", "mul"] = "add",
    threshold: float = SEPARABILITY_THRESHOLD,
    method: Literal["hessian", "difference"] = "hessian",
    ranges: Ranges | None = None,
    n_samples: int = 300,
    seed: Seed = 0,
) -> SeparabilityResult:
    """Finest additive (``f = sum f_k``) or multiplicative (``prod f_k``) split of ``f``.

    A pairwise interaction matrix of ``f`` (``'add'``) or ``log|f|`` (``'mul'``) is
    scored on ``x``: ``method='hessian'`` averages normalized mixed second derivatives
    (:func:`~kanscience.structure._interactions.hessian_interactions`; exact for formulas),
    ``method='difference'`` normalizes mixed differences of function values between
    paired sample points (:func:`~kanscience.structure._interactions.difference_interactions`;
    robust for fitted models, whose derivatives amplify the fit error).  Pairs scoring at
    least ``threshold`` interact; the groups are the connected components of the
    interacting pairs.

    Parameters
    ----------
    f : callable
        ``(n, d)`` float64 tensor -> ``(n,)`` or ``(n, 1)``, row by row (differentiable
        twice with torch autograd for ``method='hessian'``).
    x : array of shape (n, d), optional
        Sample points; if omitted, ``n_samples`` points are drawn from ``ranges``.
    mode : {'add', 'mul'}
        ``'mul'`` tests ``log|f|`` and needs ``f != 0`` on the sample.
    threshold : float in (0, 1)
        Pairs whose normalized score reaches it interact.
    method : {'hessian', 'difference'}
        How interactions are scored (see above).
    ranges, n_samples, seed
        Sampling when ``x`` is omitted (see :func:`sample_inputs`); ``seed`` also pairs
        the points for ``method='difference'``.

    Returns
    -------
    SeparabilityResult

    Examples
    --------
    >>> f = lambda x: x[:, 0] ** 2 + torch.sin(x[:, 1] * x[:, 2])
    >>> separability(f, ranges=[(1, 2)] * 3, seed=0).groups
    ((0,), (1, 2))
    >>> separability(f, ranges=[(1, 2)] * 3, method="difference").groups
    ((0,), (1, 2))
    """
    if mode not in ("add", "mul"):
        raise ValueError(f"mode must be 'add' or 'mul', got {mode!r}")
    if method not in ("hessian", "difference"):
        raise ValueError(f"method must be 'hessian' or 'difference', got {method!r}")
    _check_threshold(threshold)
    f = _as_callable(f)
    gen = _generator(seed)
    x = _inputs(x, ranges, n_samples, gen)
    if x.shape[1] < 2:
        raise ValueError(f"separability needs at least two variables, x has {x.shape[1]}")
    if mode == "mul" and bool((_evaluate(f, x) == 0).any()):
        raise ValueError("f is zero at some sample points; mode='mul' needs f != 0")
    if method == "hessian":
        m = hessian_interactions(f, x, log=mode == "mul")
    else:
        m = difference_interactions(f, x, log=mode == "mul", generator=gen)
    groups, score = _blocks(m, float(threshold))
    return SeparabilityResult(
        mode=mode,
        separable=len(groups) > 1,
        groups=groups,
        score=score,
        interaction_matrix=m,
        method=method,
    )


def _check_block(block: Sequence[int], d: int, name: str) -> tuple[int, ...]:
    try:
        out = tuple(int(i) for i in block)
    except TypeError as err:
        raise ValueError(f"{name} must be a sequence of variable indices, got {block!r}") from err
    if len(out) == 0 or len(set(out)) != len(out) or not all(0 <= i < d for i in out):
        raise ValueError(f"{name} must hold distinct indices in [0, {d}), got {block!r}")
    return tuple(sorted(out))


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


def detect_separability(
    f: Callable,
    x: torch.Tensor | np.ndarray | None = None,
    *,
    threshold: float = SEPARABILITY_THRESHOLD,
    method: Literal["hessian", "difference"] = "hessian",
    ranges: Ranges | None = None,
    n_samples: int = 300,
    seed: Seed = 0,
) -> SeparabilityReport:
    """Top-level separability of ``f``: additive first, then multiplicative.

    A single variable is reported as ``'none'``; where ``f`` is zero on the sample the
    multiplicative test is skipped.

    Parameters
    ----------
    f, x, threshold, method, ranges, n_samples, seed
        As in :func:`separability`.  For a fitted model (a KAN surrogate), use
        ``method='difference'`` with a threshold above the model's relative error.

    Returns
    -------
    SeparabilityReport

    Examples
    --------
    >>> f = lambda x: x[:, 0] * torch.exp(x[:, 1] + x[:, 2])
    >>> report = detect_separability(f, ranges=[(1, 2)] * 3)
    >>> report.label, report.groups
    ('multiplicative', ((0,), (1,), (2,)))
    """
    _check_threshold(threshold)
    f = _as_callable(f)
    gen = _generator(seed)
    x = _inputs(x, ranges, n_samples, gen)
    d = x.shape[1]
    if d == 1:
        _evaluate(f, x)
        nan = float("nan")
        return SeparabilityReport("none", ((0,),), nan, nan, None, None)
    add = separability(f, x, mode="add", threshold=threshold, method=method, seed=gen)
    mul = None
    if not bool((_evaluate(f, x) == 0).any()):
        mul = separability(f, x, mode="mul", threshold=threshold, method=method, seed=gen)
    if add.separable:
        label, groups = "additive", add.groups
    elif mul is not None and mul.separable:
        label, groups = "multiplicative", mul.groups
    else:
        label, groups = "none", (tuple(range(d)),)
    return SeparabilityReport(
        label, groups, add.score, float("nan") if mul is None else mul.score, add, mul
    )
