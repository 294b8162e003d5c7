"""Formulas of symbolic KANs: extraction, rounding, snapping, and a sympy -> torch path.

:func:`symbolic_formula` turns a model whose edges are all symbolic into one sympy
expression per output, following ``forward`` exactly: every edge's
``symbolic_mask * (c * f(a * x + b) + d)``, the subnode map ``s * sum + t``, the
multiplication nodes (``arity`` consecutive subnodes each, any arity, mixed arities per
layer), and the node map ``s * y + t``. Parameters enter as exact binary floats, so in
float64 the formula reproduces ``forward`` to rounding error.

:func:`formula_to_torch` evaluates a sympy expression with torch through the one dispatch
table :func:`kanscience.core._functions.torch_function_table`.

Examples
--------
>>> import torch
>>> from kanscience import KAN
>>> model = KAN([1, 1], seed=0, dtype=torch.float64)
>>> model.set_symbolic_(0, 0, 0, "sin", (2.0, 0.0, 3.0, 1.0))
>>> symbolic_formula(model, ["t"])
[3*sin(2*t) + 1]
"""

from __future__ import annotations

import fractions
import math
from collections.abc import Callable, Iterable, Sequence

import sympy
import torch
from torch import Tensor

from ..core import KAN, ZERO_FUNCTION
from ..core._functions import LibraryLike, torch_function_table

__all__ = [
    "UnsupportedExpressionError",
    "ex_round",
    "expression_complexity",
    "fit_constants",
    "formula_to_torch",
    "simplify_formula",
    "snap_constants",
    "symbolic_formula",
]


class UnsupportedExpressionError(ValueError):
    """A sympy expression contains a head that has no torch counterpart."""


def number(value: float) -> sympy.Expr:
    """A float as a sympy number: an Integer when integral, else an exact binary Float."""
    value = float(value)
    if value.is_integer() and abs(value) < 2**53:
        return sympy.Integer(int(value))
    return sympy.Float(value)


def _variables(model: KAN, var_names: Sequence[str | sympy.Symbol] | None) -> list[sympy.Expr]:
    if var_names is None:
        return [sympy.Symbol(f"x_{i + 1}", real=True) for i in range(model.n_in)]
    if isinstance(var_names, str) or len(var_names) != model.n_in:
        raise ValueError(f"var_names must list {model.n_in} names, got {var_names!r}")
    symbols = [sympy.Symbol(v, real=True) if isinstance(v, str) else v for v in var_names]
    if not all(isinstance(s, sympy.Expr) for s in symbols):
        raise TypeError(f"var_names must be strings or sympy expressions, got {var_names!r}")
    return symbols


def _numeric_edges(model: KAN) -> list[tuple[int, int, int]]:
    return [
        (layer, i, j)
        for layer, kan_layer in enumerate(model.layers)
        for i, j in (kan_layer.mask != 0).nonzero().tolist()
    ]


def _edge_expression(kan_layer, i: int, j: int, x: sympy.Expr) -> sympy.Expr:
    gate = float(kan_layer.symbolic_mask[i, j])
    name = kan_layer.symbolic_names[i][j]
    if gate == 0.0 or name == ZERO_FUNCTION:
        return sympy.S.Zero
    a, b, c, d = (number(v) for v in kan_layer.symbolic_affine[i, j].tolist())
    value = c * kan_layer.library[name].sympy_fn(a * x + b) + d
    return value if gate == 1.0 else number(gate) * value


