"""Tests for kanscience.symbolic._affine and ._edges: affine fits, suggestions, auto_symbolic,
fix/unfix."""

from __future__ import annotations

import math

import pytest
import sympy
import torch

from kanscience import KAN, fit
from kanscience.core._functions import DEFAULT_LIBRARY, SymbolicFunction
from kanscience.symbolic._affine import fit_affine, symbolic_score
from kanscience.symbolic._edges import (
    auto_symbolic,
    fix_symbolic,
    fix_symbolic_,
    suggest_symbolic,
    unfix_symbolic,
)

F64 = torch.float64
SYM = (-1.0, 1.0)
POS = (0.5, 2.0)

# name -> (x range, true (a, b, c, d), a_range, b_range): ranges chosen so that the true
# parameters are the only ones (sign, period and scale ambiguities excluded, and a or b
# pinned by a zero-width range where the family has a redundant parameter).
CASES = {
    "x": (SYM, (1.0, 0.0, 2.5, -0.7), (1, 1), (0, 0)),
    "x^2": (SYM, (1.0, 0.3, 1.7, -0.4), (1, 1), (-2, 2)),
    "x^3": (SYM, (1.0, 0.3, 1.7, -0.4), (1, 1), (-2, 2)),
    "x^4": (SYM, (1.0, 0.3, 1.7, -0.4), (1, 1), (-2, 2)),
    "x^5": (SYM, (1.0, 0.3, 1.7, -0.4), (1, 1), (-2, 2)),
    "1/x": (POS, (1.0, 0.3, 1.7, -0.4), (1, 1), (-0.4, 2)),
    "1/x^2": (POS, (1.0, 0.3, 1.7, -0.4), (1, 1), (-0.4, 2)),
    "1/x^3": (POS, (1.0, 0.3, 1.7, -0.4), (1, 1), (-0.4, 2)),
    "1/x^4": (POS, (1.0, 0.3, 1.7, -0.4), (1, 1), (-0.4, 2)),
    "1/x^5": (POS, (1.0, 0.3, 1.7, -0.4), (1, 1), (-0.4, 2)),
    "sqrt": (POS, (1.0, 0.3, 1.7, -0.4), (1, 1), (-0.4, 2)),
    "x^0.5": (POS, (1.0, 0.3, 1.7, -0.4), (1, 1), (-0.4, 2)),
    "x^1.5": (POS, (1.0, 0.3, 1.7, -0.4), (1, 1), (-0.4, 2)),
    "1/sqrt(x)": (POS, (1.0, 0.3, 1.7, -0.4), (1, 1), (-0.4, 2)),
    "1/x^0.5": (POS, (1.0, 0.3, 1.7, -0.4), (1, 1), (-0.4, 2)),
    "exp": (SYM, (1.3, 0.0, 1.7, -0.4), (-3, 3), (0, 0)),
    "log": (POS, (1.0, 0.3, 1.7, -0.4), (1, 1), (-0.4, 2)),
    "abs": (SYM, (1.0, 0.3, 1.7, -0.4), (1, 1), (-0.9, 0.9)),
    "sin": (SYM, (1.7, 0.3, -2.1, 0.4), (0, 3), (-1.5, 1.5)),
    "cos": (SYM, (1.7, 0.3, -2.1, 0.4), (0, 3), (-1.5, 1.5)),
    "tan": (SYM, (0.8, 0.2, 1.5, -0.5), (0, 1.2), (-1, 1)),
    "tanh": (SYM, (1.3, 0.2, 1.5, -0.5), (0, 3), (-1, 1)),
    "arcsin": (SYM, (0.7, 0.05, 1.5, -0.5), (0, 0.9), (-0.1, 0.1)),
    "arccos": (SYM, (0.7, 0.05, 1.5, -0.5), (0, 0.9), (-0.1, 0.1)),
    "arctan": (SYM, (1.3, 0.2, 1.5, -0.5), (0, 3), (-1, 1)),
    "arctanh": (SYM, (0.7, 0.05, 1.5, -0.5), (0, 0.9), (-0.1, 0.1)),
    "gaussian": (SYM, (1.2, 0.3, 2.0, -0.1), (0, 3), (-1, 1)),
    "cosh": (SYM, (1.2, 0.3, 2.0, -0.1), (0, 3), (-1, 1)),
    "sigmoid": (SYM, (1.2, 0.3, 2.0, -0.1), (0, 3), (-1, 1)),
}


