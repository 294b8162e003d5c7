"""Lagrangians of several degrees of freedom: the positive definite start of a deep
MultKAN, the indefinite-mass warning, the formula search through discover on the cart-pole
Lagrangian (a three-factor coupling), the honest "no law" verdict, and bad input."""

from __future__ import annotations

import warnings

import pytest
import sympy
import torch

from kanscience import KAN
from kanscience.physics import (
    LearnedLagrangian,
    canonical_lagrangian,
    euler_lagrange,
    fit_lagrangian,
    indefinite_fraction,
    perturbation_scale,
)
from kanscience.physics._lagrangian_formula import search_lagrangian_formula
from kanscience.physics._lagrangian_network import starting_lagrangian
from kanscience.symbolic import formula_to_torch
from physics_examples import cart_pole, elastic_pendulum, uniform
from physics_examples._lagrange import true_accelerations


def _rows(data: tuple[torch.Tensor, ...], rows: slice):
    q, v, a = data
    return q[rows], v[rows], a[rows]


def _prior(x: torch.Tensor) -> torch.Tensor:
    return x[:, 2:].pow(2).sum(1) / 2


def test_the_scaled_multkan_starts_with_a_positive_definite_mass_matrix():
    train = uniform(300, cart_pole.RANGES, 0)
    for seed in range(3):
        network = KAN([4, [4, 4], [2, 2], 1], grid=5, seed=seed, dtype=torch.float64)
        network.update_grid_(train)
        alpha = perturbation_scale(network, _prior, train[:, :2], train[:, 2:])
        assert 0 < alpha <= 1
        fresh = uniform(500, cart_pole.RANGES, 100 + seed)
        mass, _ = euler_lagrange(
            LearnedLagrangian(network, _prior, alpha), fresh[:, :2], fresh[:, 2:]
        )
        eigenvalues = torch.linalg.eigvalsh(mass)
        # within half the prior's unit eigenvalue on the training states; fresh states
        # stay well inside (0.5, 1.5)
        assert float(eigenvalues.min()) > 0.25 and float(eigenvalues.max()) < 1.75


def test_an_indefinite_mass_matrix_is_measured_and_warned_about():
    states = uniform(200, [(-1, 1)] * 4, 1)
    variables = list(sympy.symbols("q1 q2 v1 v2", real=True))
    _, _, v1, v2 = variables
    saddle = formula_to_torch(v1**2 - v2**2, variables)
    assert indefinite_fraction(saddle, states[:, :2], states[:, 2:]) == 1.0
    bowl = formula_to_torch(-(v1**2) - v2**2, variables)
    assert indefinite_fraction(bowl, states[:, :2], states[:, 2:]) == 0.0  # a L, a < 0
    # an untrained random one-layer network as the whole Lagrangian: not definite somewhere
    q, v = states[:, :1], states[:, 1:2]
    with pytest.warns(RuntimeWarning, match="not definite on"):
        found = fit_lagrangian(
            q,
            v,
            -q,
            model=KAN([2, 1], grid=5, seed=3, dtype=torch.float64),
            steps=0,
            time_budget=1.0,
        )
    assert found.checks["indefinite mass matrix share"] > 0


def test_the_formula_search_recovers_the_cart_pole_lagrangian_from_a_surrogate():
    symbols = list(cart_pole.SYMBOLS)
    states = uniform(1000, cart_pole.RANGES, 12345)
    accelerations = true_accelerations(cart_pole.REFERENCE, symbols, states)
    data = (states[:, :2], states[:, 2:], accelerations)
    found = search_lagrangian_formula(
        formula_to_torch(cart_pole.REFERENCE * 3 + 2, symbols),  # a L + b
        symbols,
        _rows(data, slice(None, 800)),
        _rows(data, slice(800, None)),
        tolerance=1e-3,
        null_tol=1e-6,
        quadratic_tol=1e-2,
        time_budget=20.0,
        levels=2,
        seed=0,
    )
    x, theta, xd, thd = cart_pole.SYMBOLS
    expected = (
        xd**2 / 2
        + xd * thd * sympy.cos(theta) / 3
        + thd**2 / 6
        + sympy.Rational(49, 15) * sympy.cos(theta)
    )
    assert found.law is not None and sympy.simplify(found.law - expected) == 0
    assert found.route == "velocity expansion" and found.error < 1e-10


def test_no_formula_is_returned_when_none_explains_the_data():
    symbols = list(cart_pole.SYMBOLS)
    states = uniform(600, cart_pole.RANGES, 12345)
    accelerations = true_accelerations(cart_pole.REFERENCE, symbols, states)
    data = (states[:, :2], states[:, 2:], accelerations)
    x, theta, xd, thd = cart_pole.SYMBOLS
    wrong = (xd**2 + thd**2) / 2 + sympy.cos(theta)  # the coupling left out
    found = search_lagrangian_formula(
        formula_to_torch(wrong, symbols),
        symbols,
        _rows(data, slice(None, 500)),
        _rows(data, slice(500, None)),
        tolerance=1e-3,
        null_tol=1e-6,
        quadratic_tol=1e-2,
        time_budget=10.0,
        levels=1,
        seed=0,
    )
    assert found.law is None and found.reason


