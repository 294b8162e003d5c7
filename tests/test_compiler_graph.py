"""Tests for compiler.graph (sympy -> DAG) and compiler.layout (DAG -> layers)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import sympy
import torch

from compiler.graph import (
    FUNCTION_NAMES,
    HANDLERS,
    POWER_NAMES,
    REWRITES,
    Add,
    Const,
    Input,
    Mul,
    Pow,
    Unary,
    UnsupportedExpressionError,
    build_graph,
    parse_formulas,
)
from compiler.layout import layout_graph
from kanscience import DEFAULT_LIBRARY

x, y, z = sympy.symbols("x y z", real=True)


def kinds(graph) -> list[str]:
    return [type(node).__name__ for node in graph.nodes]


def test_tables_name_library_functions() -> None:
    assert set(FUNCTION_NAMES.values()) <= set(DEFAULT_LIBRARY)
    assert set(POWER_NAMES.values()) <= set(DEFAULT_LIBRARY)
    for table in (FUNCTION_NAMES, REWRITES):
        assert all(cls in HANDLERS for cls in table)


@pytest.mark.parametrize(("function", "name"), list(FUNCTION_NAMES.items()))
def test_each_function_head_becomes_one_unary(function, name: str) -> None:
    graph = build_graph(function(2 * x + 1), ["x"])
    assert graph.nodes[-1] == Unary(name, 0, 2.0, 1.0)


@pytest.mark.parametrize(
    ("exponent", "parts"),
    [
        (2, [2]),
        (-1, [-1]),
        (Fraction(1, 2), [Fraction(1, 2)]),
        (Fraction(3, 2), [Fraction(3, 2)]),
        (7, [5, 2]),
        (-12, [-5, -5, -2]),
        (Fraction(5, 2), [Fraction(3, 2), 1]),
        (Fraction(-7, 2), [Fraction(-1, 2), -3]),
    ],
)
def test_powers_decompose_into_library_powers(exponent, parts: list) -> None:
    graph = build_graph(
        x ** sympy.Rational(exponent.numerator, exponent.denominator)
        if isinstance(exponent, Fraction)
        else x**exponent,
        ["x"],
    )
    root = graph.nodes[graph.outputs[0]]
    factors = root.factors if isinstance(root, Mul) else (graph.outputs[0],)
    found = [graph.nodes[i].exponent if isinstance(graph.nodes[i], Pow) else 1 for i in factors]
    assert sorted(found) == sorted(Fraction(p) for p in parts)
    assert isinstance(root, Pow if len(parts) == 1 else Mul)


def test_other_powers_use_exp_of_log() -> None:
    graph = build_graph(x ** sympy.Rational(1, 3) + y**x + 3**y, ["x", "y"])
    names = sorted(n.fn for n in graph.nodes if isinstance(n, Unary))
    assert names == ["exp", "exp", "exp", "log", "log"]
    u = torch.tensor([[0.7, 1.3]], dtype=torch.float64)
    assert graph(u).item() == pytest.approx(0.7 ** (1 / 3) + 1.3**0.7 + 3**1.3, rel=1e-14)


def test_shared_subexpressions_are_one_node() -> None:
    graph = build_graph(sympy.sin(x * y) + sympy.cos(x * y) * x * y + sympy.exp(x * y), ["x", "y"])
    assert kinds(graph).count("Mul") == 2  # x*y once, and cos(x*y)*x*y
    product = next(
        i for i, n in enumerate(graph.nodes) if isinstance(n, Mul) and len(n.factors) == 2
    )
    users = [n for n in graph.nodes if isinstance(n, Unary) and n.child == product]
    assert sorted(n.fn for n in users) == ["cos", "exp", "sin"]
    two = build_graph([x * y, sympy.exp(x * y)], ["x", "y"])
    assert two.nodes[two.outputs[1]].child == two.outputs[0]


def test_constants_fold_into_coefficients() -> None:
    graph = build_graph(sympy.pi * sympy.E * x / 3 + sympy.log(2) - sympy.sqrt(2) * y, ["x", "y"])
    assert kinds(graph) == ["Input", "Input", "Add"]
    coefs = {graph.nodes[i].name: c for c, i in graph.nodes[2].terms}
    assert coefs == {
        "x": pytest.approx(np.pi * np.e / 3, rel=1e-15),
        "y": pytest.approx(-np.sqrt(2), rel=1e-15),
    }
    assert graph.nodes[2].bias == pytest.approx(np.log(2), rel=1e-15)


def test_inner_affine_folds_into_the_function() -> None:
    graph = build_graph(sympy.sqrt(1 - x**2 / 4), ["x"])
    pow_node = graph.nodes[-1]
    assert pow_node.fn == "sqrt" and (pow_node.a, pow_node.b) == (-0.25, 1.0)
    assert graph.nodes[pow_node.child] == Pow(Fraction(2), 0, 1.0, 0.0)


def test_patterns_gaussian_sigmoid_cosh() -> None:
    gaussian = build_graph(sympy.exp(-((x - 1) ** 2) / 2), ["x"])
    assert gaussian.nodes[-1] == Unary("gaussian", 0, np.sqrt(0.5), -np.sqrt(0.5))
    sigmoid = build_graph(2 / (3 + sympy.exp(x)), ["x"])
    assert any(isinstance(n, Unary) and n.fn == "sigmoid" for n in sigmoid.nodes)
    cosh = build_graph(1 / (sympy.exp(x * y) + 4 * sympy.exp(-x * y)), ["x", "y"])
    assert any(isinstance(n, Unary) and n.fn == "cosh" for n in cosh.nodes)
    u = torch.tensor([[0.3, 0.9], [1.5, -0.4]], dtype=torch.float64)
    for graph, expr in (
        (gaussian, sympy.exp(-((x - 1) ** 2) / 2)),
        (sigmoid, 2 / (3 + sympy.exp(x))),
        (cosh, 1 / (sympy.exp(x * y) + 4 * sympy.exp(-x * y))),
    ):
        f = sympy.lambdify([x, y], expr)
        expected = np.array([f(*row) for row in u.tolist()])
        values = graph(u[:, : len(graph.variables)])[:, 0].numpy()
        np.testing.assert_allclose(values, expected, rtol=1e-14)


def test_patterns_follow_the_library() -> None:
    library = DEFAULT_LIBRARY.subset([n for n in DEFAULT_LIBRARY if n not in ("gaussian", "cosh")])
    graph = build_graph(
        sympy.exp(-(x**2)) + 1 / (sympy.exp(y) + sympy.exp(-y)), ["x", "y"], library=library
    )
    assert not {"gaussian", "cosh"} & {n.fn for n in graph.nodes if isinstance(n, (Unary, Pow))}
    with pytest.raises(UnsupportedExpressionError, match="needs the library function 'sin'"):
        build_graph(sympy.sin(x), ["x"], library=library.subset(["x", "exp"]))


def test_parse_names_and_errors() -> None:
    formulas, names = parse_formulas("lambd/(n*d) + gamma*I", None)
    assert names == ("lambd", "n", "d", "gamma", "I")
    assert all(s.is_real for s in formulas[0].free_symbols)
    assert parse_formulas([x * y, "x + 1"], ["y", "x"])[1] == ("y", "x")
    with pytest.raises(ValueError, match="distinct symbols sharing a name"):
        parse_formulas(sympy.Symbol("x") + x, ["x"])
    with pytest.raises(ValueError, match="no variables"):
        parse_formulas("2 + pi", None)


def test_node_records() -> None:
    assert Input(0, "x") == Input(0, "x") and Const(2.0).value == 2.0
    assert Pow(Fraction(-1, 2), 0).fn == "1/sqrt(x)"
    assert Add(((1.0, 0),), 2.0).bias == 2.0


# ------------------------------------------------------------------ layout
def layers_of(expr, variables):
    return layout_graph(build_graph(expr, variables))


def test_layout_sums_before_products_and_carries() -> None:
    layout = layers_of(x * y + z, ["x", "y", "z"])
    assert layout.width == [[3, 0], [1, 1], [1, 0]]
    hidden = layout.layers[1]
    assert [n.kind for n in hidden] == ["sum", "prod"] and hidden[0].carry
    assert layout.n_carry == 1 and layout.n_hidden == 2


def test_layout_hoists_partial_sums_and_products() -> None:
    # I1 + I2 + 2 sqrt(I1 I2) cos(delta): I1 + I2 is summed once, not carried twice
    a, b, d = sympy.symbols("a b d", real=True)
    layout = layers_of(a + b + 2 * sympy.sqrt(a * b) * sympy.cos(d), ["a", "b", "d"])
    assert layout.n_hidden == 5 and layout.n_carry == 2  # a + b and d carried one layer
    assert (
        not layout_graph(
            build_graph(a + b + 2 * sympy.sqrt(a * b) * sympy.cos(d), ["a", "b", "d"]), hoist=False
        ).n_hidden
        <= 5
    )
    # h omega^3 / (c^2 (exp(h omega / T) - 1)): the early factors are multiplied early
    h, w, c, t = sympy.symbols("h w c t", real=True)
    layout = layers_of(h * w**3 / (c**2 * (sympy.exp(h * w / t) - 1)), ["h", "w", "c", "t"])
    assert layout.n_hidden == 4


def test_layout_same_source_conflict_gets_its_own_node() -> None:
    layout = layers_of(sympy.sin(x) + x**2, ["x"])
    assert layout.width == [[1, 0], [2, 0], [1, 0]]
    terms = layout.layers[2][0].sums[0].terms
    assert sorted(t.source for t in terms) == [0, 1]  # one edge per source


def test_layout_output_order_with_mixed_kinds() -> None:
    layout = layers_of([x * y, x + y], ["x", "y"])
    assert layout.width == [[2, 0], [0, 2]]  # x + y became (x + y) * 1
    one = layout.layers[1][1].sums[1]
    assert one.bias == 1.0 and one.terms[0].c == 0.0