def symbolic_formula(
    model: KAN,
    var_names: Sequence[str | sympy.Symbol] | None = None,
    round_digits: int | None = None,
    simplify: bool = False,
    x: Tensor | None = None,
    lib: LibraryLike = None,
    weight_simple: float = 0.8,
) -> list[sympy.Expr]:
    """One sympy expression per output of a model whose edges are symbolic.

    Parameters
    ----------
    model : KAN
    var_names : sequence of str or sympy symbols, optional
        Input names (strings become real symbols); default ``x_1 .. x_n``.
    round_digits : int, optional
        Round every float to this many decimals (:func:`ex_round`).
    simplify : bool
        Apply :func:`simplify_formula` with ``full=True`` to each output (``sympy.simplify``
        can be slow on big formulas).
    x : Tensor (batch, n_in), optional
        When given, spline edges are first replaced by their best symbolic fit on ``x``
        (:func:`kanscience.symbolic._edges.auto_symbolic` with ``lib`` and ``weight_simple``);
        the model itself is not changed.

    Returns
    -------
    list of sympy.Expr

    Raises
    ------
    ValueError
        If an edge still has an active spline part (and ``x`` is not given); the message
        lists the edges ``(layer, i, j)``.
    """
    if not isinstance(model, KAN):
        raise TypeError(f"model must be a kanscience.KAN, got {type(model).__name__}")
    if x is not None:
        from ._edges import auto_symbolic

        model = auto_symbolic(model, x, lib=lib, weight_simple=weight_simple).model
    numeric = _numeric_edges(model)
    if numeric:
        listed = ", ".join(map(str, numeric[:20])) + (" ..." if len(numeric) > 20 else "")
        raise ValueError(
            f"{len(numeric)} edge(s) (layer, i, j) still have a spline part: {listed}; fix them "
            "with auto_symbolic / fix_symbolic first, or pass x= to fit them automatically"
        )
    values = _variables(model, var_names)
    for layer, kan_layer in enumerate(model.layers):
        scale = model.subnode_scale[layer].tolist()
        bias = model.subnode_bias[layer].tolist()
        subnodes = []
        for j in range(kan_layer.out_dim):
            total = sympy.Add(
                *(_edge_expression(kan_layer, i, j, values[i]) for i in range(kan_layer.in_dim))
            )
            subnodes.append(number(scale[j]) * total + number(bias[j]))
        n_sum = model.width[layer + 1][0]
        nodes, start = subnodes[:n_sum], n_sum
        for arity in model.mult_arity[layer + 1]:
            nodes.append(sympy.Mul(*subnodes[start : start + arity]))
            start += arity
        scale, bias = model.node_scale[layer].tolist(), model.node_bias[layer].tolist()
        values = [number(s) * v + number(t) for s, v, t in zip(scale, nodes, bias)]
    if round_digits is not None:
        values = [ex_round(v, round_digits) for v in values]
    if simplify:
        values = [simplify_formula(v, full=True) for v in values]
    return values


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
    return expr.xreplace({f: number(round(float(f), digits)) for f in float_constants(expr)})


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
        expr = expr.xreplace(mapping)
    return expr


def simplify_formula(expr: sympy.Expr, full: bool = False, max_ops: int = 50) -> sympy.Expr:
    """The shortest (by :func:`expression_complexity`) of a few cheap normal forms.

    The forms are ``expr`` itself, ``expand_power_exp`` (``exp(a + b)`` ->
    ``exp(a) * exp(b)``, so that ``exp(p * log(x))`` becomes ``x**p``), ``powsimp`` of that
    and ``factor_terms``. ``full=True`` adds ``sympy.simplify`` for expressions of at most
    ``max_ops`` operations (it can take minutes on products of sums with floats).

    >>> t = sympy.Symbol("t", positive=True)
    >>> simplify_formula(2.0 * sympy.exp(3 * sympy.log(t) + 0.5 * t))
    2.0*t**3*exp(0.5*t)
    """
    candidates = [expr]
    try:
        split = sympy.expand_power_exp(expr)
        candidates += [split, sympy.powsimp(split), sympy.factor_terms(expr)]
        if full and sympy.count_ops(expr) <= max_ops:
            candidates.append(sympy.simplify(expr))
    except (TypeError, ValueError, RecursionError, NotImplementedError):  # sympy corner cases
        pass
    return min(candidates, key=expression_complexity)


def expression_complexity(expr: sympy.Expr) -> int:
    """Number of nodes of the expression tree (symbols, numbers and operations).

    >>> t = sympy.Symbol("t")
    >>> expression_complexity(2 * sympy.sin(t) + 1)
    6
    """
    return sum(1 for _ in sympy.preorder_traversal(sympy.sympify(expr)))


def _compile(expr: sympy.Expr, index: dict, table: dict) -> Callable[[Tensor], Tensor]:
    if expr in index:
        k = index[expr]
        return lambda x: x[:, k]
    if expr.is_number and expr.is_real:
        value = float(expr)
        return lambda x: x.new_full((x.shape[0],), value)
    if expr.is_Add or expr.is_Mul:
        parts = [_compile(a, index, table) for a in expr.args]
        combine = torch.add if expr.is_Add else torch.mul

        def reduce(x: Tensor) -> Tensor:
            out = parts[0](x)
            for part in parts[1:]:
                out = combine(out, part(x))
            return out

        return reduce
    if expr.is_Pow:
        base = _compile(expr.base, index, table)
        if expr.exp.is_Integer:
            power = int(expr.exp)
            return lambda x: torch.pow(base(x), power)
        if expr.exp == sympy.S.Half:
            return lambda x: torch.sqrt(base(x))
        if expr.exp.is_number:
            power = float(expr.exp)
            return lambda x: torch.pow(base(x), power)
        exponent = _compile(expr.exp, index, table)
        return lambda x: torch.pow(base(x), exponent(x))
    if expr.func in table and len(expr.args) == 1:
        fn, arg = table[expr.func], _compile(expr.args[0], index, table)
        return lambda x: fn(arg(x))
    if isinstance(expr, sympy.Symbol):
        raise ValueError(f"symbol {expr} is not among the variables {list(index)}")  # noqa: TRY004
    raise UnsupportedExpressionError(
        f"cannot evaluate sympy head {expr.func.__name__!r} (in {expr}) with torch; "
        "supported: numbers, +, *, powers and the heads of torch_function_table()"
    )


