"""Constants of formulas: the floats in an expression, rounding, merging products of
constants, snapping to simple numbers, and refitting them to data.

:func:`fit_constants` refits every float of a formula by least squares with the one
Levenberg-Marquardt of the project (:func:`kanscience.core.least_squares`).
"""

from __future__ import annotations

import fractions
import math
from collections.abc import Callable, Iterable, Sequence
from typing import cast

import sympy
import torch
from torch import Tensor

from ..core import NormalEquations, least_squares, normal_equations, torch_function_table
from ..core._functions import LibraryLike
from ._simplify import expression_complexity
from ._to_torch import compile_expression

__all__ = [
    "SIMPLE_CONSTANTS",
    "ex_round",
    "fit_constants",
    "float_constants",
    "merge_constants",
    "simplest_number",
    "snap_constants",
]

SIMPLE_CONSTANTS = (sympy.pi, 1 / sympy.pi, sympy.pi**2, sympy.sqrt(2), sympy.E)
"""Irrational constants whose rational multiples laws carry (``1/(4 pi)``, ``sqrt(2)/2``)."""


def number(value: float) -> sympy.Expr:
    """A float as a sympy number: an Integer when integral, else an exact binary Float."""
    value = float(value)
    if value.is_integer() and abs(value) < 2**53:
        return sympy.Integer(int(value))
    return sympy.Float(value)


def float_constants(expr: sympy.Expr) -> set[sympy.Float]:
    """The floats (fitted constants) that occur in ``expr``."""
    return {a for a in sympy.preorder_traversal(expr) if isinstance(a, sympy.Float)}


def ex_round(expr: sympy.Expr, digits: int) -> sympy.Expr:
    """Round every float in ``expr`` to ``digits`` decimals (integral results -> Integer).

    >>> t = sympy.Symbol("t")
    >>> ex_round(3.14159 * sympy.sin(2.0000001 * t) + 0.00004, 3)
    3.142*sin(2*t)
    """
    if isinstance(digits, bool) or not isinstance(digits, int):
        raise TypeError(f"digits must be an int, got {digits!r}")
    rounded = {f: number(round(float(f), digits)) for f in float_constants(expr)}
    return cast(sympy.Expr, expr.xreplace(rounded))


def _as_float(expr: sympy.Expr) -> sympy.Expr:
    """A constant sub-expression as one Float (``expr`` itself if it is not a real number)."""
    try:
        value = complex(expr.evalf())
    except (TypeError, ValueError, OverflowError, ZeroDivisionError):
        return expr
    if value.imag != 0 or not math.isfinite(value.real):
        return expr
    return sympy.Float(value.real)


def _float_coefficient(term: sympy.Basic) -> bool:
    """``term`` is a float or a float times factors with variables."""
    coefficient, _ = cast(sympy.Expr, term).as_coeff_Mul()
    return isinstance(coefficient, sympy.Float)


def _float_sum_power(factor: sympy.Expr, constant: sympy.Expr) -> bool:
    """``factor`` is a sum with float coefficients to a positive integer power that a real
    ``constant`` can enter (its root is real: positive, or an odd power)."""
    if not isinstance(factor, sympy.Pow):
        return False
    base, power = factor.args
    if not (isinstance(base, sympy.Add) and isinstance(power, sympy.Integer)):
        return False
    exponent = int(power)
    if exponent < 1 or not all(_float_coefficient(t) for t in base.args):
        return False
    value = _as_float(constant)
    return isinstance(value, sympy.Float) and (float(value) > 0 or exponent % 2 == 1)