def test_cases_cover_the_library():
    assert set(CASES) | {"0", "sgn"} == set(DEFAULT_LIBRARY.names)


def _samples(name, n=300):
    (lo, hi), true, _, _ = CASES[name]
    x = torch.linspace(lo, hi, n, dtype=F64)
    a, b, c, d = true
    return x, c * DEFAULT_LIBRARY[name].torch_fn(a * x + b) + d


@pytest.mark.parametrize("name", sorted(CASES))
def test_fit_affine_recovers_parameters(name):
    x, y = _samples(name)
    _, true, a_range, b_range = CASES[name]
    result = fit_affine(x, y, [name], a_range=a_range, b_range=b_range)
    assert result.params.shape == (1, 1, 4) and result.params.dtype == F64
    torch.testing.assert_close(
        result.params[0, 0], torch.tensor(true, dtype=F64), rtol=0, atol=1e-6
    )
    assert float(result.r2[0, 0]) == pytest.approx(1.0, abs=1e-12)


def test_fit_affine_vectorized_matches_single_fits():
    names = ["sin", "tanh", "exp"]
    xs, ys = zip(*(_samples(n) for n in names))
    x, y = torch.stack(xs), torch.stack(ys)
    joint = fit_affine(x, y, names, a_range=(0, 3), b_range=(-1, 1))
    assert joint.params.shape == (3, 3, 4) and joint.r2.shape == (3, 3)
    for e in range(3):
        single = fit_affine(x[e], y[e], names, a_range=(0, 3), b_range=(-1, 1))
        torch.testing.assert_close(joint.r2[:, e], single.r2[:, 0], rtol=1e-9, atol=1e-9)
        for k, name in enumerate(names):  # same fitted curve (exp's b and c are redundant)
            curves = [
                c * DEFAULT_LIBRARY[name].torch_fn(a * x[e] + b) + d
                for a, b, c, d in (joint.params[k, e], single.params[k, 0])
            ]
            torch.testing.assert_close(curves[0], curves[1], rtol=1e-6, atol=1e-6)
    # each edge's own function fits exactly, with parameters inside the ranges
    assert torch.all(torch.diagonal(joint.r2) > 1 - 1e-12)


def test_fit_affine_sign_step_and_zero():
    x = torch.linspace(-1, 1, 200, dtype=F64)
    y = 1.5 * torch.sign(x - 0.2) + 0.5
    # a step has no gradient: its location comes from the grid search alone, so search on
    # all samples
    result = fit_affine(x, y, ["sgn", "0"], max_samples=200)
    a, b, c, d = result.params[0, 0].tolist()
    assert float(result.r2[0, 0]) == pytest.approx(1.0, abs=1e-12)
    threshold = -b / a
    assert (x < threshold).sum() == (x < 0.2).sum()  # same split of the samples
    assert abs(c) == pytest.approx(1.5, abs=1e-9) and d == pytest.approx(0.5, abs=1e-9)
    # '0' is the best constant: c = 0, d = mean, r2 = 0
    assert result.params[1, 0, 2] == 0 and float(result.params[1, 0, 3]) == pytest.approx(
        float(y.mean()), abs=1e-12
    )
    assert float(result.r2[1, 0]) == pytest.approx(0.0, abs=1e-12)


