"""Tests for kanscience.apps._estimator: the scikit-learn contract of KANRegressor."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import sympy

sklearn = pytest.importorskip("sklearn")
from sklearn.base import clone  # noqa: E402 (after the skip when scikit-learn is missing)
from sklearn.model_selection import GridSearchCV  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import FunctionTransformer  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from kanscience.apps._estimator import KANRegressor  # noqa: E402

# A KAN holds its function library (lambdas in a read-only mapping) and so cannot be
# pickled; the project never pickles models (see io.save for safetensors + JSON).
EXPECTED_FAILURES = {
    "check_estimators_pickle": "a KAN's function library holds lambdas; use io.save",
}


def _expected(estimator):
    return EXPECTED_FAILURES if estimator.mode == "kan" else {}


@parametrize_with_checks(
    [KANRegressor(mode="kan", hidden=(3,), grid=3, steps=8)], expected_failed_checks=_expected
)
def test_sklearn_contract(estimator, check, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    check(estimator)
    assert list(tmp_path.iterdir()) == []


@pytest.fixture(scope="module")
def law_data():
    rng = np.random.default_rng(0)
    X = rng.uniform(1, 2, size=(400, 2))
    return X, X[:, 0] ** 2 * X[:, 1]


def test_symbolic_mode_fit_predict_score_sympy_latex(law_data, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    X, y = law_data
    model = KANRegressor(steps=20, time_budget=60)
    assert model.fit(X, y) is model
    a, b = sympy.symbols("x0 x1", real=True)
    assert sympy.simplify(model.sympy() - a**2 * b) == 0
    assert model.expr_ == model.sympy() and model.variables_ == (a, b)
    np.testing.assert_allclose(model.predict(X), y, rtol=1e-9)
    assert model.score(X, y) == pytest.approx(1.0, abs=1e-9)
    assert model.latex() == "x_{0}^{2} x_{1}"
    assert model.result_.best.expr == model.expr_ and model.n_features_in_ == 2
    assert list(tmp_path.iterdir()) == []


def test_kan_mode_sympy_and_feature_names(law_data):
    pandas = pytest.importorskip("pandas")
    X = law_data[0]
    frame = pandas.DataFrame(X, columns=["mass", "speed"])
    model = KANRegressor(mode="kan", hidden=(), grid=5, steps=20).fit(frame, X[:, 0] + X[:, 1] ** 2)
    assert list(model.feature_names_in_) == ["mass", "speed"]
    expr = model.sympy()
    assert {s.name for s in expr.free_symbols} == {"mass", "speed"}
    prediction = sympy.lambdify(sorted(expr.free_symbols, key=lambda s: s.name), expr)(*X.T)
    np.testing.assert_allclose(prediction, model.predict(frame), rtol=0, atol=1e-3)
    assert model.score(frame, X[:, 0] + X[:, 1] ** 2) > 0.9999


def test_pipeline_and_grid_search(law_data):
    X = law_data[0]
    y = X[:, 0] + np.sin(6 * X[:, 1])  # additive: a KAN without hidden layer fits it
    pipeline = make_pipeline(
        FunctionTransformer(lambda z: z * 2.0),
        KANRegressor(mode="kan", hidden=(), grid=8, steps=10),
    )
    pipeline.fit(X, y)
    assert pipeline.score(X, y) > 0.999
    search = GridSearchCV(KANRegressor(mode="kan", hidden=(), steps=10), {"grid": [1, 8]}, cv=2)
    search.fit(X, y)
    assert search.best_params_ == {"grid": 8} and search.best_score_ > 0.999
    twin = clone(search.best_estimator_)
    assert twin.get_params() == search.best_estimator_.get_params()
    assert not hasattr(twin, "model_")


def test_bad_input(law_data):
    X, y = law_data
    with pytest.raises(ValueError, match="mode must be 'symbolic' or 'kan'"):
        KANRegressor(mode="tree").fit(X, y)
    with pytest.raises(ValueError, match="at least 2 samples"):
        KANRegressor(mode="kan").fit(X[:1], y[:1])
    with pytest.raises(sklearn.exceptions.NotFittedError):
        KANRegressor().predict(X)


def test_missing_sklearn_names_the_extra(monkeypatch):
    from kanscience.apps import _estimator as estimator

    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.base", None)
    monkeypatch.delattr(estimator, "KANRegressor")  # forget the class built on first use
    with pytest.raises(ImportError, match=r"kanscience\[sklearn\]"):
        estimator.KANRegressor  # noqa: B018
