"""The built-in Feynman equations carry units, and every formula is consistent with them."""

from __future__ import annotations

import pytest

from kanscience.io import load_feynman
from kanscience.symbolic import buckingham_pi, is_dimensionally_consistent, units_from_spec

EQUATIONS = load_feynman()


@pytest.mark.parametrize("equation", EQUATIONS, ids=lambda e: e.id)
def test_formula_is_dimensionally_consistent_with_its_units(equation):
    dims = units_from_spec(equation.units, list(equation.variables))
    assert is_dimensionally_consistent(equation.expression(), dims)
    problem = buckingham_pi(dims)  # a scale with the target's units always exists
    n_groups = len(equation.variables) - dims.matrix().rank()
    assert len(problem.groups) == n_groups