def test_fit_affine_constant_and_degenerate_inputs():
    x = torch.linspace(-1, 1, 100, dtype=F64)
    y = torch.full_like(x, 3.25)
    result = fit_affine(x, y, ["sin", "log", "0", "x^2"])
    # a constant is fitted exactly by every function (c = 0, d = the constant)
    torch.testing.assert_close(result.r2[:, 0], torch.ones(4, dtype=F64))
    torch.testing.assert_close(result.params[:, 0, 2], torch.zeros(4, dtype=F64))
    torch.testing.assert_close(result.params[:, 0, 3], torch.full((4,), 3.25, dtype=F64))
    # ... and the chosen (a, b) keeps log finite on the samples
    a, b = result.params[1, 0, :2]
    assert torch.isfinite(torch.log(a * x + b)).all()
    # a constant input: f(a x + b) is constant, so r2 = 0 but nothing is NaN
    flat = fit_affine(
        torch.full((50,), 0.3, dtype=F64), torch.linspace(0, 1, 50, dtype=F64), ["sin", "x"]
    )
    assert torch.isfinite(flat.params).all() and torch.all(flat.r2.abs() < 1e-12)


def test_fit_affine_outside_domain_is_never_chosen():
    x = torch.linspace(-1, 1, 100, dtype=F64)
    y = x**2
    result = fit_affine(x, y, ["sqrt", "arcsin", "log"])
    for k, name in enumerate(["sqrt", "arcsin", "log"]):
        a, b, c, d = result.params[k, 0]
        values = c * DEFAULT_LIBRARY[name].torch_fn(a * x + b) + d
        assert torch.isfinite(values).all()
        assert float(result.r2[k, 0]) == pytest.approx(
            1 - float(((values - y) ** 2).sum() / ((y - y.mean()) ** 2).sum()), abs=1e-10
        )
    # nowhere defined on the data for any (a, b) in range -> r2 = -inf, params NaN
    never = fit_affine(x, y, ["log"], a_range=(5, 6), b_range=(-9, -8))
    assert never.r2[0, 0] == -math.inf and torch.isnan(never.params).all()


def test_fit_affine_beats_pykan_fit_params():
    utils = pytest.importorskip("kan.utils")
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(400, generator=gen, dtype=F64) * 2 - 1
    y = 5.0 * torch.sin(3.0 * x + 2.0) + 0.7 + 0.02 * torch.randn(400, generator=gen, dtype=F64)
    ours = fit_affine(x, y, ["sin"], grid_number=51)
    theirs = utils.fit_params(x.float(), y.float(), torch.sin, grid_number=51, verbose=False)
    a, b, c, d = ours.params[0, 0]
    sse_ours = float(((c * torch.sin(a * x + b) + d - y) ** 2).sum())
    a, b, c, d = theirs[0].double()
    sse_theirs = float(((c * torch.sin(a * x + b) + d - y) ** 2).sum())
    assert sse_ours <= sse_theirs * (1 + 1e-9)
    assert float(ours.r2[0, 0]) > 0.9999


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"functions": ["nope"]}, "unknown symbolic function 'nope'"),
        ({"functions": []}, "functions is empty"),
        ({"a_range": (1, 0)}, "a_range must be finite with lo <= hi"),
        ({"b_range": (0,)}, "b_range must be a pair"),
        ({"grid_number": 2}, "grid_number must be an int >= 3"),
        ({"iterations": 0}, "iterations must be an int >= 1"),
    ],
)
def test_fit_affine_bad_input(kwargs, match):
    x = torch.linspace(0, 1, 10, dtype=F64)
    kwargs.setdefault("functions", ["sin"])
    with pytest.raises(ValueError, match=match):
        fit_affine(x, x, **kwargs)


def test_fit_affine_bad_shapes():
    x = torch.linspace(0, 1, 10, dtype=F64)
    with pytest.raises(ValueError, match="x and y must have the same shape"):
        fit_affine(x, x[:5], ["sin"])
    with pytest.raises(ValueError, match="y contains NaN or Inf"):
        fit_affine(x, x / 0, ["sin"])
    with pytest.raises(ValueError, match=r"shape \(n_edges, n_samples\)"):
        fit_affine(x[None, None], x[None, None], ["sin"])


