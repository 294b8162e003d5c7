"""Tests for kanscience.symbolic: symbolic_formula, rounding, snapping, sympy -> torch."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy
import torch

from kanscience import KAN
from kanscience.symbolic._constants import ex_round, fit_constants, float_constants, snap_constants
from kanscience.symbolic._formula import symbolic_formula
from kanscience.symbolic._simplify import expression_complexity, simplify_formula
from kanscience.symbolic._to_torch import UnsupportedExpressionError, formula_to_torch

F64 = torch.float64
SAFE = ["x", "x^2", "sin", "cos", "tanh", "exp", "gaussian", "arctan", "x^3", "sigmoid"]


def random_symbolic_model(
    width, mult_arity, seed, off_fraction=0.15, names=tuple(SAFE), zero_fraction=0.05
):
    """A float64 KAN with every edge symbolic (random functions and parameters)."""
    gen = torch.Generator().manual_seed(seed)
    model = KAN(width, mult_arity=mult_arity, seed=seed, dtype=F64)

    def uniform(lo, hi, *shape):
        return torch.rand(*shape, generator=gen, dtype=F64) * (hi - lo) + lo

    for layer, kan_layer in enumerate(model.layers):
        for i in range(kan_layer.in_dim):
            for j in range(kan_layer.out_dim):
                u = float(torch.rand(1, generator=gen))
                if u < off_fraction:
                    model.set_mode_(layer, i, j, "off")
                    continue
                name = names[int(torch.randint(len(names), (1,), generator=gen))]
                a, b = uniform(-0.8, 0.8, 2).tolist()
                c, d = uniform(-1.2, 1.2, 2).tolist()
                model.set_symbolic_(
                    layer, i, j, "0" if u < off_fraction + zero_fraction else name, (a, b, c, d)
                )
        with torch.no_grad():
            for params, lo, hi in (
                (model.subnode_scale, 0.5, 1.5),
                (model.subnode_bias, -0.3, 0.3),
                (model.node_scale, 0.5, 1.5),
                (model.node_bias, -0.3, 0.3),
            ):
                params[layer].copy_(uniform(lo, hi, params[layer].shape[0]))
    return model


ARCHITECTURES = [
    ([3, [1, 1], 1], 2),
    ([3, [0, 2], 1], 3),
    ([4, [1, 1], [0, 1], 1], 4),
    ([3, [2, 3], [1, 2], 2], [[], [2, 3, 4], [3, 2], []]),
    ([2, [1, 2], 1], [[], [4, 3], []]),
]


@pytest.mark.parametrize("width, arity", ARCHITECTURES)
@pytest.mark.parametrize("seed", [0, 1])
def test_formula_matches_forward(width, arity, seed):
    model = random_symbolic_model(width, arity, seed)
    x = (
        torch.rand(300, model.n_in, generator=torch.Generator().manual_seed(seed), dtype=F64) * 2
        - 1
    )
    with torch.no_grad():
        expected = model(x)
    formulas = symbolic_formula(model)
    assert len(formulas) == model.n_out
    symbols = [sympy.Symbol(f"x_{i + 1}", real=True) for i in range(model.n_in)]
    scale = float(expected.abs().max())
    for k, expr in enumerate(formulas):
        assert expr.free_symbols <= set(symbols)
        ours = formula_to_torch(expr, symbols)(x)
        torch.testing.assert_close(ours, expected[:, k], rtol=1e-8, atol=1e-8 * scale)
        reference = sympy.lambdify(symbols, expr, "numpy")(*x.T.numpy())
        reference = np.broadcast_to(np.asarray(reference, dtype=np.float64), (x.shape[0],))
        torch.testing.assert_close(
            torch.from_numpy(reference.copy()), expected[:, k], rtol=1e-8, atol=1e-8 * scale
        )


def test_formula_beats_pykan_on_arity_three():
    """pykan's symbolic_formula indexes multiplication subnodes as if every arity were 2."""
    interop = pytest.importorskip("kanscience.io._pykan")
    pytest.importorskip("kan")
    # (no '0' edges: pykan's '0' edge still adds its d, ours is exactly zero)
    model = random_symbolic_model(
        [2, [0, 2], 1],
        3,
        seed=3,
        off_fraction=0.0,
        names=[n for n in SAFE if n != "sigmoid"],
        zero_fraction=0.0,
    )
    x = torch.rand(50, 2, generator=torch.Generator().manual_seed(0), dtype=F64)
    theirs_model = interop.to_pykan(model)
    with torch.no_grad():
        forward = model(x)[:, 0]
        torch.testing.assert_close(theirs_model(x)[:, 0], forward)  # same network
    theirs_model.requires_grad_(False)  # else sympy warns converting its parameters
    theirs = theirs_model.symbolic_formula()[0][0]
    pykan_vars = sorted(theirs.free_symbols, key=lambda s: s.name)
    pykan_values = torch.as_tensor(
        np.asarray(sympy.lambdify(pykan_vars, theirs, "numpy")(*x.T.numpy()), dtype=np.float64)
    )
    ours = formula_to_torch(symbolic_formula(model)[0], sympy.symbols("x_1 x_2", real=True))(x)
    torch.testing.assert_close(ours, forward, rtol=1e-10, atol=1e-10)
    assert float((pykan_values - forward).abs().max()) > 1e-3


