"""Closed form of a 1-D function from samples: transformed sparse regression.

Many 1-D laws are sparse sums of powers of their argument only after a simple transform:
``f'(r) = sqrt(r) / (r - 1)`` is no short sum of powers of ``r``, but
``1 / f'(r) = sqrt(r) - 1/sqrt(r)`` is (and ``1 / f'(r)^2 = r - 2 + 1/r``).
:func:`univariate_formula` tries each transform ``T`` in
``(y, 1/y, y^2, 1/y^2)`` (squares only where ``y`` keeps one sign), fits ``T(y)`` by
:func:`kanscience.physics.sparse_regression` on a small basis of ``x``, keeps the
sparsest fit that reaches the target ``R^2``, snaps its coefficients and inverts the
transform (restoring the sign).

Examples
--------
>>> import sympy, torch
>>> r = sympy.Symbol("r", positive=True)
>>> x = torch.linspace(1.2, 3, 200, dtype=torch.float64)
>>> fit = univariate_formula(x, x.sqrt() / (x - 1), r)
>>> fit.transform, fit.expression
('1/y', 1/(sqrt(r) - 1/sqrt(r)))
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sympy
import torch
from torch import Tensor

from ..symbolic import formula_to_torch
from ._snap import snap_expression
from ._sparse import sparse_regression

__all__ = ["UnivariateFit", "apply_transform", "default_basis", "univariate_formula"]

_TRANSFORMS = ("y", "1/y", "y^2", "1/y^2")


def default_basis(x: sympy.Symbol) -> list[sympy.Expr]:
    """``1, x, x^2, x^3, 1/x, 1/x^2, sqrt(x), 1/sqrt(x), x^(3/2), log(x)`` (the last four
    only make sense for positive ``x``)."""
    return [
        sympy.S.One,
        x,
        x**2,
        x**3,
        1 / x,
        1 / x**2,
        sympy.sqrt(x),
        1 / sympy.sqrt(x),
        x ** sympy.Rational(3, 2),
        sympy.log(x),
    ]


@dataclass(frozen=True)
class UnivariateFit:
    """``expression`` (snapped), the ``transform`` used, ``fitted`` (the expression before
    snapping), ``transformed`` (the fitted sum ``T(y)`` before snapping), its ``r2`` and
    the number of ``terms``."""

    expression: sympy.Expr
    transform: str
    fitted: sympy.Expr
    transformed: sympy.Expr
    r2: float
    terms: int


def _invert(transform: str, g: sympy.Expr, sign: int) -> sympy.Expr:
    return {"y": g, "1/y": 1 / g, "y^2": sign * sympy.sqrt(g), "1/y^2": sign / sympy.sqrt(g)}[
        transform
    ]


def apply_transform(transform: str, y: sympy.Expr) -> sympy.Expr:
    """``T(y)`` for a transform name of :func:`univariate_formula` (expanded).

    >>> r = sympy.Symbol("r", positive=True)
    >>> apply_transform("1/y", sympy.sqrt(r) / (r - 1))
    sqrt(r) - 1/sqrt(r)
    """
    if transform not in _TRANSFORMS:
        raise ValueError(f"transform must be one of {_TRANSFORMS}, got {transform!r}")
    value = {"y": y, "1/y": 1 / y, "y^2": y**2, "1/y^2": 1 / y**2}[transform]
    return sympy.expand(sympy.simplify(value))


def univariate_formula(
    x: Tensor,
    y: Tensor,
    symbol: sympy.Symbol,
    basis: Sequence[sympy.Expr] | None = None,
    r2_target: float = 1 - 1e-7,
    max_terms: int = 4,
    snap_tol: float = 1e-2,
    max_denominator: int = 12,
) -> UnivariateFit:
    """The sparsest ``T^-1(sum_k c_k b_k(x))`` through samples ``(x, y)``.

    Parameters
    ----------
    x, y : Tensor (n,)
    symbol : sympy.Symbol
        The variable's symbol (give it ``positive=True`` for positive data).
    basis : sequence of sympy.Expr, optional
        Functions of ``symbol`` (default :func:`default_basis`; entries not finite on the
        data are skipped).
    r2_target : float
    max_terms : int
    snap_tol, max_denominator
        Snapping of the coefficients (relative).

    Returns
    -------
    UnivariateFit

    Raises
    ------
    ValueError
        For mismatched or non-finite data, or if no transform reaches ``r2_target``.
    """
    x = torch.as_tensor(x, dtype=torch.float64).reshape(-1)
    y = torch.as_tensor(y, dtype=torch.float64).reshape(-1)
    if x.shape != y.shape or x.numel() < 3:
        raise ValueError(
            f"x and y must be 1-D with the same length >= 3, got {tuple(x.shape)} "
            f"and {tuple(y.shape)}"
        )
    if not bool(torch.isfinite(x).all() and torch.isfinite(y).all()):
        raise ValueError("x and y must be finite")
    basis = list(default_basis(symbol) if basis is None else basis)
    columns, kept = [], []
    for b in basis:
        values = formula_to_torch(sympy.sympify(b), [symbol])(x[:, None])
        if bool(torch.isfinite(values).all()):
            columns.append(values)
            kept.append(sympy.sympify(b))
    theta = torch.stack(columns, 1)
    one_sign = bool((y > 0).all() or (y < 0).all())
    sign = 1 if bool((y > 0).all()) else -1
    best = None
    for transform in _TRANSFORMS:
        if transform != "y" and not bool((y != 0).all()):
            continue
        if transform.endswith("^2") and not one_sign:
            continue
        target = {"y": y, "1/y": 1 / y, "y^2": y**2, "1/y^2": 1 / y**2}[transform]
        fit = sparse_regression(theta, target, r2_target, max_terms)
        if fit.r2 < r2_target:
            continue
        key = (len(fit.support), _TRANSFORMS.index(transform))
        if best is None or key < best[0]:
            best = (key, transform, fit)
    if best is None:
        raise ValueError(
            f"no transform of y is a sum of at most {max_terms} basis functions "
            f"with R^2 >= {r2_target}"
        )
    _, transform, fit = best
    fitted = sympy.Add(
        *(sympy.Float(float(fit.coefficients[k]), 15) * kept[k] for k in fit.support)
    )
    snapped, _ = snap_expression(fitted, snap_tol, max_denominator)
    return UnivariateFit(
        _invert(transform, snapped, sign),
        transform,
        _invert(transform, fitted, sign),
        fitted,
        fit.r2,
        len(fit.support),
    )