def test_symbolic_score_is_pykans():
    r2 = torch.tensor([1.0, 0.9, 0.0, -math.inf], dtype=F64)
    complexity = torch.tensor([2, 1, 0, 1], dtype=F64)
    expected = [0.2 * math.log2(1 + 1e-5 - v) + 0.8 * c for v, c in zip([1.0, 0.9, 0.0], [2, 1, 0])]
    got = symbolic_score(r2, complexity, 0.8)
    torch.testing.assert_close(got[:3], torch.tensor(expected, dtype=F64))
    assert got[3] == math.inf


# ---------------------------------------------------------------- model level
def splinify(model, x, grid=20):
    """A copy of a symbolic model whose edges are least-squares splines of the same curves."""
    from kanscience.core import _splines as splines
    from kanscience.core._trace import trace

    with torch.no_grad():
        traces = trace(model, x)
        new = model.refine(grid, x)
        for t, kan_layer in zip(traces, new.layers):
            kan_layer.update_grid_(t.inputs)
            kan_layer.coef.copy_(
                splines.fit_coefficients(t.inputs, t.activations, kan_layer.grid, kan_layer.k)
            )
            kan_layer.scale_base.zero_()
            kan_layer.scale_sp.fill_(1.0)
            on = (kan_layer.mask != 0) | (kan_layer.symbolic_mask != 0)
            kan_layer.mask.copy_(on.to(kan_layer.mask.dtype))
            kan_layer.symbolic_mask.zero_()
            kan_layer.invalidate_symbolic_cache()
    return new


def truth_model():
    """x * sin(y) + exp(z) as a KAN [3, [1, 1], 1] with exact symbolic edges."""
    model = KAN([3, [1, 1], 1], seed=0, dtype=F64)
    for layer, kan_layer in enumerate(model.layers):
        for i in range(kan_layer.in_dim):
            for j in range(kan_layer.out_dim):
                model.set_mode_(layer, i, j, "off")
    for edge, name in (
        ((0, 2, 0), "exp"),
        ((0, 0, 1), "x"),
        ((0, 1, 2), "sin"),
        ((1, 0, 0), "x"),
        ((1, 1, 0), "x"),
    ):
        model.set_symbolic_(*edge, name)
    return model


@pytest.fixture(scope="module")
def inputs():
    gen = torch.Generator().manual_seed(0)
    return (
        torch.rand(600, 3, generator=gen, dtype=F64) * 2 - 1,
        torch.rand(600, 3, generator=gen, dtype=F64) * 2 - 1,
    )


@pytest.fixture(scope="module")
def spline_model(inputs):
    return splinify(truth_model(), inputs[0])


def test_suggest_symbolic_ranks_by_documented_score(spline_model, inputs):
    suggestions = suggest_symbolic(spline_model, inputs[0], 0, 1, 2, topk=4)
    assert len(suggestions) == 4
    assert suggestions[0].name == "sin" and suggestions[0].r2 > 1 - 1e-9
    scores = [s.score for s in suggestions]
    assert scores == sorted(scores)
    for s in suggestions:
        expected = 0.2 * math.log2(1 + 1e-5 - min(s.r2, 1.0)) + 0.8 * s.complexity
        assert s.score == pytest.approx(expected, rel=1e-12)
        assert s.complexity == DEFAULT_LIBRARY[s.name].complexity
    # complexity only: the simplest function with a defined fit wins
    simplest = suggest_symbolic(spline_model, inputs[0], 0, 1, 2, weight_simple=1.0, topk=1)
    assert simplest[0].name == "0"
    # the restricted library is honoured
    only = suggest_symbolic(spline_model, inputs[0], 0, 1, 2, lib=["x^2", "tanh"], topk=5)
    assert [s.name for s in only] in (["tanh", "x^2"], ["x^2", "tanh"])


