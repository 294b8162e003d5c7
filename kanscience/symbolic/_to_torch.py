"""From sympy to torch: one compiled torch function per expression.

Numbers, sums, products and powers are built in; every other head goes through the one
dispatch table :func:`kanscience.core.torch_function_table` (extended by a library's
functions), so a function's torch and sympy forms live in the same record.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import cast

import sympy
import torch
from torch import Tensor

from ..core import parse_formula, torch_function_table
from ..core._functions import LibraryLike

__all__ = ["UnsupportedExpressionError", "formula_to_torch"]


class UnsupportedExpressionError(ValueError):
    """A sympy expression contains a head that has no torch counterpart."""


def compile_expression(expr: sympy.Basic, index: dict, table: dict) -> Callable[[Tensor], Tensor]:
    """A torch function of ``x`` (batch, len(index)) computing ``expr``; ``index`` maps the
    symbols to their columns, ``table`` sympy heads to torch functions."""
    if expr in index:
        k = index[expr]
        return lambda x: x[:, k]
    if expr.is_number and expr.is_real:
        value = float(cast(sympy.Expr, expr))
        return lambda x: x.new_full((x.shape[0],), value)
    if isinstance(expr, (sympy.Add, sympy.Mul)):
        parts = [compile_expression(a, index, table) for a in expr.args]
        combine = torch.add if isinstance(expr, sympy.Add) else torch.mul

        def reduce(x: Tensor) -> Tensor:
            out = parts[0](x)
            for part in parts[1:]:
                out = combine(out, part(x))
            return out

        return reduce
    if isinstance(expr, sympy.Pow):
        base, exp = compile_expression(expr.base, index, table), expr.exp
        if exp.is_Integer:
            power = int(exp)
            return lambda x: torch.pow(base(x), power)
        if exp == sympy.S.Half:
            return lambda x: torch.sqrt(base(x))
        if exp.is_number:
            power = float(exp)
            return lambda x: torch.pow(base(x), power)
        exponent = compile_expression(exp, index, table)
        return lambda x: torch.pow(base(x), exponent(x))
    if expr.func in table and len(expr.args) == 1:
        fn, arg = table[expr.func], compile_expression(expr.args[0], index, table)
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
    >>> f(torch.tensor([[0.0, 3.0], [torch.pi / 2, 2.0]])).tolist()
    [1.0, 5.0]
    """
    symbols = [sympy.Symbol(v) if isinstance(v, str) else v for v in variables]
    if isinstance(expr, str):
        expr = parse_formula(expr, {s.name: s for s in symbols})
    parsed = sympy.sympify(expr)
    index = {s: k for k, s in enumerate(symbols)}
    if len(index) != len(symbols):
        raise ValueError(f"variables must be distinct, got {list(variables)!r}")
    compiled = compile_expression(parsed, index, torch_function_table(library))
    n = len(symbols)

    def evaluate(x: Tensor) -> Tensor:
        if not isinstance(x, Tensor) or x.ndim != 2 or x.shape[1] != n:
            raise ValueError(
                f"x must be a tensor of shape (batch, {n}), got "
                f"{getattr(x, 'shape', type(x).__name__)}"
            )
        return compiled(x)

    return evaluate
