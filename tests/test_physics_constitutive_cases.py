"""Constitutive laws through the general symbolic search: D6 (the Cauchy stress of a
neo-Hookean solid, ``1/J`` found as a scaling of the stress) at reduced size, asserted
symbolically, and the honest verdict when no formula explains the data."""

from __future__ import annotations

import sympy

from kanscience.physics import deformation_symbols, fit_constitutive
from physics_examples import neo_hookean_cauchy


def test_cauchy_stress_law_is_recovered_exactly_with_j_given(no_files_written):
    result = neo_hookean_cauchy.main(seed=0, n=600, time_budget=24.0)
    assert result.passed, result.report()
    assert sympy.simplify(result.law - neo_hookean_cauchy.REFERENCE) == 0
    found = result.details
    assert found.scaling == neo_hookean_cauchy.J  # searched as the Kirchhoff stress J sigma
    assert found.checks["terms"] == 5 and found.checks["held-out R^2"] > 1 - 1e-12
    assert found.checks["residual structure z"] < 3


def test_no_law_is_reported_when_no_formula_explains_the_data(no_files_written):
    # without J the law needs det F: a short search finds only approximations
    F, sigma = neo_hookean_cauchy.sample(600, neo_hookean_cauchy.DATA_SEED)
    found = fit_constitutive(F, sigma, (0, 0), time_budget=4.0, seed=0)
    assert found.law is None and found.reason.startswith("no formula explains the data")
    assert found.checks["residual structure z"] >= 3 or found.checks["held-out R^2"] < 1
    assert found._repr_latex_() is None
    assert not (found.expression.free_symbols - set(deformation_symbols()))
