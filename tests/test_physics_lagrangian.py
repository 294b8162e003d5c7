"""Lagrangians: Euler-Lagrange terms against closed forms (1 and 2 DOF), singular mass
matrices, the gauge, RK4 rollouts, the examples at reduced size, and bad input."""

from __future__ import annotations

import math
import warnings

import pytest
import sympy
import torch

from kanscience.physics import (
    SingularMassMatrixError,
    canonical_lagrangian,
    euler_lagrange,
    fit_lagrangian,
    lagrangian_accelerations,
    lagrangian_energy,
    rollout,
)
from kanscience.physics._lagrangian_prune import held_out_error, prune_terms, significantly_worse
from kanscience.symbolic import formula_to_torch
from physics_examples import pendulum, relativistic_particle, uniform

q, v = sympy.symbols("q qdot", real=True)


def test_euler_lagrange_matches_the_pendulum_in_closed_form():
    states = uniform(50, [(-2, 2), (-2, 2)], 0)
    lagrangian = formula_to_torch(3 * v**2 / 2 + 2 * sympy.cos(q) + 5 * q * v, [q, v])
    mass, force = euler_lagrange(lagrangian, states[:, :1], states[:, 1:])
    assert torch.allclose(mass[:, 0, 0], torch.full((50,), 3.0, dtype=torch.float64))
    # dL/dq - d2L/dv dq * v = -2 sin q + 5 v - 5 v
    assert torch.allclose(force[:, 0], -2 * torch.sin(states[:, 0]), atol=1e-12)


def test_accelerations_of_two_coupled_degrees_of_freedom():
    q1, q2, v1, v2 = sympy.symbols("q1 q2 v1 v2", real=True)
    expr = v1**2 + v1 * v2 + v2**2 - q1**2 / 2 - q1 * q2 + v1 * q2
    states = uniform(40, [(-1, 1)] * 4, 1)
    got = lagrangian_accelerations(
        formula_to_torch(expr, [q1, q2, v1, v2]), states[:, :2], states[:, 2:]
    )
    # by hand: M = [[2, 1], [1, 2]], F = (-q1 - q2 - v2, -q1 + v1)
    mass = torch.tensor([[2.0, 1.0], [1.0, 2.0]], dtype=torch.float64)
    s = states
    force = torch.stack([-s[:, 0] - s[:, 1] - s[:, 3], -s[:, 0] + s[:, 2]], 1)
    assert torch.allclose(got, torch.linalg.solve(mass, force.T).T, atol=1e-12)


def test_a_singular_mass_matrix_raises_or_warns():
    states = uniform(20, [(-1, 1), (-1, 1)], 2)
    null = formula_to_torch(q * v + sympy.cos(q), [q, v])  # no kinetic term
    with pytest.raises(SingularMassMatrixError, match="singular mass matrix"):
        lagrangian_accelerations(null, states[:, :1], states[:, 1:])
    with pytest.warns(RuntimeWarning, match="singular mass matrix"):
        result = lagrangian_accelerations(null, states[:, :1], states[:, 1:], on_singular="warn")
    assert bool(torch.isnan(result).all())
    with pytest.raises(SingularMassMatrixError, match="prior .* singular mass matrix"):
        fit_lagrangian(states[:, :1], states[:, 1:], states[:, :1], prior="cos(q)", steps=1)


def test_canonical_lagrangian_fixes_the_gauge():
    truth = v**2 / 2 + sympy.cos(q)
    assert canonical_lagrangian(4 * truth + 3 * v - 2 + q * 0, [q], [v]) == truth
    q1, q2, v1, v2 = sympy.symbols("q1 q2 v1 v2", real=True)
    # q2 v1 - q1 v2 is not a total derivative (a magnetic term): it stays
    magnetic = v1**2 / 2 + v2**2 / 2 + q2 * v1 - q1 * v2
    assert canonical_lagrangian(2 * magnetic, [q1, q2], [v1, v2]) == sympy.expand(magnetic)
    # q2 v1 + q1 v2 = d(q1 q2)/dt is dropped
    assert canonical_lagrangian(v1**2 + q2 * v1 + q1 * v2, [q1, q2], [v1, v2]) == v1**2 / 2
    assert lagrangian_energy(truth, [v]) == v**2 / 2 - sympy.cos(q)


def test_rk4_rollout_is_fourth_order_on_the_harmonic_oscillator():
    errors = []
    for dt in (0.1, 0.05):
        qs, _ = rollout(
            lambda a, b: -a,
            torch.ones(1, 1, dtype=torch.float64),
            torch.zeros(1, 1, dtype=torch.float64),
            dt,
            round(2 / dt),
        )
        errors.append(abs(float(qs[-1, 0, 0]) - math.cos(2.0)))
    assert 14 < errors[0] / errors[1] < 18  # 2^4
    with pytest.raises(ValueError, match="dt"):
        rollout(lambda a, b: a, torch.ones(1, 1), torch.ones(1, 1), 0.0, 1)


def test_pendulum_example_recovers_the_lagrangian(no_files_written):
    result = pendulum.main(steps=30, n=500, seed=0)
    assert result.passed, result.report()
    assert sympy.simplify(result.law - (v**2 / 2 + sympy.cos(q))) == 0
    assert result.metrics["acceleration_error"] < 1e-3
    assert result.metrics["energy_drift"] < 1e-6


