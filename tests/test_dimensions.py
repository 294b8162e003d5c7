"""Units and dimensional analysis: parsing, Buckingham Pi groups, consistency of candidates."""

from __future__ import annotations

from fractions import Fraction

import pytest
import sympy

from kanscience.symbolic import (
    DimensionError,
    buckingham_pi,
    dimension_of,
    is_dimensionally_consistent,
    parse_units,
)

FEYNMAN_BASE = ("m", "s", "kg", "T", "V")


def _symbols(dims):
    return {n: sympy.Symbol(n, positive=True) for n in dims.variables}


def test_unit_strings_reduce_to_si_exponents():
    dims = parse_units({"F": "N", "E": "J", "P": "W/m**2", "c": "m/s"})
    assert dims.base == ("m", "s", "kg", "A", "K", "mol", "cd")
    assert dims.variables["F"][:3] == (1, -2, 1)
    assert dims.variables["E"][:3] == (2, -2, 1)
    assert dims.variables["P"][:3] == (0, -3, 1)
    assert dims.variables["c"][:3] == (1, -1, 0)


def test_pendulum_period_is_a_scale_times_a_function_of_the_amplitude():
    dims = parse_units({"l": "m", "g": "m/s**2", "m": "kg", "theta0": "1"}, target="s")
    problem = buckingham_pi(dims)
    symbols = _symbols(dims)
    assert problem.group_expressions(symbols) == [symbols["theta0"]]
    assert (
        sympy.simplify(problem.scale_expression(symbols) - sympy.sqrt(symbols["l"] / symbols["g"]))
        == 0
    )
    assert "m" not in problem.target_scale  # the mass cannot enter: nothing cancels kg


def test_drag_law_has_the_reynolds_number_as_its_only_group():
    dims = parse_units({"rho": "kg/m**3", "v": "m/s", "L": "m", "mu": "kg/(m*s)"}, target="N")
    problem = buckingham_pi(dims)
    symbols = _symbols(dims)
    (group,) = problem.group_expressions(symbols)
    reynolds = symbols["rho"] * symbols["v"] * symbols["L"] / symbols["mu"]
    assert sympy.simplify(group / reynolds) == 1 or sympy.simplify(group * reynolds) == 1
    scale = problem.scale_expression(symbols)
    assert dimension_of(scale, dims) == dims.target
    assert problem.target_scale == {"v": 1, "L": 1, "mu": 1}  # smallest exponents: mu v L


def test_groups_span_the_null_space_with_integer_exponents():
    # Coulomb's law in the Feynman base units: q1, q2 (C = V^-1 ... as exponent vectors)
    dims = parse_units(
        {
            "q1": [0, 1, 0, 0, 1],
            "q2": [0, 1, 0, 0, 1],
            "eps": [-1, 0, 0, 0, -1],
            "r": [1, 0, 0, 0, 0],
        },
        target=[-1, 1, 0, 0, 1],
        base=FEYNMAN_BASE,
    )
    problem = buckingham_pi(dims)
    matrix = dims.matrix()
    names = list(dims.variables)
    assert len(problem.groups) == len(names) - matrix.rank()
    for group in problem.groups:
        vector = sympy.Matrix([group.get(n, 0) for n in names])
        assert matrix * vector == sympy.zeros(len(FEYNMAN_BASE), 1)
        assert all(Fraction(e).denominator == 1 for e in group.values())


def test_inconsistent_candidates_are_rejected():
    dims = parse_units({"m": "kg", "v": "m/s", "c": "m/s"}, target="J")
    s = _symbols(dims)
    assert is_dimensionally_consistent(
        s["m"] * s["c"] ** 2 / sympy.sqrt(1 - s["v"] ** 2 / s["c"] ** 2), dims
    )
    assert not is_dimensionally_consistent(s["m"] * s["c"] ** 2 + s["v"], dims)  # adds J and m/s
    assert not is_dimensionally_consistent(s["m"] * sympy.exp(s["v"]), dims)  # exp of a speed
    assert not is_dimensionally_consistent(s["m"] * s["v"], dims)  # momentum, not energy
    with pytest.raises(DimensionError, match="adds terms of different units"):
        dimension_of(s["m"] + s["v"], dims)


def test_a_target_no_monomial_can_carry_is_an_error():
    dims = parse_units({"l": "m"}, target="s")
    with pytest.raises(DimensionError, match="no product of powers"):
        buckingham_pi(dims)


@pytest.mark.parametrize(
    ("units", "kwargs", "message"),
    [
        ({"x": "furlong"}, {}, "unknown unit name 'furlong'"),
        ({"x": "__import__('os')"}, {}, "cannot read unit|unknown unit name"),
        ({"x": [1, 2]}, {}, r"has 2 exponents, expected 7"),
        ({"x": "m"}, {"names": ["x", "y"]}, r"lacks the variables \['y'\]"),
        ({"x": "m", "z": "s"}, {"names": ["x"]}, r"names \['z'\], which are not among"),
        ({"x": object()}, {}, "must be a unit string or a sequence"),
        (["m"], {}, "units must be a mapping"),
    ],
)
def test_bad_units_are_clear_errors(units, kwargs, message):
    with pytest.raises(DimensionError, match=message):
        parse_units(units, **kwargs)


def test_equally_small_target_scales_are_offered_as_alternatives():
    """An energy from m, v, c: m v^2 and m c^2 are equally small scales; the preferred
    one comes first (pivots in column order), the other as an alternative, and each is
    the other times a power of the group."""
    dims = parse_units({"m": "kg", "v": "m/s", "c": "m/s"}, target="J")
    problem = buckingham_pi(dims)
    assert problem.target_scale == {"m": 1, "v": 2}
    assert problem.alternative_scales == ({"m": 1, "c": 2},)
    symbols = _symbols(dims)
    (group,) = problem.group_expressions(symbols)
    ratio = problem.scale_expression(symbols) / _monomial_of(problem.alternative_scales[0], symbols)
    assert sympy.simplify(ratio - group**2) == 0 or sympy.simplify(ratio - group**-2) == 0
    # a scale with larger exponents (m v c has the same units) is no alternative
    assert all(sum(abs(e) for e in s.values()) == 3 for s in problem.alternative_scales)


def _monomial_of(exponents, symbols):
    return sympy.Mul(*[symbols[n] ** sympy.Rational(e) for n, e in exponents.items()])
