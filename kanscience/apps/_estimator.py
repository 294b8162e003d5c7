"""scikit-learn estimator: ``KANRegressor`` (fit / predict / score / sympy / latex).

scikit-learn is an optional dependency (the ``kanscience[sklearn]`` extra): the class is
built on first access, so ``import kanscience`` never imports it.

Two modes:

- ``mode="symbolic"`` (default): ``fit`` runs :func:`kanscience.discover.discover` and
  ``predict`` evaluates the best formula (``expr_``);
- ``mode="kan"``: ``fit`` trains one KAN ``[n_features, *hidden, 1]`` and ``predict``
  uses the network; ``sympy()`` then fits every edge symbolically on (up to 1000 of) the
  training inputs.

Examples
--------
>>> import numpy as np
>>> from kanscience.apps._estimator import KANRegressor
>>> X = np.random.default_rng(0).uniform(1, 2, size=(300, 2))
>>> model = KANRegressor(steps=20, time_budget=60).fit(X, X[:, 0] * X[:, 1])
>>> model.sympy(), round(model.score(X, X[:, 0] * X[:, 1]), 9)
(x0*x1, 1.0)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# built on first access by __getattr__, which neither checker follows
__all__ = ["KANRegressor", "fitted_constants", "warn_if_underdetermined"]  # noqa: F822  # pyright: ignore[reportUnsupportedDunderAll]

_EXTRA = "KANRegressor needs scikit-learn; install it with: pip install 'kanscience[sklearn]'"


def fitted_constants(expr: Any) -> int:
    """Occurrences of non-integer numbers in a sympy formula: its constants fitted to the
    data (``4*cosh(x0)/9 + 33*atan(x1)/10 - 1.27`` has 3).

    >>> import sympy
    >>> x = sympy.Symbol("x")
    >>> fitted_constants(sympy.Rational(4, 9) * sympy.cosh(x) + 1.27 * x**2 - 3)
    2
    """
    import sympy

    return sum(
        1
        for node in sympy.preorder_traversal(expr)
        if isinstance(node, sympy.Number) and not node.is_Integer
    )


def warn_if_underdetermined(expr: Any, n_samples: int) -> None:
    """A UserWarning when a formula has at least as many fitted constants as samples: it
    can pass through every point, so the data cannot tell it from the truth."""
    import warnings

    count = fitted_constants(expr)
    if count >= n_samples:
        warnings.warn(
            f"the formula {expr} has {count} fitted constants for {n_samples} samples: it can "
            "interpolate any data of this size, so it is not supported by them; collect more "
            "samples",
            UserWarning,
            stacklevel=3,
        )


def _build() -> type:
    try:
        from sklearn.base import BaseEstimator, RegressorMixin
        from sklearn.utils.validation import check_is_fitted, validate_data
    except ImportError as error:  # pragma: no cover - exercised without scikit-learn
        raise ImportError(_EXTRA) from error
    import numpy as np
    import sympy
    import torch

    from ..core import KAN, Dataset
    from ..discover import DISCOVERY_LIBRARY, discover
    from ..symbolic import formula_to_torch, symbolic_formula
    from ..train import Penalty, fit

    class KANRegressor(RegressorMixin, BaseEstimator):
        """Kolmogorov-Arnold network regressor with symbolic formulas.

        Parameters
        ----------
        mode : {'symbolic', 'kan'}
            Predict with the discovered formula, or with a trained KAN.
        hidden : tuple of int
            Hidden widths of the KAN (``'kan'`` mode; in ``'symbolic'`` mode the first
            entry, if any, is the hidden width of discover's deeper structures).
        grid, k : int
            Grid intervals and spline order (``'kan'`` mode; ``grid`` also starts
            discover's KANs).
        steps : int
            L-BFGS steps per training phase.
        lamb : float
            Sparsity penalty (``'kan'`` mode).
        lib : tuple of str or None
            Symbolic functions (default: ``discover``'s library).
        time_budget : float
            Seconds for ``discover`` (``'symbolic'`` mode).
        max_train : int
            Training samples used by ``discover``.
        seed : int
        units : mapping feature name -> unit, sequence of units in column order, or None
            Units of the features (``'symbolic'`` mode only; unit strings such as ``"m/s**2"``
            or exponent vectors over SI's base units, or a
            :class:`kanscience.symbolic.Dimensions`): ``discover`` then searches the
            dimensionless groups and every formula is dimensionally consistent. Feature
            names are the columns of a DataFrame ``X``, else ``x0, x1, ...``.
        target_units : unit string or exponent vector, optional
            Units of ``y`` (with ``units``; default dimensionless).

        Attributes
        ----------
        n_features_in_ : int
        feature_names_in_ : ndarray of str (only when X has string column names)
        variables_ : tuple of sympy.Symbol
        expr_ : sympy.Expr (``'symbolic'`` mode) -- the best formula
        result_ : DiscoveryResult (``'symbolic'`` mode) -- all ranked candidates (their
            "test" errors are on the training data)
        model_ : KAN (``'kan'`` mode)
        """

        n_features_in_: int  # set by sklearn's validate_data

        def __init__(
            self,
            mode: str = "symbolic",
            hidden: tuple = (5,),
            grid: int = 5,
            k: int = 3,
            steps: int = 50,
            lamb: float = 0.0,
            lib: Any = None,
            time_budget: float = 120.0,
            max_train: int = 2000,
            seed: int = 0,
            units: Any = None,
            target_units: Any = None,
        ):
            self.mode = mode
            self.hidden = hidden
            self.grid = grid
            self.k = k
            self.steps = steps
            self.lamb = lamb
            self.lib = lib
            self.time_budget = time_budget
            self.max_train = max_train
            self.seed = seed
            self.units = units
            self.target_units = target_units

        def _names(self) -> list[str]:
            names = getattr(self, "feature_names_in_", None)
            if (
                names is not None
                and all(str(n).isidentifier() for n in names)
                and len(set(map(str, names))) == len(names)
            ):
                return [str(n) for n in names]
            return [f"x{i}" for i in range(self.n_features_in_)]

        def _units_by_variable(self, names: list[str]) -> Any:
            """``units`` for discover: a mapping by feature name re-keyed by the variable
            names (which differ where column names are not identifiers); anything else
            as given, for discover to check."""
            features = getattr(self, "feature_names_in_", None)
            if not isinstance(self.units, Mapping) or features is None:
                return self.units
            variable_of = {str(f): v for f, v in zip(features, names)}
            return {variable_of.get(str(k), k): u for k, u in self.units.items()}

        def fit(self, X: Any, y: Any) -> KANRegressor:
            """Fit on ``X`` (n_samples, n_features) and ``y`` (n_samples,); returns self."""
            if self.mode not in ("symbolic", "kan"):
                raise ValueError(f"mode must be 'symbolic' or 'kan', got {self.mode!r}")
            X, y = validate_data(self, X, y, y_numeric=True, dtype=np.float64)
            if not np.issubdtype(y.dtype, np.number) or np.issubdtype(y.dtype, np.complexfloating):
                raise ValueError(f"y must hold real numbers, got dtype {y.dtype}")
            y = y.astype(np.float64)
            n_samples, n_features = X.shape
            if n_samples < 2:
                raise ValueError(f"KANRegressor needs at least 2 samples, got {n_samples} sample")
            if self.mode == "symbolic" and n_samples <= n_features:
                raise ValueError(
                    f"KANRegressor(mode='symbolic') needs more samples than features, got "
                    f"{n_samples} samples of {n_features} features"
                )
            x_t, y_t = torch.tensor(X), torch.tensor(y)[:, None]
            names = self._names()
            self.variables_ = tuple(sympy.Symbol(v, real=True) for v in names)
            hidden = tuple(int(h) for h in self.hidden)
            if self.mode == "symbolic":
                # constant to rounding (as discover judges it), named as the caller knows it
                if np.ptp(y) <= np.finfo(np.float64).eps * np.abs(y).max():
                    raise ValueError(f"y is constant (value {y[0]:.6g}): there is nothing to fit")
                self.result_ = discover(
                    Dataset(x_t, y_t, x_t, y_t),
                    names,
                    lib=DISCOVERY_LIBRARY if self.lib is None else self.lib,
                    hidden=hidden[0] if hidden else None,
                    steps=self.steps,
                    grid=self.grid,
                    max_train=self.max_train,
                    seed=self.seed,
                    time_budget=self.time_budget,
                    units=self._units_by_variable(names),
                    target_units=self.target_units,
                )
                self.expr_ = self.result_.best.expr
                warn_if_underdetermined(self.expr_, n_samples)
                return self
            model = KAN(
                [X.shape[1], *hidden, 1],
                grid=self.grid,
                k=self.k,
                seed=self.seed,
                dtype=torch.float64,
                library=self.lib,
            )
            fit(
                model,
                Dataset(x_t, y_t, x_t, y_t),
                opt="LBFGS",
                steps=self.steps,
                penalty=Penalty(lamb=self.lamb),
                progress=False,
                seed=self.seed,
            )
            self.model_ = model
            self._x_symbolic = x_t[:1000]
            return self

        def predict(self, X: Any) -> np.ndarray:
            """Predictions, shape (n_samples,)."""
            check_is_fitted(self)
            X = validate_data(self, X, reset=False, dtype=np.float64)
            x_t = torch.tensor(X)
            with torch.no_grad():
                if self.mode == "symbolic":
                    values = formula_to_torch(self.expr_, self.variables_)(x_t)
                else:
                    values = self.model_(x_t)[:, 0]
            return values.numpy().astype(np.float64, copy=True)

        def sympy(self) -> sympy.Expr:
            """The formula (``'kan'`` mode: every edge fitted symbolically on the training
            inputs, the network itself left unchanged)."""
            check_is_fitted(self)
            if self.mode == "symbolic":
                return self.expr_
            (expr,) = symbolic_formula(
                self.model_, list(self.variables_), x=self._x_symbolic, lib=self.lib
            )
            return expr

        def latex(self) -> str:
            """The formula in LaTeX."""
            return sympy.latex(self.sympy())

    KANRegressor.__module__ = __name__
    return KANRegressor


def __getattr__(name: str) -> Any:
    if name == "KANRegressor":
        cls = _build()
        globals()["KANRegressor"] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
