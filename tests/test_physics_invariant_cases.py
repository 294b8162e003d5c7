"""The invariant cases of PHYSICS_CASES.md at reduced size: the laws asserted symbolically
(D1, D2), the honest "none" (D7), and the engine's pieces (the conserved combinations of
candidate terms; the domain samples; the separable combinations of mixed invariants; the
derived variable of a module)."""

from __future__ import annotations

import pytest
import sympy
import torch

from kanscience.physics._invariant_formula import domain_samples, module_target
from kanscience.physics._invariant_refit import conserved_combinations, law_residual
from physics_examples import damped_oscillator, plummer, sir_epidemic, uniform


def test_sir_logarithmic_invariant(no_files_written):
    result = sir_epidemic.main(steps=30, n=500, seed=0, budget=8)
    assert result.passed, result.report()
    s, i = sir_epidemic.SYMBOLS
    found = result.details
    (invariant,) = found.invariants
    assert sympy.simplify(invariant.law - (s + i - sympy.log(s) / 2)) == 0
    assert invariant.residual < 1e-10 and invariant.r2 > 0.9999
    assert invariant.groups == ((0,), (1,))  # the modules the search was given


def _gauge_equal(law: sympy.Expr, truth: sympy.Expr, symbols, states: torch.Tensor) -> bool:
    """J1: ``a * law + b`` fitted to ``truth`` on ``states``, ``a, b`` snapped to simple
    rationals (2%), equal to ``truth`` up to a constant."""
    predicted = sympy.lambdify(symbols, law, "numpy")(*states.T.numpy())
    true = sympy.lambdify(symbols, truth, "numpy")(*states.T.numpy())
    design = torch.stack(
        [torch.as_tensor(predicted, dtype=torch.float64), torch.ones(states.shape[0])], 1
    ).to(torch.float64)
    a, b = torch.linalg.lstsq(design, torch.as_tensor(true)[:, None]).solution[:, 0].tolist()
    scale = sympy.nsimplify(a, rational=True, tolerance=0.02 * abs(a))
    difference = sympy.simplify(scale * law - truth)  # -b once the scale is right
    return bool(difference.is_number) and abs(float(difference) + b) <= 0.02 * abs(b) + 1e-6


def test_plummer_energy_and_angular_momentum_exactly_two(no_files_written):
    result = plummer.main(steps=10, n=1000, seed=0, budget=8)
    found = result.details
    assert found.count == 2, found.summary  # the rank test stops at two
    assert len(found.expressions) == 2, found.summary
    states = plummer.sample(500, 7)
    symbols = list(plummer.SYMBOLS)
    matched = sorted(
        name
        for law in found.expressions
        for name, truth in plummer.REFERENCE.items()
        if _gauge_equal(law, truth, symbols, states)
    )
    assert matched == ["H", "L"], found.summary
    assert all(q.residual < 1e-10 for q in found.invariants)
    assert result.passed, result.report()


def test_damped_oscillator_reports_no_invariant(no_files_written):
    result = damped_oscillator.main(steps=20, n=400, seed=0)
    assert result.passed, result.report()
    found = result.details
    assert found.count == 0 and found.expressions == [] and found.invariants == []
    # the evidence: the best network's pointwise cosine is far above the tolerance
    assert min(max(s.residual, s.pointwise) for s in found.stages) > 1e-2


def test_conserved_combinations_split_a_sum_of_invariants_and_refit_inner_constants():
    x1, x2, x3, x4 = symbols = sympy.symbols("x1 x2 x3 x4", real=True)
    states = uniform(400, [(-1, 1)] * 4, 0)
    f = torch.stack([states[:, 1], -states[:, 0], states[:, 3], -2 * states[:, 2]], 1)
    terms = [x1**2, x2**2, x3**2, x4**2, x1 * x3]
    laws = conserved_combinations(terms, symbols, states, f, tol=1e-6)
    found = {sympy.simplify(law.law) for law in laws}
    assert found == {x1**2 + x2**2, x3**2 + x4**2 / 2}
    # a composition whose inner constant is off: refitted under the conservation loss
    q, p = sympy.symbols("q p", real=True)
    states2 = uniform(400, [(-1, 1), (-1, 1)], 1)
    flow2 = torch.stack([states2[:, 1], -states2[:, 0] / (states2[:, 0] ** 2 + 1) ** 1.5], 1)
    (law,) = conserved_combinations(
        [p**2, 1 / sympy.sqrt(q**2 + sympy.Float(1.03))], [q, p], states2, flow2, tol=1e-6
    )
    assert sympy.simplify(law.law - (p**2 - 2 / sympy.sqrt(q**2 + 1))) == 0