def test_formula_names_spline_edges_and_fits_them_on_request():
    model = KAN([2, 2, 1], seed=0, dtype=F64)
    model.set_symbolic_(0, 0, 0, "sin", (1.0, 0.0, 1.0, 0.0))
    with pytest.raises(
        ValueError,
        match=r"5 edge\(s\).*\(0, 0, 1\), \(0, 1, 0\), \(0, 1, 1\), "
        r"\(1, 0, 0\), \(1, 1, 0\)",
    ):
        symbolic_formula(model)
    x = torch.rand(200, 2, generator=torch.Generator().manual_seed(0), dtype=F64) * 2 - 1
    (expr,) = symbolic_formula(model, ["u", "v"], x=x, lib=["x", "x^2", "sin", "tanh"])
    assert {s.name for s in expr.free_symbols} <= {"u", "v"}
    assert model.layers[0].symbolic_names[0][1] == "0"  # the model itself is unchanged
    approx = formula_to_torch(expr, sympy.symbols("u v", real=True))(x)
    with torch.no_grad():
        exact = model(x)[:, 0]
    assert float(((approx - exact) ** 2).mean() / exact.var()) < 1e-2


def test_formula_variables_and_bad_input():
    model = KAN([2, 1], seed=0, dtype=F64)
    for i in range(2):
        model.set_symbolic_(0, i, 0, "x", (1.0, 0.0, 2.0, 0.5))
    p, q = sympy.symbols("p q", positive=True)
    assert symbolic_formula(model, [p, q], round_digits=12) == [2 * p + 2 * q + 1]
    assert symbolic_formula(model, ["a", "b"])[0].free_symbols == set(
        sympy.symbols("a b", real=True)
    )
    with pytest.raises(ValueError, match="var_names must list 2 names"):
        symbolic_formula(model, ["a"])
    with pytest.raises(TypeError, match="model must be a kanscience.KAN"):
        symbolic_formula("model")


def test_ex_round_and_snap():
    t, u = sympy.symbols("t u", real=True)
    expr = 2.00000004 * sympy.sin(0.99999998 * t) + 0.3333333 * u**1.9999999 - 1e-9
    assert ex_round(expr, 4) == 2 * sympy.sin(t) + sympy.Float(0.3333) * u**2
    assert snap_constants(expr, tol=1e-6) == 2 * sympy.sin(t) + u**2 / 3
    # not close enough: left alone
    assert snap_constants(sympy.Float(0.3334) * t, tol=1e-6) == sympy.Float(0.3334) * t
    assert snap_constants(3.1415926 * t / 2, constants=[sympy.pi]) == sympy.pi * t / 2
    with pytest.raises(ValueError, match="tol must be >= 0"):
        snap_constants(expr, tol=-1)
    with pytest.raises(ValueError, match="max_denominator must be an int >= 1"):
        snap_constants(expr, max_denominator=0)
    with pytest.raises(TypeError, match="digits must be an int"):
        ex_round(expr, 1.5)


def test_simplify_and_complexity():
    t = sympy.Symbol("t", real=True)
    messy = 0.5 * sympy.exp(t + math.log(2.0)) - sympy.exp(t) + t * (t + 1) - t**2
    simple = simplify_formula(messy, full=True)
    assert sympy.simplify(simple - t) == 0 or abs(float(simple.subs(t, 0.7)) - 0.7) < 1e-12
    assert expression_complexity(simple) <= expression_complexity(messy)
    assert expression_complexity(t) == 1 and expression_complexity(sympy.sin(t) + 1) == 4


