"""Physics building blocks: snapping, sparse solvers, term handling, law comparison,
1-D closed forms and KAN edge candidates, each against closed forms."""

from __future__ import annotations

import math

import pytest
import sympy
import torch

from kanscience import KAN
from kanscience.physics import (
    compare_laws,
    edge_candidates,
    expression_gradient,
    normalize_scale,
    polynomial_terms,
    snap_expression,
    snap_number,
    sparse_null_vectors,
    sparse_regression,
    split_terms,
    term_matrix,
    unique_terms,
    univariate_formula,
)

x, y, r = sympy.symbols("x y r", positive=True)


# ------------------------------------------------------------------ snapping
@pytest.mark.parametrize(
    "value, expected",
    [
        (0.50004, sympy.Rational(1, 2)),
        (0.416668, sympy.Rational(5, 12)),
        (0.2777781, sympy.Rational(5, 18)),
        (-2.0001, sympy.Integer(-2)),
        (6.28319, 2 * sympy.pi),
        (1e-14, sympy.Integer(0)),
    ],
)
def test_snap_number_picks_the_simplest_value_within_tolerance(value, expected):
    assert snap_number(value) == expected


def test_snap_number_prefers_small_denominators_and_gives_up_on_noise():
    assert snap_number(0.3334, rel_tol=1e-3) == sympy.Rational(1, 3)  # not 1000/2999
    assert snap_number(0.123456789) is None
    with pytest.raises(ValueError, match="finite"):
        snap_number(float("nan"))


def test_snap_expression_reports_whether_every_float_snapped():
    expr, complete = snap_expression(0.5000001 * x**2 + 0.33333334 * y)
    assert expr == x**2 / 2 + y / 3 and complete
    expr, complete = snap_expression(0.5 * x + 0.1234567 * y)
    assert not complete and expr.coeff(x) == sympy.Rational(1, 2)


def test_normalize_scale_drops_the_constant_and_divides_by_the_first_term():
    assert normalize_scale(4 * x**2 + 4 * y**2 + 3, [x, y]) == x**2 + y**2


# ------------------------------------------------------------------ terms
def test_split_and_unique_terms():
    assert split_terms(3 * x + y**2 / 2 - 1, [x, y]) == [
        (-1, 1),
        (3, x),
        (sympy.Rational(1, 2), y**2),
    ]
    assert unique_terms([-sympy.cos(x), 2 * x + sympy.cos(x), 5], [x]) == [sympy.cos(x), x]
    assert polynomial_terms([x, y], 2) == [x, y, x**2, x * y, y**2]
    with pytest.raises(ValueError, match="degree"):
        polynomial_terms([x], 0)


def test_term_matrix_and_gradient_match_closed_forms():
    points = torch.tensor([[1.0, 2.0], [0.5, 3.0]], dtype=torch.float64)
    values = term_matrix([x * y, sympy.sin(x)], [x, y], points)
    assert torch.allclose(
        values, torch.stack([points[:, 0] * points[:, 1], torch.sin(points[:, 0])], 1)
    )
    grad = expression_gradient(x**2 * y, [x, y], points)
    assert torch.allclose(
        grad, torch.stack([2 * points[:, 0] * points[:, 1], points[:, 0] ** 2], 1)
    )


# ------------------------------------------------------------------ sparse solvers
def test_sparse_null_vectors_finds_every_minimal_combination():
    g = torch.Generator().manual_seed(0)
    s = torch.rand(300, 3, generator=g, dtype=torch.float64)
    # columns: s0, s1, s0 + s1, 2 s2, s2, s0*s1 -> null space: {0,1,2} and {3,4}
    a = torch.stack(
        [s[:, 0], s[:, 1], s[:, 0] + s[:, 1], 2 * s[:, 2], s[:, 2], s[:, 0] * s[:, 1]], 1
    )
    found = sparse_null_vectors(a)
    assert found.null_dim == 2
    assert sorted(found.supports) == [(0, 1, 2), (3, 4)]
    for vector in found.vectors:
        assert float((a @ vector).abs().max()) < 1e-12


def test_sparse_null_vectors_reports_trivial_columns():
    a = torch.stack(
        [torch.zeros(20, dtype=torch.float64), torch.linspace(0, 1, 20, dtype=torch.float64)], 1
    )
    found = sparse_null_vectors(a)
    assert found.trivial == (0,) and found.null_dim == 0 and found.vectors == []