def test_auto_symbolic_recovers_the_law(spline_model, inputs):
    from kanscience.symbolic import simplify_formula, snap_constants, symbolic_formula

    x, x_test = inputs
    result = auto_symbolic(spline_model, x)
    assert result.model is not spline_model
    assert spline_model.layers[0].symbolic_mask.sum() == 0  # original untouched
    chosen = {(c.layer, c.i, c.j): c.name for c in result.report}
    assert chosen == {
        (0, 0, 1): "x",
        (0, 1, 2): "sin",
        (0, 2, 0): "exp",
        (1, 0, 0): "x",
        (1, 1, 0): "x",
    }
    assert all(c.status == "fixed" and c.r2 > 1 - 1e-8 for c in result.report)
    u, v, w = sympy.symbols("u v w", real=True)
    (expr,) = symbolic_formula(result.model, [u, v, w])
    law = snap_constants(simplify_formula(expr), tol=1e-5, constants=[sympy.pi])
    assert sympy.simplify(law - (u * sympy.sin(v) + sympy.exp(w))) == 0
    with torch.no_grad():
        truth = truth_model()(x_test)
        assert float((result.model(x_test) - truth).abs().max()) < 1e-4


def test_training_after_auto_symbolic_reduces_the_loss(spline_model, inputs, tmp_path, monkeypatch):
    from kanscience import Dataset

    monkeypatch.chdir(tmp_path)
    x, x_test = inputs

    def law(t):  # same functions as the splines, other constants: only training can adapt
        return (t[:, 0] * torch.sin(1.2 * t[:, 1]) + 0.8 * torch.exp(t[:, 2]) + 0.3)[:, None]

    data = Dataset(x, law(x), x_test, law(x_test))
    model, _ = auto_symbolic(spline_model, x, lib=["x", "sin", "exp", "x^2"])
    with torch.no_grad():
        before = float(((model(x) - data.train_label) ** 2).mean().sqrt())
    fit(model, data, opt="LBFGS", steps=10, grid_schedule=None, progress=False)
    with torch.no_grad():
        after = float(((model(x) - data.train_label) ** 2).mean().sqrt())
    assert before > 0.1 and after < 0.1 * before  # L-BFGS then crawls: (a, b, c, d) are redundant
    assert list(tmp_path.iterdir()) == []


def test_auto_symbolic_keeps_symbolic_and_off_edges_and_threshold(spline_model, inputs):
    x = inputs[0]
    model = spline_model.copy()
    model.set_symbolic_(0, 1, 2, "cos", (1.0, -math.pi / 2, 1.0, 0.0))  # sin, already symbolic
    result = auto_symbolic(model, x, lib=["x", "exp", "sin"])
    kept = [c for c in result.report if c.status == "kept"]
    assert [(c.layer, c.i, c.j, c.name) for c in kept] == [(0, 1, 2, "cos")]
    assert result.model.layers[0].symbolic_names[1][2] == "cos"
    assert len(result.report) == 5  # off edges are not reported and stay off
    assert (
        result.model.layers[0].mask.sum() == 0 and result.model.layers[0].symbolic_mask.sum() == 3
    )
    strict = auto_symbolic(spline_model, x, lib=["x^2"], r2_threshold=0.9999)
    statuses = {(c.layer, c.i, c.j): c.status for c in strict.report}
    assert statuses[(0, 1, 2)] == "below_threshold"
    assert strict.model.layers[0].mask[1, 2] == 1  # left numeric
    assert statuses[(1, 0, 0)] == "fixed"  # identity edges are fitted exactly by (a x + b)^2


def test_auto_symbolic_zero_keeps_the_edge_mean():
    model = KAN([1, 1], seed=0, dtype=F64)
    with torch.no_grad():  # a constant edge: no base part, all spline coefficients equal
        model.layers[0].scale_base.zero_()
        model.layers[0].coef.fill_(0.25)
    x = torch.rand(200, 1, generator=torch.Generator().manual_seed(1), dtype=F64) * 2 - 1
    new, (choice,) = auto_symbolic(model, x, lib=["0", "sin"])
    assert choice.name == "0" and choice.r2 == 1.0 and choice.status == "fixed"
    assert new.layers[0].mask[0, 0] == 0 and new.layers[0].symbolic_names[0][0] == "0"
    expected = 0.25 * float(model.layers[0].scale_sp[0, 0].detach())
    assert float(new.subnode_bias[0][0]) == pytest.approx(expected, rel=1e-12)
    with torch.no_grad():
        torch.testing.assert_close(new(x), model(x), rtol=1e-12, atol=1e-12)


