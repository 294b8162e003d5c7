"""Separability tests on any torch callable: additive or multiplicative groups of variables.

``f`` is any callable mapping a float64 tensor ``(n, d)`` to ``(n,)`` or ``(n, 1)``,
row by row (a KAN, an MLP, a lambdified formula).  Inputs are either given as ``x``
or sampled uniformly from ``ranges`` with an explicit ``seed``
(:func:`~kanscience.structure.sample_inputs`).  Each variable is rescaled by its
standard deviation, so every score is unit-free and lies in [0, 1]; a property holds
when its score is *below* the threshold.

* :func:`separability` -- ``f = sum_k f_k(x_Gk)`` (Hessian of ``f``) or
  ``prod_k f_k(x_Gk)`` (Hessian of ``log|f|``); groups = connected interacting pairs;
  ``method='difference'`` scores mixed differences of values instead, for fitted models
  (:mod:`kanscience.structure._interactions`).
* :func:`detect_separability` -- the top-level label: additive, multiplicative or none.

Symmetry and general separability (``f = h(p(x_A) + q(x_B))``) are tested in
:mod:`kanscience.structure._symmetry`.

Default threshold, from the exact Feynman equations (float64, 100-500 points): exact
structure scores ~1e-15; the weakest true interaction scores 0.03 (``asin(l/(n d))``,
multiplicative); with ``method='difference'`` it scores 0.019. For a learned,
approximate model use ``method='difference'`` and raise the threshold above the model's
relative error (spurious mixed differences of a fit are of that order).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch

from ._interactions import _blocks, _evaluate, difference_interactions, hessian_interactions
from ._sampling import Ranges, Seed, _as_callable, _check_threshold, _generator, _inputs

__all__ = [
    "SEPARABILITY_THRESHOLD",
    "SeparabilityReport",
    "SeparabilityResult",
    "detect_separability",
    "separability",
]

SEPARABILITY_THRESHOLD = 5e-3

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
    (:func:`~kanscience.structure.hessian_interactions`; exact for formulas),
    ``method='difference'`` normalizes mixed differences of function values between
    paired sample points (:func:`~kanscience.structure.difference_interactions`;
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
