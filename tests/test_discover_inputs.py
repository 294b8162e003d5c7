"""Tests for kanscience.discover._inputs: bad data and bad units fail at the boundary."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
import sympy
import torch

from kanscience import Dataset
from kanscience.discover import discover
from kanscience.discover._inputs import (
    constant_value,
    split_data,
    training_data,
    units_as_dimensions,
)
from kanscience.symbolic import DimensionError, is_dimensionally_consistent, parse_units

F64 = torch.float64


def _inputs(n, d, seed=0):
    return 1 + torch.rand(n, d, generator=torch.Generator().manual_seed(seed), dtype=F64)


@pytest.fixture(scope="module")
def product():
    x = _inputs(60, 2)
    return x, x[:, 0] * x[:, 1]


# ---------------------------------------------------------------------- the target
def test_a_constant_target_is_refused_naming_y_and_its_value():
    x = _inputs(60, 2)
    with pytest.raises(ValueError, match=r"^y is constant \(value 3\) in the training data"):
        discover((x, torch.full((60,), 3.0, dtype=F64)), time_budget=5)
    with pytest.raises(ValueError, match=r"train_label is constant \(value 0\)"):
        discover(Dataset(x, torch.zeros(60, 1, dtype=F64), x, x[:, :1]), time_budget=5)
    with pytest.raises(ValueError, match=r"train_label is constant \(value -2\.5\)"):
        discover(
            {
                "train_input": x,
                "train_label": torch.full((60, 1), -2.5, dtype=F64),
                "test_input": x,
                "test_label": x[:, :1],
            },
            time_budget=5,
        )


def test_constant_means_constant_to_rounding_and_nothing_more():
    # 0.1 + 0.2 and 0.3 differ in the last bit only: one value, not a law
    y = torch.tensor([0.1 + 0.2, 0.3, 0.3], dtype=F64)
    assert float(y[0]) != float(y[1])
    assert constant_value(y) == pytest.approx(0.3, rel=1e-15)
    assert constant_value(torch.zeros(4, dtype=F64)) == 0.0
    # a spread of a few ulp is rounding; a spread of 1e-12 relative is data
    assert constant_value(1 + torch.tensor([0.0, 1e-12], dtype=F64)) is None
    assert constant_value(1e-300 * torch.tensor([1.0, 2.0], dtype=F64)) is None
    assert constant_value(torch.tensor([5.0, 5.0], dtype=torch.float32)) == 5.0


@pytest.mark.parametrize(
    "poison, rows, name",
    [
        ("x", [3, 7], "x"),
        ("y", [0], "y"),
    ],
)
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_tuples_name_the_argument_and_count_the_rows(product, poison, rows, name, value):
    x, y = product[0].clone(), product[1].clone()
    target = x if poison == "x" else y
    target[rows] = value
    with pytest.raises(ValueError, match=rf"^{name} contains NaN or Inf in {len(rows)} row\(s\)"):
        discover((x, y), time_budget=5)


@pytest.mark.parametrize("key", ["train_input", "train_label", "test_input", "test_label"])
def test_non_finite_datasets_and_dicts_name_the_split(product, key):
    x, y = product[0], product[1][:, None]
    tensors = {"train_input": x, "train_label": y, "test_input": x, "test_label": y}
    tensors[key] = tensors[key].clone()
    tensors[key][[1, 2, 5]] = math.nan
    match = rf"^{key} contains NaN or Inf in 3 row\(s\)"
    with pytest.raises(ValueError, match=match):
        discover(tensors, time_budget=5)  # a pykan dict, checked on the way in
    with pytest.raises(ValueError, match=match):
        Dataset(**tensors)  # a Dataset cannot hold them in the first place


# ---------------------------------------------------------------- samples and shapes
def test_fewer_training_samples_than_variables_is_refused():
    x = _inputs(10, 20)
    with pytest.raises(
        ValueError,
        match=r"x has 8 training samples \(2 of 10 held out for testing by test_fraction=0\.25\) "
        r"for 20 variables: discover needs more training samples than variables",
    ):
        discover((x, x.sum(1)), time_budget=5)
    x = _inputs(20, 5)
    with pytest.raises(ValueError, match="train_input has 5 training samples for 5 variables"):
        discover(Dataset(x[:5], x[:5, :1], x[5:], x[5:, :1]), time_budget=5)
    # one more sample than variables passes the check (and the split keeps every row)
    dataset = training_data(Dataset(x[:6], x[:6].sum(1), x[6:], x[6:].sum(1)), 0.25, 0)
    assert dataset.train_input.shape == (6, 5)
    torch.testing.assert_close(dataset.train_label[:, 0], x[:6].sum(1), rtol=0, atol=0)


def test_too_few_samples_to_split_and_bad_test_fractions(product):
    x, y = product
    with pytest.raises(ValueError, match="need at least 8 samples, got 7"):
        discover((x[:7], y[:7]), time_budget=5)
    for fraction in (0.0, 1.0, -0.1, 2.0):
        with pytest.raises(ValueError, match=r"test_fraction must be in \(0, 1\)"):
            discover((x, y), test_fraction=fraction, time_budget=5)
    # nearly everything held out: one training sample is left, and that is too few
    with pytest.raises(ValueError, match=r"x has 1 training samples \(7 of 8 held out"):
        discover((x[:8], y[:8]), test_fraction=0.99, time_budget=5)


def test_the_split_partitions_the_samples(product):
    x, y = product
    split = split_data((x, y), 0.25, seed=3)
    assert (split.train_input.shape[0], split.test_input.shape[0]) == (45, 15)
    rows = torch.cat([split.train_input, split.test_input])
    labels = torch.cat([split.train_label, split.test_label])[:, 0]
    order = torch.argsort(rows[:, 0])
    reference = torch.argsort(x[:, 0])
    torch.testing.assert_close(rows[order], x[reference], rtol=0, atol=0)
    torch.testing.assert_close(labels[order], y[reference], rtol=0, atol=0)


def test_shapes_of_x_and_y(product):
    x, y = product
    with pytest.raises(ValueError, match="discover fits one output; y has 2 columns"):
        discover((x, x), time_budget=5)
    with pytest.raises(ValueError, match="discover fits one output; train_label has 2 columns"):
        discover(Dataset(x, x, x, x), time_budget=5)
    with pytest.raises(ValueError, match="x has 60 samples but y has 59"):
        discover((x, y[:59]), time_budget=5)
    with pytest.raises(ValueError, match=r"x must be 1-D or 2-D \(samples, features\)"):
        discover((x[:, :, None], y), time_budget=5)
    with pytest.raises(ValueError, match=r"y must be 1-D or 2-D"):
        discover((x, y[:, None, None]), time_budget=5)
    # a 1-D x is one variable: names for two are refused, and one variable is solved
    with pytest.raises(ValueError, match="var_names must be 1 distinct strings"):
        discover((x[:, 0], y), ["a", "b"], time_budget=5)
    result = discover((x[:, 0], 3 * x[:, 0] ** 2), ["a"], time_budget=15, steps=20)
    a = sympy.Symbol("a", real=True)
    assert sympy.simplify(result.best.expr - 3 * a**2) == 0
    assert result.best.test_r2 == pytest.approx(1.0, abs=1e-12)


# ------------------------------------------------------------------------- units
@pytest.mark.parametrize(
    "units, target_units, match",
    [
        (["m"], None, r"units has 1 entries for 2 variables \['a', 'b'\]"),
        (["m", "s", "kg"], None, r"units has 3 entries for 2 variables"),
        ({"a": "m"}, None, r"units lacks the variables \['b'\]"),
        ({"a": "m", "b": "s", "c": "kg"}, None, r"units names \['c'\], which are not among"),
        ({"a": "m", "b": "metre"}, None, r"units\['b'\]: unknown unit name 'metre'"),
        (["m", "furlong"], None, r"units\['b'\]: unknown unit name 'furlong'"),
        ({"a": "m", "b": "m s"}, None, r"units\['b'\]: cannot read unit 'm s'"),
        ({"a": "m", "b": "m/s**"}, None, r"units\['b'\]: unit 'm/s\*\*': expected an exponent"),
        ({"a": "m", "b": "bit"}, None, r"units\['b'\]: unit 'bit' has a dimension outside SI"),
        ({"a": "m", "b": [1, 0]}, None, r"units\['b'\] has 2 exponents, expected 7"),
        ({"a": "m", "b": 3}, None, r"units\['b'\] must be a unit string or a sequence"),
        ({"a": "m", "b": "s"}, "sec", r"the target's units: unknown unit name 'sec'"),
        ({"a": "m", "b": "m"}, "s", r"target's units \(s; the variables have a: m, b: m\)"),
        ("m", None, "units must be a mapping name -> unit, a sequence of units in column order"),
        (None, "s", r"target_units needs the units of the inputs too"),
    ],
)
def test_bad_units_are_value_errors_naming_the_variable(product, units, target_units, match):
    with pytest.raises(ValueError, match=match) as caught:
        discover((product[0], product[1]), ["a", "b"], units=units, target_units=target_units)
    assert "Traceback" not in str(caught.value)


def test_units_as_a_sequence_in_column_order_equal_the_mapping():
    by_order = units_as_dimensions(["m", "m/s**2"], "s", ["L", "g"])
    by_name = parse_units({"g": "m/s**2", "L": "m"}, target="s", names=["L", "g"])
    assert by_order == by_name
    assert list(by_order.variables) == ["L", "g"]
    assert by_order.variables["g"][:2] == (Fraction(1), Fraction(-2))
    assert units_as_dimensions(None, None, ["L", "g"]) is None


def test_dimensions_are_checked_against_the_variables_and_take_target_units():
    dims = parse_units({"L": "m", "g": "m/s**2"}, names=["L", "g"])
    with pytest.raises(DimensionError, match=r"in column order; it lacks \['T'\]"):
        units_as_dimensions(dims, None, ["L", "g", "T"])
    with pytest.raises(DimensionError, match=r"has units for \['g'\], which are not variables"):
        units_as_dimensions(dims, None, ["L"])
    with pytest.raises(DimensionError, match=r"lists them as \['L', 'g'\]"):
        units_as_dimensions(dims, None, ["g", "L"])
    with_target = units_as_dimensions(dims, "s", ["L", "g"])
    assert with_target.target == (0, 1, 0, 0, 0, 0, 0)
    assert with_target.variables == dims.variables
    assert units_as_dimensions(with_target, "s", ["L", "g"]) == with_target
    with pytest.raises(DimensionError, match="target_units 'kg' differs from the target"):
        units_as_dimensions(with_target, "kg", ["L", "g"])


def test_discover_takes_units_in_column_order():
    # T = 2 pi sqrt(L / g): no dimensionless group, so the law is its scale times 2 pi
    x = _inputs(200, 2) * torch.tensor([1.0, 9.0], dtype=F64)
    y = 2 * math.pi * torch.sqrt(x[:, 0] / x[:, 1])
    result = discover((x, y), ["L", "g"], units=["m", "m/s**2"], target_units="s", time_budget=10)
    L, g = sympy.symbols("L g", positive=True)  # positive, as the data are
    positive = {s: sympy.Symbol(s.name, positive=True) for s in result.best.expr.free_symbols}
    assert (
        sympy.simplify(result.best.expr.xreplace(positive) - 2 * sympy.pi * sympy.sqrt(L / g)) == 0
    )
    dims = parse_units({"L": "m", "g": "m/s**2"}, target="s")
    assert is_dimensionally_consistent(result.best.expr, dims)
    assert result.best.test_rmse < 1e-12 * float(y.abs().max())


def test_a_target_proportional_to_its_scale_is_not_a_constant_target():
    # y / L is exactly 2 in floating point and the group d / L does not matter: the
    # dimensionless target is constant, the user's y is not, so it is no error
    x = _inputs(200, 2)
    units = {"L": "m", "d": "m"}
    result = discover((x, 2 * x[:, 0]), ["L", "d"], units=units, target_units="m", time_budget=10)
    assert result.best.expr == 2 * sympy.Symbol("L", real=True)
    assert result.best.test_rmse == 0.0
