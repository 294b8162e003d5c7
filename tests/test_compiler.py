"""Tests for the kanpiler (compiler/): formula -> KAN, exact forward, round trip, errors.

The formula table (tests/compiler_cases.py) holds the 50 Feynman equations, the KAN 2.0
examples, neo-Hookean elasticity and one case per rewrite; every case is checked against
``sympy.lambdify`` in float64 on its ranges.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import sympy
import torch
from compiler_cases import CASES, EXTRA_CASES, FEYNMAN_CASES, Case
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compiler import CompiledKAN, UnsupportedExpressionError, build_graph, compile_formula, describe
from compiler.graph import REWRITES
from kanscience import KAN

N_POINTS = 256


def sample(case: Case, n: int = N_POINTS, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    bounds = torch.tensor([case.ranges[v] for v in case.variables], dtype=torch.float64)
    u = torch.rand(n, len(case.variables), generator=generator, dtype=torch.float64)
    return bounds[:, 0] + u * (bounds[:, 1] - bounds[:, 0])


def reference(exprs: list[sympy.Expr], variables, x: torch.Tensor) -> np.ndarray:
    symbols = [sympy.Symbol(v, real=True) for v in variables]
    columns = [x[:, i].numpy() for i in range(x.shape[1])]
    with np.errstate(all="ignore"):
        return np.stack(
            [
                np.broadcast_to(
                    np.asarray(sympy.lambdify(symbols, e, "numpy")(*columns), dtype=np.float64),
                    (x.shape[0],),
                )
                for e in exprs
            ],
            axis=1,
        )


# ------------------------------------------------------------------ exact forward
def test_table_is_large() -> None:
    assert len(FEYNMAN_CASES) == 50 and len(CASES) >= 80


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_forward_equals_lambdify(case: Case) -> None:
    exprs = case.expressions()
    model = compile_formula(exprs, case.variables)
    x = sample(case)
    expected = reference(exprs, case.variables, x)
    with torch.no_grad():
        got = model(x).numpy()
    assert model.layers[0].coef.dtype == torch.float64
    assert np.isfinite(expected).all()
    np.testing.assert_allclose(got, expected, rtol=1e-8, atol=1e-12 * np.abs(expected).max())


@pytest.mark.parametrize("case", EXTRA_CASES[:8] + FEYNMAN_CASES[:3], ids=lambda c: c.name)
def test_ranges_place_grids_without_changing_forward(case: Case) -> None:
    exprs = case.expressions()
    plain = compile_formula(exprs, case.variables)
    placed = compile_formula(exprs, case.variables, ranges=case.ranges)
    x = sample(case, 64, seed=1)
    with torch.no_grad():
        assert torch.equal(plain(x), placed(x))
        for layer, values in zip(placed.layers, placed.node_values(x)):
            inner = layer.grid[:, layer.k : -layer.k]  # placed from samples: a 2% margin
            lo, hi = values.min(0).values, values.max(0).values
            assert bool((inner[:, 0] <= lo + 0.02 * (hi - lo)).all())
            assert bool((inner[:, -1] >= hi - 0.02 * (hi - lo)).all())
    box = torch.tensor([case.ranges[v] for v in case.variables], dtype=torch.float64)
    inner = placed.layers[0].grid[:, placed.layers[0].k : -placed.layers[0].k]
    torch.testing.assert_close(inner[:, [0, -1]], box)  # inputs: exactly the ranges


# ------------------------------------------------------------------ structure and widths
@pytest.mark.parametrize(
    ("formula", "variables", "width"),
    [
        ("x*y", ["x", "y"], [[2, 0], [0, 1]]),
        ("exp(sin(pi*x)+y**2)", ["x", "y"], [[2, 0], [1, 0], [1, 0]]),
        ("(u+v)/(1+u*v)", ["u", "v"], [[2, 0], [1, 1], [0, 1]]),
        ("sqrt(x**2+y**2)", ["x", "y"], [[2, 0], [1, 0], [1, 0]]),
        ("m0/sqrt(1-v**2/c**2)", ["m0", "v", "c"], [[3, 0], [1, 1], [0, 1]]),
        ("exp(-theta**2/2)/sqrt(2*pi)", ["theta"], [[1, 0], [1, 0]]),  # one gaussian edge
        ("x*y*z*w", ["x", "y", "z", "w"], [[4, 0], [0, 1]]),  # one arity-4 product
        ("x", ["x", "y"], [[2, 0], [1, 0]]),
    ],
)
def test_widths(formula: str, variables: list[str], width: list) -> None:
    model = compile_formula(formula, variables)
    assert model.width == width
    assert model.input_names == tuple(variables)


def test_mixed_arities_use_per_layer_lists() -> None:
    model = compile_formula("x*y*z + x*y", ["x", "y", "z"])
    assert sorted(model.mult_arity[1]) == [2, 3]
    x = torch.tensor([[0.5, 2.0, 3.0]], dtype=torch.float64)
    assert model(x).item() == pytest.approx(0.5 * 2.0 * 3.0 + 1.0, rel=1e-15)


def test_compiled_model_is_a_kan_with_only_the_needed_edges_active() -> None:
    model = compile_formula("exp(sin(pi*x)+y**2)", ["x", "y"])
    assert isinstance(model, CompiledKAN) and isinstance(model, KAN)
    assert model.expressions == (
        sympy.parse_expr(
            "exp(sin(pi*x)+y**2)",
            local_dict={"x": sympy.Symbol("x", real=True), "y": sympy.Symbol("y", real=True)},
        ),
    )
    names = [[n for row in layer.symbolic_names for n in row if n != "0"] for layer in model.layers]
    assert names == [["sin", "x^2"], ["exp"]]
    for layer in model.layers:
        assert float(layer.mask.abs().sum()) == 0.0  # spline parts off
        assert int((layer.symbolic_mask != 0).sum()) == sum(
            n != "0" for r in layer.symbolic_names for n in r
        )
    a, b, c, d = model.layers[0].symbolic_affine[0, 0].tolist()
    assert (a, b, c, d) == (pytest.approx(np.pi, rel=1e-15), 0.0, 1.0, 0.0)


@pytest.mark.parametrize(
    ("formula", "variables"),
    [
        ("x*y", ["x", "y"]),
        ("exp(sin(pi*x)+y**2)", ["x", "y"]),
        ("(u+v)/(1+u*v)", ["u", "v"]),
        ("m0/sqrt(1-v**2/c**2)", ["m0", "v", "c"]),
        ("x1*(cos(omega*t)+alpha*cos(omega*t)**2)", ["x1", "omega", "t", "alpha"]),
        ("I1+I2+2*sqrt(I1*I2)*cos(delta)", ["I1", "I2", "delta"]),
    ],
)
def test_never_more_nodes_than_pykan(formula: str, variables: list[str]) -> None:
    compiler = pytest.importorskip("kan.compiler")
    symbols = [sympy.Symbol(v, real=True) for v in variables]
    expr = sympy.parse_expr(formula, local_dict=dict(zip(variables, symbols)))
    previous = torch.get_default_dtype()
    try:
        theirs = compiler.kanpiler(symbols, expr, auto_save=False)
    finally:
        torch.set_default_dtype(previous)
    ours = compile_formula(expr, variables)

    def hidden(width):
        return sum(sum(map(int, w)) for w in width[1:-1])

    assert hidden(ours.width) <= hidden(theirs.width)


def test_describe_lists_widths_and_every_active_edge() -> None:
    text = describe(compile_formula("x*y", ["x", "y"]))
    assert text.splitlines() == [
        "KAN width [[2, 0], [0, 1]], depth 1, inputs x, y",
        "layer 0: 2 nodes -> 2 subnodes -> nodes: 0 = mult(0, 1)",
        "  0 (0->0): 1*x(1*x+0)+0",
        "  0 (1->1): 1*x(1*x+0)+0",
    ]
    text = describe(compile_formula("exp(sin(pi*x)+y**2)+1", ["x", "y"]))
    assert "  0 (0->0): 1*sin(3.14159*x+0)+0" in text and "  1 (0->0): 1*exp(1*x+0)+1" in text


def test_compile_accepts_symbols_strings_and_defaults() -> None:
    x, y = sympy.symbols("x y")
    a = compile_formula(x * sympy.sin(y))  # variables default to sorted free symbols
    b = compile_formula("x*sin(y)", ["x", "y"])
    c = compile_formula(["x*sin(y)"], [x, y])
    assert a.input_names == b.input_names == c.input_names == ("x", "y")
    z = torch.rand(5, 2, dtype=torch.float64)
    assert torch.equal(a(z), b(z)) and torch.equal(a(z), c(z))
    # names sympify would misread (I, gamma, beta, E) are variables in strings
    model = compile_formula("I*gamma + beta*E")
    assert model.input_names == ("I", "gamma", "beta", "E")
    assert model(torch.tensor([[1.0, 2.0, 3.0, 4.0]], dtype=torch.float64)).item() == 14.0


def test_float32_compile() -> None:
    model = compile_formula("exp(sin(pi*x)+y**2)", ["x", "y"], dtype=torch.float32)
    x = torch.rand(16, 2)
    expected = torch.exp(torch.sin(torch.pi * x[:, 0]) + x[:, 1] ** 2)
    assert model(x).dtype == torch.float32
    torch.testing.assert_close(model(x)[:, 0], expected, rtol=1e-6, atol=1e-6)


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize(
    ("formula", "head"),
    [
        ("Piecewise((x, x > 0), (y, True))", "Piecewise"),
        ("gamma(x) + y", "gamma"),
        ("f(x)*y", "f"),
        ("erf(x)", "erf"),
        ("x + I*y", "ImaginaryUnit"),
        ("(-2)**x", "Pow"),
    ],
)
def test_unsupported_heads_are_named(formula: str, head: str) -> None:
    x, y = sympy.symbols("x y", real=True)
    expr = sympy.sympify(
        formula, locals={"x": x, "y": y, "f": sympy.Function("f"), "gamma": sympy.gamma}
    )
    with pytest.raises(UnsupportedExpressionError, match=f"cannot compile {head} in ") as info:
        compile_formula(expr, [x, y])
    assert isinstance(info.value, ValueError)
    assert info.value.head == head and expr.has(info.value.subexpression)


@pytest.mark.parametrize(
    ("exprs", "variables", "error", "message"),
    [
        ("x*y", ["x"], ValueError, r"uses \['y'\], which variables \['x'\] lacks"),
        ("x*y", ["x", "x", "y"], ValueError, r"variables names \['x'\] more than once"),
        ("x*y", "xy", TypeError, "variables must be a list"),
        ("x*y", ["x", 3], TypeError, "variables must hold names or sympy symbols"),
        ([], ["x"], ValueError, "at least one formula"),
        ("x*", ["x"], ValueError, "is not a formula"),
        (object(), ["x"], TypeError, "must be a sympy expression or a string"),
    ],
)
def test_bad_variables_and_formulas(exprs, variables, error: type, message: str) -> None:
    with pytest.raises(error, match=message) as info:
        compile_formula(exprs, variables)
    assert type(info.value) is error


@pytest.mark.parametrize(
    ("formula", "ranges", "message"),
    [
        ("log(x) + y", {"x": (-1.0, 1.0), "y": (0.0, 1.0)}, r"in log\(x\), the argument of log"),
        ("1/x + y", [(-1.0, 1.0), (0.0, 1.0)], r"the argument of 1/x reaches 0"),
        ("sqrt(x - 2) * y", (0.0, 1.0), "not finite"),
        ("tan(x) + y", (0.0, 3.0), "crosses a pole"),
        ("asin(x + y)", (0.0, 1.0), "not finite"),
        ("log(x)*y", (0.0, 1.0), "reaches 0"),
    ],
)
def test_not_finite_on_ranges(formula: str, ranges, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        compile_formula(formula, ["x", "y"], ranges=ranges)


@pytest.mark.parametrize(
    ("ranges", "message"),
    [
        ({"x": (0.0, 1.0)}, r"missing \['y'\]"),
        ({"x": (0.0, 1.0), "y": (0.0, 1.0), "z": (0, 1)}, r"unknown \['z'\]"),
        ([(0.0, 1.0)] * 3, "2 pairs"),
        ((1.0, 0.0), "lo < hi"),
        ({"x": (0.0, float("inf")), "y": (0.0, 1.0)}, "finite"),
        ({"x": "ab", "y": (0.0, 1.0)}, "must be a pair"),
    ],
)
def test_bad_ranges(ranges, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        compile_formula("x*y", ["x", "y"], ranges=ranges)


# ------------------------------------------------------------------ property test
X, Y, Z = sympy.symbols("x y z", real=True)
_UNARY = [
    sympy.sin,
    sympy.cos,
    sympy.exp,
    sympy.log,
    sympy.sqrt,
    sympy.tanh,
    sympy.atan,
    sympy.Abs,
    sympy.cosh,
    sympy.sinh,
    lambda u: u**2,
    lambda u: 1 / u,
    lambda u: u ** sympy.Rational(3, 2),
    lambda u: u**-3,
    lambda u: sympy.exp(-(u**2)),
]
_BINARY = [
    lambda a, b: a + b,
    lambda a, b: a - b,
    lambda a, b: a * b,
    lambda a, b: a / b,
    lambda a, b: a**b,
    lambda a, b: 2 * a - b / 3,
]
_LEAVES = st.sampled_from(
    [X, Y, Z, X, Y, Z, sympy.Integer(2), sympy.Rational(1, 2), sympy.Integer(-3), sympy.pi]
)


def _trees(depth: int) -> st.SearchStrategy:
    if depth == 0:
        return _LEAVES
    smaller = _trees(depth - 1)
    return st.one_of(
        _LEAVES,
        st.builds(lambda f, a: f(a), st.sampled_from(_UNARY), smaller),
        st.builds(lambda f, a, b: f(a, b), st.sampled_from(_BINARY), smaller, smaller),
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expr=_trees(4))
def test_random_expressions_match_lambdify(expr: sympy.Expr) -> None:
    if expr.has(sympy.zoo, sympy.nan, sympy.oo, -sympy.oo, sympy.I) or (
        expr.is_number and not expr.is_real
    ):
        return  # not a real formula
    try:
        model = compile_formula(expr, ["x", "y", "z"])
    except UnsupportedExpressionError as error:
        # complex for some real inputs: (-3)**x, or sympy's atan2/re/im from Abs(2**sqrt(x))
        assert "real" in str(error) or error.head in {"atan2", "re", "im", "arg"}, str(error)
        return
    x = 0.2 + 1.8 * torch.rand(
        64, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64
    )
    expected = reference([expr], ["x", "y", "z"], x)[:, 0]
    with torch.no_grad():
        got = model(x)[:, 0].numpy()
    with torch.no_grad():  # points where every subexpression is moderate (well conditioned)
        nodes = torch.stack(build_graph(expr, ["x", "y", "z"]).evaluate(x), 1)
    moderate = (nodes.abs() < 1e6).all(1).numpy()
    usable = np.isfinite(expected) & moderate
    both = usable & np.isfinite(got)
    assert (both == usable).all(), f"{expr}: NaN/inf where lambdify is finite"
    scale = np.abs(expected[both]).max(initial=0.0)
    np.testing.assert_allclose(
        got[both], expected[both], rtol=1e-7, atol=1e-9 * max(1.0, scale), err_msg=str(expr)
    )


# ------------------------------------------------------------------ round trip
def _number(value: sympy.Expr) -> sympy.Expr:
    f = float(value)
    if f == round(f) and abs(f) < 1e12:
        return sympy.Integer(round(f))
    return sympy.Float(f"{f:.12g}")


def normalize(expr: sympy.Expr) -> sympy.Expr:
    """Numbers to 12 significant digits (integral ones to integers), half-integer
    exponents to rationals: a formula and its float rendering normalize alike."""
    if expr.is_number:
        return _number(expr)
    if expr.is_Pow and expr.args[1].is_number:
        e = float(expr.args[1])
        e = sympy.Rational(round(2 * e), 2) if (2 * e).is_integer() else _number(e)
        return sympy.Pow(normalize(expr.args[0]), e)
    return expr.func(*[normalize(a) for a in expr.args]) if expr.args else expr


def symbolic_difference(a: sympy.Expr, b: sympy.Expr, tol: float = 1e-9) -> sympy.Expr:
    """simplify(a - b) after normalizing both; float rounding left over (below ``tol``) is
    snapped away before a second simplification."""

    def cosh(u):
        return (sympy.exp(u) + sympy.exp(-u)) / 2

    a, b = (
        sympy.powsimp(normalize(sympy.sympify(e).replace(sympy.cosh, cosh)), force=True)
        for e in (a, b)
    )  # force: exp(y log x) = x**y where both are real
    difference = sympy.simplify(sympy.expand(a - b))
    if difference == 0:
        return difference
    # float rounding left inside functions: snap floats to the simplest rational within tol
    snapped = sympy.nsimplify(difference, tolerance=tol, rational=True)
    return sympy.simplify(sympy.powsimp(sympy.expand(snapped), force=True))


def rewritten(expr: sympy.Expr) -> sympy.Expr:
    """``expr`` with the compiler's exact rewrites applied (REWRITES, and powers with a
    variable exponent as exp of a log), the form a compiled model reads back in."""
    for cls, rule in REWRITES.items():
        expr = expr.replace(cls, rule)
    return expr.replace(
        lambda e: e.is_Pow and not e.exp.is_number, lambda e: sympy.exp(e.exp * sympy.log(e.base))
    )


def test_symbolic_difference_helper() -> None:
    x = sympy.Symbol("x")
    assert (
        symbolic_difference(
            0.0795774715459477 * sympy.exp(0.5 * x), sympy.exp(x / 2) / (4 * sympy.pi)
        )
        == 0
    )
    assert symbolic_difference(1.0 * sympy.sqrt(1.0 - 1.0 * x), (1 - x) ** 0.5) == 0
    assert (
        symbolic_difference(sympy.exp(x * sympy.log(2.0) + 1.0 * x), rewritten(2**x * sympy.E**x))
        == 0
    )
    assert symbolic_difference(sympy.sin(1.0001 * x), sympy.sin(x)) != 0


_FORMULA_MISSING = importlib.util.find_spec("kanscience.symbolic._formula") is None


@pytest.mark.skipif(_FORMULA_MISSING, reason="kanscience.symbolic._formula is not written yet")
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_round_trip(case: Case) -> None:
    """compile -> symbolic_formula -> simplifies back to the formula."""
    from kanscience.symbolic._formula import symbolic_formula

    exprs = case.expressions()
    model = compile_formula(exprs, case.variables)
    recovered = symbolic_formula(model, var_names=list(case.variables))
    assert len(recovered) == len(exprs)
    by_name = {v: sympy.Symbol(v, real=True) for v in case.variables}
    for got, want in zip(recovered, exprs):
        got = got.xreplace({s: by_name[s.name] for s in got.free_symbols if s.name in by_name})
        assert symbolic_difference(got, rewritten(want)) == 0, f"{got} != {want}"