def test_domain_samples_stay_near_the_data_and_inside_the_domain():
    generator = torch.Generator().manual_seed(0)
    angle = 6.283 * torch.rand(500, generator=generator, dtype=torch.float64)
    ring = torch.stack([torch.cos(angle), torch.sin(angle)], 1) * (
        1 + 0.1 * torch.rand(500, 1, generator=generator, dtype=torch.float64)
    )
    fresh = domain_samples(ring, 1000, generator, lambda s: s.norm(dim=1) >= 0.95)
    radius = fresh.norm(dim=1)
    assert fresh.shape == (1000, 2) and float(radius.min()) >= 0.95 and float(radius.max()) < 1.4
    with pytest.raises(ValueError, match="domain rejects every sample"):
        domain_samples(ring, 10, generator, lambda s: s[:, 0] > 5)
    with pytest.raises(ValueError, match="boolean tensor"):
        domain_samples(ring, 10, generator, lambda s: s[:, 0])


def test_conserved_combinations_on_many_states_match_the_closed_form():
    # 20,000 states: the null vectors come from the operator's triangular factor
    x, p = symbols = sympy.symbols("x p", real=True)
    states = uniform(20_000, [(-1, 1), (-1, 1)], 2)
    f = torch.stack([states[:, 1], -states[:, 0] - states[:, 0] ** 3], 1)
    terms = [x, p, x**2, p**2, sympy.tanh(x), sympy.atan(x), x**3, x**4, p**3, p**4]
    laws = conserved_combinations(terms, symbols, states, f, tol=1e-6)
    assert [sympy.simplify(law.law - (x**2 + p**2 + x**4 / 2)) for law in laws] == [0]
    assert laws[0].residual < 1e-12
    # the residual of a law that is not conserved: RMS cosine weighted by |grad Q| |f|
    gradient = torch.stack([2 * states[:, 0], torch.zeros_like(states[:, 0])], 1)
    expected = float(
        ((gradient * f).sum(1).pow(2).mean() / (gradient.pow(2).sum(1) * f.pow(2).sum(1)).mean())
        ** 0.5
    )
    assert law_residual(x**2, list(symbols), states, f) == pytest.approx(expected, rel=1e-12)


def test_module_target_is_the_network_accuracy_in_units_of_the_module_spread():
    module = torch.tensor([0.0, 1.0, 2.0, 3.0], dtype=torch.float64)  # std 1.2910
    target = module_target(1e-3, 2.0, module)
    assert target == pytest.approx(1e-3 * 2.0 / float(module.std()), rel=1e-12)
    assert module_target(None, 2.0, module) is None
    assert module_target(1e-3, 2.0, torch.zeros(4, dtype=torch.float64)) is None


def test_one_layer_solve_is_exact_and_deflates_to_an_independent_invariant():
    # two decoupled oscillators: H1 = x1^2 + x2^2 and H2 = x3^2 + x4^2 / 2 are sums of
    # functions of one coordinate, so a one-layer KAN holds them exactly
    from kanscience.core import KAN
    from kanscience.physics._invariant_rayleigh import solve_one_layer

    states = uniform(600, [(-1, 1)] * 4, 3)
    f = torch.stack([states[:, 1], -states[:, 0], states[:, 3], -2 * states[:, 2]], 1)
    jac = torch.eye(4, dtype=torch.float64).expand(600, 4, 4)
    train, test = (states[:480], jac[:480], f[:480]), (states[480:], jac[480:], f[480:])
    model = KAN([4, 1], grid=5, k=3, seed=0, dtype=torch.float64)
    model.update_grid_(states[:480])
    first = solve_one_layer(model, train, test, None, 0.1, 1e-2)

    def gradient(m):
        x = states.clone().requires_grad_(True)
        return torch.autograd.grad(m(x).sum(), x)[0]

    g1 = gradient(first)
    assert (
        float(((g1 * f).sum(1).pow(2).mean() / (g1.pow(2).sum(1) * f.pow(2).sum(1)).mean()).sqrt())
        < 1e-4
    )
    # deflation: the next solution leaves the span of the first one's gradient
    basis = torch.linalg.qr(g1[:480, :, None])[0]
    second = solve_one_layer(model, train, test, basis, 0.1, 1e-2)
    g2 = gradient(second)
    assert (
        float(((g2 * f).sum(1).pow(2).mean() / (g2.pow(2).sum(1) * f.pow(2).sum(1)).mean()).sqrt())
        < 1e-4
    )
    cosine = (g1 * g2).sum(1).abs() / (g1.norm(dim=1) * g2.norm(dim=1))
    assert float(cosine.median()) < 0.9
    # both are combinations of H1 and H2: the network is a*H1 + b*H2 + c
    h = torch.stack(
        [states[:, 0] ** 2 + states[:, 1] ** 2, states[:, 2] ** 2 + states[:, 3] ** 2 / 2], 1
    )
    design = torch.cat([h, torch.ones(600, 1, dtype=torch.float64)], 1)
    for m in (first, second):
        with torch.no_grad():
            values = m(states)[:, 0]
        error = values - design @ torch.linalg.lstsq(design, values[:, None]).solution[:, 0]
        assert float(error.std() / values.std()) < 1e-4
    assert model.layers[0].coef.grad is None  # the model given is unchanged (a new one returned)


