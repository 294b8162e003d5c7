"""Uncertainty of fitted constants (standard errors, confidence intervals) and the
bootstrap stability of the best formula."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import sympy
import torch

from kanscience.discover import Candidate, FormulaStability, formula_stability
from kanscience.symbolic import (
    ConstantUncertainty,
    constant_uncertainty,
    fit_constants,
    float_constants,
)
from kanscience.symbolic._uncertainty import t_quantile

F64 = torch.float64
t = sympy.Symbol("t", real=True)

# a known nonlinear law y = 2.5 exp(-1.3 t) + 0.7, its constants sorted by value (the
# order of ConstantUncertainty.constants), fitted from a start that is off
TRUE = (-1.3, 0.7, 2.5)
START = 2.0 * sympy.exp(-1.0 * t) + 0.5
NOISE = 0.05
N = 200


def _law() -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.linspace(0.0, 3.0, N, dtype=F64)[:, None]
    return x, 2.5 * torch.exp(-1.3 * x[:, 0]) + 0.7


def _noisy(generator: torch.Generator) -> torch.Tensor:
    return _law()[1] + NOISE * torch.randn(N, generator=generator, dtype=F64)


def _sorted_constants(expr: sympy.Expr) -> list[float]:
    return sorted(float(f) for f in float_constants(expr))


def test_a_linear_model_has_the_textbook_standard_errors():
    """For y = c0 + c1 t the linearization is exact: sigma^2 (X^T X)^-1 of ordinary least
    squares, with sigma^2 = RSS / (N - 2), computed here by numpy."""
    generator = torch.Generator().manual_seed(1)
    x = torch.rand(40, 1, generator=generator, dtype=F64) * 4
    y = 1.5 + 0.8 * x[:, 0] + 0.1 * torch.randn(40, generator=generator, dtype=F64)
    fit = constant_uncertainty(0.5 * t + 1.0, [t], x, y, level=0.9)
    design = np.column_stack([np.ones(40), x[:, 0].numpy()])
    coef, rss, *_ = np.linalg.lstsq(design, y.numpy(), rcond=None)
    covariance = rss[0] / 38 * np.linalg.inv(design.T @ design)
    # constants ordered by their starting values: the slope 0.5, then the intercept 1.0
    values = [c.value for c in fit.constants]
    errors = [c.standard_error for c in fit.constants]
    np.testing.assert_allclose(values, coef[::-1], rtol=1e-8)  # LM converged to 1e-8
    np.testing.assert_allclose(errors, np.sqrt(np.diag(covariance))[::-1], rtol=1e-8)
    assert fit.dof == 38 and fit.sigma == pytest.approx(np.sqrt(rss[0] / 38), rel=1e-10)
    q = t_quantile(0.95, 38)
    for c in fit.constants:
        assert c.lower == pytest.approx(c.value - q * c.standard_error, rel=1e-12)
        assert c.upper == pytest.approx(c.value + q * c.standard_error, rel=1e-12)
    assert _sorted_constants(fit.expr) == pytest.approx(sorted(values), rel=1e-12)


def test_standard_errors_match_a_bootstrap():
    """On one noisy sample of the known law, the Jacobian standard errors agree with the
    spread of the constants refitted on 200 bootstrap resamples, within 30%."""
    generator = torch.Generator().manual_seed(2)
    x, _ = _law()
    y = _noisy(generator)
    fit = constant_uncertainty(START, [t], x, y)
    assert [c.value for c in fit.constants] == pytest.approx(TRUE, abs=0.1)
    refits = []
    for _ in range(200):
        rows = torch.randint(N, (N,), generator=generator)
        refits.append(_sorted_constants(fit_constants(fit.expr, [t], x[rows], y[rows])))
    bootstrap = np.std(refits, axis=0, ddof=1)
    errors = np.array([c.standard_error for c in fit.constants])
    np.testing.assert_allclose(errors, bootstrap, rtol=0.3)
    assert fit.sigma == pytest.approx(NOISE, rel=0.15)


def test_intervals_cover_the_true_constants_at_the_nominal_rate():
    """Over 100 noisy samples of the known law, the 95% intervals cover each true
    constant in 85-100% of them (a binomial count of 95 has a standard deviation of 2.2)
    and 90-99% pooled over the three; the standard errors also match the spread of the
    fitted constants over the samples within 30%."""
    generator = torch.Generator().manual_seed(3)
    x, _ = _law()
    covered = np.zeros(3)
    values, errors = [], []
    for _ in range(100):
        fit = constant_uncertainty(START, [t], x, _noisy(generator), level=0.95)
        covered += [c.lower <= true <= c.upper for c, true in zip(fit.constants, TRUE)]
        values.append([c.value for c in fit.constants])
        errors.append([c.standard_error for c in fit.constants])
    rates = covered / 100
    assert ((rates >= 0.85) & (rates <= 1.0)).all(), rates
    assert 0.90 <= rates.mean() <= 0.99, rates
    spread = np.std(values, axis=0, ddof=1)
    np.testing.assert_allclose(np.mean(errors, axis=0), spread, rtol=0.3)


def test_a_constant_the_data_cannot_determine_has_an_infinite_error():
    """In log(2 t) + 0.5 only log(2) + 0.5 is determined."""
    x = torch.linspace(1, 2, 30, dtype=F64)[:, None]
    y = torch.log(x[:, 0]) + 0.01 * torch.cos(37 * x[:, 0])
    fit = constant_uncertainty(sympy.log(2.0 * t) + 0.5, [t], x, y)
    assert len(fit.constants) == 2 and fit.sigma < 0.01
    assert all(c.standard_error == np.inf for c in fit.constants)
    assert all(c.lower == -np.inf and c.upper == np.inf for c in fit.constants)


def test_a_formula_without_constants_and_an_exact_fit():
    x = torch.linspace(0, 1, 10, dtype=F64)[:, None]
    fit = constant_uncertainty(t**2, [t], x, x[:, 0] ** 2)
    assert isinstance(fit, ConstantUncertainty)
    assert fit.constants == () and fit.sigma == 0.0 and fit.dof == 10 and fit.expr == t**2
    exact = constant_uncertainty(0.3 * t**2, [t], x, 2 * x[:, 0] ** 2, refit=True)
    assert exact.constants[0].value == pytest.approx(2.0, abs=1e-12)
    assert exact.constants[0].standard_error < 1e-12
    kept = constant_uncertainty(0.3 * t**2, [t], x, 2 * x[:, 0] ** 2, refit=False)
    assert kept.constants[0].value == 0.3
    assert kept.sigma == pytest.approx(float((1.7 * x[:, 0] ** 2).norm()) / 3, rel=1e-12)


def test_quantiles_are_students_t_or_the_normal_limit(monkeypatch):
    pytest.importorskip("scipy")
    assert t_quantile(0.975, 10) == pytest.approx(2.228139, rel=1e-6)  # tables
    monkeypatch.setitem(sys.modules, "scipy", None)
    assert t_quantile(0.975, 10) == pytest.approx(1.959963984540054, rel=1e-12)


def test_uncertainty_bad_input_names_the_argument():
    x = torch.linspace(0, 1, 10, dtype=F64)[:, None]
    y = x[:, 0]
    with pytest.raises(ValueError, match=r"level must be in \(0, 1\)"):
        constant_uncertainty(1.0 * t, [t], x, y, level=95)
    with pytest.raises(ValueError, match="x must have more samples than the 2 constants"):
        constant_uncertainty(1.0 * t + 0.5, [t], x[:2], y[:2])
    with pytest.raises(ValueError, match=r"x must be \(batch, 1\) and y \(batch,\)"):
        constant_uncertainty(1.0 * t, [t], x, y[:5])
    with pytest.raises(TypeError, match="x and y must be tensors"):
        constant_uncertainty(1.0 * t, [t], x.numpy(), y)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="steps must be an int >= 0"):
        constant_uncertainty(1.0 * t, [t], x, y, steps=-1)
    with pytest.raises(ValueError, match="not finite on x"):
        constant_uncertainty(1.0 * sympy.log(t - 0.5), [t], x, y, refit=False)


def _candidates() -> list[Candidate]:
    law = Candidate(1.0 * sympy.exp(-1.0 * t) + 0.5, 8, 0.0, 1.0)
    line = Candidate(1.0 * t + 1.0, 5, 0.0, 1.0)
    quadratic = Candidate(1.0 * t**2 + 1.0 * t + 1.0, 11, 0.0, 1.0)
    return [law, line, quadratic]


def test_the_true_law_is_stable_and_a_wrong_first_candidate_is_not():
    generator = torch.Generator().manual_seed(4)
    x, _ = _law()
    y = _noisy(generator)
    law, line, quadratic = _candidates()
    stable = formula_stability([law, line, quadratic], [t], x, y, n_resamples=20)
    assert isinstance(stable, FormulaStability) and stable.n_resamples == 20
    assert stable.fraction == 1.0 and stable.wins == (1.0, 0.0, 0.0)
    # the line given first is never best; the shares add up to one
    wrong = formula_stability([line, law, quadratic], [t], x, y, n_resamples=20)
    assert wrong.fraction == 0.0 and wrong.wins[1] == 1.0
    again = formula_stability([line, law, quadratic], [t], x, y, n_resamples=20)
    assert again == wrong  # seeded


def test_formulas_noisy_data_hardly_tell_apart_share_the_wins():
    """sin(t) and tanh(t) scaled are equally simple and close on [0.2, 1.2]: with noise
    of 0.2 on a sample of sin(t), the true form wins most resamples but not all, and the
    shares say so; without noise it wins every one."""
    x = torch.linspace(0.2, 1.2, 60, dtype=F64)[:, None]
    sine = Candidate(1.0 * sympy.sin(t), 4, 0.0, 1.0)
    tanh = Candidate(1.0 * sympy.tanh(t), 4, 0.0, 1.0)
    noise = 0.2 * torch.randn(60, generator=torch.Generator().manual_seed(0), dtype=F64)
    noisy = formula_stability([sine, tanh], [t], x, torch.sin(x[:, 0]) + noise, n_resamples=40)
    assert sum(noisy.wins) == pytest.approx(1.0)
    assert 0.5 < noisy.fraction < 1.0
    exact = formula_stability([sine, tanh], [t], x, torch.sin(x[:, 0]), n_resamples=10)
    assert exact.wins == (1.0, 0.0)


def test_stability_bad_input_names_the_argument():
    x, y = _law()
    with pytest.raises(ValueError, match="n_resamples must be an int >= 1"):
        formula_stability(_candidates(), [t], x, y, n_resamples=0)
    with pytest.raises(ValueError, match="candidates must be a non-empty sequence"):
        formula_stability([], [t], x, y)
    with pytest.raises(ValueError, match="relative must be >= 0"):
        formula_stability(_candidates(), [t], x, y, relative=-1.0)
    with pytest.raises(ValueError, match=r"x must be \(N, 1\) and y \(N,\)"):
        formula_stability(_candidates(), [t], x, y[:5])
