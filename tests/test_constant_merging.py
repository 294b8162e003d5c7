"""Products of constants folded into one number, snapped to closed forms, and ranked no
more complex than fitted floats (kanscience.symbolic.merge_constants,
kanscience.discover._polish, kanscience.discover._ranking.complexity)."""

from __future__ import annotations

import math

import pytest
import sympy
import torch
from search_support import make_search

from kanscience.discover._polish import CLOSED_FORMS, candidates_from, snap_floats, snap_greedy
from kanscience.discover._ranking import SCALE_COST, Candidate, complexity, rank, readable
from kanscience.discover._search import Search
from kanscience.symbolic import expression_complexity, merge_constants, snap_constants

F64 = torch.float64
PI = sympy.pi
x, y, z = sympy.symbols("x y z", real=True)


def _same_function(a: sympy.Expr, b: sympy.Expr, symbols, rtol: float = 1e-12) -> bool:
    """``a`` and ``b`` agree at a few points in [0.5, 2]^n within ``rtol``."""
    fa, fb = sympy.lambdify(symbols, a), sympy.lambdify(symbols, b)
    gen = torch.Generator().manual_seed(0)
    for point in (0.5 + 1.5 * torch.rand(20, len(symbols), generator=gen, dtype=F64)).tolist():
        if not math.isclose(float(fa(*point)), float(fb(*point)), rel_tol=rtol, abs_tol=1e-300):
            return False
    return True


@pytest.mark.parametrize(
    "expr",
    [
        9.86960440108936 * x / PI**2,
        0.037 * z * (27.2 * sympy.sin(x) + 3.1 * sympy.exp(y)),
        -z * (2.5 * sympy.sin(x) + 3.1),
        x ** (0.5 * PI) + 1.3 + PI + sympy.sqrt(2) * 0.70710678 * y,
        sympy.exp(0.3 * x * sympy.E) * sympy.sqrt(2.0) / PI,
        0.159154943091895 * x / (sympy.exp(0.159154943091895 * x / y) - 1),
        sympy.sqrt(2) * x / (2 * PI) + sympy.Rational(1, 3),
    ],
)
def test_merging_keeps_the_function_and_never_lengthens(expr):
    merged = merge_constants(expr)
    assert expression_complexity(merged) <= expression_complexity(expr)
    assert _same_function(merged, expr, [x, y, z])


def test_a_product_of_constants_equal_to_one_folds_to_one():
    merged = merge_constants(9.86960440108936 * x / PI**2)
    coefficient, rest = merged.as_coeff_Mul()
    assert rest == x and isinstance(coefficient, sympy.Float)
    assert float(coefficient) == pytest.approx(1.0, abs=1e-13)
    assert snap_floats(9.86960440108936 * x / PI**2, 1e-6, CLOSED_FORMS) == x
    # a product of several exact and fitted constants (0.037 * 27.027 = 1)
    product = sympy.Mul(0.037, 27.027027027027, sympy.sqrt(2), x, evaluate=False) / sympy.sqrt(2)
    assert snap_floats(product, 1e-6, ()) == x


def test_a_float_factor_is_distributed_only_where_it_merges_constants():
    merged = merge_constants(0.037 * z * (27.2 * sympy.sin(x) + 3.1 * y))
    assert merged.as_coeff_Mul()[0] == 1 and len(merged.atoms(sympy.Float)) == 2
    assert _same_function(merged, 1.0064 * z * sympy.sin(x) + 0.1147 * z * y, [x, y, z])
    # a term without a float coefficient: distributing would add a constant, so it stays
    kept = 0.037 * z * (sympy.sin(x) + 3.1 * y)
    assert merge_constants(kept) == kept
    # exact constants alone are left exact
    exact = sympy.sqrt(2) * x / (2 * PI)
    assert merge_constants(exact) == exact


def test_closed_forms_are_snap_targets_and_other_numbers_stay_floats():
    assert snap_constants(sympy.Float(9.8696044), tol=1e-6, constants=CLOSED_FORMS) == PI**2
    assert snap_floats(9.86960440108936 * x, 1e-6, CLOSED_FORMS) == PI**2 * x
    assert snap_floats(0.707106781186548 * x, 1e-6, CLOSED_FORMS) == sympy.sqrt(2) * x / 2
    assert snap_floats(1.77245385090552 * x, 1e-6, CLOSED_FORMS) == sympy.sqrt(PI) * x
    assert snap_floats(0.159154943091895 * x, 1e-6, CLOSED_FORMS) == x / (2 * PI)
    # the fixed point of cos (0.739085...) is near no simple number: it stays a float
    far = 0.739085133215161 * sympy.sin(x) + y
    assert snap_floats(far, 1e-6, CLOSED_FORMS) == far


