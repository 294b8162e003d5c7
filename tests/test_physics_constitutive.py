"""Constitutive laws: the linear-elastic prior on linear data, the neo-Hookean example at
reduced size (mu and lambda asserted), and bad input."""

from __future__ import annotations

import pytest
import sympy
import torch

from kanscience.discover import neighbour_graph
from kanscience.physics import (
    deformation_symbols,
    determinant_feature,
    fit_constitutive,
    linear_elastic_prior,
)
from kanscience.physics._constitutive_search import _Data, _refit
from kanscience.physics._constitutive_taylor import taylor_replacements
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


def test_a_cosine_product_standing_in_for_a_quadratic_is_replaced_by_its_monomials():
    # J sigma = mu (a^2 + b^2 - 1) + lambda log J: a search may return cos(a) cos(b), which
    # reaches 1 - a^2/2 - b^2/2 only to fourth order (the refit cannot explain the data);
    # its degree-2 monomials in (a, b) do, and the pruning keeps only a^2 and b^2
    a, b, j = symbols = list(sympy.symbols("a b J", real=True))
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(600, 3, generator=generator, dtype=torch.float64) * 0.6 - 0.3
    x[:, 2] += 1.0
    mu, lam = 5 / 12, 5 / 18
    y = (mu * (x[:, 0] ** 2 + x[:, 1] ** 2 - 1) + lam * torch.log(x[:, 2])) / x[:, 2]
    rows = torch.randperm(600, generator=generator)
    data = _Data(symbols, x, y, rows[120:], rows[:120], neighbour_graph(x), float(y.std()))
    stand_in = mu * a**2 + lam * sympy.log(j) - 0.85 * sympy.cos(a) * sympy.cos(b) + 0.43
    assert taylor_replacements(sympy.cos(a) * sympy.cos(b), symbols)[:3] == [1, a, b]
    fit = _refit(stand_in, j, data)
    assert fit is not None and fit.explains and fit.n_terms == 4
    expected = (mu * (a**2 + b**2 - 1) + lam * sympy.log(j)) / j
    difference = sympy.expand(fit.fitted - expected)
    assert max(abs(float(c)) for c in difference.atoms(sympy.Float) | {sympy.Float(0)}) < 1e-9
