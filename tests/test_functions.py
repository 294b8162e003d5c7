"""Tests for kanscience.core._functions: the symbolic function library."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import sympy
import torch

from kanscience.core._functions import (
    DEFAULT_LIBRARY,
    FunctionLibrary,
    SymbolicFunction,
    get_function,
    resolve_library,
    torch_function_table,
)

X = sympy.Symbol("x")
NAMES = DEFAULT_LIBRARY.names
# pykan 0.2.8's SYMBOLIC_LIB keys (hard-coded so parametrization does not need pykan).
PYKAN_NAMES = (
    "x",
    "x^2",
    "x^3",
    "x^4",
    "x^5",
    "1/x",
    "1/x^2",
    "1/x^3",
    "1/x^4",
    "1/x^5",
    "sqrt",
    "x^0.5",
    "x^1.5",
    "1/sqrt(x)",
    "1/x^0.5",
    "exp",
    "log",
    "abs",
    "sin",
    "cos",
    "tan",
    "tanh",
    "sgn",
    "arcsin",
    "arccos",
    "arctan",
    "arctanh",
    "0",
    "gaussian",
)
EXACT = dict(rtol=0.0, atol=0.0, equal_nan=True)
CLOSE = dict(rtol=1e-12, atol=1e-12, equal_nan=True)


@pytest.fixture(scope="module")
def pykan_lib() -> dict:
    utils = pytest.importorskip("kan.utils")
    return utils.SYMBOLIC_LIB


def domain_points(fn: SymbolicFunction, n: int = 200, seed: int = 0) -> torch.Tensor:
    """Random float64 points strictly inside the function's domain (clipped to [-3, 3])."""
    lo, hi = fn.domain if fn.domain is not None else (-3.0, 3.0)
    lo, hi = max(lo, -3.0), min(hi, 3.0)
    u = torch.rand(n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return lo + (hi - lo) * (0.001 + 0.998 * u)


def singular_points(dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Random points plus points at and around every pykan threshold and singularity."""
    rnd = 4 * torch.randn(300, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    special = [
        0.0,
        1.0,
        1 - 1e-4,
        1 - 1e-5,
        1 + 1e-9,
        1e-300,
        100.0,
        700.0,
        800.0,
        math.inf,
        math.nan,
    ]
    for y_th in (10.0, 1000.0):
        for k in (1, 2, 3, 4, 5):
            special.append(y_th ** (-1 / k))
        special += [1 / y_th**2, math.exp(-y_th), math.log(y_th), math.tanh(y_th)]
        special += [math.pi / 2 + j * math.pi - (math.pi / 2 - math.atan(y_th)) for j in (-1, 0, 2)]
    special += [10.0**k for k in range(-12, 3)] + [j * math.pi / 2 for j in range(-5, 6)]
    near = torch.tensor(special, dtype=torch.float64)
    near = torch.cat([near, near * (1 + 1e-3), near * (1 - 1e-3), near * (1 + 1e-7)])
    pts = torch.cat([rnd, near, -near])
    return pts.to(dtype)


def lambdified(fn: SymbolicFunction, x: torch.Tensor) -> torch.Tensor:
    f = sympy.lambdify(X, fn.sympy_fn(X), modules="numpy")
    xs = x.numpy()
    return torch.from_numpy(np.broadcast_to(np.asarray(f(xs), dtype=np.float64), xs.shape).copy())


def eval_with_table(expr: sympy.Expr, x: torch.Tensor, table: dict) -> torch.Tensor:
    """Minimal sympy -> torch evaluator that uses ``table`` for every function head."""
    if expr == X:
        return x
    if expr.is_Number:
        return torch.full_like(x, float(expr))
    args = [eval_with_table(a, x, table) for a in expr.args]
    if expr.is_Add:
        return sum(args[1:], args[0])
    if expr.is_Mul:
        out = args[0]
        for a in args[1:]:
            out = out * a
        return out
    if expr.is_Pow:
        return args[0] ** args[1]
    return table[expr.func](*args)


# --- torch / sympy agreement ------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_torch_matches_sympy(name: str) -> None:
    fn = DEFAULT_LIBRARY[name]
    x = domain_points(fn)
    torch.testing.assert_close(fn.torch_fn(x), lambdified(fn, x), **CLOSE)


@pytest.mark.parametrize("name", NAMES)
def test_dtypes_and_autograd(name: str) -> None:
    fn = DEFAULT_LIBRARY[name]
    for dtype in (torch.float32, torch.float64):
        x = domain_points(fn).to(dtype).requires_grad_(True)
        y = fn.torch_fn(x)
        assert y.dtype == dtype and y.shape == x.shape
        s = fn.safe_fn(x, 10.0)
        assert s.dtype == dtype and s.shape == x.shape
        (y.sum() + s.sum()).backward()
        assert torch.isfinite(x.grad).all()


# --- agreement with pykan ---------------------------------------------------------------
def test_default_library_contains_pykan(pykan_lib: dict) -> None:
    assert set(pykan_lib) == set(PYKAN_NAMES)
    assert NAMES[: len(PYKAN_NAMES)] == PYKAN_NAMES
    assert {"cosh", "sigmoid"} <= set(NAMES)


@pytest.mark.parametrize("name", PYKAN_NAMES)
def test_complexity_matches_pykan(name: str, pykan_lib: dict) -> None:
    assert DEFAULT_LIBRARY[name].complexity == pykan_lib[name][2]


@pytest.mark.parametrize("name", PYKAN_NAMES)
def test_torch_fn_matches_pykan(name: str, pykan_lib: dict) -> None:
    x = singular_points()
    x = x[x.isfinite()]
    ours, theirs = DEFAULT_LIBRARY[name].torch_fn(x), pykan_lib[name][0](x)
    torch.testing.assert_close(ours, theirs, **EXACT)


@pytest.mark.parametrize("name", PYKAN_NAMES)
def test_sympy_fn_matches_pykan(name: str, pykan_lib: dict) -> None:
    assert sympy.simplify(DEFAULT_LIBRARY[name].sympy_fn(X) - pykan_lib[name][1](X)) == 0


def pykan_safe_value(pykan_safe, x: torch.Tensor, y_th: torch.Tensor) -> torch.Tensor:
    """The value pykan's avoid-singularity function means to return.

    pykan's layer takes ``[1]`` of the result, which is wrong for two entries:
    ``f_tan`` returns ``(clip, delta, y)`` and ``f_power1d5`` returns ``y`` bare.
    """
    out = pykan_safe(x, y_th)
    return out[-1] if isinstance(out, tuple) else out


@pytest.mark.parametrize("y_th", [10.0, 1000.0])
@pytest.mark.parametrize("name", PYKAN_NAMES)
def test_safe_fn_matches_pykan(name: str, y_th: float, pykan_lib: dict) -> None:
    fn, pykan_safe = DEFAULT_LIBRARY[name], pykan_lib[name][3]
    x = singular_points()
    theirs = pykan_safe_value(pykan_safe, x, torch.tensor(y_th, dtype=torch.float64))
    ours = fn.safe_fn(x, y_th)
    if name == "exp":
        # pykan returns NaN (inf * 0) where exp overflows; we return the threshold there.
        overflow = theirs.isnan() & ~x.isnan()
        assert overflow.any() and (ours[overflow] == y_th).all()
        ours, theirs, x = ours[~overflow], theirs[~overflow], x[~overflow]
    torch.testing.assert_close(ours, theirs, **EXACT)


@pytest.mark.parametrize("y_th", [10.0, 1000.0])
@pytest.mark.parametrize("name", PYKAN_NAMES)
def test_safe_fn_matches_pykan_float32_tensor_threshold(
    name: str, y_th: float, pykan_lib: dict
) -> None:
    """pykan's layers pass ``torch.tensor(y_th)`` (default float32); that must match too."""
    x = singular_points(torch.float32)
    x = x[x.abs() < 50]  # stay clear of float32 exp overflow (see test above)
    theirs = pykan_safe_value(pykan_lib[name][3], x, torch.tensor(y_th))
    for ours in (
        DEFAULT_LIBRARY[name].safe_fn(x, torch.tensor(y_th)),
        DEFAULT_LIBRARY[name].safe_fn(x, y_th),
    ):
        assert ours.dtype == torch.float32
        torch.testing.assert_close(ours, theirs, **EXACT)


@pytest.mark.parametrize("y_th", [10.0, 1000.0])
@pytest.mark.parametrize("name", NAMES)
def test_safe_fn_gradients_have_no_nan(name: str, y_th: float) -> None:
    x = singular_points()
    x = x[x.isfinite() & (x.abs() < 1e3)].requires_grad_(True)
    DEFAULT_LIBRARY[name].safe_fn(x, y_th).sum().backward()
    assert not x.grad.isnan().any()


@pytest.mark.parametrize("name", ["1/x", "1/x^2", "log", "1/sqrt(x)", "sqrt", "tan", "arctanh"])
def test_safe_fn_is_bounded_by_threshold(name: str) -> None:
    x = singular_points()
    x = x[x.isfinite() & (x.abs() < 1e3)]
    y = DEFAULT_LIBRARY[name].safe_fn(x, 10.0)
    assert y.isfinite().all() and (y.abs() <= 10.0 + 1e-9).sum() > 0.5 * y.numel()


# --- dispatch table ---------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_torch_function_table_covers_and_matches(name: str) -> None:
    table = torch_function_table()
    fn = DEFAULT_LIBRARY[name]
    expr = fn.sympy_fn(X)
    heads = {n.func for n in sympy.preorder_traversal(expr) if isinstance(n, sympy.Function)}
    missing = heads - set(table)
    assert not missing, f"{name}: heads {missing} not in torch_function_table"
    x = domain_points(fn)
    torch.testing.assert_close(eval_with_table(expr, x, table), fn.torch_fn(x), **CLOSE)


def test_torch_function_table_includes_custom_heads() -> None:
    bessel = sympy.Function("Bessel")
    custom = SymbolicFunction("J0", torch.special.bessel_j0, bessel, 4, lambda x, y: x)
    table = torch_function_table(DEFAULT_LIBRARY.with_functions(custom))
    assert table[bessel] is torch.special.bessel_j0
    assert bessel not in torch_function_table()
    table[bessel] = None  # a fresh dict each call: mutation does not leak
    assert bessel not in torch_function_table()


def make_relu() -> SymbolicFunction:
    return SymbolicFunction(
        "relu", torch.relu, lambda x: sympy.Max(x, 0), 2, lambda x, y: torch.relu(x)
    )


# --- library behaviour ------------------------------------------------------------------
def test_subset_and_with_functions_are_new_libraries() -> None:
    before = DEFAULT_LIBRARY.names
    sub = DEFAULT_LIBRARY.subset(["sin", "x", "sin"])
    assert isinstance(sub, FunctionLibrary) and sub.names == ("sin", "x")
    assert sub["sin"] is DEFAULT_LIBRARY["sin"]
    sin2 = dataclasses.replace(DEFAULT_LIBRARY["sin"], complexity=7)
    relu = make_relu()
    new = DEFAULT_LIBRARY.with_functions(sin2, relu)
    assert new["sin"].complexity == 7 and new.names[-1] == "relu"
    assert new.names.index("sin") == before.index("sin")
    assert DEFAULT_LIBRARY.names == before and DEFAULT_LIBRARY["sin"].complexity == 2
    assert "relu" not in DEFAULT_LIBRARY
    with pytest.raises(AttributeError, match="immutable"):
        DEFAULT_LIBRARY._functions = {}
    with pytest.raises(TypeError):
        DEFAULT_LIBRARY["sin"] = sin2  # type: ignore[index]


def test_unknown_names_raise() -> None:
    with pytest.raises(ValueError, match=r"unknown symbolic function 'sinc'.*valid names.*sin"):
        DEFAULT_LIBRARY.subset(["sin", "sinc"])
    with pytest.raises(ValueError, match=r"'bessel'.*valid names are: x, x\^2"):
        get_function("bessel")
    with pytest.raises(ValueError, match=r"'bessel'"):
        resolve_library(["x", "bessel"])
    with pytest.raises(ValueError, match=r"'cos'.*valid names are: x, sin$"):
        get_function("cos", library=["x", "sin"])
    with pytest.raises(KeyError, match="valid names"):
        DEFAULT_LIBRARY["nope"]
    with pytest.raises(TypeError):
        get_function(3)  # type: ignore[arg-type]


@pytest.mark.parametrize("empty", [[], (), {}, FunctionLibrary([])])
def test_empty_library_raises(empty) -> None:
    with pytest.raises(ValueError, match=r"lib .* is empty"):
        resolve_library(empty)


def test_resolve_library_forms() -> None:
    assert resolve_library() is DEFAULT_LIBRARY
    assert resolve_library(None) is DEFAULT_LIBRARY
    lib = resolve_library(["x", "sin"])
    assert resolve_library(lib) is lib
    assert resolve_library("exp").names == ("exp",)
    relu = make_relu()
    mixed = resolve_library(["x", relu, "x^2"])
    assert mixed.names == ("x", "relu", "x^2") and mixed["relu"] is relu
    renamed = resolve_library({"rect": relu})
    assert renamed.names == ("rect",) and renamed["rect"].torch_fn is torch.relu
    with pytest.raises(ValueError, match="two different functions named 'sin'"):
        resolve_library(["sin", dataclasses.replace(DEFAULT_LIBRARY["sin"], complexity=9)])
    with pytest.raises(ValueError, match="duplicate"):
        FunctionLibrary([relu, relu])
    assert get_function(relu) is relu and get_function("sin") is DEFAULT_LIBRARY["sin"]


def test_symbolic_function_validation() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        SymbolicFunction("", torch.sin, sympy.sin, 2, lambda x, y: x)
    with pytest.raises(TypeError, match="callable"):
        SymbolicFunction("s", torch.sin, "sin", 2, lambda x, y: x)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="domain"):
        SymbolicFunction("s", torch.sin, sympy.sin, 2, lambda x, y: x, (1.0, 0.0))
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEFAULT_LIBRARY["sin"].complexity = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    "name,expected",
    [
        ("0", sympy.S.Zero),
        ("gaussian", sympy.exp(-(X**2))),
        ("sgn", sympy.sign(X)),
        ("sigmoid", 1 / (1 + sympy.exp(-X))),
        ("x^0.5", sympy.sqrt(X)),
        ("1/x^0.5", X ** sympy.Rational(-1, 2)),
    ],
)
def test_sympy_forms(name: str, expected: sympy.Expr) -> None:
    assert DEFAULT_LIBRARY[name].sympy_fn(X) == expected