def test_unit_inner_scales_moves_the_scale_out_of_a_power_so_constants_snap():
    from kanscience.physics._invariant_refit import unit_inner_scales

    q, p = sympy.symbols("q p", real=True)
    fitted = p**2 - sympy.Float(0.2409) / sympy.sqrt(
        sympy.Float(0.0145) * q**2 + sympy.Float(0.0145)
    )
    moved = unit_inner_scales(fitted)
    assert (
        sympy.simplify(moved - fitted).equals(0)
        or abs(float((moved - fitted).subs({q: 0.7, p: 0.3}))) < 1e-12
    )
    assert sympy.nsimplify(moved, rational=True, tolerance=1e-2) == p**2 - 2 / sympy.sqrt(q**2 + 1)
    assert unit_inner_scales(p**2 + q) == p**2 + q  # nothing to move


def _plummer_invariants(states):
    qx, qy, px, py = states.T
    energy = (px**2 + py**2) / 2 - 1 / torch.sqrt(qx**2 + qy**2 + 1)
    return energy, qx * py - qy * px


def test_separable_combinations_unmix_two_invariants_mixed_by_the_deflation():
    from kanscience.physics._invariant_unmixing import separable_combinations
    from kanscience.structure import separability

    states = plummer.sample(400, 3)
    mixed = [
        lambda s: 1.16 * _plummer_invariants(s)[0] - 0.007 * _plummer_invariants(s)[1] + 0.8,
        lambda s: -0.48 * _plummer_invariants(s)[0] - 0.7 * _plummer_invariants(s)[1],
    ]
    assert not separability(mixed[0], states, method="difference").separable
    networks, accuracies, mixing = separable_combinations(mixed, [1e-6, 1e-6], states)
    energy, momentum = _plummer_invariants(states)
    design = torch.stack([energy, momentum, torch.ones_like(energy)], 1)
    weights = [
        torch.linalg.lstsq(design, network(states)[:, None]).solution[:2, 0] for network in networks
    ]
    # the first combination is H alone, the second L alone (to the float64 accuracy)
    assert abs(float(weights[0][1] / weights[0][0])) < 1e-9
    assert abs(float(weights[1][0] / weights[1][1])) < 1e-9
    groups = [separability(n, states, method="difference").groups for n in networks]
    assert groups == [((0, 1), (2,), (3,)), ((0, 3), (1, 2))]
    assert mixing.shape == (2, 2) and all(a < 1e-4 for a in accuracies)
    # networks that are already separable are returned as they are
    same, same_accuracies, identity = separable_combinations(networks, [1e-3, 2e-3], states)
    assert same == networks and same_accuracies == [1e-3, 2e-3]
    assert torch.equal(identity, torch.eye(2, dtype=torch.float64))


def test_derived_variable_finds_the_squared_norm_a_module_depends_on():
    from kanscience.physics._invariant_derived import derived_variable

    qx, qy, px, py = symbols = list(plummer.SYMBOLS)
    states = plummer.sample(300, 4)
    candidates = [qx * qy, qx**2 + qy**2, qx * py]
    found = derived_variable(
        lambda s: _plummer_invariants(s)[0], states, (0, 1), candidates, symbols, 1e-3
    )
    assert found is not None and found[0] == qx**2 + qy**2 and found[2] < 1e-12
    values = states[:, 0] ** 2 + states[:, 1] ** 2
    assert torch.allclose(found[1], values, rtol=0, atol=1e-12)
    # a module of two variables that is no function of one of them: none
    other = derived_variable(
        lambda s: s[:, 0] ** 2 + torch.sin(s[:, 1]), states, (0, 1), candidates, symbols, 1e-3
    )
    assert other is None
