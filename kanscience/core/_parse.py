"""Formula text to sympy without running code: a whitelisting reader of math notation.

``sympy.parse_expr`` and ``sympy.sympify`` evaluate their input as Python, so a formula
string from a user, a CSV header or a file can run arbitrary code
(``"__import__('os').system(...)"``). :func:`parse_formula` reads the text with Python's
:mod:`ast` and builds the expression itself, accepting only numbers, names, the arithmetic
operators (``+ - * / **``, and ``^`` as a power, as in math notation), and calls of the
functions in :data:`FUNCTIONS`; anything else is refused with an error naming it.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping

import sympy

__all__ = ["CONSTANTS", "FUNCTIONS", "parse_formula"]

FUNCTIONS: dict[str, Callable[..., sympy.Expr]] = {
    "exp": sympy.exp,
    "log": sympy.log,
    "ln": sympy.log,
    "sqrt": sympy.sqrt,
    "cbrt": sympy.cbrt,
    "sin": sympy.sin,
    "cos": sympy.cos,
    "tan": sympy.tan,
    "cot": sympy.cot,
    "sec": sympy.sec,
    "csc": sympy.csc,
    "asin": sympy.asin,
    "acos": sympy.acos,
    "atan": sympy.atan,
    "arcsin": sympy.asin,
    "arccos": sympy.acos,
    "arctan": sympy.atan,
    "atan2": sympy.atan2,
    "sinh": sympy.sinh,
    "cosh": sympy.cosh,
    "tanh": sympy.tanh,
    "asinh": sympy.asinh,
    "acosh": sympy.acosh,
    "atanh": sympy.atanh,
    "arcsinh": sympy.asinh,
    "arccosh": sympy.acosh,
    "arctanh": sympy.atanh,
    "abs": sympy.Abs,
    "Abs": sympy.Abs,
    "sign": sympy.sign,
    "erf": sympy.erf,
    "gamma": sympy.gamma,
    "Heaviside": sympy.Heaviside,
    "Min": sympy.Min,
    "Max": sympy.Max,
}
"""Function names :func:`parse_formula` accepts, with the sympy function each builds."""

CONSTANTS: dict[str, sympy.Expr] = {"pi": sympy.pi, "E": sympy.E}
"""Names read as constants unless the caller gives a symbol of that name."""

_BINARY = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.Pow: lambda a, b: a**b,
}
_MAX_LENGTH = 100_000


def parse_formula(
    text: str,
    symbols: Mapping[str, sympy.Symbol] | None = None,
    *,
    real: bool = True,
) -> sympy.Expr:
    """Read a formula written in math notation, refusing anything that is not math.

    Parameters
    ----------
    text : str
        E.g. ``"m*c**2/sqrt(1 - v^2/c^2)"``. Integers stay exact (``1/2`` is a rational).
    symbols : mapping name -> sympy.Symbol, optional
        Symbols for names; other names become new symbols (``real=True`` by default).
        A name given here is a symbol even if it is a constant's (``E``, ``pi``).
    real : bool
        Assumption of the symbols created for other names.

    Returns
    -------
    sympy.Expr

    Raises
    ------
    ValueError
        For text that is not a formula: not Python syntax, an attribute, subscript,
        keyword, lambda, string or comparison, an unknown function, or a call of anything
        that is not a function name; the message names what was found.

    Examples
    --------
    >>> parse_formula("x^2/2 + sin(pi*y)")
    x**2/2 + sin(pi*y)
    >>> try:
    ...     parse_formula("__import__('os')")
    ... except ValueError as error:
    ...     print(str(error).split(" (known")[0])
    formula "__import__('os')": unknown function '__import__'
    """
    if not isinstance(text, str):
        raise TypeError(f"formula must be a str, got {type(text).__name__}")
    if len(text) > _MAX_LENGTH:
        raise ValueError(f"formula is {len(text)} characters long; at most {_MAX_LENGTH}")
    given = dict(symbols or {})

    def name(identifier: str) -> sympy.Expr:
        if identifier in given:
            return given[identifier]
        if identifier in CONSTANTS:
            return CONSTANTS[identifier]
        if identifier in FUNCTIONS:
            raise ValueError(f"formula {text!r}: function {identifier!r} used without a call")
        given[identifier] = (
            sympy.Symbol(identifier, real=True) if real else sympy.Symbol(identifier)
        )
        return given[identifier]

    def build(node: ast.AST) -> sympy.Expr:
        if isinstance(node, ast.Constant):
            value = node.value
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"formula {text!r}: {value!r} is not a number")
            return sympy.Integer(value) if isinstance(value, int) else sympy.Float(value)
        if isinstance(node, ast.Name):
            return name(node.id)
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            return _BINARY[type(node.op)](build(node.left), build(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            operand = build(node.operand)
            return -operand if isinstance(node.op, ast.USub) else operand
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name):
                raise ValueError(f"formula {text!r}: only named functions can be called")
            if node.func.id not in FUNCTIONS:
                raise ValueError(
                    f"formula {text!r}: unknown function {node.func.id!r} "
                    f"(known: {', '.join(sorted(FUNCTIONS))})"
                )
            if node.keywords:
                raise ValueError(f"formula {text!r}: keyword arguments are not allowed")
            return FUNCTIONS[node.func.id](*(build(a) for a in node.args))
        raise ValueError(
            f"formula {text!r}: {type(node).__name__} is not allowed "
            "(numbers, names, + - * / ** ^ and function calls only)"
        )

    try:
        # ^ is a power in math notation (Python's XOR binds looser than +, so it is
        # replaced before parsing; strings, where it could mean something else, are refused)
        tree = ast.parse(text.strip().replace("^", "**"), mode="eval")
    except SyntaxError as error:
        raise ValueError(f"formula {text!r} is not valid: {error.msg}") from error
    try:
        expr = build(tree.body)
    except RecursionError as error:
        raise ValueError(f"formula {text!r} is nested too deeply") from error
    except (TypeError, ValueError) as error:
        if str(error).startswith("formula "):
            raise
        raise ValueError(f"formula {text!r}: {error}") from error
    if not isinstance(expr, sympy.Expr):
        raise ValueError(f"formula {text!r} does not give an expression")
    return expr