def _merge_product(product: sympy.Expr) -> sympy.Expr:
    """The numeric factors of a product as one Float if any is a float; a numeric factor
    distributed over a sum whose every term has a float coefficient (one constant less)."""
    if not isinstance(product, sympy.Mul):
        return product
    args = cast("tuple[sympy.Expr, ...]", product.args)
    constants = [a for a in args if not a.free_symbols]
    rest = [a for a in args if a.free_symbols]
    constant = sympy.Mul(*constants)
    if any(a.has(sympy.Float) for a in constants):
        constant = _as_float(constant)
    sums = [a for a in rest if a.is_Add and all(_float_coefficient(t) for t in a.args)]
    powers = [a for a in rest if _float_sum_power(a, constant)]
    if constant != 1 and sums and constant.is_number:
        target = sums[0]
        terms = cast("tuple[sympy.Expr, ...]", target.args)
        distributed = sympy.Add(*(_merge_product(sympy.Mul(constant, t)) for t in terms))
        rest[rest.index(target)] = distributed
        constant = sympy.S.One
    elif constant != 1 and powers:  # c (a + b y)^n = (c^(1/n) a + c^(1/n) b y)^n
        target = powers[0]
        base, exponent = cast("tuple[sympy.Expr, sympy.Integer]", target.args)
        value = float(constant)  # the real root (odd powers take negative constants)
        root = sympy.Float(math.copysign(abs(value) ** (1 / int(exponent)), value))
        terms = cast("tuple[sympy.Expr, ...]", base.args)
        distributed = sympy.Add(*(_merge_product(sympy.Mul(root, t)) for t in terms))
        rest[rest.index(target)] = sympy.Pow(distributed, exponent)
        constant = sympy.S.One
    merged = sympy.Mul(constant, *rest)
    return merged if expression_complexity(merged) <= expression_complexity(product) else product


def merge_constants(expr: sympy.Expr) -> sympy.Expr:
    """``expr`` with every product, sum or function of numbers that involves a float
    folded into one float (the same function, never a longer expression).

    A fitted constant times exact ones (``9.8696 x / pi^2``) is one free constant: folded
    to ``1.0000000 x`` it can be snapped (:func:`snap_constants`). A numeric factor of a
    product is also distributed over a sum whose every term has a float coefficient
    (``0.5 z (2.4 sin(x) + 0.6 exp(y))`` has one constant too many), or over the base of a
    positive integer power of such a sum.

    >>> x, y, z = sympy.symbols("x y z")
    >>> merge_constants(9.86960440108936 * x / sympy.pi**2)
    1.0*x
    >>> merge_constants(0.5 * z * (2.4 * sympy.sin(x) + 0.6 * sympy.exp(y)))
    z*(0.3*exp(y) + 1.2*sin(x))
    >>> merge_constants(sympy.sqrt(2) * x / (2 * sympy.pi))
    sqrt(2)*x/(2*pi)

    A numeric factor enters a power of such a sum through its root (``0.169 (2.432 y)^2``
    is ``(1.0 y)^2``):

    >>> merge_constants(0.25 * (2.0 * y + 0.4) ** 2)
    (1.0*y + 0.2)**2
    """

    def visit(e: sympy.Basic) -> sympy.Basic:
        if not e.args:
            return e
        if not e.free_symbols:
            return _as_float(cast(sympy.Expr, e)) if e.has(sympy.Float) else e
        args = [visit(a) for a in e.args]
        e = e.func(*args) if any(a is not b for a, b in zip(args, e.args)) else e
        if isinstance(e, sympy.Mul):
            return _merge_product(e)
        if isinstance(e, sympy.Add):
            constants = [a for a in e.args if not a.free_symbols]
            if len(constants) > 1 and any(a.has(sympy.Float) for a in constants):
                rest = [a for a in e.args if a.free_symbols]
                return sympy.Add(_as_float(sympy.Add(*constants)), *rest)
        return e

    try:
        return cast(sympy.Expr, visit(expr))
    except (TypeError, ValueError, RecursionError, AttributeError, ZeroDivisionError):
        return expr


def _snap(
    value: float, tol: float, max_denominator: int, constants: Sequence[sympy.Expr]
) -> sympy.Expr | None:
    """The closest simple number within ``tol * max(1, |value|)`` (None if there is none)."""
    scale = max(1.0, abs(value))
    best, best_error = None, tol * scale
    for constant in (sympy.S.One, *constants):
        guess = fractions.Fraction(value / float(constant)).limit_denominator(max_denominator)
        error = abs(float(guess) * float(constant) - value)
        if error <= best_error and (best is None or error < best_error):
            best = sympy.Rational(guess.numerator, guess.denominator) * constant
            best_error = error
    return best


