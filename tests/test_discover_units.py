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


def test_the_scaled_target_is_weighted_by_the_square_of_its_scale():
    """y / m_0 carries noise sigma / m_0: its rows are weighted by m_0^2, so on noisy data
    the law m_0 / sqrt(1 - v^2/c^2) is found exactly (not 0.7 / sqrt(cos(v/c) - 0.51),
    which fits the lightly weighted rows as well)."""
    from kanscience.core import Dataset
    from kanscience.discover._units import dimensionless_data

    gen = torch.Generator().manual_seed(4)
    low, high = torch.tensor([1.0, 1.0, 3.0], dtype=torch.float64), torch.tensor([5.0, 2.0, 10.0])
    x = low + (high - low) * torch.rand(4000, 3, generator=gen, dtype=torch.float64)
    y = x[:, 0] / torch.sqrt(1 - (x[:, 1] / x[:, 2]) ** 2)
    y = y + 0.01 * y.pow(2).mean().sqrt() * torch.randn(4000, generator=gen, dtype=torch.float64)
    names, units = ["m_0", "v", "c"], {"m_0": "kg", "v": "m/s", "c": "m/s"}
    dims = parse_units(units, target="kg", names=names)
    data = Dataset(x[:3000], y[:3000, None], x[3000:], y[3000:, None])
    reduced = dimensionless_data(data, names, dims)
    assert reduced is not None
    assert torch.allclose(reduced.train_weight, x[:3000, 0] ** 2, rtol=1e-14)
    result = discover(data, names, units=units, target_units="kg", time_budget=40, seed=0)
    m0, v, c = sympy.symbols("m_0 v c", real=True)
    assert sympy.simplify(result.best.expr - m0 / sympy.sqrt(1 - v**2 / c**2)) == 0


def test_units_of_the_wrong_variables_are_a_clear_error():
    x, y = _data(lambda x: x[:, 0] * x[:, 1], 2)
    with pytest.raises(DimensionError, match=r"lacks the variables \['b'\]"):
        discover((x, y), ["a", "b"], units={"a": "m"}, time_budget=5)
    with pytest.raises(DimensionError, match="no product of powers"):
        discover((x, y), ["a", "b"], units={"a": "m", "b": "m"}, target_units="s", time_budget=5)


def _mass_and_speeds(seed: int) -> torch.Tensor:
    """2,000 rows of (m, v, c) with v < c."""
    gen = torch.Generator().manual_seed(seed)
    low = torch.tensor([1.0, 1.0, 3.0], dtype=torch.float64)
    high = torch.tensor([5.0, 2.0, 10.0], dtype=torch.float64)
    return low + (high - low) * torch.rand(2000, 3, generator=gen, dtype=torch.float64)


@pytest.mark.parametrize(
    ("law", "scale"),
    [
        # m c^2 leaves 1 / sqrt(1 - u^2), near 1; m v^2 leaves a steep function of u
        (lambda m, v, c: m * c**2 / torch.sqrt(1 - (v / c) ** 2), {"m": 1, "c": 2}),
        # m v^2 leaves a constant: the preferred scale stays
        (lambda m, v, c: m * v**2 / 2, {"m": 1, "v": 2}),
    ],
)
def test_the_target_scale_is_the_one_that_leaves_the_least_variation(law, scale):
    from kanscience.core import Dataset
    from kanscience.discover._units import dimensionless_data

    x = _mass_and_speeds(5)
    y = law(*x.unbind(1))[:, None]
    data = Dataset(x[:1500], y[:1500], x[1500:], y[1500:])
    names = ["m", "v", "c"]
    dims = parse_units({"m": "kg", "v": "m/s", "c": "m/s"}, target="J", names=names)
    reduced = dimensionless_data(data, names, dims)
    assert reduced is not None
    assert reduced.problem.target_scale == scale
    symbols = reduced.symbols()
    expected = sympy.Mul(*[symbols[n] ** e for n, e in scale.items()])
    assert reduced.problem.scale_expression(symbols) == expected
    # the scaled target is y over that scale, row by row
    m, v, c = x[:1500].unbind(1)
    divisor = m * (c**2 if "c" in scale else v**2)
    assert torch.allclose(reduced.dataset.train_label[:, 0], y[:1500, 0] / divisor, rtol=1e-13)
