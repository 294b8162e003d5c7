"""Discovery with units: solve the smaller dimensionless problem, then map the laws back.

With the units of the inputs and of the target, Buckingham's theorem says
``y = scale(x) * g(pi_1(x), ..., pi_k(x))`` with ``scale`` a monomial carrying the target's
units and ``pi_j`` dimensionless monomials, ``k = n - rank`` of them
(:func:`kanscience.symbolic.buckingham_pi`). The search then runs on ``k`` inputs instead
of ``n``, and every formula it returns is dimensionally consistent by construction.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import sympy
import torch
from torch import Tensor

from ..core import Dataset
from ..symbolic import (
    SIMPLE_CONSTANTS,
    DimensionlessProblem,
    Dimensions,
    buckingham_pi,
    is_dimensionally_consistent,
    simplest_number,
)
from ._forms import simplify
from ._ranking import Candidate, complexity

__all__ = ["DimensionlessData", "constant_law", "dimensionless_data", "restore_candidates"]


@dataclass(frozen=True)
class DimensionlessData:
    """The dimensionless problem of a dataset: groups as inputs, ``y / scale`` as target;
    ``train_weight``, ``scale^2`` on the training rows, weighs the target's errors (noise
    of equal size on ``y`` is ``sigma / |scale|`` on ``y / scale``)."""

    problem: DimensionlessProblem
    names: tuple[str, ...]  # of the original inputs, in column order
    group_names: tuple[str, ...]
    dataset: Dataset
    train_weight: Tensor

    def symbols(self) -> dict[str, sympy.Symbol]:
        return {n: sympy.Symbol(n, real=True) for n in self.names}

    def restore(self, expr: sympy.Expr) -> sympy.Expr:
        """A formula in the groups -> the law in the original variables."""
        symbols = self.symbols()
        groups = self.problem.group_expressions(symbols)
        mapping = {sympy.Symbol(g, real=True): e for g, e in zip(self.group_names, groups)}
        return self.problem.scale_expression(symbols) * expr.xreplace(mapping)


def _monomial(x: Tensor, exponents: dict, names: Sequence[str]) -> Tensor:
    out = torch.ones(x.shape[0], dtype=x.dtype, device=x.device)
    for name, power in exponents.items():
        column = x[:, names.index(name)]
        out = out * (column ** int(power) if power.denominator == 1 else column ** float(power))
    return out


SCALE_VARIANCE_RATIO = 0.5
"""An alternative target scale replaces the preferred one where it leaves at most this
share of the variance of ``log |y / scale|`` (:func:`_steadiest_scale`)."""


def _steadiest_scale(
    problem: DimensionlessProblem, dataset: Dataset, names: Sequence[str]
) -> DimensionlessProblem:
    """``problem`` with the target scale, among the equally small ones, that leaves the
    least of the target's variation to the groups (variance of ``log |y / scale|`` on the
    training rows; the preferred scale unless another at least halves it): an energy
    ``m c^2 / sqrt(1 - v^2 / c^2)`` is ``m c^2`` times a function near 1, a sum on
    ``(y / scale)^-2`` of two terms, where ``m v^2`` leaves a steep function that is no
    sparse sum."""
    if not problem.alternative_scales:
        return problem
    x, y = dataset.train_input, dataset.train_label[:, 0]
    rows = y != 0
    if not bool(rows.any()):
        return problem

    def log_variance(scale: dict) -> float:
        ratio = (y / _monomial(x, scale, names))[rows]
        value = float(ratio.abs().log().var()) if ratio.numel() > 1 else math.inf
        return value if math.isfinite(value) else math.inf

    preferred = log_variance(problem.target_scale)
    spread, steadiest = min(
        ((log_variance(scale), j) for j, scale in enumerate(problem.alternative_scales)),
    )
    if not spread <= SCALE_VARIANCE_RATIO * preferred:
        return problem
    others = list(problem.alternative_scales)
    chosen = others.pop(steadiest)
    return replace(problem, target_scale=chosen, alternative_scales=(problem.target_scale, *others))


def dimensionless_data(
    dataset: Dataset, names: Sequence[str], dimensions: Dimensions
) -> DimensionlessData | None:
    """Groups and scaled target of ``dataset``; None where they are not finite (a fractional
    power of a negative input, a zero scale), so the caller searches without units."""
    names = list(names)
    problem = _steadiest_scale(buckingham_pi(dimensions), dataset, names)
    group_names = tuple(f"Pi_{j + 1}" for j in range(len(problem.groups)))

    def transform(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        groups = [_monomial(x, g, names) for g in problem.groups]
        inputs = torch.stack(groups, 1) if groups else x.new_zeros(x.shape[0], 0)
        return inputs, y / _monomial(x, problem.target_scale, names)[:, None]

    train_x, train_y = transform(dataset.train_input, dataset.train_label)
    test_x, test_y = transform(dataset.test_input, dataset.test_label)
    weight = _monomial(dataset.train_input, problem.target_scale, names) ** 2
    tensors = (train_x, train_y, test_x, test_y)
    if not all(bool(torch.isfinite(t).all()) for t in (*tensors, weight)) or not bool(
        (weight > 0).all()
    ):
        return None
    return DimensionlessData(problem, tuple(names), group_names, Dataset(*tensors), weight)


DENOMINATOR = 20
"""Largest denominator of the fraction a law without groups snaps its constant to."""


def constant_law(reduced: DimensionlessData) -> sympy.Expr:
    """No group: the target is its scale times a constant: the mean ratio (weighted as
    the search weighs it, :attr:`DimensionlessData.train_weight`), snapped to the
    simplest number (a fraction of denominator up to :data:`DENOMINATOR`, or one times pi,
    1/pi, pi^2, 1/pi^2, sqrt(2), e: the smallest numerator and denominator; 3/(20 pi) is
    3/5 of 1/(4 pi)) within four standard errors of the mean,
    so noise-free data snap tightly and noisy data as far as they allow."""
    ratio = reduced.dataset.train_label[:, 0]
    weight = reduced.train_weight / reduced.train_weight.mean()
    mean = float((weight * ratio).sum() / weight.sum())
    n = ratio.shape[0]
    spread = float((weight * (ratio - mean) ** 2).sum())
    standard_error = math.sqrt(spread / ((n - 1) * float(weight.sum()))) if n > 1 else 0.0
    tolerance = max(4 * standard_error, 1e-9 * abs(mean))
    constants = (*SIMPLE_CONSTANTS, 1 / sympy.pi**2)
    return simplest_number(mean, tolerance, constants, max_denominator=DENOMINATOR)


def restore_candidates(
    candidates: Sequence[Candidate],
    reduced: DimensionlessData,
    dimensions: Dimensions,
    original: Dataset,
    evaluate: Callable[[sympy.Expr, Sequence[sympy.Symbol], Tensor], Tensor],
) -> tuple[Candidate, ...]:
    """Each dimensionless candidate as a law in the original variables, with its test
    errors measured on the original test split; inconsistent ones (none, by construction,
    unless a library function received a quantity with units) are dropped."""
    symbols = list(reduced.symbols().values())
    y = original.test_label[:, 0]
    spread = float(((y - y.mean()) ** 2).sum())
    restored = []
    for candidate in candidates:
        expr = simplify(reduced.restore(candidate.expr))
        if not is_dimensionally_consistent(expr, dimensions):
            continue
        with torch.no_grad():
            prediction = evaluate(expr, symbols, original.test_input)
        residual = float(((prediction - y) ** 2).sum())
        rmse = math.sqrt(residual / y.shape[0])
        r2 = 1 - residual / spread if spread > 0 else (1.0 if residual == 0 else -math.inf)
        restored.append(
            replace(
                candidate,
                expr=expr,
                complexity=complexity(expr),
                test_rmse=rmse if math.isfinite(rmse) else math.inf,
                test_r2=r2 if math.isfinite(r2) else -math.inf,
                source=f"{candidate.source} (dimensionless)",
            )
        )
    return tuple(restored)
