"""discover with units: the search runs on dimensionless groups and maps the laws back."""

from __future__ import annotations

import pytest
import sympy
import torch

from kanscience.discover import discover
from kanscience.symbolic import DimensionError, is_dimensionally_consistent, parse_units

UNITS = {"q": "C", "eps": "F/m", "r": "m"}


def _data(f, n_vars, low=1.0, high=3.0, n=400, seed=0):
    x = torch.rand(n, n_vars, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    x = low + (high - low) * x
    return x, f(x)


@pytest.mark.parametrize("noise", [0.0, 0.01])
def test_a_law_with_no_group_is_its_scale_times_a_snapped_constant(noise):
    x, y = _data(lambda x: x[:, 0] ** 2 / (4 * torch.pi * x[:, 1] * x[:, 2] ** 2), 3)
    y = y * (
        1 + noise * torch.randn(y.shape, generator=torch.Generator().manual_seed(1), dtype=y.dtype)
    )
    result = discover((x, y), list(UNITS), units=UNITS, target_units="N", time_budget=None)
    q, eps, r = sympy.symbols("q eps r", real=True)
    assert sympy.simplify(result.best.expr - q**2 / (4 * sympy.pi * eps * r**2)) == 0
    assert result.best.test_r2 == pytest.approx(1.0, abs=1e-12 + 3 * noise**2)
    assert "no group" in result.log[0]


def test_the_search_runs_on_groups_and_every_law_is_consistent():
    # E = m c^2 / sqrt(1 - v^2/c^2): one group, v/c
    names = ["m", "v", "c"]
    x, y = _data(lambda x: x[:, 0] * x[:, 2] ** 2 / torch.sqrt(1 - (x[:, 1] / x[:, 2]) ** 2), 3)
    x[:, 2] = x[:, 2] + 3.0  # c > v
    y = x[:, 0] * x[:, 2] ** 2 / torch.sqrt(1 - (x[:, 1] / x[:, 2]) ** 2)
    units = {"m": "kg", "v": "m/s", "c": "m/s"}
    result = discover((x, y), names, units=units, target_units="J", time_budget=30, steps=20)
    assert "Pi_1 = v/c" in result.log[0] or "Pi_1 = c/v" in result.log[0]
    dims = parse_units(units, target="J", names=names)
    assert all(is_dimensionally_consistent(c.expr, dims) for c in result.all_candidates)
    assert result.best.test_r2 > 0.999


def test_units_of_the_wrong_variables_are_a_clear_error():
    x, y = _data(lambda x: x[:, 0] * x[:, 1], 2)
    with pytest.raises(DimensionError, match=r"lacks the variables \['b'\]"):
        discover((x, y), ["a", "b"], units={"a": "m"}, time_budget=5)
    with pytest.raises(DimensionError, match="no product of powers"):
        discover((x, y), ["a", "b"], units={"a": "m", "b": "m"}, target_units="s", time_budget=5)
