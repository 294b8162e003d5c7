"""Formula text is read as math, never run as code (kanscience.core.parse_formula)."""

import builtins

import pytest
import sympy

from kanscience.core import parse_formula
from kanscience.io import load_feynman

HOSTILE = [
    "__import__('os').system('echo owned')",
    "__import__('os')",
    "().__class__.__bases__[0].__subclasses__()",
    "exec('x = 1')",
    "eval('1')",
    "open('/etc/passwd').read()",
    "x.__class__",
    "[x for x in ()]",
    "lambda: 0",
    "x if y else z",
    "x == 1",
    "'text'",
    "b'bytes'",
    "x[0]",
    "(x, y)",
    "{x: 1}",
    "x @ y",
    "x // y",
    "x % y",
    "not x",
    "x and y",
    "sin(x, base=2)",
    "sin(*x)",
    "Symbol('x')",
    "sympify('x')",
    "f(x)",
    "sin",
    "",
    "x +",
    "True + x",
    "1j * x",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_anything_but_math_is_refused_without_running(text, monkeypatch):
    calls = []
    monkeypatch.setattr(builtins, "__import__", lambda *a, **k: calls.append(a) or None)
    try:
        with pytest.raises(ValueError, match="formula"):
            parse_formula(text)
    finally:
        monkeypatch.undo()
    assert calls == []


def test_every_feynman_formula_reads_as_sympy_reads_it():
    """The packaged formulas (trusted text) give the expressions sympy's own parser gives."""
    for equation in load_feynman():
        symbols = {v: sympy.Symbol(v, real=True) for v in equation.variables}
        ours = parse_formula(equation.formula, symbols)
        theirs = sympy.parse_expr(equation.formula, local_dict=symbols)
        assert ours == theirs, equation.id


def test_math_notation():
    x, y = sympy.symbols("x y", real=True)
    assert parse_formula("x^2/2 + sin(pi*y)") == x**2 / 2 + sympy.sin(sympy.pi * y)
    assert parse_formula("1/3") == sympy.Rational(1, 3)
    assert parse_formula("2.5e-3*x") == sympy.Float(2.5e-3) * x
    assert parse_formula("-x**-2") == -(x**-2)
    assert parse_formula("ln(E) + arcsin(x)") == 1 + sympy.asin(x)
    # a name the caller gives is a symbol even where it is a constant's name
    e = sympy.Symbol("E", positive=True)
    assert parse_formula("E*x", {"E": e}) == e * x
    assert parse_formula("z").is_real and not parse_formula("z", real=False).is_real


def test_compile_formula_and_the_cli_refuse_code(capsys):
    from compiler import compile_formula
    from kanscience.apps.cli import main

    with pytest.raises(ValueError, match="only named functions can be called"):
        compile_formula("__import__('os').getcwd() + x")
    with pytest.raises(ValueError, match="formula"):
        compile_formula("x.__class__")
    code = main(["compile", "__import__('os')", "--vars", "x"])
    assert code == 2
    assert "unknown function '__import__'" in capsys.readouterr().err
