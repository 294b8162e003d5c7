"""The Structure interface and the typed options of discover."""

import dataclasses
import math

import pytest
import sympy
import torch
from search_support import make_search

from kanscience.discover import (
    Context,
    DiscoverOptions,
    Structure,
    default_structures,
    discover,
)
from kanscience.discover._polish import candidates_from
from kanscience.discover._structure import context_for

F64 = torch.float64


class Hyperbola(Structure):
    """A user's structure: y = a / (x_1 + b), its constants fitted by the polish."""

    name = "hyperbola"

    def __init__(self):
        self.calls = 0

    def applies(self, context: Context) -> bool:
        return context.n == 1

    def propose_and_fit(self, search, context) -> None:
        self.calls += 1
        (x,) = search.symbols
        candidates_from(search, sympy.Float(1.5) / (x + sympy.Float(0.5)), self.name)


def test_a_user_structure_is_run_and_its_formula_found_exactly():
    x = torch.linspace(1, 3, 400, dtype=F64)[:, None]
    y = 2.0 / (x[:, 0] + 1.0)
    structure = Hyperbola()
    result = discover((x, y), ["u"], structures=[structure], time_budget=30)
    (u,) = result.variables
    assert structure.calls == 1
    assert sympy.simplify(result.best.expr - 2 / (u + 1)) == 0
    assert result.best.source.startswith("hyperbola")
    assert result.best.test_r2 > 1 - 1e-14


def test_fit_returns_the_candidates_the_structure_added():
    x = torch.linspace(1, 3, 200, dtype=F64)[:, None]
    y = 2.0 / (x[:, 0] + 1.0)
    search = make_search(x, y, ["u"], deadline=math.inf)
    search.start_branch(math.inf)
    structure = Hyperbola()
    added = structure.fit(search, context_for(search, 1, None, None, lambda *a, **k: None))
    assert added and set(added) <= set(search.found.values())
    assert min(c.val_rmse for c in added) < 1e-12
    assert structure.fit(search, context_for(search, 1, None, None, lambda *a, **k: None)) == ()


def test_the_default_structures_are_ordered_cheapest_first_and_named_once():
    names = [s.name for s in default_structures()]
    assert names[:2] == ["sparse-sum", "additive"] and len(set(names)) == len(names)
    # decomposition runs after a surrogate exists, before the costly hidden layers
    assert names.index("surrogate") < names.index("pair-reduction") < names.index("hidden")


def test_options_are_frozen_and_validated_by_field():
    options = DiscoverOptions()
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.seed = 3  # type: ignore[misc]
    assert dataclasses.replace(options, seed=3).seed == 3
    for field, bad in (
        ("steps", 0),
        ("steps", 2.5),
        ("grid", True),
        ("lamb", -1.0),
        ("lamb", float("nan")),
        ("snap_tolerance", float("inf")),
        ("test_fraction", 1.0),
        ("time_budget", 0),
        ("max_train", 5),
        ("hidden", 0),
    ):
        with pytest.raises(ValueError, match=field):
            DiscoverOptions(**{field: bad})


def test_discover_reports_bad_options_by_name():
    x = torch.rand(50, 1, dtype=F64, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="lm_steps"):
        discover((x, x[:, 0] ** 2), lm_steps=0)


def test_power_monomial_fits_are_also_judged_on_y_itself():
    """A fit ``F = c f(a q + b) + d`` of the law's function made into a law (times the
    power law, to the power ``way``, the overall constant refitted) is scored by its error
    on ``y``: zero for the law, large for its reciprocal."""
    from kanscience.discover._power import _misfit_on_y

    x = torch.linspace(0.5, 3.0, 200, dtype=torch.float64)
    y = 3 * x**2 * torch.exp(-x)
    search = make_search(x[:, None], y, ["x"])
    names = search.library.names
    params = torch.zeros(len(names), 2, 4, dtype=torch.float64)
    params[:, :, 0] = params[:, :, 2] = 1.0
    params[names.index("exp"), :, 0] = -1.0  # F = exp(-q)
    rows = [(1.0, 0.0, 1, "max"), (1.0, 0.0, -1, "max")]
    misfit = _misfit_on_y(search, params, rows, torch.stack([x, x]), torch.log(x), x**2, y)
    exp_row = misfit[names.index("exp")]
    assert float(exp_row[0]) < 1e-10 * float(y.abs().max())
    assert float(exp_row[1]) > 0.1 * float(y.std())
    assert bool((misfit[:, 0] >= exp_row[0]).all())