def simplest_number(
    value: float,
    tolerance: float,
    constants: Iterable[sympy.Expr] = (),
    max_denominator: int = 10,
) -> sympy.Expr:
    """The simplest number within ``tolerance`` (absolute) of ``value``: a fraction
    ``p / q`` with ``q <= max_denominator``, or one times a member of ``constants``, with
    the smallest ``|p| + q`` (then the closest); ``value`` as a Float when there is none.
    Where :func:`snap_constants` takes the closest simple number, this takes the simplest
    the data allow (a mean known to a standard error).

    >>> simplest_number(1.0004, 0.001, [sympy.pi])
    1
    >>> simplest_number(0.04775, 1e-4, [1 / sympy.pi], max_denominator=20)
    3/(20*pi)
    """
    if not tolerance >= 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance!r}")
    found = []
    for constant in (sympy.S.One, *constants):
        unit = float(constant)
        for q in range(1, max_denominator + 1):
            p = round(value * q / unit)
            distance = abs(p * unit / q - value)
            if p != 0 and distance <= tolerance:
                found.append((abs(p) + q, distance, sympy.Rational(p, q) * constant))
    if not found:
        return sympy.Float(value)
    return min(found, key=lambda f: f[:2])[2]


def snap_constants(
    expr: sympy.Expr,
    tol: float = 1e-4,
    max_denominator: int = 10,
    constants: Iterable[sympy.Expr] = (),
) -> sympy.Expr:
    """Replace floats within ``tol * max(1, |v|)`` of a simple number by that number.

    Simple numbers are fractions ``p / q`` with ``q <= max_denominator`` (integers
    included) and the same times each of ``constants`` (e.g. ``(sympy.pi,)``); the
    closest one wins. Constants that snapping merges into a new float (a term that
    vanished between two factors) are snapped in turn.

    >>> t = sympy.Symbol("t")
    >>> snap_constants(1.99999 * t ** 0.50001 + 0.33333, tol=1e-4)
    2*sqrt(t) + 1/3
    >>> snap_constants(6.2831853 * t, constants=[sympy.pi])
    2*pi*t
    >>> snap_constants(2.0 * t * (1e-9 * t + 0.5), tol=1e-6)
    t
    """
    if not tol >= 0:
        raise ValueError(f"tol must be >= 0, got {tol!r}")
    if (
        isinstance(max_denominator, bool)
        or not isinstance(max_denominator, int)
        or max_denominator < 1
    ):
        raise ValueError(f"max_denominator must be an int >= 1, got {max_denominator!r}")
    constants = tuple(constants)
    for _ in range(3):  # again while snapping merges constants into a new float (2.0 * 0.5)
        mapping = {}
        for f in float_constants(expr):
            snapped = _snap(float(f), tol, max_denominator, constants)
            if snapped is not None:
                mapping[f] = snapped
        if not mapping:
            break
        expr = cast(sympy.Expr, expr.xreplace(mapping))
    return expr


def fit_constants(
    expr: sympy.Expr,
    variables: Sequence[sympy.Symbol | str],
    x: Tensor,
    y: Tensor,
    steps: int = 30,
    library: LibraryLike = None,
    weights: Tensor | None = None,
) -> sympy.Expr:
    """Refit every float of ``expr`` to the data by least squares (Levenberg-Marquardt).

    Integers and rationals (for example snapped constants) stay fixed; equal floats are
    one parameter. The fit runs in float64 and only accepts steps that lower the error.

    Parameters
    ----------
    expr : sympy.Expr
    variables : sequence of sympy symbols or names, in the column order of ``x``
    x : Tensor (batch, n_vars)
    y : Tensor (batch,) or (batch, 1)
    steps : int
        Maximum Levenberg-Marquardt iterations.
    library : library specification, optional
        Where the functions of ``expr`` come from (default: the default library).
    weights : Tensor (batch,), optional
        Positive weights of the squared residuals (inverse variances of the errors of
        ``y``); default: equal.

    Returns
    -------
    sympy.Expr
        ``expr`` with the fitted floats.

    Examples
    --------
    >>> t = sympy.Symbol("t")
    >>> x = torch.linspace(0, 1, 50, dtype=torch.float64)[:, None]
    >>> fitted = fit_constants(1.0 * sympy.exp(0.5 * t), [t], x, 3 * torch.exp(-2 * x))
    >>> ex_round(fitted, 8)
    3*exp(-2*t)
    """
    symbols = [sympy.Symbol(v) if isinstance(v, str) else v for v in variables]
    template, params, start = constant_template(expr)
    if not params:
        return expr
    theta = fit_template(template, params, start, symbols, x, y, steps, library, weights)
    fitted = {p: number(v) for p, v in zip(params, theta.tolist())}
    return cast(sympy.Expr, template.xreplace(fitted))


