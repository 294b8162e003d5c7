"""Tests for kanscience.structure._hypothesis and _symmetry: Feynman truth, formulas, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import sympy
import torch

from kanscience.structure import (
    GENERAL_THRESHOLD,
    SEPARABILITY_THRESHOLD,
    detect_separability,
    general_separability,
    sample_inputs,
    separability,
    symmetry,
)
from kanscience.structure._interactions import (
    _derangement,
    difference_interactions,
    hessian_interactions,
)

DATA = Path(__file__).resolve().parents[1] / "kanscience" / "io" / "datasets" / "feynman_dev.json"
EQUATIONS = json.loads(DATA.read_text())["equations"]
N = 300
EXACT = 1e-10  # exact structure scores at round-off level


def exact_callable(eq: dict):
    """Torch callable of the exact formula (float64), variables in the JSON order."""
    syms = [sympy.Symbol(v, real=True) for v in eq["variables"]]
    expr = sympy.parse_expr(eq["formula"], local_dict=dict(zip(eq["variables"], syms)))
    fn = sympy.lambdify(syms, expr.evalf(17), modules="torch")
    return lambda x: fn(*x.unbind(dim=1))


def inputs(eq: dict, seed: int = 0) -> torch.Tensor:
    return sample_inputs([eq["ranges"][v] for v in eq["variables"]], N, seed=seed)


def truth(eq: dict) -> tuple[str, set[frozenset[int]]]:
    sep, names = eq["separability"], eq["variables"]
    for label, key in (("additive", "additive"), ("multiplicative", "multiplicative")):
        if sep[key]:
            return label, {frozenset(names.index(v) for v in g) for g in sep[f"{key}_groups"]}
    return "none", {frozenset(range(len(names)))}


METHODS = ("hessian", "difference")


@pytest.fixture(scope="module")
def feynman_reports() -> dict[tuple[str, str], object]:
    return {
        (eq["id"], method): detect_separability(exact_callable(eq), inputs(eq), method=method)
        for eq in EQUATIONS
        for method in METHODS
    }


@pytest.mark.parametrize("method", METHODS)
def test_feynman_accuracy(feynman_reports, method):
    wrong = []
    for eq in EQUATIONS:
        report = feynman_reports[eq["id"], method]
        label, groups = truth(eq)
        if report.label != label or {frozenset(g) for g in report.groups} != groups:
            wrong.append((eq["id"], report.label, report.groups))
    assert len(EQUATIONS) == 50
    assert 1 - len(wrong) / len(EQUATIONS) >= 0.95, wrong
    assert wrong == []


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("eq", EQUATIONS, ids=[eq["id"] for eq in EQUATIONS])
def test_feynman_scores_have_margin(eq, method, feynman_reports):
    """Exact structure scores at round-off; true interactions 3x above the threshold."""
    report = feynman_reports[eq["id"], method]
    if len(eq["variables"]) < 2:
        return
    for name, score in (
        ("additive", report.additive_score),
        ("multiplicative", report.multiplicative_score),
    ):
        if eq["separability"][name]:
            assert score < EXACT
        else:
            assert score > 3 * SEPARABILITY_THRESHOLD


@pytest.mark.parametrize(
    "eq", [e for e in EQUATIONS if e["separability"]["multiplicative"]], ids=lambda e: e["id"]
)
def test_multiplicative_split_is_general_split(eq):
    """f = u(A) v(B) = exp(log|u| + log|v|): every split along the groups is general."""
    names = eq["variables"]
    first = [names.index(v) for v in eq["separability"]["multiplicative_groups"][0]]
    rest = [i for i in range(len(names)) if i not in first]
    result = general_separability(exact_callable(eq), inputs(eq), (first, rest))
    assert result.separable and result.score < EXACT


@pytest.mark.parametrize("method", METHODS)
def test_feynman_results_do_not_depend_on_seed(method):
    for eq in EQUATIONS[:20]:
        a = detect_separability(exact_callable(eq), inputs(eq, seed=1), method=method, seed=1)
        b = detect_separability(exact_callable(eq), inputs(eq, seed=2), method=method, seed=2)
        assert (a.label, a.groups) == (b.label, b.groups)


# ------------------------------------------------------------------ closed forms
def grid(d: int, low: float = 0.5, high: float = 2.0, seed: int = 0) -> torch.Tensor:
    return sample_inputs([(low, high)] * d, N, seed=seed)


def test_product_is_multiplicative():
    report = detect_separability(lambda x: x[:, 0] * x[:, 1], grid(2))
    assert report.label == "multiplicative"
    assert report.groups == ((0,), (1,))
    assert report.multiplicative_score < EXACT
    assert report.additive_score == pytest.approx(1.0, abs=1e-12)  # only cross curvature


def test_difference_scores_of_a_product_closed_form():
    """x0 * x1, x ~ U(0.5, 2)^2: D_01 = (x0' - x0)(x1' - x1), D_0 = (x0' - x0) x1, so the
    score tends to E[(x' - x)^2] / sqrt(E[(x' - x)^2] E[x^2]) = sqrt(0.375 / 1.75)."""
    x = sample_inputs([(0.5, 2.0)] * 2, 20000, seed=0)

    def f(z):
        return z[:, 0] * z[:, 1]

    m = difference_interactions(f, x)
    assert m[0, 1] == pytest.approx((0.375 / 1.75) ** 0.5, abs=0.01)
    assert np.all(np.diag(m) == 0)
    assert np.abs(difference_interactions(f, x, log=True)).max() < EXACT


def test_difference_scores_ignore_small_wiggles_that_derivatives_amplify():
    """A fitted model's error: 1e-3 sin(40 x0 x1) on an additive function. Its Hessian
    term (~1.6) rivals the true curvature (2); its mixed difference (< 4e-3) does not."""

    def f(z):
        return z[:, 0] ** 2 + z[:, 1] ** 2 + 1e-3 * torch.sin(40 * z[:, 0] * z[:, 1])

    x = grid(2)
    assert hessian_interactions(f, x)[0, 1] > 0.3
    assert difference_interactions(f, x)[0, 1] < 4e-3
    report = detect_separability(f, x, method="difference", threshold=0.01)
    assert report.label == "additive" and report.additive_score < 4e-3
    assert detect_separability(f, x, threshold=0.01).label == "none"


def test_difference_method_leaves_out_zero_corners():
    """log|f| at a corner where f vanishes is -inf: those quadruples are left out, and
    when every quadruple has one the test refuses."""

    def f(z):
        return z[:, 0] - z[:, 1]

    x = grid(2, 0.0, 1.0)
    perm = _derangement(N, torch.Generator().manual_seed(0))  # the default pairing
    x[perm[:10], 0] = x[:10, 1]  # f(x0', x1) = 0 at the first corner of 10 quadruples
    assert bool((f(x) != 0).all())
    m = difference_interactions(f, x, log=True)
    assert np.isfinite(m).all() and 0.1 < m[0, 1] <= 1
    with pytest.raises(ValueError, match="infinite at a corner of every quadruple"):
        difference_interactions(
            f, torch.tensor([[1.0, 2.0], [2.0, 1.0]], dtype=torch.float64), log=True
        )


def test_sum_with_square_is_additive():
    def f(x):
        return x[:, 0] + x[:, 1] ** 2

    report = detect_separability(f, grid(2))
    assert report.label == "additive" and report.groups == ((0,), (1,))
    np.testing.assert_allclose(report.additive.hessian_matrix, [[0, 0], [0, 1]], atol=1e-12)


def test_sin_of_product_is_neither():
    report = detect_separability(lambda x: torch.sin(x[:, 0] * x[:, 1]), grid(2, 1.0, 3.0))
    assert report.label == "none" and report.groups == ((0, 1),)
    assert report.additive_score > 0.1 and report.multiplicative_score > 0.1


def test_separability_finds_nested_blocks():
    def f(x):
        return x[:, 0] ** 2 + torch.sin(x[:, 1] * x[:, 2]) + torch.exp(x[:, 3])

    result = separability(f, grid(4))
    assert result.separable and result.groups == ((0,), (1, 2), (3,))
    assert result.hessian_matrix.shape == (4, 4)
    assert result.score < EXACT


def test_symmetry_closed_form():
    def f(x):
        return x[:, 2] / (1 + x[:, 0] ** 2 + x[:, 1] ** 2)

    yes = symmetry(f, grid(3), (0, 1))
    no = symmetry(f, grid(3), (0, 2))
    assert yes.symmetric and yes.score < EXACT
    assert not no.symmetric and no.score > 0.05
    assert symmetry(f, grid(3), (2,)).symmetric  # one variable: trivial
    assert symmetry(f, grid(3), (0, 1, 2)).score == 0.0  # all variables: trivial


def test_general_separability_closed_form():
    def f(x):
        return torch.sqrt((x[:, 0] - x[:, 1]) ** 2 + (x[:, 2] - x[:, 3]) ** 2)

    x = grid(4, 0.0, 3.0)
    assert general_separability(f, x, ((0, 1), (2, 3))).score < EXACT
    assert general_separability(f, x, ((0, 2), (1, 3))).score > 10 * GENERAL_THRESHOLD

    def velocity(x):
        return (x[:, 0] + x[:, 1]) / (1 + x[:, 0] * x[:, 1])

    assert general_separability(velocity, grid(2, 0.1, 0.9), ([0], [1])).score < EXACT

    def polynomial(x):
        return x[:, 0] + x[:, 1] + x[:, 0] * x[:, 1] ** 2

    assert not general_separability(polynomial, grid(2), ([0], [1])).separable


def test_general_separability_is_stricter_than_ratio_test():
    """x1*y1 + x2*y2: every gradient ratio f_x1/f_j factors, yet {x1} | rest fails."""

    def f(x):
        return x[:, 0] * x[:, 1] + x[:, 2] * x[:, 3]

    result = general_separability(f, grid(4), ([0], [1, 2, 3]))
    assert result.ratio_score < 0.5 and not result.separable
    assert result.symmetry_scores[1] > 10 * GENERAL_THRESHOLD


def test_model_and_numpy_inputs_are_accepted():
    model = torch.nn.Linear(3, 1)  # float32 module: tested on a float64 copy
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0, -2.0, 0.5]]))
    report = detect_separability(model, grid(3).numpy())
    assert report.label == "additive" and report.groups == ((0,), (1,), (2,))
    assert model.weight.dtype == torch.float32


def test_seeded_sampling_is_reproducible():
    a = sample_inputs({"u": (0, 1), "v": (2, 3)}, 5, seed=3)
    b = sample_inputs({"u": (0, 1), "v": (2, 3)}, 5, seed=torch.Generator().manual_seed(3))
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert a.dtype == torch.float64 and bool((a[:, 1] >= 2).all())


# --------------------------------------------------------------------- bad input
def test_bad_inputs_raise():
    def f(x):
        return x[:, 0] * x[:, 1]

    x = grid(2)
    with pytest.raises(ValueError, match="NaN or Inf"):
        detect_separability(lambda z: torch.log(z[:, 0] - 1.0), x)
    with pytest.raises(ValueError, match=r"shape \(300,\) or \(300, 1\)"):
        separability(lambda z: z, x)
    with pytest.raises(TypeError, match="must return a torch.Tensor"):
        separability(lambda z: z.detach().numpy().sum(1), x)
    with pytest.raises(ValueError, match="at least two variables"):
        separability(lambda z: z[:, 0] ** 2, grid(1))
    for bad in (0.0, 1.0, -0.1, 1.5, True):
        with pytest.raises(ValueError, match="threshold must be a number in"):
            separability(f, x, threshold=bad)
    with pytest.raises(ValueError, match="mode must be 'add' or 'mul'"):
        separability(f, x, mode="sum")
    with pytest.raises(ValueError, match="method must be 'hessian' or 'difference'"):
        detect_separability(f, x, method="finite")
    with pytest.raises(ValueError, match="zero at some sample points"):
        separability(lambda z: z[:, 0] * torch.zeros_like(z[:, 1]), x, mode="mul")
    with pytest.raises(ValueError, match="either x"):
        separability(f)
    with pytest.raises(ValueError, match="constant columns"):
        separability(f, torch.ones(10, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"x must have shape \(n, d\)"):
        separability(f, torch.ones(10))
    with pytest.raises(ValueError, match="ranges must be non-empty with low < high"):
        sample_inputs([(1, 0)])
    with pytest.raises(ValueError, match="no autograd graph"):
        separability(lambda z: torch.from_numpy(z.detach().numpy().prod(1)), x)
    with pytest.raises(TypeError, match="f must be callable"):
        separability("x*y", x)
    with pytest.raises(ValueError, match=r"group must hold distinct indices in \[0, 2\)"):
        symmetry(f, x, (0, 2))
    with pytest.raises(ValueError, match="split all 2 variables"):
        general_separability(f, x, ((0,), (0,)))
    with pytest.raises(ValueError, match="groups must be a pair"):
        general_separability(f, x, ((0,),))
    with pytest.raises(TypeError, match="seed must be an int"):
        symmetry(f, x, (0, 1), seed=1.5)


def test_zero_valued_function_skips_multiplicative_test():
    report = detect_separability(lambda x: x[:, 0] - x[:, 1], grid(2).round())
    assert report.multiplicative is None and np.isnan(report.multiplicative_score)
    assert report.label == "additive"