def test_the_two_benchmark_formulas_fold_and_snap_to_the_laws():
    i1, i2, delta = sympy.symbols("I1 I2 delta", positive=True)
    unmerged = i1 * (
        9.86960440108936 * (sympy.cos(delta) + 1 / sympy.sqrt(i1 / i2)) ** 2 / PI**2
        - sympy.cos(2 * delta) / 2
        + sympy.Rational(1, 2)
    )
    law = i1 + i2 + 2 * sympy.sqrt(i1 * i2) * sympy.cos(delta)
    snapped = snap_floats(unmerged, 1e-6, CLOSED_FORMS)
    assert not snapped.atoms(sympy.Float)
    assert sympy.simplify(snapped - law) == 0
    h, omega, t, kb = sympy.symbols("h omega T kb", positive=True)
    c = sympy.Float(0.159154943091895)
    planck = c * h * omega / (sympy.exp(c * h * omega / (t * kb)) - 1)
    law = h * omega / (2 * PI) / (sympy.exp(h * omega / (2 * PI * kb * t)) - 1)
    snapped = snap_floats(planck, 1e-6, CLOSED_FORMS)
    assert sympy.simplify(snapped - law) == 0


@pytest.mark.parametrize(
    ("closed", "fitted"),
    [
        (x / (2 * PI), 0.159154943 * x),
        (PI * x, 3.14159265 * x),
        (sympy.sqrt(2) * x / 2, 0.707106781 * x),
        (PI**2 * x + y, 9.8696044 * x + y),
        (sympy.exp(x / (2 * PI)), sympy.exp(0.159154943 * x)),
        (y * sympy.sin(2 * PI * x), y * sympy.sin(6.28318531 * x)),
        (x + y + 1 / PI, x + y + 0.318309886),
    ],
)
def test_a_closed_form_constant_counts_no_more_than_a_fitted_float(closed, fitted):
    assert complexity(closed) <= complexity(fitted)


def test_ranking_elsewhere_is_unchanged():
    t = sympy.Symbol("t")
    assert complexity(0.4 * sympy.exp(-(t**2) / 2) + 1.7) == 13
    assert complexity(2 * t + 1) == complexity(t) + 4  # small numbers count one node
    assert complexity(1.3 * t) == complexity(t) + 3  # the overall factor counts two
    assert complexity(sympy.sin(1.3 * t)) == complexity(sympy.sin(t)) + 4  # inner: three


def test_the_reported_form_folds_products_of_constants_only_where_shorter():
    def candidate(expr):
        return Candidate(expr, complexity(expr), 0.0, 1.0, 0.0)

    t, kb, h, omega = sympy.symbols("T kb h omega", positive=True)
    fitted = t ** sympy.Rational(1, 10) * (31 * t * kb - 0.649163385442548 * PI * h * omega) / PI
    tidy = readable(candidate(fitted)).expr
    (folded,) = tidy.atoms(sympy.Float)  # 0.649 pi is one number
    assert abs(float(folded)) == pytest.approx(0.649163385442548 * math.pi, rel=1e-12)
    assert _same_function(tidy, fitted, [t, kb, h, omega])
    assert expression_complexity(tidy) < expression_complexity(fitted)
    exact = candidate(h * omega / (2 * PI * (sympy.exp(h * omega / (2 * PI * kb * t)) - 1)))
    assert readable(exact) is exact


def _search(x_data: torch.Tensor, y_data: torch.Tensor, symbols) -> Search:
    return make_search(x_data, y_data, symbols, tolerance=0.02)


def _polished_best(search: Search, expr: sympy.Expr) -> sympy.Expr:
    """The search's polishing of one candidate, then the final ranking of discover."""
    candidates_from(search, expr, "candidate")
    best = search.ranked()[0]
    snap_greedy(search, best.expr, best.source, best.val_rmse)
    ranked = rank([readable(c) for c in search.ranked()], search.spread, relative=0.02)[0]
    return ranked[0].expr


