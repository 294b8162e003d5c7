"""Symmetries and scaling laws of pairs of variables (kanscience.structure._pairs) and the
reduction discover builds on them (kanscience.discover._reduce)."""

import math

import pytest
import sympy
import torch
from search_support import make_search

from kanscience.core import KAN
from kanscience.discover import discover
from kanscience.discover._reduce import holding, reduced_search, reduction
from kanscience.structure import PairSymmetry, pair_scalings, pair_symmetries
from kanscience.train import fit

F64 = torch.float64


def _box(n, low, high, samples=400, seed=0):
    u = torch.rand(samples, n, generator=torch.Generator().manual_seed(seed), dtype=F64)
    return torch.as_tensor(low, dtype=F64) + u * (
        torch.as_tensor(high, dtype=F64) - torch.as_tensor(low, dtype=F64)
    )


CASES = [
    # (function, expected (kind, i, j)) on [1, 3]^3
    (lambda z: torch.exp(-((z[:, 0] - z[:, 1]) ** 2)) * z[:, 2], ("difference", 0, 1)),
    (lambda z: torch.sin(z[:, 0] / z[:, 2]) + z[:, 1], ("ratio", 0, 2)),
    (lambda z: (1 + z[:, 0] ** 2) / (z[:, 1] + z[:, 2]), ("sum", 1, 2)),
    (lambda z: torch.cos(z[:, 1] * z[:, 2]) * z[:, 0], ("product", 1, 2)),
]


@pytest.mark.parametrize(("f", "expected"), CASES)
def test_the_symmetry_of_an_exact_function_is_found_at_rounding_level(f, expected):
    x = _box(3, 1.0, 3.0)
    found = pair_symmetries(f, x)
    best = found[0]
    assert (best.kind, best.i, best.j) == expected
    assert best.score < 1e-12
    # every other kind/pair is clearly broken (the weakest on the Feynman set scores 0.016)
    others = [p for p in found if (p.kind, p.i, p.j) != expected]
    assert min(p.score for p in others) > 0.05


def test_no_symmetry_where_the_pair_interacts_otherwise():
    x = _box(2, 1.0, 3.0)
    found = pair_symmetries(lambda z: z[:, 0] ** 2 + torch.exp(z[:, 1]) * z[:, 0], x)
    assert min(p.score for p in found) > 0.05


def test_the_combination_maps_tensors_and_symbols_alike():
    a, b = sympy.symbols("a b")
    for kind, expr in (("difference", a - b), ("ratio", a / b), ("product", a * b), ("sum", a + b)):
        pair = PairSymmetry(kind, 0, 1, 0.0, 1.0)
        assert pair.expression([a, b]) == expr
        value = pair.combine(torch.tensor(3.0, dtype=F64), torch.tensor(2.0, dtype=F64))
        assert float(value) == pytest.approx(float(expr.subs({a: 3, b: 2})), abs=1e-15)


def test_a_ratio_keeps_the_one_signed_variable_in_the_denominator():
    """d / sigma with d of both signs: the ratio is d / sigma (never sigma / d)."""
    x = torch.stack([_box(1, 1.0, 2.0)[:, 0], _box(1, -2.0, 2.0, seed=1)[:, 0]], 1)
    found = pair_symmetries(lambda z: torch.exp(-((z[:, 1] / z[:, 0]) ** 2)), x)
    assert (found[0].kind, found[0].i, found[0].j) == ("ratio", 1, 0)
    assert found[0].score < 1e-12


def test_a_scaling_law_has_the_right_degree():
    """f = sigma^-1 g(d / sigma): f(s sigma, s d) = f / s; and x^2 g(x y) for a product."""
    x = torch.stack([_box(1, 1.0, 3.0)[:, 0], _box(1, -2.0, 2.0, seed=1)[:, 0]], 1)
    best = pair_scalings(lambda z: torch.exp(-0.5 * (z[:, 1] / z[:, 0]) ** 2) / z[:, 0], x)[0]
    assert (best.kind, best.i, best.j) == ("ratio", 1, 0)
    assert best.degree == pytest.approx(-1.0, abs=1e-10) and best.score < 1e-10
    y = _box(2, 1.0, 3.0, seed=2)
    best = pair_scalings(lambda z: z[:, 0] ** 2 * torch.sin(z[:, 0] * z[:, 1]), y)[0]
    assert (best.kind, best.i, best.j) == ("product", 0, 1)
    assert best.degree == pytest.approx(2.0, abs=1e-10)


