"""Formula objects: every export evaluates to the sympy formula; the torch module trains;
the compiled KAN of a discovered formula equals it."""

from __future__ import annotations

import ctypes
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import sympy
import torch

from compiler import compile_formula
from kanscience.discover import discover
from kanscience.symbolic import CODE_PRINTERS, Formula, FormulaModule

F64 = torch.float64
u, v, w = sympy.symbols("u v w", real=True)
VARIABLES = (u, v, w)

# floats (trainable constants), rationals, pi, powers and library functions; all finite
# and real on the sampled box [0.5, 2]^3
FORMULAS = {
    "polynomial": 0.37 * u**2 * v - 1.25 * w + sympy.Rational(1, 3),
    "exponential": 2.5 * sympy.exp(-1.3 * u) * v + 0.7,
    "trigonometric": sympy.sin(sympy.pi * u) * sympy.cos(0.4 * v) + sympy.tanh(w),
    "roots and logs": sympy.sqrt(u * v) / (1 + w**1.5) + sympy.log(0.9 * w),
    "unused variable": u / (2 * sympy.pi) + sympy.atan(v) - sympy.asin(1 / (u + v)),
}


def _points(n: int = 25, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.5, 2.0, size=(n, 3))


def _reference(expr: sympy.Expr, x: np.ndarray) -> np.ndarray:
    """The sympy formula evaluated at each row with 30 digits (no lambdify involved)."""
    return np.array(
        [float(expr.evalf(30, subs=dict(zip(VARIABLES, map(sympy.Float, row))))) for row in x]
    )


@pytest.fixture(params=list(FORMULAS), scope="module")
def case(request):
    expr = FORMULAS[request.param]
    x = _points()
    return Formula(expr, VARIABLES), x, _reference(expr, x)


def test_numpy_export_equals_the_formula(case):
    formula, x, expected = case
    np.testing.assert_allclose(formula.to_numpy()(x), expected, rtol=1e-12, atol=1e-12)


