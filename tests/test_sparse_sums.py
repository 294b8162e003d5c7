"""Tests for kanscience.symbolic._sparse (sparse sums of library functions) and the
sparse-sum structure of discover (kanscience.discover._sparse)."""

from __future__ import annotations

import math

import pytest
import sympy
import torch
from search_support import make_search

from kanscience.core import resolve_library
from kanscience.discover import DISCOVERY_LIBRARY
from kanscience.discover._search import Search
from kanscience.discover._sparse import SparseSum
from kanscience.discover._structure import context_for
from kanscience.symbolic import SparseSumFit, formula_to_torch, sparse_sum_fit

F64 = torch.float64


def _uniform(n: int, columns: int, lo: float, hi: float, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(n, columns, generator=gen, dtype=F64) * (hi - lo) + lo


def _predict(fit: SparseSumFit, x: torch.Tensor) -> torch.Tensor:
    symbols = [sympy.Symbol(f"x{i}", real=True) for i in range(x.shape[1])]
    return formula_to_torch(fit.expression(symbols), symbols)(x)


def _r2(prediction: torch.Tensor, y: torch.Tensor) -> float:
    return 1.0 - float(((y - prediction) ** 2).sum() / ((y - y.mean()) ** 2).sum())


def test_linear_plus_logarithm_recovered_exactly():
    """2 x + 3 ln x on [1, 5]: no single library function fits it (R^2 < 0.9999), the sum
    of two is found with its coefficients to rounding."""
    x = _uniform(2000, 1, 1.0, 5.0, seed=0)
    y = 2 * x[:, 0] + 3 * torch.log(x[:, 0])
    single = sparse_sum_fit(x, y, DISCOVERY_LIBRARY, max_terms=1)
    assert len(single.terms) == 1 and single.r2 < 0.9999
    fit = sparse_sum_fit(x, y, DISCOVERY_LIBRARY)
    assert fit.terms == ((("x", 0),), (("log", 0),))
    assert fit.coefficients == pytest.approx((2.0, 3.0), abs=1e-10)
    assert abs(fit.intercept) < 1e-10
    assert fit.rss < 1e-20 * float(((y - y.mean()) ** 2).sum())
    assert float((_predict(fit, x) - y).abs().max()) < 1e-12


def test_two_columns_sine_plus_square():
    """2 sin(x0) + 3 x1^2 + 1 on signed inputs (log, sqrt, 1/x features are not finite
    there and are left out)."""
    x = _uniform(1500, 2, -3.0, 3.0, seed=1)
    y = 2 * torch.sin(x[:, 0]) + 3 * x[:, 1] ** 2 + 1
    fit = sparse_sum_fit(x, y, DISCOVERY_LIBRARY)
    assert fit.terms == ((("sin", 0),), (("x^2", 1),))
    assert fit.coefficients == pytest.approx((2.0, 3.0), abs=1e-10)
    assert fit.intercept == pytest.approx(1.0, abs=1e-10)
    x0, x1 = sympy.symbols("x0 x1", real=True)
    difference = fit.expression([x0, x1]) - (2 * sympy.sin(x0) + 3 * x1**2 + 1)
    assert all(abs(float(c)) < 1e-10 for c in sympy.Poly(difference, x1, sympy.sin(x0)).coeffs())


def test_screening_finds_the_terms_among_five_columns():
    """More features than are searched exhaustively (5 columns x the discovery library):
    screening keeps the two true terms."""
    x = _uniform(2000, 5, 0.5, 3.0, seed=2)
    y = 1.5 * torch.exp(x[:, 3]) - 2 / x[:, 1]
    fit = sparse_sum_fit(x, y, DISCOVERY_LIBRARY, max_candidates=12)
    assert fit.terms == ((("1/x", 1),), (("exp", 3),))
    assert fit.coefficients == pytest.approx((-2.0, 1.5), abs=1e-10)


@pytest.mark.parametrize(
    ("name", "scale", "offset"), [("exp", 1.5, -2.0), ("sin", -0.5, 0.25), ("1/x^2", 4.0, 0.0)]
)
def test_single_function_gives_one_term(name, scale, offset):
    library = resolve_library(DISCOVERY_LIBRARY)
    x = _uniform(1000, 1, 0.5, 2.5, seed=3)
    y = scale * library[name].torch_fn(x[:, 0]) + offset
    fit = sparse_sum_fit(x, y, library)
    assert fit.terms == (((name, 0),),)
    assert fit.coefficients[0] == pytest.approx(scale, abs=1e-10)
    assert fit.intercept == pytest.approx(offset, abs=1e-10)


def test_affine_copies_keep_the_first_simplest_function():
    """sqrt and x^0.5 are the same feature; abs(x) is x on positive data: one of each."""
    x = _uniform(500, 1, 0.5, 4.0, seed=4)
    fit = sparse_sum_fit(x, 2 * torch.sqrt(x[:, 0]), ["x^0.5", "sqrt", "x", "abs"])
    assert fit.terms == ((("x^0.5", 0),),)
    fit = sparse_sum_fit(x, 3 * x[:, 0] - 1, ["abs", "x"])
    assert fit.terms == ((("x", 0),),)
    assert fit.coefficients[0] == pytest.approx(3.0, abs=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_noise_keeps_the_terms_and_coefficients_within_three_standard_errors(seed):
    x = _uniform(2000, 2, 0.5, 3.0, seed=10 + seed)
    clean = 2 * x[:, 0] + 3 * torch.log(x[:, 0]) - 1.5 * torch.cos(x[:, 1])
    noise = 0.01 * float(clean.std())
    gen = torch.Generator().manual_seed(seed)
    y = clean + noise * torch.randn(2000, generator=gen, dtype=F64)
    fit = sparse_sum_fit(x, y, DISCOVERY_LIBRARY)
    assert fit.terms == ((("x", 0),), (("log", 0),), (("cos", 1),))
    for value, true, error in zip(
        fit.coefficients, (2.0, 3.0, -1.5), fit.standard_errors, strict=True
    ):
        assert abs(value - true) < 3 * error
    # the residual variance estimates the noise
    assert math.sqrt(fit.rss / (2000 - 4)) == pytest.approx(noise, rel=0.05)


def test_target_that_is_no_sparse_sum_reports_its_error_honestly():
    """x0 * x1 is not a sum of functions of single inputs: R^2 < 1, and the reported
    R^2 and RSS are those of the returned expression on the data."""
    x = _uniform(2000, 2, 1.0, 3.0, seed=5)
    y = x[:, 0] * x[:, 1]
    fit = sparse_sum_fit(x, y, DISCOVERY_LIBRARY)
    assert 0.9 < fit.r2 < 0.999
    prediction = _predict(fit, x)
    assert fit.rss == pytest.approx(float(((y - prediction) ** 2).sum()), rel=1e-9)
    assert fit.r2 == pytest.approx(_r2(prediction, y), abs=1e-12)


@pytest.mark.parametrize("value", [2.5, 0.0])
def test_constant_target_has_no_terms(value):
    x = _uniform(100, 2, 1.0, 2.0, seed=6)
    fit = sparse_sum_fit(x, torch.full((100,), value, dtype=F64), DISCOVERY_LIBRARY)
    assert fit.terms == () and fit.intercept == value and fit.r2 == 1.0


def test_bad_inputs_name_the_argument():
    x = _uniform(50, 2, 1.0, 2.0, seed=7)
    y = x[:, 0].clone()
    with pytest.raises(ValueError, match="x must have shape"):
        sparse_sum_fit(x[None], y, ["x"])
    with pytest.raises(ValueError, match=r"y must have shape \(50,\)"):
        sparse_sum_fit(x, y[:-1], ["x"])
    with pytest.raises(ValueError, match="y contains NaN"):
        sparse_sum_fit(x, torch.where(y > 1.5, math.nan, y), ["x"])
    with pytest.raises(ValueError, match="x contains NaN"):
        sparse_sum_fit(torch.where(x > 1.5, math.inf, x), y, ["x"])
    with pytest.raises(ValueError, match="library: unknown symbolic function 'sine'"):
        sparse_sum_fit(x, y, ["x", "sine"])
    with pytest.raises(ValueError, match="max_terms must be an int >= 1, got 0"):
        sparse_sum_fit(x, y, ["x"], max_terms=0)
    with pytest.raises(ValueError, match="max_candidates must be an int >= 3"):
        sparse_sum_fit(x, y, ["x"], max_terms=3, max_candidates=2)
    with pytest.raises(ValueError, match="noise must be a finite number >= 0, got -1.0"):
        sparse_sum_fit(x, y, ["x"], noise=-1.0)
    fit = sparse_sum_fit(x, y, ["x"])
    with pytest.raises(ValueError, match="symbols must list 2 symbols"):
        fit.expression(["a"])


def _search(x: torch.Tensor, y: torch.Tensor, names: list[str], deadline: float = math.inf):
    return make_search(x, y, names, deadline=deadline)


def _context(search: Search):
    return context_for(search, 1, None, None, lambda *a, **k: None)


def test_structure_finds_linear_plus_logarithm():
    x = _uniform(2000, 1, 1.0, 5.0, seed=8)
    search = _search(x, 2 * x[:, 0] + 3 * torch.log(x[:, 0]), ["x"])
    added = SparseSum().fit(search, _context(search))
    assert added
    best = search.ranked()[0]
    t = search.symbols[0]
    assert sympy.simplify(best.expr - (2 * t + 3 * sympy.log(t))) == 0
    assert best.val_rmse < 1e-10


def test_structure_on_log_finds_a_product_of_powers():
    """A one-signed target: on log |y| a sum of logarithms, i.e. a monomial."""
    x = _uniform(2000, 3, 1.0, 3.0, seed=9)
    search = _search(x, x[:, 0] * x[:, 1] ** 2 / x[:, 2], ["a", "b", "c"])
    SparseSum().fit(search, _context(search))
    a, b, c = search.symbols
    best = search.ranked()[0]
    assert sympy.simplify(best.expr - a * b**2 / c) == 0
    assert best.val_rmse < 1e-10


def test_structure_adds_nothing_without_time():
    x = _uniform(200, 1, 1.0, 5.0, seed=8)
    search = _search(x, 2 * x[:, 0] + 3 * torch.log(x[:, 0]), ["x"], deadline=-math.inf)
    assert SparseSum().fit(search, _context(search)) == ()


def test_products_of_two_functions_of_different_inputs():
    """r + 1 + 2 sqrt(r) cos(d): a term that is a product, found with interactions (and not
    without them); x0 cos(x1) + x2 over three columns."""
    g = torch.Generator().manual_seed(0)
    x = 1 + 4 * torch.rand(1600, 2, generator=g, dtype=F64)
    y = x[:, 0] + 1 + 2 * torch.sqrt(x[:, 0]) * torch.cos(x[:, 1])
    assert sparse_sum_fit(x, y, DISCOVERY_LIBRARY).r2 < 0.99
    fit = sparse_sum_fit(x, y, DISCOVERY_LIBRARY, interactions=True)
    assert fit.terms == ((("x", 0),), (("sqrt", 0), ("cos", 1)))
    assert fit.coefficients == pytest.approx((1.0, 2.0), abs=1e-10)
    assert fit.intercept == pytest.approx(1.0, abs=1e-10)
    r, d = sympy.symbols("r d", positive=True)
    assert sympy.simplify(
        fit.expression([r, d]) - (r + 1 + 2 * sympy.sqrt(r) * sympy.cos(d))
    ) == 0 or (
        abs(
            float(
                (fit.expression([r, d]) - (r + 1 + 2 * sympy.sqrt(r) * sympy.cos(d))).subs(
                    {r: 2, d: 3}
                )
            )
        )
        < 1e-9
    )
    x3 = 1 + 4 * torch.rand(1600, 3, generator=g, dtype=F64)
    fit = sparse_sum_fit(
        x3, x3[:, 0] * torch.cos(x3[:, 1]) + x3[:, 2], DISCOVERY_LIBRARY, interactions=True
    )
    assert fit.terms == ((("x", 2),), (("x", 0), ("cos", 1))) and fit.r2 > 1 - 1e-12


def test_products_among_many_inputs_use_the_simplest_functions():
    """Six inputs have too many pairs of library features to multiply them all: the
    products of the simplest ones are tried (the powers first), so a sum of three products
    of raw inputs is found; every product is of two different columns and at most
    MAX_PRODUCTS of them are built."""
    from kanscience.symbolic._sparse import MAX_PRODUCTS, _features, _product_pairs

    g = torch.Generator().manual_seed(0)
    x = 1 + 4 * torch.rand(1600, 6, generator=g, dtype=F64)
    y = x[:, 0] * x[:, 3] + x[:, 1] * x[:, 4] + x[:, 2] * x[:, 5]
    fit = sparse_sum_fit(x, y, DISCOVERY_LIBRARY, interactions=True)
    assert fit.terms == ((("x", 0), ("x", 3)), (("x", 1), ("x", 4)), (("x", 2), ("x", 5)))
    assert fit.coefficients == pytest.approx((1.0, 1.0, 1.0), abs=1e-10)
    singles = _features(x, resolve_library(DISCOVERY_LIBRARY), False)
    pairs = _product_pairs(singles)
    assert 0 < len(pairs) <= MAX_PRODUCTS
    assert all(singles.terms[i][0][1] != singles.terms[j][0][1] for i, j in pairs)
    assert {singles.terms[i][0][0] for pair in pairs for i in pair} >= {"x", "x^2"}


def test_structure_finds_the_square_root_of_a_sparse_sum():
    """sqrt(r^2 + 1 - 2 r cos(d)) (the law of cosines, scaled): on y^2 a sparse sum with a
    product term."""
    x = torch.cat([_uniform(2000, 1, 0.2, 5.0, seed=3), _uniform(2000, 1, 1.0, 5.0, seed=4)], 1)
    y = torch.sqrt(x[:, 0] ** 2 + 1 - 2 * x[:, 0] * torch.cos(x[:, 1]))
    search = _search(x, y, ["r", "d"])
    SparseSum().fit(search, _context(search))
    r, d = search.symbols
    best = search.ranked()[0]
    assert best.source.startswith("sparse-sum(y^2)") and best.val_rmse < 1e-10
    truth = sympy.sqrt(r**2 + 1 - 2 * r * sympy.cos(d))
    values = {r: 1.7, d: 2.3}
    assert float(best.expr.subs(values)) == pytest.approx(float(truth.subs(values)), rel=1e-10)


def test_a_target_of_one_sign_up_to_noise_is_inverted_where_it_is_signal():
    """1 / (2 cosh q) on q in [0.1, 9] with noise of 1% of its RMS: where it decays below
    the noise some samples are negative, so 1 / y is fitted where y is well above the
    noise (near it the noise biases 1 / y), and 1 / y = 2 cosh q comes back, snapped."""
    from kanscience.discover import discover

    x = _uniform(2000, 1, 0.1, 9.0, seed=5)
    y = 1 / (2 * torch.cosh(x[:, 0]))
    gen = torch.Generator().manual_seed(6)
    y = y + 0.01 * y.pow(2).mean().sqrt() * torch.randn(2000, generator=gen, dtype=F64)
    assert bool((y < 0).any())
    result = discover((x, y), ["q"], time_budget=30, structures=[SparseSum()])
    (q,) = result.variables
    assert result.best.source.startswith("sparse-sum(1/y)")
    assert sympy.simplify(result.best.expr - 1 / (2 * sympy.cosh(q))) == 0


def test_functions_of_the_reciprocal_of_a_positive_variable():
    """2 cosh(1 / x) - x: the structure's library holds every function of 1 / x too
    (which way up a variable enters is arbitrary), copies of library terms left out;
    not for a variable that changes sign."""
    from kanscience.core import resolve_library
    from kanscience.discover._sparse import with_reciprocals

    x = _uniform(1000, 1, 0.3, 2.0, seed=12)
    search = _search(x, 2 * torch.cosh(1 / x[:, 0]) - x[:, 0], ["x"])
    SparseSum().fit(search, _context(search))
    (t,) = search.symbols
    best = search.ranked()[0]
    assert sympy.simplify(best.expr - (2 * sympy.cosh(1 / t) - t)) == 0
    assert best.val_rmse < 1e-10
    library = with_reciprocals(resolve_library(["x^2", "cosh"]))
    assert library.names == ("x^2", "cosh", "x^2(1/x)", "cosh(1/x)")
    assert library["cosh(1/x)"].complexity == library["cosh"].complexity + 1
    values = torch.tensor([0.5, 2.0], dtype=F64)
    assert torch.allclose(library["cosh(1/x)"].torch_fn(values), torch.cosh(1 / values))
    crossing = _search(x - 1.0, torch.cosh(1 / (x[:, 0] - 1.0)).clamp(max=1e6), ["x"])
    SparseSum().fit(crossing, _context(crossing))
    assert not any("(1/x)" in str(c.source) for c in crossing.found.values())
    assert not any(c.expr.has(sympy.cosh(1 / crossing.symbols[0])) for c in crossing.found.values())


def test_a_known_noise_level_keeps_terms_from_fitting_the_error():
    """1 / y^2 = 1 - 1/x^2 from a y with a smooth error of RMS 1.4e-3 (as a surrogate's):
    without the noise level the criterion buys two more terms to fit the error; with it
    (on y's scale, the weights equalizing errors on y) the one true term is kept."""
    x = torch.linspace(1.5, 5.0, 400, dtype=torch.float64)
    y = 1 / torch.sqrt(1 - 1 / x**2) + 2e-3 * torch.cos(9 * x)
    library = ["x", "x^2", "1/x", "1/x^2", "exp", "log", "sin", "cos", "tanh"]
    weights = y**6 / 4  # 1 / g'(y)^2 for g(y) = 1 / y^2
    loose = sparse_sum_fit(x, 1 / y**2, library, weights=weights)
    assert len(loose.terms) == 3
    fit = sparse_sum_fit(x, 1 / y**2, library, weights=weights, noise=2e-3)
    assert fit.terms == ((("1/x^2", 0),),)
    assert fit.coefficients[0] == pytest.approx(-1.0, abs=3e-3)
    assert fit.intercept == pytest.approx(1.0, abs=3e-3)


def test_subsets_the_data_cannot_tell_apart_are_decided_by_simplicity(monkeypatch):
    """1 - x^2 on [0.1, 0.7] with 1% noise: a cosh x fits nearly as well (cosh x = 1 +
    x^2/2 + x^4/24 + ...). On this sample the noise favours cosh by a criterion of 0.98,
    less than BIC_TIE: the simpler x^2 is chosen; with no tie the noise decides."""
    import kanscience.symbolic._sparse as sparse

    x = torch.linspace(0.1, 0.7, 200, dtype=torch.float64)
    noise = 0.01 * torch.randn(
        200, generator=torch.Generator().manual_seed(23), dtype=torch.float64
    )
    y = 1 - x**2 + noise
    fit = sparse_sum_fit(x, y, ["cosh", "x^2"])
    assert fit.terms == ((("x^2", 0),),)
    assert fit.coefficients[0] == pytest.approx(-1.0, abs=0.05)
    monkeypatch.setattr(sparse, "BIC_TIE", 0.0)
    untied = sparse_sum_fit(x, y, ["cosh", "x^2"])
    assert untied.terms == ((("cosh", 0),),)
    assert 0 < fit.criterion - untied.criterion < 2.0


def test_ties_keep_the_subsets_the_data_cannot_tell_apart():
    """1 - x^2 with 1% noise, where a + b cosh x fits nearly as well (the sample of the
    test above): x^2 is chosen and cosh comes back among the ties, a fit of its own whose
    coefficients are its least squares; with ties=0 none is kept."""
    x = torch.linspace(0.1, 0.7, 200, dtype=torch.float64)
    gen = torch.Generator().manual_seed(23)
    y = 1 - x**2 + 0.01 * torch.randn(200, generator=gen, dtype=torch.float64)
    fit = sparse_sum_fit(x, y, ["cosh", "x^2"], ties=2)
    assert fit.terms == ((("x^2", 0),),)
    tied = {t.terms: t for t in fit.ties}
    assert ((("cosh", 0),),) in tied
    lowest = min(fit.criterion, *(t.criterion for t in fit.ties))
    assert all(t.criterion <= lowest + 10.0 for t in (fit, *fit.ties))
    cosh_fit = tied[((("cosh", 0),),)]
    design = torch.stack([torch.ones_like(x), torch.cosh(x)], 1)
    reference = torch.linalg.lstsq(design, y[:, None]).solution[:, 0]
    assert cosh_fit.intercept == pytest.approx(float(reference[0]), rel=1e-9)
    assert cosh_fit.coefficients[0] == pytest.approx(float(reference[1]), rel=1e-9)
    assert sparse_sum_fit(x, y, ["cosh", "x^2"]).ties == ()
    with pytest.raises(ValueError, match="ties"):
        sparse_sum_fit(x, y, ["cosh"], ties=-1)


def test_weighted_fit_is_weighted_least_squares():
    """With weights, the coefficients are those of weighted least squares (normal
    equations in closed form) on the chosen terms."""
    x = _uniform(500, 1, 0.5, 3.0, seed=7)
    gen = torch.Generator().manual_seed(8)
    y = 2 * torch.log(x[:, 0]) + 0.5 * x[:, 0] + 0.05 * torch.randn(500, generator=gen, dtype=F64)
    weights = 0.2 + torch.rand(500, generator=gen, dtype=F64)
    fit = sparse_sum_fit(x, y, ["x", "log"], weights=weights)
    assert [term[0][0] for term in fit.terms] == ["x", "log"]
    design = torch.stack([torch.ones(500, dtype=F64), x[:, 0], torch.log(x[:, 0])], 1)
    w = weights[:, None]
    solution = torch.linalg.solve(design.T @ (w * design), design.T @ (w[:, 0] * y))
    assert fit.intercept == pytest.approx(float(solution[0]), abs=1e-10)
    assert list(fit.coefficients) == pytest.approx(solution[1:].tolist(), abs=1e-10)
    with pytest.raises(ValueError, match="weights must be finite and positive"):
        sparse_sum_fit(x, y, ["x"], weights=-weights)
    with pytest.raises(ValueError, match=r"weights must be a tensor of shape \(500,\)"):
        sparse_sum_fit(x, y, ["x"], weights=weights[:10])


def test_collinear_terms_are_not_screened_out():
    """x and log x are nearly collinear on the data: a screening to 20 features drops one
    of them; the default pool (every subset of three among 50 features) keeps both."""
    x = _uniform(1000, 2, 0.2, 2.0, seed=9)
    y = x[:, 0] + x[:, 1] - torch.log(x[:, 0]) / 2
    fit = sparse_sum_fit(x, y, DISCOVERY_LIBRARY, max_terms=3)
    assert fit.terms == ((("x", 0),), (("log", 0),), (("x", 1),)) and fit.r2 > 1 - 1e-12
    assert list(fit.coefficients) == pytest.approx([1.0, -0.5, 1.0], abs=1e-9)


def test_gram_matrices_that_overflow_or_are_singular_are_not_usable():
    """A batch with a well-conditioned, a singular and an overflowing Gram matrix: only
    the first is usable (an eigenvalue solver that fails on one does not fail the batch)."""
    from kanscience.symbolic._sparse import _well_conditioned

    good = torch.tensor([[1.0, 0.2], [0.2, 1.0]], dtype=F64)
    singular = torch.tensor([[1.0, 1.0], [1.0, 1.0]], dtype=F64)
    overflow = torch.tensor([[math.inf, 0.0], [0.0, 1.0]], dtype=F64)
    usable = _well_conditioned(torch.stack([good, singular, overflow]))
    assert usable.tolist() == [True, False, False]


def test_a_feature_cache_gives_the_same_fits_and_is_reused_across_targets():
    """Two targets and their weights on the same inputs: the fits with a shared cache
    equal those without (bitwise), and the second fit adds nothing to the cache."""
    x = _uniform(400, 2, 0.5, 3.0, seed=8)
    library = resolve_library(DISCOVERY_LIBRARY)
    targets = [
        (x[:, 0] * torch.sin(x[:, 1]), None),
        (1 / (1 + x[:, 0] ** 2), (1 + x[:, 0] ** 2) ** 2),
    ]
    cache: dict = {}
    for y, weights in targets:
        plain = sparse_sum_fit(x, y, library, interactions=True, weights=weights, ties=2)
        cached = sparse_sum_fit(
            x, y, library, interactions=True, weights=weights, ties=2, cache=cache
        )
        assert cached == plain
        assert len(cache) == 2  # singles and products, from the first fit on
    other = x.clone()  # other inputs (equal values): features of their own
    sparse_sum_fit(other, targets[0][0], library, interactions=True, cache=cache)
    assert len(cache) == 4


def test_a_products_pass_keeps_the_best_single_functions_in_its_pool():
    """1 / y of y = Y / (2 (1 + s)) with the 1 / y target's weights (y^4, favouring a few
    rows) is 2 / Y + 2 s / Y: one single function and one product among a thousand
    products. A screen of all features misses the single 1 / Y (it returns a three-term
    series, R^2 < 1 - 1e-7); the singles' own pursuit keeps it in the pool."""
    from kanscience.discover._sparse import with_reciprocals

    x = _uniform(1600, 2, 1.0, 5.0, seed=0)
    y = x[:, 0] / (2 * (1 + x[:, 1]))
    library = with_reciprocals(resolve_library(DISCOVERY_LIBRARY))
    fit = sparse_sum_fit(x, 1 / y, library, interactions=True, weights=y**4)
    assert set(fit.terms) == {(("1/x", 0),), (("1/x", 0), ("x", 1))}
    assert fit.r2 > 1 - 1e-12
    assert fit.coefficients == pytest.approx((2.0, 2.0), rel=1e-10)


def _relativistic_reciprocal_square(seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(x = (m, u), 1 / y^2, weights) for y = m / sqrt(1 - u^2), u = v / c in [0.1, 0.67],
    with noise of 1% of the spread of y c^2 (so sigma / c^2 on y: weights c^4 times those
    of the transform, 1 / g'(y)^2 = y^6 / 4)."""
    gen = torch.Generator().manual_seed(seed)
    n = 1500
    m = 1 + 4 * torch.rand(n, generator=gen, dtype=F64)
    c = 3 + 7 * torch.rand(n, generator=gen, dtype=F64)
    u = (1 + torch.rand(n, generator=gen, dtype=F64)) / c
    y = m / torch.sqrt(1 - u**2)
    y = y + 0.01 * float((y * c**2).std()) / c**2 * torch.randn(n, generator=gen, dtype=F64)
    weights = y**6 / 4 * c**4
    return torch.stack([m, u], 1), y**-2, weights / weights.mean()


def test_the_best_pairs_join_a_screened_pool():
    """1 / y^2 = 1 / m^2 - u^2 / m^2 with 1% noise, among 379 features and products of the
    discovery library: many pairs fit about as well (cos(u) / m^2 with 1 / m^2, exp(-u^2)
    / m^2 ...) and the greedy screen fills its pool with near-copies of the best single
    feature, leaving u^2 / m^2 out; ranking all pairs by their normal equations brings it
    in, and the law is chosen with coefficients within 3% of 1 and -1. Without the pairs
    (members 0) it is neither chosen nor among the ties."""
    import kanscience.symbolic._sparse as sparse

    x, target, weights = _relativistic_reciprocal_square(seed=0)
    library = resolve_library(DISCOVERY_LIBRARY)
    law = {(("1/x^2", 0),), (("1/x^2", 0), ("x^2", 1))}
    fit = sparse_sum_fit(x, target, library, interactions=True, weights=weights, ties=2)
    assert set(fit.terms) == law
    coefficients = dict(zip(fit.terms, fit.coefficients, strict=True))
    assert coefficients[(("1/x^2", 0),)] == pytest.approx(1.0, rel=0.03)
    assert coefficients[(("1/x^2", 0), ("x^2", 1))] == pytest.approx(-1.0, rel=0.03)
    sparse._PAIR_MEMBERS = 0
    try:
        greedy = sparse_sum_fit(x, target, library, interactions=True, weights=weights, ties=2)
    finally:
        sparse._PAIR_MEMBERS = 12
    assert all(set(f.terms) != law for f in (greedy, *greedy.ties))


def test_alternatives_beyond_the_tie_come_after_it_simplest_first(monkeypatch):
    """The ties hold first the subsets within BIC_TIE of the best criterion (simplest
    first), then those within ALTERNATIVE_BAND, simplest first: on the sample above both
    kinds occur; with the band at BIC_TIE only the first kind comes back."""
    import kanscience.symbolic._sparse as sparse

    x, target, weights = _relativistic_reciprocal_square(seed=0)
    library = resolve_library(DISCOVERY_LIBRARY)
    fit = sparse_sum_fit(x, target, library, interactions=True, weights=weights, ties=12)
    lowest = min(f.criterion for f in (fit, *fit.ties))
    close = [f for f in fit.ties if f.criterion <= lowest + sparse.BIC_TIE]
    assert fit.criterion <= lowest + sparse.BIC_TIE
    assert list(fit.ties[: len(close)]) == close
    beyond = fit.ties[len(close) :]
    assert beyond, "the sample has alternatives beyond the tie"
    assert all(lowest + sparse.BIC_TIE < f.criterion <= lowest + 10.0 for f in beyond)
    assert [f.complexity for f in beyond] == sorted(f.complexity for f in beyond)
    monkeypatch.setattr(sparse, "ALTERNATIVE_BAND", sparse.BIC_TIE)
    narrow = sparse_sum_fit(x, target, library, interactions=True, weights=weights, ties=12)
    assert [f.terms for f in narrow.ties] == [f.terms for f in close]
