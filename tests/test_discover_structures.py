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
