"""Formulas as text in files, read back by a whitelisting parser (never ``eval``).

A formula is written as sympy's ``srepr`` (nested constructor calls such as
``Mul(Integer(2), Symbol('x', real=True))``) and read back by walking its Python syntax
tree: only calls of the number, symbol, arithmetic and elementary-function classes
listed here, with literal arguments, are rebuilt. Anything else (attribute access,
other names, lambdas, non-canonical powers of numbers that would compute huge integers)
is refused with a ``ValueError``.

Examples
--------
>>> import sympy
>>> x, y = sympy.symbols("x y", real=True)
>>> text = expression_to_text(x * sympy.sin(y) + sympy.Rational(1, 3))
>>> expression_from_text(text) == x * sympy.sin(y) + sympy.Rational(1, 3)
True
>>> expression_from_text("__import__('os').getcwd()")
Traceback (most recent call last):
    ...
ValueError: a formula may only call sympy constructors by name, got __import__('os').getcwd
"""

from __future__ import annotations

import ast
from typing import Any

import sympy

__all__ = ["expression_from_text", "expression_to_text"]

_ATOMS: dict[str, Any] = {
    "Symbol": sympy.Symbol,
    "Integer": sympy.Integer,
    "Rational": sympy.Rational,
    "Float": sympy.Float,
    "Add": sympy.Add,
    "Mul": sympy.Mul,
    "Pow": sympy.Pow,
}
_FUNCTIONS = [
    *("exp", "log", "sin", "cos", "tan", "cot", "sec", "csc", "asin", "acos", "atan"),
    *("acot", "atan2", "sinh", "cosh", "tanh", "coth", "asinh", "acosh", "atanh"),
    *("Abs", "sign", "Heaviside", "erf", "Min", "Max"),
]
_CONSTRUCTORS: dict[str, Any] = {**_ATOMS, **{name: getattr(sympy, name) for name in _FUNCTIONS}}
_CONSTANTS: dict[str, sympy.Basic] = {
    "pi": sympy.pi,
    "E": sympy.E,
    "I": sympy.I,
    "oo": sympy.oo,
    "zoo": sympy.zoo,
    "nan": sympy.nan,
}


def expression_to_text(expr: sympy.Basic) -> str:
    """``srepr(expr)``: the text :func:`expression_from_text` reads back exactly."""
    return sympy.srepr(expr)


def _literal(node: ast.expr) -> Any:
    if isinstance(node, ast.Constant) and isinstance(node.value, (bool, int, str)):
        return node.value
    if (
        isinstance(node, ast.UnaryOp)
        and isinstance(node.op, ast.USub)
        and isinstance(node.operand, ast.Constant)
        and isinstance(node.operand.value, int)
        and not isinstance(node.operand.value, bool)
    ):
        return -node.operand.value
    return None


def _build(node: ast.expr) -> Any:
    literal = _literal(node)
    if literal is not None:
        return literal
    if isinstance(node, ast.Name) and node.id in _CONSTANTS:
        return _CONSTANTS[node.id]
    if not (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in _CONSTRUCTORS
    ):
        shown = ast.unparse(node.func if isinstance(node, ast.Call) else node)
        raise ValueError(f"a formula may only call sympy constructors by name, got {shown}")
    args = [_build(arg) for arg in node.args]
    kwargs = {}
    for keyword in node.keywords:
        value = _literal(keyword.value)
        if keyword.arg is None or value is None:
            raise ValueError(f"formula keywords must be literals, got {ast.unparse(keyword)}")
        kwargs[keyword.arg] = value
    name = node.func.id
    numbers = len(args) == 2 and all(isinstance(a, sympy.Number) for a in args)
    if name == "Pow" and numbers and isinstance(args[1], sympy.Integer):
        # srepr never writes this (sympy folds it); evaluating it could be huge
        raise ValueError(f"a formula may not raise a number to an integer power: {args}")
    literal_only = name in _ATOMS and name not in ("Add", "Mul", "Pow")
    if literal_only and not all(isinstance(a, (bool, int, str)) for a in args):
        raise ValueError(f"{name} takes literal arguments, got {args}")
    return _CONSTRUCTORS[name](*args, **kwargs)


def expression_from_text(text: str) -> sympy.Expr:
    """Rebuild the formula ``expression_to_text`` wrote, refusing anything else.

    Parameters
    ----------
    text : str
        sympy ``srepr`` text.

    Raises
    ------
    ValueError
        For text that is not Python syntax, calls anything but the whitelisted sympy
        constructors, or does not give an expression.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    try:
        tree = ast.parse(text, mode="eval")
        expr = _build(tree.body)
    except (SyntaxError, RecursionError) as error:
        raise ValueError(f"formula text is not valid: {error}") from error
    if not isinstance(expr, sympy.Expr):
        raise ValueError(f"formula text does not give an expression: {text!r}")
    return expr
