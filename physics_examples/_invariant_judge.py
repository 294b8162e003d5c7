"""The judging rules of the invariant cases (J1, J2, J4 of ../shared/PHYSICS_CASES.md),
shared by :mod:`~physics_examples.sir_epidemic`, :mod:`~physics_examples.plummer`,
:mod:`~physics_examples.duffing_trajectories` and :mod:`~physics_examples.damped_oscillator`.

* **J1**: ``a * Q_pred + b ~ Q_true`` by least squares on fresh samples: numeric pass at
  ``R^2 >= 0.999``; symbolic pass when, with ``a, b`` snapped to simple rationals (2%),
  ``sympy.simplify(a * Q_pred + b - Q_true) == 0``.
* **J2**: RMS over fresh samples of ``|grad Q . f| / (|grad Q| |f|) <= 1e-3``.
* **J4**: the Jacobian of the laws returned has rank ``k`` (``sigma_min / sigma_max >
  1e-3``) on at least 99% of fresh samples.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy
import torch

from kanscience.physics import LawParity, expression_gradient

from ._plots import gauge_note, gauges, in_gauge, values

__all__ = ["J1", "j1", "j2", "j4", "judge_law", "parity_panel"]


@dataclass(frozen=True)
class J1:
    """Result of :func:`j1`: ``R^2`` of the best ``a Q + b``, the gauge, and the verdicts."""

    r2: float
    scale: float
    offset: float
    numeric: bool
    symbolic: bool


def _snap(value: float) -> sympy.Expr:
    return sympy.nsimplify(value, rational=True, tolerance=0.02 * max(abs(value), 1e-12))


def j1(
    law: sympy.Expr, truth: sympy.Expr, symbols: Sequence[sympy.Symbol], fresh: torch.Tensor
) -> J1:
    """Rule J1 for one law against the true one on ``fresh`` samples."""
    predicted, true = values(law, symbols, fresh), values(truth, symbols, fresh)
    design = np.stack([predicted, np.ones_like(predicted)], 1)
    (a, b), *_ = np.linalg.lstsq(design, true, rcond=None)
    r2 = 1 - float(
        ((design @ np.array([a, b]) - true) ** 2).sum() / ((true - true.mean()) ** 2).sum()
    )
    gauged = sympy.Rational(_snap(float(a))) * law + _snap(float(b))
    symbolic = bool(sympy.simplify(gauged - truth) == 0) if np.isfinite(a) else False
    if not symbolic:  # the offset is a gauge: compare up to a constant as well
        difference = sympy.simplify(gauged - truth)
        symbolic = bool(difference.is_number and abs(float(difference)) < 1e-9)
    return J1(r2, float(a), float(b), r2 >= 0.999, symbolic)


def j2(
    law: sympy.Expr,
    symbols: Sequence[sympy.Symbol],
    fresh: torch.Tensor,
    flow: Callable[[torch.Tensor], torch.Tensor],
) -> float:
    """Rule J2: RMS of the per-sample cosine between ``grad law`` and the flow."""
    gradient = expression_gradient(law, list(symbols), fresh)
    f = flow(fresh)
    cosine = (gradient * f).sum(1).abs() / (gradient.norm(dim=1) * f.norm(dim=1)).clamp_min(1e-300)
    return float(cosine.pow(2).mean().sqrt())


def j4(laws: Sequence[sympy.Expr], symbols: Sequence[sympy.Symbol], fresh: torch.Tensor) -> float:
    """Rule J4: the fraction of ``fresh`` samples where the laws' Jacobian has full rank."""
    if not laws:
        return 1.0
    jacobian = torch.stack([expression_gradient(e, list(symbols), fresh) for e in laws], 1)
    s = torch.linalg.svdvals(jacobian)
    return float((s[:, -1] / s[:, 0].clamp_min(1e-300) > 1e-3).double().mean())


def parity_panel(
    law: sympy.Expr,
    truth: sympy.Expr,
    symbols: Sequence[sympy.Symbol],
    fresh: torch.Tensor,
    name: str,
) -> LawParity:
    """The law (mapped by its best ``a Q + b``) against the true one on ``fresh`` samples."""
    true = values(truth, symbols, fresh)
    learned = {"formula": values(law, symbols, fresh)}
    note = gauge_note(gauges(learned, true))
    (learned,) = in_gauge(learned, true)
    return LawParity(
        true, learned, title=f"${name} = {sympy.latex(truth)}$", quantity=name, note=note
    )


def judge_law(
    result: Any,
    law: sympy.Expr | None,
    reference: sympy.Expr,
    symbols: Sequence[sympy.Symbol],
    fresh: torch.Tensor,
    flow: Callable[[torch.Tensor], torch.Tensor],
    *,
    name: str,
    shown: torch.Tensor,
) -> None:
    """Record in ``result`` (a :class:`~physics_examples.CaseResult`) the J1, J2 and J4
    checks of one invariant ``law`` against ``reference`` on ``fresh`` samples, and its
    parity panel on the ``shown`` samples; a missing law fails the case."""
    if law is None:
        result.checks["a law passed the library's checks"] = False
        return
    judged = j1(law, reference, symbols, fresh)
    residual = j2(law, symbols, fresh, flow)
    result.metrics.update(
        r2=judged.r2, j2_residual=residual, rank_fraction=j4([law], symbols, fresh)
    )
    result.checks[f"J1 symbolic: a*Q + b == {reference}"] = judged.symbolic
    result.checks["J1 numeric: R^2 >= 0.999"] = judged.numeric
    result.checks["J2: conservation residual <= 1e-3 (true flow)"] = residual <= 1e-3
    result.checks["J4: rank 1 on >= 99% of samples"] = result.metrics["rank_fraction"] >= 0.99
    result.panels = [parity_panel(law, reference, symbols, shown, name)]