def test_formula_to_torch_matches_lambdify_and_rejects_unknown_heads():
    t, u = sympy.symbols("t u", real=True)
    expr = (
        sympy.exp(-(t**2) / 2) / sympy.sqrt(2 * sympy.pi)
        + sympy.atan(u) * sympy.Abs(t)
        + u ** sympy.Rational(3, 2)
        + 2**t
        + sympy.log(u) * sympy.cosh(t)
    )
    x = torch.rand(100, 2, generator=torch.Generator().manual_seed(0), dtype=F64) + 0.1
    ours = formula_to_torch(expr, [t, u])(x)
    reference = sympy.lambdify([t, u], expr, "numpy")(*x.T.numpy())
    torch.testing.assert_close(ours, torch.from_numpy(reference), rtol=1e-13, atol=1e-13)
    assert formula_to_torch("t*u + 1", ["t", "u"])(torch.ones(2, 2)).tolist() == [2.0, 2.0]
    with pytest.raises(UnsupportedExpressionError, match="'besselj'"):
        formula_to_torch(sympy.besselj(0, t), [t])
    with pytest.raises(ValueError, match="symbol u is not among the variables"):
        formula_to_torch(t + u, [t])
    with pytest.raises(ValueError, match=r"shape \(batch, 2\)"):
        formula_to_torch(t + u, [t, u])(torch.ones(3))


def test_weighted_fit_constants_is_weighted_least_squares():
    """With weights, a model linear in its constants gets the weighted least-squares
    coefficients (closed form), which differ from the unweighted ones on this data."""
    t = sympy.Symbol("t", real=True)
    gen = torch.Generator().manual_seed(3)
    x = torch.linspace(0.5, 3, 120, dtype=F64)[:, None]
    y = (
        1.7 * x[:, 0]
        + 0.4 * torch.exp(-x[:, 0])
        + 0.05 * torch.randn(120, generator=gen, dtype=F64)
    )
    weights = 1 / x[:, 0] ** 2
    fitted = fit_constants(1.1 * t + 0.9 * sympy.exp(-t) + 0.5, [t], x, y, weights=weights)
    design = torch.stack([x[:, 0], torch.exp(-x[:, 0]), torch.ones(120, dtype=F64)], 1)
    root = weights.sqrt()[:, None]
    reference = torch.linalg.lstsq(design * root, y[:, None] * root).solution[:, 0]
    got = [
        float(fitted.coeff(t)),
        float(fitted.coeff(sympy.exp(-t))),
        float(fitted.as_coeff_Add()[0]),
    ]
    assert got == pytest.approx(reference.tolist(), rel=1e-8)
    plain = fit_constants(1.1 * t + 0.9 * sympy.exp(-t) + 0.5, [t], x, y)
    assert abs(float(plain.coeff(t)) - got[0]) > 1e-4
    with pytest.raises(ValueError, match="weights must be finite and positive"):
        fit_constants(1.0 * t, [t], x, y, weights=-weights)


def test_fit_constants_recovers_floats_and_keeps_rationals():
    t = sympy.Symbol("t", real=True)
    x = torch.linspace(0, 2, 80, dtype=F64)[:, None]
    y = x[:, 0] / 3 + 2.5 * torch.exp(-1.3 * x[:, 0])
    start = sympy.Rational(1, 3) * t + 2.0 * sympy.exp(-1.0 * t)
    fitted = fit_constants(start, [t], x, y)
    values = sorted(float(f) for f in float_constants(fitted))
    assert abs(values[0] + 1.3) < 1e-10 and abs(values[1] - 2.5) < 1e-10
    assert fitted.coeff(t) == sympy.Rational(1, 3)
    # equal floats are one parameter
    tied = fit_constants(1.5 * t + 1.5 * t**2, [t], x, 2 * x + 2 * x**2)
    assert tied.coeff(t) == tied.coeff(t, 2)  # one value (2.0 becomes the Integer 2)
    assert abs(float(tied.coeff(t)) - 2.0) < 1e-12
    assert fit_constants(t + 1, [t], x, y) == t + 1  # no float: unchanged
    with pytest.raises(ValueError, match=r"x must be \(batch, 1\)"):
        fit_constants(start, [t], x[:10], y)
