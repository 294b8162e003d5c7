"""Constitutive laws: the linear-elastic prior on linear data, the neo-Hookean example at
reduced size (mu and lambda asserted), and bad input."""

from __future__ import annotations

import pytest
import sympy
import torch

from kanscience.physics import (
    deformation_symbols,
    determinant_feature,
    fit_constitutive,
    linear_elastic_prior,
)
from physics_examples import neo_hookean


def test_linear_elastic_prior_recovers_lame_constants_on_linear_data():
    F, _ = neo_hookean.sample(200, 0.05, 0)
    eye = torch.eye(3, dtype=torch.float64)
    eps = (F + F.transpose(1, 2)) / 2 - eye
    lam, mu = 0.7, 0.3
    stress = lam * eps.diagonal(dim1=1, dim2=2).sum(1)[:, None, None] * eye + 2 * mu * eps
    expr, r2 = linear_elastic_prior(F, stress[:, 0, 0], (0, 0))
    f11, _, _, _, f22, _, _, _, f33 = [s for s in deformation_symbols()]
    expected = (lam + 2 * mu) * f11 + lam * f22 + lam * f33 - (3 * lam + 2 * mu)
    assert r2 == pytest.approx(1.0, abs=1e-12)
    assert float(
        sympy.expand(expr - expected).subs({s: 1.1 for s in deformation_symbols()})
    ) == pytest.approx(0, abs=1e-9)
    expr, r2 = linear_elastic_prior(F, stress[:, 0, 1], (0, 1))
    assert r2 == pytest.approx(1.0, abs=1e-12) and len(expr.free_symbols) == 2


def test_determinant_feature_is_det_f():
    F, _ = neo_hookean.sample(5, 0.3, 1)
    from kanscience.physics import term_matrix

    det = term_matrix([determinant_feature()], deformation_symbols(), F.reshape(-1, 9))[:, 0]
    assert torch.allclose(det, torch.linalg.det(F))


@pytest.mark.slow
def test_neo_hookean_example_recovers_both_components(no_files_written):
    result = neo_hookean.main(seed=0)  # the case at its defaults (2,000 samples)
    assert result.passed, result.report()
    for label, expr in result.law.items():
        reference = result.reference[label]
        assert sympy.expand(expr - reference) == 0
    mu, lam = sympy.Rational(5, 12), sympy.Rational(5, 18)
    f11 = deformation_symbols()[0]
    fitted = result.details["tau11"].expression
    assert float(fitted.coeff(f11**2)) == pytest.approx(float(mu), rel=0.02)
    assert float(fitted.coeff(sympy.log(sympy.Symbol("J", real=True)))) == pytest.approx(
        float(lam), rel=0.02
    )


def test_fit_constitutive_rejects_bad_input():
    F, tau = neo_hookean.sample(40, 0.2, 2)
    bad = F.clone()
    bad[1, 2, 2] = float("nan")
    with pytest.raises(ValueError, match="F contains NaN or Inf in 1 sample"):
        fit_constitutive(bad, tau[:, 0, 0])
    with pytest.raises(ValueError, match="one value per F"):
        fit_constitutive(F, tau[:-1, 0, 0])
    folded = F.clone()
    folded[0] = -folded[0]  # det F < 0
    with pytest.raises(ValueError, match="auxiliary feature J_log .* not finite on 1 sample"):
        fit_constitutive(folded, tau[:, 0, 0], aux={"J_log": sympy.log(determinant_feature())})
    with pytest.raises(ValueError, match="interactions"):
        fit_constitutive(F, tau[:, 0, 0], interactions="sometimes")


def _search_data(x, y):
    from kanscience.discover import neighbour_graph
    from kanscience.physics import _constitutive_search as search

    n = len(y)
    train, test = torch.arange(n // 5, n), torch.arange(n // 5)
    symbols = list(sympy.symbols("x1 x2", real=True))
    spread = float(y[train].std())
    return search._Data(symbols, x, y, train, test, neighbour_graph(x), spread), symbols


def test_small_argument_cosine_standing_in_for_a_square_is_replaced_by_the_polynomial():
    from kanscience.physics import _constitutive_search as search

    generator = torch.Generator().manual_seed(3)
    x = 2 * torch.rand(500, 2, generator=generator, dtype=torch.float64) - 1
    noise = 1e-5 * torch.randn(500, generator=generator, dtype=torch.float64)
    y = x[:, 0] ** 2 / 3 + x[:, 1] - 1 + noise
    data, (x1, x2) = _search_data(x, y)
    # c cos(a x1) + d with c a^2 / 2 = 1/3 differs from x1^2 / 3 by a^2 x1^4 / 36 <= 3e-6,
    # below the noise: the data cannot tell them apart, and the polynomial is simpler
    stand_in = -6667 * sympy.cos(sympy.Float(0.01) * x1) + x2 + 6666
    fit = search._refit(stand_in, sympy.S.One, data)
    assert fit is not None and fit.explains
    law = search._snapped(fit, data, 1e-3, 24).law
    assert sympy.expand(law - (x1**2 / 3 + x2 - 1)) == 0, law


def test_a_cosine_whose_argument_spans_a_wide_range_is_kept():
    from kanscience.physics import _constitutive_search as search

    x = 2 * torch.rand(500, 2, generator=torch.Generator().manual_seed(4), dtype=torch.float64) - 1
    y = torch.cos(2 * x[:, 0]) / 2 + x[:, 1]
    data, (x1, x2) = _search_data(x, y)
    fit = search._refit(0.4 * sympy.cos(2 * x1) + 0.9 * x2, sympy.S.One, data)
    assert fit is not None and fit.explains and fit.rmse < 1e-12
    law = search._snapped(fit, data, 1e-3, 24).law
    assert sympy.expand(law - (sympy.cos(2 * x1) / 2 + x2)) == 0, law
