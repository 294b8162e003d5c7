"""Tests for KANRegressor(units=...): discovery with units through the sklearn estimator."""

from __future__ import annotations

import numpy as np
import pytest
import sympy

pytest.importorskip("sklearn")
from sklearn.base import clone  # noqa: E402 (after the skip when scikit-learn is missing)

from kanscience.apps._estimator import KANRegressor  # noqa: E402
from kanscience.symbolic import is_dimensionally_consistent, parse_units  # noqa: E402


@pytest.fixture(scope="module")
def pendulum():
    """Period T = 2 pi sqrt(L / g) of a pendulum: L in m, g in m/s^2, T in s."""
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.uniform(0.1, 2.0, 300), rng.uniform(1.0, 20.0, 300)])
    return X, 2 * np.pi * np.sqrt(X[:, 0] / X[:, 1])


def _assert_pendulum(model, X, y, names):
    L, g = (sympy.Symbol(n, positive=True) for n in names)  # positive, as the data are
    positive = {s: sympy.Symbol(s.name, positive=True) for s in model.expr_.free_symbols}
    assert sympy.simplify(model.expr_.xreplace(positive) - 2 * sympy.pi * sympy.sqrt(L / g)) == 0
    assert {s.name for s in model.expr_.free_symbols} == set(names)
    dims = parse_units(dict(zip(names, ["m", "m/s**2"])), target="s", names=names)
    assert is_dimensionally_consistent(model.expr_, dims)
    np.testing.assert_allclose(model.predict(X), y, rtol=1e-6, atol=0)


@pytest.mark.parametrize(
    "units",
    [{"x0": "m", "x1": "m/s**2"}, ["m", "m/s**2"], ("m", [1, -2, 0, 0, 0, 0, 0])],
)
def test_units_give_a_dimensionally_consistent_law(pendulum, units, no_files_written):
    X, y = pendulum
    model = KANRegressor(units=units, target_units="s", time_budget=10, steps=20)
    assert model.fit(X, y) is model
    _assert_pendulum(model, X, y, ["x0", "x1"])
    assert "no group" in model.result_.log[0]
    assert model.units is units  # stored unchanged, as scikit-learn's clone expects
    twin = clone(model)
    assert twin.get_params()["units"] == units and twin.get_params()["target_units"] == "s"


@pytest.mark.parametrize("columns", [["L", "g"], ["length (m)", "gravity (m/s2)"]])
def test_units_by_dataframe_column(pendulum, columns):
    pandas = pytest.importorskip("pandas")
    X, y = pendulum
    frame = pandas.DataFrame(X, columns=columns)
    units = dict(zip(columns, ["m", "m/s**2"]))
    model = KANRegressor(units=units, target_units="s", time_budget=10, steps=20).fit(frame, y)
    # identifiers name the variables; other column names become x0, x1 (in column order)
    names = columns if all(c.isidentifier() for c in columns) else ["x0", "x1"]
    _assert_pendulum(model, frame, y, names)


def test_bad_units_are_clear_errors_at_fit(pendulum):
    X, y = pendulum
    model = KANRegressor(units=["m"], target_units="s", time_budget=5)  # constructing is fine
    with pytest.raises(ValueError, match=r"units has 1 entries for 2 variables \['x0', 'x1'\]"):
        model.fit(X, y)
    with pytest.raises(ValueError, match=r"units lacks the variables \['x1'\]"):
        KANRegressor(units={"x0": "m"}, time_budget=5).fit(X, y)
    with pytest.raises(ValueError, match=r"units\['x1'\]: unknown unit name 'metre'"):
        KANRegressor(units={"x0": "m", "x1": "metre"}, time_budget=5).fit(X, y)
    with pytest.raises(ValueError, match="the target's units: unknown unit name 'sec'"):
        KANRegressor(units=["m", "m/s**2"], target_units="sec", time_budget=5).fit(X, y)
    with pytest.raises(ValueError, match="target_units needs the units of the inputs too"):
        KANRegressor(target_units="s", time_budget=5).fit(X, y)
    with pytest.raises(ValueError, match=r"^y is constant \(value 2\)"):
        KANRegressor(time_budget=5).fit(X, np.full(X.shape[0], 2.0))