def test_torch_export_equals_the_formula(case):
    formula, x, expected = case
    with torch.no_grad():
        got = formula.to_torch()(torch.tensor(x, dtype=F64)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_jax_export_equals_the_formula(case):
    pytest.importorskip("jax")
    formula, x, expected = case
    got = np.asarray(formula.to_jax()(x))
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler")
def test_c_export_compiles_and_equals_the_formula(case, tmp_path):
    formula, x, expected = case
    names = [s.name for s in formula.variables]
    unpack = "".join(f"double {n} = x[{k}]; " for k, n in enumerate(names))
    source = tmp_path / "formula.c"
    source.write_text(
        "#include <math.h>\n"
        f"double formula(const double *x) {{ {unpack}return {formula.to_code('c')}; }}\n"
    )
    library = tmp_path / "formula.so"
    subprocess.run(
        ["cc", "-O0", "-shared", "-fPIC", str(source), "-o", str(library), "-lm"], check=True
    )
    compiled = ctypes.CDLL(str(library)).formula
    compiled.restype = ctypes.c_double
    compiled.argtypes = [ctypes.POINTER(ctypes.c_double)]
    got = np.array([compiled((ctypes.c_double * 3)(*row)) for row in x])
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.skipif(shutil.which("node") is None, reason="no JavaScript runtime")
def test_javascript_export_runs_and_equals_the_formula(case):
    formula, x, expected = case
    names = ", ".join(s.name for s in formula.variables)
    script = (
        f"const rows = {json.dumps(x.tolist())};\n"
        f"const f = ({names}) => {formula.to_code('javascript')};\n"
        "console.log(JSON.stringify(rows.map(r => f(...r))));\n"
    )
    out = subprocess.run(["node", "-e", script], check=True, capture_output=True, text=True)
    np.testing.assert_allclose(json.loads(out.stdout), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("language", sorted(CODE_PRINTERS))
def test_code_is_sympys_printer_output(language):
    """The code of every language is exactly what sympy's printer writes (settings
    passed through), so no printer of ours can drift from sympy's."""
    expr = FORMULAS["roots and logs"]
    printer, defaults = CODE_PRINTERS[language]
    formula = Formula(expr, VARIABLES)
    assert formula.to_code(language) == printer(expr, **defaults)
    assert formula.to_code(language.upper()) == printer(expr, **defaults)
    if language in ("c", "julia", "fortran"):
        assert formula.to_code(language, assign_to="y") == printer(
            expr, **{**defaults, "assign_to": "y"}
        )


def test_latex_and_sympy_are_the_expression():
    expr = FORMULAS["exponential"]
    formula = Formula(expr, VARIABLES)
    assert formula.sympy is expr and formula.latex() == sympy.latex(expr)
    assert formula.latex(mode="inline") == sympy.latex(expr, mode="inline")
    assert str(formula) == str(expr)


def test_names_match_the_expressions_symbols_and_strings_are_parsed():
    formula = Formula(FORMULAS["polynomial"], ["u", "v", "w"])
    assert formula.variables == VARIABLES  # the expression's real symbols, by name
    parsed = Formula("0.37*u**2*v - 1.25*w + 1/3", ["u", "v", "w"])
    assert sympy.simplify(parsed.sympy - FORMULAS["polynomial"]) == 0


def test_torch_export_trains_its_constants():
    """Start from wrong constants; a few L-BFGS steps of torch.optim recover the law's."""
    t = torch.linspace(0.0, 3.0, 200, dtype=F64)[:, None]
    y = 2.5 * torch.exp(-1.3 * t[:, 0]) + 0.7
    module = Formula(1.0 * sympy.exp(-1.0 * u) + 0.1, [u]).to_torch()
    assert isinstance(module, FormulaModule)
    assert [n for n, _ in module.named_parameters()] == ["constants"]
    optimizer = torch.optim.LBFGS(
        module.parameters(),
        max_iter=100,
        tolerance_grad=1e-12,
        tolerance_change=0.0,
        line_search_fn="strong_wolfe",
    )

    def closure():
        optimizer.zero_grad()
        loss = ((module(t) - y) ** 2).mean()
        loss.backward()
        return loss

    for _ in range(3):
        optimizer.step(closure)
    assert module.constants.detach().tolist() == pytest.approx([-1.3, 0.7, 2.5], abs=1e-7)
    trained = Formula(module.to_sympy(), [u])
    np.testing.assert_allclose(trained.to_numpy()(t.numpy()), y.numpy(), atol=1e-7)


def test_torch_module_follows_the_input_dtype_and_shares_equal_floats():
    module = Formula(0.5 * u + 0.5 * v**2, [u, v]).to_torch()
    assert module.constants.numel() == 1  # equal floats are one constant, as in fit_constants
    x = torch.tensor([[2.0, 2.0]], dtype=torch.float32)
    assert module(x).dtype == torch.float32 and module(x).item() == pytest.approx(3.0)


def test_to_jax_without_jax_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "jax", None)
    monkeypatch.setitem(sys.modules, "jax.numpy", None)
    with pytest.raises(ImportError, match="pip install jax"):
        Formula(u + 1, [u]).to_jax()


def test_a_discovered_formula_compiles_into_an_exact_kan(no_files_written):
    """The best formula of a small discovery, compiled by the kanpiler, is a KAN equal
    to the formula to 1e-10 (the round trip back to a network to train further)."""
    generator = torch.Generator().manual_seed(0)
    x = 1.0 + torch.rand(500, 2, generator=generator, dtype=F64)
    result = discover((x, x[:, 0] ** 2 + torch.sin(x[:, 1])), ["a", "b"], time_budget=None)
    formula = result.formula()
    assert formula.sympy == result.best.expr and formula.variables == result.variables
    assert result.formula(-1).sympy == result.candidates[-1].expr
    model = compile_formula(formula.sympy, list(formula.variables))
    points = 1.0 + torch.rand(200, 2, generator=generator, dtype=F64)
    with torch.no_grad():
        got = model(points)[:, 0].numpy()
    np.testing.assert_allclose(got, formula.to_numpy()(points.numpy()), rtol=1e-10, atol=1e-10)
    with pytest.raises(IndexError, match="index must address one of the"):
        result.formula(len(result.candidates))


def test_bad_input_names_the_argument():
    with pytest.raises(ValueError, match=r"variables \['u'\] miss the formula's symbols \['v'\]"):
        Formula(u + v, [u])
    with pytest.raises(ValueError, match="variables must have distinct names"):
        Formula(u, [u, "u"])
    with pytest.raises(TypeError, match="variables must be a sequence"):
        Formula(u, "u")
    with pytest.raises(TypeError, match="expr must be a sympy expression or a string"):
        Formula(3.0, [u])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not a formula|unknown|refus"):
        Formula("__import__('os')", ["u"])
    formula = Formula(u * v, [u, v])
    with pytest.raises(ValueError, match=r"x must be an array of shape \(n, 2\)"):
        formula.to_numpy()(np.ones((4, 3)))
    with pytest.raises(ValueError, match=r"x must be a tensor of shape \(batch, 2\)"):
        formula.to_torch()(torch.ones(4))
    with pytest.raises(ValueError, match=r"language must be one of \['c', 'c\+\+', 'fortran'"):
        formula.to_code("cobol")
