"""Tests for kanscience.discover: data in, ranked formulas out."""

from __future__ import annotations

import math

import pytest
import sympy
import torch

from kanscience import Dataset
from kanscience.discover import Candidate, DiscoveryResult, discover

F64 = torch.float64


def _inputs(n, d, lo, hi, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(n, d, generator=gen, dtype=F64) * (hi - lo) + lo


@pytest.fixture(scope="module")
def additive():
    x = _inputs(500, 2, 1.0, 2.0)
    return x, x[:, 0] ** 2 + torch.sin(x[:, 1])


def test_discover_recovers_an_additive_law(additive, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = discover(additive, ["a", "b"], steps=20, time_budget=60)
    a, b = sympy.symbols("a b", real=True)
    assert isinstance(result, DiscoveryResult) and isinstance(result.best, Candidate)
    assert sympy.simplify(result.best.expr - (a ** 2 + sympy.sin(b))) == 0
    assert result.best.test_r2 > 1 - 1e-12 and result.best.test_rmse < 1e-6
    assert result.best.complexity == 6 and result.variables == (a, b)
    assert result.seconds < 60 and result.log  # stopped early once solved
    assert list(tmp_path.iterdir()) == []


def test_candidates_form_a_ranked_pareto_front(additive):
    result = discover(additive, ["a", "b"], steps=20, time_budget=60)
    front = sorted(result.candidates, key=lambda c: c.complexity)
    errors = [c.val_rmse for c in front]
    assert errors == sorted(errors, reverse=True) and len(set(errors)) == len(errors)
    assert {c.expr for c in result.candidates} <= {c.expr for c in result.all_candidates}
    # every candidate's reported test error is its formula's error on the test split
    x, y = additive
    order = torch.randperm(500, generator=torch.Generator().manual_seed(0))
    test_x, test_y = x[order[:125]], y[order[:125]]
    for c in result.candidates:
        values = sympy.lambdify(result.variables, c.expr, "math")
        prediction = torch.tensor([float(values(*row)) for row in test_x.tolist()], dtype=F64)
        assert c.test_rmse == pytest.approx(float(((prediction - test_y) ** 2).mean().sqrt()),
                                            rel=1e-6, abs=1e-12)


def test_discover_is_deterministic():
    x = _inputs(200, 1, -1.0, 1.0, seed=3)
    data = (x, 3 * x[:, 0] - 0.5 + torch.tanh(2 * x[:, 0]))
    first = discover(data, steps=10, time_budget=60, seed=1)
    second = discover(data, steps=10, time_budget=60, seed=1)
    assert [c.expr for c in first.all_candidates] == [c.expr for c in second.all_candidates]
    assert [c.test_rmse for c in first.all_candidates] == [c.test_rmse for c in
                                                           second.all_candidates]


def test_discover_products_with_sign_changes():
    """x * sin(t) changes sign: log|y| does not apply, the product KAN does."""
    x = _inputs(600, 2, 1.0, 5.0, seed=1)
    y = x[:, 0] * torch.sin(x[:, 1])
    result = discover((x, y), ["r", "theta"], steps=20, time_budget=120)
    r, theta = sympy.symbols("r theta", real=True)
    assert sympy.simplify(result.best.expr - r * sympy.sin(theta)) == 0
    assert any("product" in c.source for c in result.candidates[:1])


def test_discover_reports_noise_honestly():
    x = _inputs(800, 1, -1.0, 1.0, seed=2)
    clean = 2 * x[:, 0] ** 2 + 1
    noise = 0.05 * torch.randn(800, generator=torch.Generator().manual_seed(5), dtype=F64)
    result = discover((x, clean + noise), ["u"], steps=10, time_budget=60)
    u = sympy.Symbol("u", real=True)
    best = result.best
    # the noise floor: test R^2 about 1 - var(noise) / var(y), not 1
    order = torch.randperm(800, generator=torch.Generator().manual_seed(0))
    test_y = (clean + noise)[order[:200]]
    floor = 1 - 0.05 ** 2 / float(test_y.var())
    assert abs(best.test_r2 - floor) < 0.02 and best.test_r2 < 1 - 1e-3
    assert best.test_rmse == pytest.approx(0.05, rel=0.25)
    # and the law it reports is the true one up to small constants
    assert sympy.Poly(best.expr, u).degree() == 2


@pytest.mark.parametrize("kwargs, error, match", [
    ({"var_names": ["a"]}, ValueError, "var_names must be 2 distinct strings"),
    ({"var_names": ["a", "a"]}, ValueError, "var_names must be 2 distinct strings"),
    ({"steps": 0}, ValueError, "steps must be an int >= 1"),
    ({"time_budget": 0}, ValueError, "time_budget must be > 0"),
    ({"lib": []}, ValueError, "is empty"),
    ({"lib": ["sin", "nope"]}, ValueError, "'nope'"),
])
def test_discover_bad_input(additive, kwargs, error, match):
    with pytest.raises(error, match=match):
        discover(additive, **kwargs)


def test_discover_bad_data():
    x = _inputs(50, 2, 0.0, 1.0)
    with pytest.raises(ValueError, match="discover fits one output"):
        discover(Dataset(x, x, x, x))
    with pytest.raises(ValueError, match="x has 50 samples but y has 49"):
        discover((x, x[:49, 0]))
    with pytest.raises(TypeError, match="data must be a Dataset"):
        discover([x, x[:, 0]])
    with pytest.raises(ValueError, match="contains NaN or Inf"):
        discover((x, x[:, 0] / 0))
    assert math.isnan(Candidate(sympy.S.One, 1, 0.0, 1.0).val_rmse)