def test_sparse_regression_recovers_a_sparse_law_exactly():
    g = torch.Generator().manual_seed(1)
    u = torch.rand(200, 6, generator=g, dtype=torch.float64)
    y = 1.5 * u[:, 1] - 0.25 * u[:, 4] + 2.0
    theta = torch.cat([torch.ones(200, 1, dtype=torch.float64), u], 1)
    fit = sparse_regression(theta, y)
    assert fit.support == (0, 2, 5)
    assert torch.allclose(
        fit.coefficients[[0, 2, 5]], torch.tensor([2.0, 1.5, -0.25], dtype=torch.float64)
    )
    # the greedy path (forced by max_subsets=0) finds it too
    assert sparse_regression(theta, y, max_subsets=0).support == (0, 2, 5)


def test_sparse_solvers_reject_bad_input():
    with pytest.raises(ValueError, match="NaN"):
        sparse_null_vectors(torch.tensor([[1.0, float("nan")]]))
    with pytest.raises(ValueError, match="shape"):
        sparse_regression(torch.ones(3), torch.ones(3))


# ------------------------------------------------------------------ comparison
def test_compare_laws_measures_scale_coefficients_and_spurious_terms():
    c = compare_laws(2.01 * x**2 + 2 * y**2 + 0.001 * x, (x**2 + y**2) / 2, [x, y])
    assert math.isclose(c.scale, 4.02) and math.isclose(
        c.coefficient_error, 0.005 / 1.005, rel_tol=1e-9
    )
    assert math.isclose(c.spurious, 0.001 / 2.01) and not c.exact
    assert [str(t) for t in c.extra] == ["x"] and c.missing == ()
    assert compare_laws(3 * x**2 + 3 * y**2 + 7, x**2 + y**2, [x, y], ignore_constant=True).exact
    assert not compare_laws(x**2 + 2 * y**2, x**2 + y**2, [x, y]).exact


# ------------------------------------------------------------------ 1-D closed forms
def test_univariate_formula_finds_the_transform_that_makes_the_law_sparse():
    values = torch.linspace(1.2, 3, 300, dtype=torch.float64)
    noisy = values.sqrt() / (values - 1) * (1 + 1e-4 * torch.sin(40 * values))
    fit = univariate_formula(values, noisy, r, r2_target=1 - 1e-6)
    assert fit.transform == "1/y" and fit.terms == 2
    assert sympy.simplify(fit.expression - sympy.sqrt(r) / (r - 1)) == 0
    with pytest.raises(ValueError, match="no transform"):
        univariate_formula(
            values, torch.special.gammaln(values) + torch.sin(7 * values), r, max_terms=1
        )


# ------------------------------------------------------------------ edge candidates
def test_edge_candidates_read_exact_terms_off_a_symbolic_kan(float64):
    model = KAN([2, 1], seed=0)
    model.set_symbolic_(0, 0, 0, "cos", (1.0, 0.0, 2.0, 0.0))
    model.set_symbolic_(0, 1, 0, "x^2", (1.0, 0.0, 0.5, 0.0))
    points = torch.rand(400, 2, generator=torch.Generator().manual_seed(0)) * 4 - 2
    per_edge = edge_candidates(model, points, ["q", "v"])
    q, v = sympy.symbols("q v", real=True)
    assert sympy.cos(q) in [t for c in per_edge[0] for t in c.terms]
    assert per_edge[1][0].terms == (v, v**2)


def test_edge_candidates_find_even_composites(float64):
    model = KAN([1, 1], grid=20, seed=0)
    points = torch.linspace(-0.99, 0.99, 400)[:, None]
    target = -torch.sqrt(1 - points**2) + 0.3 * points  # linear part: a total derivative
    from kanscience.core._splines import fit_coefficients

    layer = model.layers[0]
    model.update_grid_(points)
    layer.scale_base.data.zero_()
    with torch.no_grad():
        layer.coef.copy_(fit_coefficients(points, target[:, :, None], layer.grid, layer.k))
    v = sympy.Symbol("v", real=True)
    per_edge = edge_candidates(model, points, [v], remove_linear=[0])
    assert (sympy.sqrt(1 - v**2),) in [c.terms for c in per_edge[0]]


def test_edge_candidates_reject_bad_models():
    with pytest.raises(ValueError, match="one-layer"):
        edge_candidates(KAN([1, 2, 1]), torch.zeros(5, 1), ["x"])
    with pytest.raises(ValueError, match="name 2 inputs"):
        edge_candidates(KAN([2, 1]), torch.zeros(5, 2), ["x"])