def _uniform(n: int, ranges: list[tuple[float, float]], seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    lo = torch.tensor([r[0] for r in ranges], dtype=F64)
    hi = torch.tensor([r[1] for r in ranges], dtype=F64)
    return lo + torch.rand(n, len(ranges), generator=gen, dtype=F64) * (hi - lo)


def test_polishing_reports_the_interference_law_with_exact_constants():
    i1, i2, delta = sympy.symbols("I1 I2 delta", real=True)
    data = _uniform(1000, [(1.0, 5.0), (1.0, 5.0), (1.0, 5.0)], seed=1)
    target = (
        data[:, 0] + data[:, 1] + 2 * torch.sqrt(data[:, 0] * data[:, 1]) * torch.cos(data[:, 2])
    )
    search = _search(data, target, [i1, i2, delta])
    unmerged = i1 * (
        9.86960440108936 * (sympy.cos(delta) + 1 / sympy.sqrt(i1 / i2)) ** 2 / PI**2
        - sympy.cos(2 * delta) / 2
        + sympy.Rational(1, 2)
    )
    best = _polished_best(search, unmerged)
    assert not best.atoms(sympy.Float)
    positive = {s: sympy.Symbol(s.name, positive=True) for s in (i1, i2, delta)}
    law = i1 + i2 + 2 * sympy.sqrt(i1 * i2) * sympy.cos(delta)
    assert sympy.simplify((best - law).xreplace(positive)) == 0


def test_polishing_reports_the_planck_law_with_exact_constants():
    h, omega, t, kb = sympy.symbols("h omega T kb", real=True)
    data = _uniform(1000, [(1.0, 5.0)] * 4, seed=2)
    quantum = data[:, 0] * data[:, 1] / (2 * math.pi)
    target = quantum / (torch.exp(quantum / (data[:, 2] * data[:, 3])) - 1)
    search = _search(data, target, [h, omega, t, kb])
    c = sympy.Float(0.159154943091895)
    best = _polished_best(search, c * h * omega / (sympy.exp(c * h * omega / (t * kb)) - 1))
    law = h * omega / (2 * PI) / (sympy.exp(h * omega / (2 * PI * kb * t)) - 1)
    assert not best.atoms(sympy.Float)
    assert sympy.simplify(best - law) == 0


def test_polishing_keeps_a_constant_that_is_no_simple_number():
    data = _uniform(1000, [(0.5, 3.0), (0.5, 3.0)], seed=3)
    target = 0.739085133215161 * torch.sin(data[:, 0]) + data[:, 1]
    search = _search(data, target, list(sympy.symbols("x y", real=True)))
    a, b = search.symbols
    best = _polished_best(search, 0.74 * sympy.sin(a) + b)
    (constant,) = best.atoms(sympy.Float)
    assert float(constant) == pytest.approx(0.739085133215161, rel=1e-9)
    assert sympy.simplify(best - (constant * sympy.sin(a) + b)) == 0


def test_simplest_number_within_a_tolerance_is_the_simplest_not_the_closest():
    """A mean known to a standard error snaps to the simplest number it allows: 1 for
    1.0004 (22/(7 pi) is closer), 4 pi for 12.58 (169 sqrt(2)/19 is closer), 3/(20 pi)
    when the tolerance excludes the simpler 1/(7 pi); a Float when nothing is that close."""
    from kanscience.symbolic import SIMPLE_CONSTANTS, simplest_number

    assert simplest_number(1.0004, 1e-3, SIMPLE_CONSTANTS) == 1
    assert simplest_number(12.58, 0.02, SIMPLE_CONSTANTS, max_denominator=20) == 4 * sympy.pi
    value = 3 / (20 * math.pi) + 1e-5
    got = simplest_number(value, 1e-4, SIMPLE_CONSTANTS, max_denominator=20)
    assert got == sympy.Rational(3, 20) / sympy.pi
    assert simplest_number(value, 3e-3, SIMPLE_CONSTANTS, max_denominator=20) == 1 / (7 * sympy.pi)
    assert simplest_number(0.123456789, 1e-12, SIMPLE_CONSTANTS) == sympy.Float(0.123456789)
    assert simplest_number(-2.5, 1e-9) == sympy.Rational(-5, 2)
    with pytest.raises(ValueError, match="tolerance"):
        simplest_number(1.0, -1.0)


def test_a_factor_enters_a_power_of_a_fitted_sum_through_its_root():
    """c (a + b y)^n has one constant too many: merged into the base it keeps the value and
    snaps to the law (a network spreading the scale 1 over 0.169 and 2.432^2)."""
    from kanscience.symbolic import merge_constants, snap_constants

    y = sympy.Symbol("y", real=True)
    fitted = 0.169070951772246 * (7.5e-7 - 2.43200003699466 * y) ** 2
    merged = merge_constants(fitted)
    assert len(merged.atoms(sympy.Float)) == 2  # was 3
    for value in (-1.3, 0.2, 2.0):
        assert abs(float(merged.subs(y, value)) - float(fitted.subs(y, value))) < 1e-12
    assert snap_constants(merged, tol=1e-2) == y**2
    odd = merge_constants(-8.0 * (0.5 * y + 0.25) ** 3)  # a real cube root of -8
    assert abs(float(odd.subs(y, 0.7)) - float((-8.0 * (0.5 * y + 0.25) ** 3).subs(y, 0.7))) < 1e-12
    assert len(odd.atoms(sympy.Float)) == 2
    even = -4.0 * (0.5 * y + 0.25) ** 2  # no real square root: left as it is
    assert merge_constants(even) == even


def test_a_law_that_needs_no_factor_beats_an_approximation_that_needs_one():
    """On noisy data both fit alike; the approximation's overall factor (0.707, or its
    snap 20/(9 pi)) is a constant the data chose, and costs more than no factor at all."""
    m, v, c = sympy.symbols("m v c", positive=True)
    law = c**2 * m / sympy.sqrt(1 - v**2 / c**2)
    rest = c**2 * m / sympy.sqrt(sympy.cos(v / c) - sympy.Rational(1, 2))
    for factor in (sympy.Float(0.707177), 20 / (9 * sympy.pi)):
        approximation = factor * rest
        assert complexity(approximation) == complexity(rest) + SCALE_COST
        assert complexity(law) <= complexity(approximation)
        found = [
            Candidate(approximation, complexity(approximation), 0.0, 1.0, val_rmse=1.0),
            Candidate(law, complexity(law), 0.0, 1.0, val_rmse=1.002),
        ]
        assert rank(found, spread=100.0)[0][0].expr == law
