"""Conserved quantities: the loss and rank test against closed forms, the examples at
reduced size (the law is asserted), a flow without invariants, and bad input."""

from __future__ import annotations

import pytest
import sympy
import torch

from kanscience.physics import (
    compare_laws,
    conservation_loss,
    conservation_residual,
    expression_gradient,
    find_conserved_quantities,
    gradient_rank,
)
from physics_examples import harmonic_oscillator, isotropic_oscillator, uniform


def rotation(states):
    return torch.stack([states[:, 1], -states[:, 0]], 1)


def test_conservation_loss_is_zero_for_an_invariant_and_scale_free():
    states = uniform(200, [(-1, 1), (-1, 1)], 0)
    f = rotation(states)
    assert float(conservation_loss(2 * states, f)) < 1e-30  # grad of x^2 + p^2
    # grad of x (not conserved): mean(p^2) / mean(x^2 + p^2) -> about 1/2
    gradient = torch.stack([torch.ones(200), torch.zeros(200)], 1).double()
    expected = f[:, 0].pow(2).mean() / f.pow(2).sum(1).mean()
    assert torch.isclose(conservation_loss(gradient, f), expected)
    assert torch.isclose(conservation_loss(7 * gradient, 3 * f), expected)
    assert conservation_residual(gradient, f) == pytest.approx(float(expected) ** 0.5)


def test_gradient_rank_counts_functionally_independent_quantities():
    x = uniform(100, [(-1, 1)] * 4, 1)
    h1 = torch.stack([x[:, 0], x[:, 1], 0 * x[:, 0], 0 * x[:, 0]], 1)
    h2 = torch.stack([0 * x[:, 0], 0 * x[:, 0], x[:, 2], x[:, 3]], 1)
    both = h1 + 3 * h2  # grad of H1 + 3 H2: in the span of the others
    assert gradient_rank(torch.stack([h1, h2], 1))[0] == 2
    assert gradient_rank(torch.stack([h1, h2, both], 1))[0] == 2
    with pytest.raises(ValueError, match="shape"):
        gradient_rank(h1)


def test_harmonic_oscillator_example_recovers_the_energy(no_files_written):
    result = harmonic_oscillator.main(steps=30, n=500, seed=0, budget=5)
    assert result.passed, result.report()
    x, p = harmonic_oscillator.X, harmonic_oscillator.P
    found = result.details
    assert found.count == 1
    assert compare_laws(found.expressions[0], (x**2 + p**2) / 2, [x, p], ignore_constant=True).exact
    assert result.metrics["fresh_residual"] < 1e-3
    # the KAN itself is a function of the energy: affine in x^2 + p^2 to R^2 > 0.9999
    states = uniform(500, harmonic_oscillator.RANGES, 7)
    values = found.kan_values(0, states).detach()
    energy = states.pow(2).sum(1)
    design = torch.stack([energy, torch.ones_like(energy)], 1)
    fitted = design @ torch.linalg.lstsq(design, values[:, None]).solution[:, 0]
    assert (
        1 - float((fitted - values).pow(2).sum() / (values - values.mean()).pow(2).sum()) > 0.9999
    )


@pytest.mark.slow
def test_isotropic_oscillator_example_finds_all_three_invariants(no_files_written):
    result = isotropic_oscillator.main(steps=30, n=600, seed=0, budget=5)
    assert result.passed, result.report()
    found = result.details
    assert found.count == 3 and found.rank == 3
    references = list(isotropic_oscillator.REFERENCE.values())
    for expr in found.expressions:
        assert any(
            compare_laws(expr, ref, isotropic_oscillator.SYMBOLS, ignore_constant=True).exact
            for ref in references
        )
    # every verified law is returned (no side list), and the known relation holds
    h1, h2, l_, k_ = references
    assert sympy.expand(4 * h1 * h2 - l_**2 - k_**2) == 0
    assert found.all_expressions == found.expressions
    assert all(q.law is not None and q.residual < 1e-3 for q in found.invariants)


def test_a_damped_oscillator_has_no_conserved_quantity(no_files_written):
    def damped(states):
        return torch.stack([states[:, 1], -states[:, 0] - 0.5 * states[:, 1]], 1)

    found = find_conserved_quantities(
        damped, uniform(400, [(-1, 1), (-1, 1)], 2), ["x", "p"], steps=(8, 12)
    )
    assert found.count == 0 and found.expressions == [] and found.invariants == []
    assert all(
        not stage.accepted and max(stage.residual, stage.pointwise) > 1e-2 for stage in found.stages
    )
    assert found.summary.startswith("no conserved quantity")


def test_formulas_are_checked_against_the_flow_not_the_kan():
    x, p = sympy.symbols("x p", real=True)
    states = uniform(300, [(-1, 1), (-1, 1)], 3)
    gradient = expression_gradient(x**2 + p**2, [x, p], states)
    assert conservation_residual(gradient, rotation(states)) < 1e-12


def test_bad_input_is_rejected_with_clear_messages():
    states = uniform(50, [(-1, 1), (-1, 1)], 0)
    bad = states.clone()
    bad[3, 1] = float("nan")
    with pytest.raises(ValueError, match="x contains NaN or Inf in 1 row"):
        find_conserved_quantities(rotation, bad)
    with pytest.raises(ValueError, match="flow must give one velocity per state"):
        find_conserved_quantities(lambda s: torch.zeros(len(s), 3), states)
    with pytest.raises(ValueError, match="flow must give one velocity per state"):
        find_conserved_quantities(torch.zeros(50, 3), states)
    with pytest.raises(ValueError, match="flow contains NaN"):
        find_conserved_quantities(torch.full((50, 2), float("nan")), states)
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        find_conserved_quantities(rotation, states.numpy())
    with pytest.raises(ValueError, match="max_quantities"):
        find_conserved_quantities(rotation, states, max_quantities=2)
    with pytest.raises(ValueError, match="features"):
        find_conserved_quantities(rotation, states, features="cubic")
    with pytest.raises(ValueError, match="flow and x are required"):
        find_conserved_quantities(rotation)
    with pytest.raises(ValueError, match="not both"):
        find_conserved_quantities(rotation, states, trajectories=[(torch.arange(9.0), states[:9])])
    with pytest.raises(ValueError, match="domain rejects every sample"):
        find_conserved_quantities(
            rotation, states, domain=lambda s: torch.zeros(len(s), dtype=torch.bool)
        )