def formula_to_torch(
    expr: sympy.Expr | str, variables: Sequence[sympy.Symbol | str], library: LibraryLike = None
) -> Callable[[Tensor], Tensor]:
    """A torch function ``f(x) -> (batch,)`` of ``x`` (batch, len(variables)) computing ``expr``.

    Parameters
    ----------
    expr : sympy.Expr or str
    variables : sequence of sympy symbols or their names, in column order
    library : library specification, optional
        Extra function heads (see :func:`kanscience.core._functions.torch_function_table`).

    Raises
    ------
    UnsupportedExpressionError
        Naming the first sympy head that has no torch counterpart.

    Examples
    --------
    >>> t, u = sympy.symbols("t u")
    >>> f = formula_to_torch(sympy.sin(t) * u ** 2 + 1, [t, u])
    >>> f(torch.tensor([[0.0, 3.0], [math.pi / 2, 2.0]])).tolist()
    [1.0, 5.0]
    """
    symbols = [sympy.Symbol(v) if isinstance(v, str) else v for v in variables]
    if isinstance(expr, str):
        expr = sympy.parse_expr(expr, local_dict={s.name: s for s in symbols})
    expr = sympy.sympify(expr)
    index = {s: k for k, s in enumerate(symbols)}
    if len(index) != len(symbols):
        raise ValueError(f"variables must be distinct, got {list(variables)!r}")
    compiled = _compile(expr, index, torch_function_table(library))
    n = len(symbols)

    def evaluate(x: Tensor) -> Tensor:
        if not isinstance(x, Tensor) or x.ndim != 2 or x.shape[1] != n:
            raise ValueError(
                f"x must be a tensor of shape (batch, {n}), got "
                f"{getattr(x, 'shape', type(x).__name__)}"
            )
        return compiled(x)

    return evaluate


def _levenberg_marquardt(residual: Callable[[Tensor], Tensor], theta: Tensor, steps: int) -> Tensor:
    """Minimize ``sum(residual(theta) ** 2)`` with Levenberg-Marquardt.

    ``residual`` maps per-sample parameters (batch, P) to residuals (batch,), sample ``i``
    using only row ``i``: then one backward pass of ``residual(rows).sum()`` gives the
    whole (batch, P) Jacobian.
    """

    def loss_of(t: Tensor) -> float:
        with torch.no_grad():
            value = float((residual(t) ** 2).sum())
        return value if math.isfinite(value) else math.inf

    loss, damping = loss_of(theta), 1e-3
    for _ in range(steps):
        with torch.enable_grad():
            rows = theta.detach().clone().requires_grad_(True)
            r = residual(rows)
            (jac,) = torch.autograd.grad(r.sum(), rows)
        r, jac = (torch.nan_to_num(t.detach(), nan=0.0, posinf=0.0, neginf=0.0) for t in (r, jac))
        jtj, jtr = jac.T @ jac, jac.T @ r
        diag = torch.diagonal(jtj)
        floor = 1e-12 * float(diag.max().clamp_min(1e-300))
        improved = False
        for _ in range(12):
            lhs = jtj + damping * torch.diag(diag + floor)
            step, info = torch.linalg.solve_ex(lhs, -jtr)
            if int(info) == 0 and bool(torch.isfinite(step).all()):
                trial = theta + step
                trial_loss = loss_of(trial)
                if trial_loss < loss:
                    improved = loss - trial_loss > 1e-15 * loss
                    theta, loss, damping = trial, trial_loss, max(damping * 0.3, 1e-12)
                    break
            damping = min(damping * 10.0, 1e12)
        if not improved:
            break
    return theta[0]


def fit_constants(
    expr: sympy.Expr,
    variables: Sequence[sympy.Symbol | str],
    x: Tensor,
    y: Tensor,
    steps: int = 30,
    library: LibraryLike = None,
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
    floats = sorted(float_constants(expr), key=lambda f: (float(f), str(f)))
    if not floats:
        return expr
    params = [sympy.Dummy(f"c{k}") for k in range(len(floats))]
    template = expr.xreplace(dict(zip(floats, params)))
    compiled = _compile(
        template, {s: k for k, s in enumerate([*symbols, *params])}, torch_function_table(library)
    )
    x = x.detach().to(torch.float64)
    y = y.detach().to(torch.float64).reshape(-1)
    if x.ndim != 2 or x.shape[1] != len(symbols) or y.shape[0] != x.shape[0]:
        raise ValueError(
            f"x must be (batch, {len(symbols)}) and y (batch,), got "
            f"{tuple(x.shape)} and {tuple(y.shape)}"
        )

    def residual(rows: Tensor) -> Tensor:
        return compiled(torch.cat([x, rows], dim=1)) - y

    theta = torch.tensor([float(f) for f in floats], dtype=torch.float64)
    theta = _levenberg_marquardt(residual, theta.expand(x.shape[0], len(floats)), steps)
    return template.xreplace({p: number(v) for p, v in zip(params, theta.tolist())})