def test_relativistic_example_recovers_the_lagrangian_without_a_hand_refit(no_files_written):
    result = relativistic_particle.main(steps=60, n=600, seed=0)
    assert result.passed, result.report()
    assert sympy.simplify(result.law - (q - sympy.sqrt(1 - v**2))) == 0
    assert result.metrics["acceleration_error"] < 1e-3


def test_fit_lagrangian_rejects_bad_input():
    states = uniform(30, [(-1, 1), (-1, 1)], 3)
    qs, vs = states[:, :1], states[:, 1:]
    bad = vs.clone()
    bad[4] = float("nan")
    with pytest.raises(ValueError, match="qdot contains NaN or Inf in 1 row"):
        fit_lagrangian(qs, bad, -qs)
    with pytest.raises(ValueError, match="qddot contains NaN"):
        fit_lagrangian(qs, vs, torch.full_like(qs, float("inf")))
    with pytest.raises(ValueError, match="same shape"):
        fit_lagrangian(qs, vs, torch.zeros(30, 2))
    with pytest.raises(ValueError, match="model must be a KAN with 2 inputs"):
        from kanscience import KAN

        fit_lagrangian(qs, vs, -qs, model=KAN([3, 1]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="on_singular"):
            lagrangian_accelerations(lambda x: x[:, 1] ** 2, qs, vs, on_singular="skip")


def test_fit_lagrangian_with_two_decoupled_degrees_of_freedom(no_files_written):
    q1, q2, v1, v2 = sympy.symbols("q_1 q_2 qdot_1 qdot_2", real=True)
    states = uniform(600, [(-2, 2)] * 4, 5)
    qs, vs = states[:, :2], states[:, 2:]
    # L = qdot_1^2 + cos q_1 + (qdot_2^2 - q_2^2) / 2: a1 = -sin(q1) / 2, a2 = -q2
    accelerations = torch.stack([-torch.sin(qs[:, 0]) / 2, -qs[:, 1]], 1)
    with warnings.catch_warnings():
        # a short fit of the default MultKAN may leave its mass matrix indefinite on a few
        # states (a warning, measured in checks); the formula is verified on its own
        warnings.filterwarnings("ignore", "the learned mass matrix", RuntimeWarning)
        found = fit_lagrangian(qs, vs, accelerations, steps=30, seed=0)
    # two decoupled parts: the data fix each only up to its own scale, so the law is
    # reported as the sum of the parts, each in its canonical scale
    assert found.null_dim == 2
    parts = [
        canonical_lagrangian(v1**2 + sympy.cos(q1), [q1, q2], [v1, v2]),
        canonical_lagrangian((v2**2 - q2**2) / 2, [q1, q2], [v1, v2]),
    ]
    assert found.expression is not None and sympy.expand(found.expression - sum(parts)) == 0
    assert found.error < 1e-10


def test_pruning_refits_and_removes_a_reduced_lagrangian_added_by_a_cyclic_coordinate():
    # cart-pole: x is cyclic, so the reduced (Routhian) Lagrangian R of theta fits the
    # same accelerations; L + nu R does for every nu, with an extra thd^2 cos(2 theta)
    # term that no single deletion removes (the other coefficients must change with it)
    x, th, xd, thd = symbols = list(sympy.symbols("x theta xd thd", real=True))
    truth = (
        xd**2 / 2
        + xd * thd * sympy.cos(th) / 3
        + thd**2 / 6
        + sympy.Rational(49, 15) * sympy.cos(th)
    )
    routhian = thd**2 * (5 - sympy.cos(2 * th)) / 36 + sympy.Rational(49, 15) * sympy.cos(th)
    states = uniform(1200, [(-1, 1), (-math.pi, math.pi), (-2, 2), (-2, 2)], 7)
    qs, vs = states[:, :2], states[:, 2:]
    accelerations = lagrangian_accelerations(formula_to_torch(truth, symbols), qs, vs)
    train = (qs[:800], vs[:800], accelerations[:800])
    test = (qs[800:], vs[800:], accelerations[800:])
    degenerate = sympy.expand(truth + sympy.Rational(9, 2) * routhian)
    assert held_out_error(degenerate, symbols, test) < 1e-10  # the data cannot tell them apart
    error, pruned = prune_terms(degenerate, symbols, train, test, 1e-3)
    law = canonical_lagrangian(pruned, [x, th], [xd, thd])
    assert error < 1e-10
    assert len(sympy.Add.make_args(law)) == 4
    assert float(max(abs(c) for c in (law - truth).atoms(sympy.Float)) or 0) < 1e-8
    # a law that needs every term keeps them all
    kept = prune_terms(truth, symbols, train, test, 1e-3)[1]
    assert sympy.expand(kept - truth) == 0


def test_a_removal_is_significantly_worse_only_beyond_the_residuals_own_spread():
    generator = torch.Generator().manual_seed(0)
    current = torch.randn(4000, 2, generator=generator, dtype=torch.float64)
    same = torch.randn(4000, 2, generator=generator, dtype=torch.float64)
    assert not significantly_worse(same, current)
    assert not significantly_worse(0.9 * current, current)
    assert significantly_worse(1.1 * current, current)