def checked_weights(weights: object, n: int) -> Tensor:
    """``weights`` of a least-squares fit of ``n`` samples as float64, checked: a tensor of
    shape ``(n,)``, finite and positive."""
    if not isinstance(weights, Tensor) or weights.shape != (n,):
        shape = tuple(weights.shape) if isinstance(weights, Tensor) else type(weights).__name__
        raise ValueError(f"weights must be a tensor of shape ({n},), got {shape}")
    w = weights.detach().to(torch.float64)
    if not bool(torch.isfinite(w).all()) or not bool((w > 0).all()):
        raise ValueError("weights must be finite and positive")
    return w


def constant_template(
    expr: sympy.Expr,
) -> tuple[sympy.Expr, tuple[sympy.Dummy, ...], tuple[float, ...]]:
    """``expr`` with each distinct float replaced by a parameter symbol: (template, the
    parameters, their values), parameters ordered by value. Equal floats are one parameter;
    integers and rationals (snapped constants) stay fixed."""
    floats = sorted(float_constants(expr), key=lambda f: (float(f), str(f)))
    params = tuple(sympy.Dummy(f"c{k}") for k in range(len(floats)))
    template = cast(sympy.Expr, expr.xreplace(dict(zip(floats, params))))
    return template, params, tuple(float(f) for f in floats)


def residual_jacobian(
    template: sympy.Expr,
    params: Sequence[sympy.Symbol],
    symbols: Sequence[sympy.Symbol],
    x: Tensor,
    y: Tensor,
    library: LibraryLike = None,
    weights: Tensor | None = None,
) -> Callable[[Tensor], tuple[Tensor, Tensor]]:
    """A function ``theta (P,) -> (residual (batch,), Jacobian (batch, P))`` of the
    template's residual ``f(x; theta) - y`` in float64 (times ``sqrt(weights)``, given)."""
    compiled = compile_expression(
        template, {s: k for k, s in enumerate([*symbols, *params])}, torch_function_table(library)
    )
    x = x.detach().to(torch.float64)
    y = y.detach().to(torch.float64).reshape(-1)
    if x.ndim != 2 or x.shape[1] != len(symbols) or y.shape[0] != x.shape[0]:
        raise ValueError(
            f"x must be (batch, {len(symbols)}) and y (batch,), got "
            f"{tuple(x.shape)} and {tuple(y.shape)}"
        )
    root = None if weights is None else checked_weights(weights, y.shape[0]).sqrt()

    def evaluate(theta: Tensor) -> tuple[Tensor, Tensor]:
        # sample i reads its own copy (row i) of the constants, so one backward pass of the
        # summed residuals gives the whole (batch, P) Jacobian
        with torch.enable_grad():
            rows = theta.reshape(1, -1).expand(x.shape[0], -1).clone().requires_grad_(True)
            residual = compiled(torch.cat([x, rows], dim=1)) - y
            (jacobian,) = torch.autograd.grad(residual.sum(), rows)
        if root is None:
            return residual.detach(), jacobian
        return residual.detach() * root, jacobian * root[:, None]

    return evaluate


def fit_template(
    template: sympy.Expr,
    params: Sequence[sympy.Symbol],
    start: Sequence[float],
    symbols: Sequence[sympy.Symbol],
    x: Tensor,
    y: Tensor,
    steps: int = 30,
    library: LibraryLike = None,
    weights: Tensor | None = None,
) -> Tensor:
    """The parameters of ``template`` (P,) fitted to the data by Levenberg-Marquardt from
    ``start``, in float64 (residuals weighted by ``weights``, given); only steps that lower
    the error are accepted."""
    residual_and_jacobian = residual_jacobian(template, params, symbols, x, y, library, weights)

    def evaluate(theta: Tensor, rows: Tensor | None) -> NormalEquations:
        residual, jacobian = residual_and_jacobian(theta[0])
        return normal_equations(residual[None], jacobian[None])

    theta = torch.tensor([list(start)], dtype=torch.float64)
    theta, _ = least_squares(evaluate, theta, max_steps=steps, max_trials=12)
    return theta[0]