def test_a_vanishing_function_has_no_scaling_law():
    x = _box(2, -1.0, 1.0)
    assert pair_scalings(lambda z: z[:, 0] * z[:, 1], x) == []


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="x must be"):
        pair_symmetries(lambda z: z, torch.ones(5, dtype=F64))
    with pytest.raises(ValueError, match="kinds must be among"):
        pair_symmetries(lambda z: z[:, 0], _box(2, 1.0, 2.0), kinds=("shift",))


def _search(x, y, names):
    return make_search(x, y, names)


def test_a_trained_surrogate_proposes_the_reduction_and_the_reduced_problem_is_exact():
    """A KAN trained on exp(-(a - b)^2) c (R^2 ~ 0.999, not exact) shows the difference
    symmetry within its own error; the reduced problem has the columns (c, a - b)."""
    x = _box(3, 1.0, 3.0, samples=1000)

    def truth(z):
        return torch.exp(-((z[:, 0] - z[:, 1]) ** 2)) * z[:, 2]

    y = truth(x)
    model = KAN([3, 5, 1], grid=10, seed=0, dtype=F64)
    data = {"train_input": x, "train_label": y[:, None], "test_input": x, "test_label": y[:, None]}
    fit(model, data, steps=100, progress=False)
    model.requires_grad_(False)
    search = _search(x, y, ["a", "b", "c"])
    with torch.no_grad():
        error = float((model(search.val_x)[:, 0] - search.val_y).pow(2).mean().sqrt())
    assert error < 0.05 * search.spread
    (first, *_) = holding(search, (lambda z: model(z)[:, 0], error))
    assert (first.kind, first.i, first.j) == ("difference", 0, 1)
    sub = reduced_search(search, first, math.inf)
    a, b, c = search.symbols
    assert sub.symbols[0] == c and str(sub.symbols[1]) == "(a-b)"
    exact = torch.exp(-(sub.fit_x[:, 1] ** 2)) * sub.fit_x[:, 0]
    assert torch.allclose(exact, sub.fit_y, rtol=1e-14, atol=0)


@pytest.mark.slow
def test_discover_finds_a_gaussian_of_a_difference_over_a_scale():
    """exp(-((t - t1) / s)^2 / 2) / s: a difference, then a scaling law, then a product:
    exact from data through two reductions."""
    x = _box(3, 1.0, 3.0, samples=3000, seed=5)
    s, t, t1 = x[:, 0], x[:, 1], x[:, 2]
    y = torch.exp(-(((t - t1) / s) ** 2) / 2) / s
    result = discover((x, y), ["s", "t", "t1"], time_budget=60)
    S, T, T1 = result.variables
    truth = sympy.exp(-(((T - T1) / S) ** 2) / 2) / S
    assert result.best.test_r2 > 1 - 1e-12
    assert sympy.simplify(result.best.expr - truth) == 0
    assert "symmetry" in result.best.source


def test_a_scaling_law_of_simple_degree_drops_a_variable():
    """f = sigma^-1 g(d / sigma): the degree -1 is simple, so the reduced problem is g of
    the one combination d / sigma, on the target y * sigma; a degree that is not simple
    keeps sigma beside the combination."""
    sigma = _box(1, 1.0, 3.0, samples=1000)[:, 0]
    d = _box(1, -2.0, 2.0, samples=1000, seed=1)[:, 0]
    x = torch.stack([sigma, d], 1)
    y = torch.exp(-0.5 * (d / sigma) ** 2) / sigma
    search = _search(x, y, ["s", "d"])
    (pair, *_) = holding(
        search, (lambda z: torch.exp(-0.5 * (z[:, 1] / z[:, 0]) ** 2) / z[:, 0], 0.0)
    )
    assert (pair.kind, pair.i, pair.j) == ("ratio", 1, 0) and pair.degree == pytest.approx(-1.0)
    rewrite = reduction(search, pair)
    s, _ = search.symbols
    assert rewrite.keep == [] and rewrite.factor == 1 / s
    sub = reduced_search(search, pair, math.inf)
    assert [str(v) for v in sub.symbols] == ["(d/s)"]
    expected = torch.exp(-0.5 * sub.fit_x[:, 0] ** 2)
    assert torch.allclose(sub.fit_y, expected, rtol=1e-14, atol=0)
    # y sigma carries the noise of y times sigma: weights 1 / sigma^2 even it out
    weight = search.fit_x[:, 0] ** -2
    assert torch.allclose(sub.fit_weight, weight / weight.mean(), rtol=1e-14, atol=0)
    assert sub.fit_weight.mean().item() == pytest.approx(1.0)
    odd = PairSymmetry("ratio", 1, 0, 0.0, 1.0, degree=-0.7)
    assert reduction(search, odd).keep == [0] and reduction(search, odd).factor == 1