def test_fix_and_unfix_return_new_models(spline_model, inputs):
    x = inputs[0]
    fixed = fix_symbolic(spline_model, x, 0, 1, 2, "sin")
    assert fixed is not spline_model and spline_model.layers[0].symbolic_mask[1, 2] == 0
    assert fixed.layers[0].symbolic_names[1][2] == "sin"
    assert fixed.layers[0].mask[1, 2] == 0 and fixed.layers[0].symbolic_mask[1, 2] == 1
    a, b, c, d = fixed.layers[0].symbolic_affine[1, 2].tolist()
    grid = torch.linspace(-1, 1, 50, dtype=F64)
    torch.testing.assert_close(c * torch.sin(a * grid + b) + d, torch.sin(grid), atol=1e-4, rtol=0)
    back = unfix_symbolic(fixed, 0, 1, 2)
    assert back.layers[0].mask[1, 2] == 1 and back.layers[0].symbolic_mask[1, 2] == 0
    assert fixed.layers[0].symbolic_mask[1, 2] == 1
    plain = fix_symbolic(spline_model, None, 0, 1, 2, "tanh")
    assert plain.layers[0].symbolic_affine[1, 2].tolist() == [1.0, 0.0, 1.0, 0.0]
    in_place = spline_model.copy()
    suggestion = fix_symbolic_(in_place, x, 0, 1, 2, "sin")
    assert suggestion.name == "sin" and suggestion.r2 > 1 - 1e-9
    custom = SymbolicFunction(
        "cube_root",
        lambda t: torch.sign(t) * t.abs() ** (1 / 3),
        lambda t: sympy.cbrt(t),
        3,
        lambda t, y_th: t,
    )
    with_custom = fix_symbolic(spline_model, x, 0, 0, 1, custom)
    assert "cube_root" in with_custom.library and "cube_root" not in spline_model.library


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda m, x: fix_symbolic(m, x, 0, 0, 1, "nope"), ValueError, "unknown symbolic function"),
        (lambda m, x: fix_symbolic(m, x, 2, 0, 0, "sin"), ValueError, r"layer must be in \[0, 2\)"),
        (lambda m, x: fix_symbolic(m, x, 0, 3, 0, "sin"), ValueError, r"i must be in \[0, 3\)"),
        (lambda m, x: suggest_symbolic(m, x, 0, 0, 7), ValueError, r"j must be in \[0, 3\)"),
        (lambda m, x: unfix_symbolic(m, 1, 0, 5), ValueError, r"j must be in \[0, 1\)"),
        (lambda m, x: suggest_symbolic(m, x, 0, 0, 1, lib=[]), ValueError, "is empty"),
        (lambda m, x: auto_symbolic(m, x, lib=["sin", "nope"]), ValueError, "'nope'"),
        (lambda m, x: auto_symbolic(m, x[:, :2]), ValueError, r"shape \(batch, 3\)"),
        (lambda m, x: auto_symbolic(m, x.numpy()), TypeError, "x must be a torch.Tensor"),
        (lambda m, x: auto_symbolic(m, x, weight_simple=2), ValueError, r"weight_simple"),
        (lambda m, x: suggest_symbolic(m, x, 0, 0, 1, topk=0), ValueError, "topk"),
        (lambda m, x: auto_symbolic("m", x), TypeError, "model must be a kanscience.KAN"),
        (
            lambda m, x: fix_symbolic(m, x, 0, 0, 1, "log", a_range=(5, 6), b_range=(-9, -8)),
            ValueError,
            "cannot be evaluated",
        ),
    ],
)
def test_model_level_bad_input(spline_model, inputs, call, error, match):
    before = [p.detach().clone() for p in spline_model.parameters()]
    with pytest.raises(error, match=match):
        call(spline_model, inputs[0])
    assert all(torch.equal(p, q) for p, q in zip(before, spline_model.parameters()))
