"""Hidden symmetry: the shifted metric against the Gullstrand-Painleve closed form, the
Schwarzschild example at reduced size, and bad input."""

from __future__ import annotations

import pytest
import sympy
import torch

from kanscience.physics import (
    flatness_loss,
    learn_time_shift,
    metric_function,
    schwarzschild_metric,
    shifted_spatial_metric,
    time_shift_residual,
)
from physics_examples import schwarzschild

XYZ = sympy.symbols("x y z", real=True)
R = sympy.sqrt(sum(s**2 for s in XYZ))
PAINLEVE = 2 * sympy.sqrt(R) + sympy.log((sympy.sqrt(R) - 1) / (sympy.sqrt(R) + 1))


def test_schwarzschild_metric_in_cartesian_like_coordinates():
    g = metric_function(schwarzschild_metric(1), XYZ)(
        torch.tensor([[2.0, 0.0, 0.0]], dtype=torch.float64)
    )[0]
    expected = torch.diag(torch.tensor([-0.5, 2.0, 1.0, 1.0], dtype=torch.float64))
    assert torch.allclose(g, expected)


def test_painleve_time_flattens_space_exactly():
    points = schwarzschild.sample_points(300, 0)
    assert time_shift_residual(schwarzschild_metric(1), PAINLEVE, points, XYZ) < 1e-12
    assert time_shift_residual(schwarzschild_metric(1), -PAINLEVE + 3, points, XYZ) < 1e-12
    # no shift leaves the defect as it is (loss 1); a wrong shift does not flatten
    g = metric_function(schwarzschild_metric(1), XYZ)(points)
    assert float(flatness_loss(g, torch.zeros_like(points))) == pytest.approx(1.0)
    assert time_shift_residual(schwarzschild_metric(1), R, points, XYZ) > 0.1


def test_shifted_spatial_metric_formula_with_a_mixed_term():
    g = torch.eye(4, dtype=torch.float64)[None].repeat(2, 1, 1)
    g[:, 0, 0] = -1.0
    g[:, 0, 1] = g[:, 1, 0] = 0.5
    grad = torch.tensor([[1.0, 2.0, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
    got = shifted_spatial_metric(g, grad)
    # g'_ij = g_ij - g_0i f_j - g_0j f_i + g_00 f_i f_j
    mixed = torch.tensor([0.5, 0.0, 0.0], dtype=torch.float64)
    for n in range(2):
        f = grad[n]
        expected = (
            torch.eye(3, dtype=torch.float64)
            - torch.outer(mixed, f)
            - torch.outer(f, mixed)
            - torch.outer(f, f)
        )
        assert torch.allclose(got[n], expected)


def test_schwarzschild_example_finds_the_painleve_time(no_files_written):
    result = schwarzschild.main(steps=60, n=500, seed=0)
    assert result.passed, result.report()
    r = schwarzschild.R
    derivative = sympy.diff(result.law, r)
    expected = sympy.diff(schwarzschild.REFERENCE, r)
    assert any(sympy.simplify(derivative - s * expected) == 0 for s in (1, -1))
    assert result.metrics["fresh_residual"] < 1e-3


def test_learn_time_shift_rejects_bad_input():
    points = schwarzschild.sample_points(50, 1)
    bad = points.clone()
    bad[0, 0] = float("nan")
    with pytest.raises(ValueError, match="points contain NaN"):
        learn_time_shift(schwarzschild_metric(1), bad, XYZ)
    with pytest.raises(ValueError, match="shape"):
        learn_time_shift(schwarzschild_metric(1), points[:, :2], XYZ)
    with pytest.raises(ValueError, match="metric must give"):
        learn_time_shift(lambda p: torch.zeros(len(p), 3, 3), points, XYZ)
    inside = points / points.norm(dim=1, keepdim=True)  # r = 1: the horizon
    with pytest.raises(ValueError, match="not finite"):
        learn_time_shift(schwarzschild_metric(1), inside, XYZ)