def test_log_first_moves_the_direct_structures_on_log_ahead_and_keeps_the_rest():
    from kanscience.discover._explore import log_first

    names = [s.name for s in log_first(list(default_structures())[1:])]
    direct = ["additive(log)", "log-product", "power-monomial", "additive", "two-function-sum"]
    assert names[:5] == direct
    rest = [s.name for s in default_structures()[6:]]
    assert names[5:] == rest


def test_the_sparse_sum_puts_log_first_for_a_product_and_not_for_a_sum():
    """y = a exp(b) / (1 + c) is a sum on log |y| (a sparse sum there explains it better
    than any on y); y = sin a + b^2 + c is a sum on y."""
    from kanscience.discover._sparse import SparseSum

    g = torch.Generator().manual_seed(3)
    x = 1 + 2 * torch.rand(1500, 3, generator=g, dtype=F64)
    a, b, c = x.T
    for y, expected in ((a * torch.exp(b) / (1 + c), True), (torch.sin(a) + b**2 + c, False)):
        search = make_search(x, y, ["a", "b", "c"])
        search.start_branch(math.inf)
        context = context_for(search, 1, None, None, lambda *a, **k: None)
        SparseSum().fit(search, context)
        assert context.log_first is expected
        assert search.log[-1].endswith("(log first)") is expected


def test_the_output_edge_of_a_composition_is_refitted_on_the_data():
    """``y = arcsin(n sin(theta))`` with 5% noise, read from a product KAN whose inner edges
    are right (``n``, ``sin theta``) and whose output edge came out linear (a spline
    smoothed on noisy data): fitted on the points ``(n sin(theta), y)``, arcsin is among
    the output edges offered (the best by R^2; simpler functions with shifted arguments
    score as well at this noise) and its formula is the law up to the noise's effect on
    its constants."""
    from kanscience.core import KAN
    from kanscience.discover._kan_fits import outer_on_data, standardize
    from kanscience.symbolic import symbolic_formula
    from kanscience.symbolic._edges import _fix

    gen = torch.Generator().manual_seed(3)
    x = torch.rand(3000, 2, generator=gen, dtype=F64) * torch.tensor([0.95, math.pi], dtype=F64)
    law = torch.asin(x[:, 0] * torch.sin(x[:, 1]))
    y = law + 0.05 * float(law.std()) * torch.randn(3000, generator=gen, dtype=F64)
    search = make_search(x, y, ["n", "theta"])
    model = KAN([2, [0, 1], 1], mult_arity=[[], [2], []], seed=0, dtype=F64, library=search.library)
    for layer, kan_layer in enumerate(model.layers):
        for i in range(kan_layer.in_dim):
            for j in range(kan_layer.out_dim):
                model.set_mode_(layer, i, j, "off")
    _fix(model, 0, 0, 0, "x", (1.0, 0.0, 1.0, 0.0))
    _fix(model, 0, 1, 1, "sin", (1.0, 0.0, 1.0, 0.0))
    _fix(model, 1, 0, 0, "x", (1.0, 0.0, 1.0, 0.0))
    t_std, mean, std = standardize(search.fit_y)
    variants = outer_on_data(search, model, search.fit_x, t_std, "f(product)")
    names = [name for _, name in variants]
    assert "f(product)/outer=arcsin" in names and len(names) <= 4
    (expr,) = symbolic_formula(variants[names.index("f(product)/outer=arcsin")][0], search.symbols)
    fn = sympy.lambdify(search.symbols, std * expr + mean, "math")
    values = torch.tensor([fn(*row) for row in search.val_x.tolist()], dtype=F64)
    exact = torch.asin(search.val_x[:, 0] * torch.sin(search.val_x[:, 1]))
    assert float((values - exact).pow(2).mean().sqrt()) < 0.01 * float(exact.std())
    # a model with a spline edge left has no formula for the inner node: no variants
    model.set_mode_(0, 0, 0, "n")
    assert outer_on_data(search, model, search.fit_x, t_std, "f(product)") == []