def test_fit_lagrangian_names_a_prior_with_an_unknown_symbol():
    states = uniform(40, [(-1, 1)] * 2, 4)
    with pytest.raises(ValueError, match="prior uses unknown symbol.*'m'"):
        fit_lagrangian(states[:, :1], states[:, 1:], -states[:, :1], prior="m * qdot**2")
    with pytest.raises(ValueError, match="width must describe a KAN with 1 inputs and 2"):
        fit_lagrangian(states[:, :1], states[:, 1:], -states[:, :1], width=[3, 1])
    with pytest.raises(ValueError, match="width must describe a KAN with 2 inputs and 1"):
        fit_lagrangian(states[:, :1], states[:, 1:], -states[:, :1], form="general", width=[3, 1])
    with pytest.raises(ValueError, match="form must be one of"):
        fit_lagrangian(states[:, :1], states[:, 1:], -states[:, :1], form="quadratic")


def test_the_mechanical_form_matches_autograd_euler_lagrange():
    train = uniform(300, cart_pole.RANGES, 2)
    symbols = list(cart_pole.SYMBOLS)
    learned = starting_lagrangian(None, None, "mechanical", None, 5, symbols, train, 0)
    q, v = train[:, :2], train[:, 2:]
    mass, force = learned.euler_lagrange(q, v)
    reference_mass, reference_force = euler_lagrange(learned, q, v)
    # central differences in q of a cubic spline network: ~1e-9 of the force's scale
    assert float((mass - reference_mass).abs().max()) < 1e-12
    assert float((force - reference_force).abs().max()) < 1e-6 * float(force.abs().max())


def test_fit_lagrangian_recovers_the_cart_pole_coupling_at_reduced_size(no_files_written):
    symbols = list(cart_pole.SYMBOLS)
    states = uniform(1500, cart_pole.RANGES, 12345)
    accelerations = true_accelerations(cart_pole.REFERENCE, symbols, states)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "the learned mass matrix", RuntimeWarning)
        found = fit_lagrangian(
            states[:, :2],
            states[:, 2:],
            accelerations,
            symbols[:2],
            symbols[2:],
            max_train=500,
            adam_steps=150,
            steps=10,
            time_budget=20.0,
            seed=0,
        )
    truth = canonical_lagrangian(cart_pole.REFERENCE, symbols[:2], symbols[2:])
    assert found.law is not None and sympy.simplify(found.law - truth) == 0
    assert found.error < 1e-8


def test_a_term_fitted_twice_is_offered_once_and_with_snapped_constants():
    """Two searches returned one term with different constants: the library keeps the
    first fit and adds its snapped form (the refit would otherwise give the two fits large
    cancelling coefficients); terms of other shapes are kept as they are."""
    from kanscience.physics._lagrangian_formula import _one_fit_per_term

    th, xd, thd = sympy.symbols("theta xd thd", real=True)
    first = thd * xd * sympy.cos(sympy.Float(1.00200880283999) * th)
    second = thd * xd * sympy.cos(sympy.Float(1.0026678701712) * th)
    other = xd**2 * sympy.cos(sympy.Float(0.5) * th)
    terms = [first, thd**2, second, other, thd**2]
    assert _one_fit_per_term(terms) == [first, thd**2, other, thd * xd * sympy.cos(th)]


def test_the_last_layer_solve_lowers_the_euler_lagrange_residual():
    """The mechanical network is linear in its last layer's weights: the least-squares
    step from an untrained network (random hidden features) lowers the held-out relative
    residual from ~1 by two orders of magnitude, and keeps the prior's coefficient."""
    from kanscience.physics._lagrangian_polish import polish_last_layer

    symbols = list(elastic_pendulum.SYMBOLS)
    states = uniform(1200, elastic_pendulum.RANGES, 12345)
    accelerations = true_accelerations(elastic_pendulum.REFERENCE, symbols, states)
    data = (states[:, :2], states[:, 2:], accelerations)
    start = starting_lagrangian(None, None, "mechanical", None, 5, symbols, states[:1000], 0)
    polished, before, after = polish_last_layer(
        start, _rows(data, slice(None, 1000)), _rows(data, slice(1000, None))
    )
    assert before > 0.5 and after < 1e-2 * before
    assert polished.prior is start.prior and polished.alpha == start.alpha
    assert polished.model is not start.model  # a new network; the start is unchanged
    assert (
        polish_last_layer(start, _rows(data, slice(None, 1000)), _rows(data, slice(1000, None)))[1]
        == before
    )


def test_the_potential_forces_come_from_the_data_not_from_the_surrogate_potential():
    """With the right kinetic part and a wrong potential, the forces dL0/dq read off the
    Euler-Lagrange equations at the data states are the true ones; their integrals in
    each coordinate give the potential's terms."""
    from kanscience.physics._lagrangian_coefficients import _integrated, potential_forces

    symbols = list(elastic_pendulum.SYMBOLS)
    r, theta, rd, thd = symbols
    states = uniform(500, elastic_pendulum.RANGES, 12345)
    accelerations = true_accelerations(elastic_pendulum.REFERENCE, symbols, states)
    wrong = formula_to_torch((rd**2 + r**2 * thd**2) / 2 + 3 * sympy.cos(theta), symbols)
    forces = potential_forces(wrong, states[:, :2], states[:, 2:], accelerations)
    q_r, q_theta = states[:, 0], states[:, 1]
    true = torch.stack(
        [9.8 * torch.cos(q_theta) - 10 * (q_r - 1), -9.8 * q_r * torch.sin(q_theta)], 1
    )
    assert float((forces - true).abs().max()) < 1e-9
    integrals = _integrated(-10 * r + 10 + sympy.Rational(49, 5) * sympy.cos(theta), r)
    assert set(integrals) == {10 * r, -5 * r**2, sympy.Rational(49, 5) * r * sympy.cos(theta)}
