"""Shared steps of the Lagrangian cases: a kanpiler prior, the checks, a rollout, the plot.

The plot shows the Lagrangian along ``q`` (at ``qdot = 0``) and along ``qdot`` (at
``q = 0``, or the middle of the box): the formula in the reference's gauge (its best
``a L + b`` over the box; the formula is already in the canonical gauge, so no ``dF/dt``
is left), and predicted against true accelerations on fresh states for the formula and
for the KAN itself (accelerations are gauge-free, so nothing is fitted there).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import sympy
import torch

from kanscience import KAN
from kanscience.physics import (
    LagrangianResult,
    LawCurves,
    LawPanel,
    LawParity,
    canonical_lagrangian,
    compare_laws,
    fit_lagrangian,
    lagrangian_accelerations,
    lagrangian_energy,
    rollout,
)
from kanscience.symbolic import formula_to_torch

from . import CaseResult, uniform
from ._plots import N_PARITY, box_grid, in_gauge, values

Q, QDOT = sympy.symbols("q qdot", real=True)


def kanpiler_prior(prior: str, ranges: Sequence[tuple[float, float]], grid: int) -> KAN | None:
    """``prior`` compiled by the kanpiler into a one-layer spline KAN on ``ranges``, with
    every edge switched on (edges the prior does not use start at zero); None if the
    compiler is not installed (then :func:`fit_lagrangian` pre-fits its own prior)."""
    try:
        from compiler import compile_formula, symbolic_to_spline
    except ImportError:  # pragma: no cover - the compiler ships with the project
        return None
    compiled = compile_formula(prior, [str(Q), str(QDOT)], ranges=list(ranges))
    if compiled.depth != 1:
        return None
    model = symbolic_to_spline(compiled, list(ranges), grid=grid)
    layer = model.layers[0]
    for i, j in (layer.mask == 0).nonzero().tolist():
        model.set_mode_(0, i, j, "n")
    return model


def law_panels(
    found: LagrangianResult,
    truth: sympy.Expr,
    q: torch.Tensor,
    qdot: torch.Tensor,
    true_acceleration: torch.Tensor,
    ranges: Sequence[tuple[float, float]],
    m: int = 41,
    n_slice: int = 201,
) -> list[LawPanel]:
    """Two slices of ``L`` (when a formula was found) and a parity panel of the
    accelerations at the fresh states ``(q, qdot)`` (see the module docstring); the gauge
    is fitted on an ``m x m`` grid, each slice has ``n_slice`` points."""
    panels: list[LawPanel] = []
    symbols = [Q, QDOT]
    if found.expression is not None:
        _, _, grid = box_grid(ranges, m)
        centre = [min(max(0.0, lo), hi) for lo, hi in ranges]
        along = []
        for axis in range(2):
            points = torch.tensor(centre, dtype=torch.float64).repeat(n_slice, 1)
            points[:, axis] = torch.linspace(*ranges[axis], n_slice, dtype=torch.float64)
            along.append(points)
        _, *on_slices = in_gauge(
            {"formula": values(found.expression, symbols, grid)},
            values(truth, symbols, grid),
            *({"formula": values(found.expression, symbols, s)} for s in along),
        )
        for axis, (points, learned) in enumerate(zip(along, on_slices)):
            other = symbols[1 - axis]
            panels.append(
                LawCurves(
                    points[:, axis].numpy(),
                    values(truth, symbols, points),
                    learned,
                    title=f"L along {symbols[axis]} at {other} = "
                    f"{centre[1 - axis]:g} (learned: a L + b)",
                    xlabel=str(symbols[axis]),
                    ylabel="L",
                )
            )
    learned = {}
    if found.expression is not None:
        learned["formula"] = found.accelerations(q, qdot)[:, 0].numpy()
    learned["KAN"] = (
        lagrangian_accelerations(found.lagrangian or found.model, q, qdot, on_singular="ignore")[
            :, 0
        ]
        .detach()
        .numpy()
    )
    panels.append(
        LawParity(
            true_acceleration[:, 0].numpy(),
            learned,
            title="accelerations on fresh states",
            quantity="qddot",
        )
    )
    return panels


def run_case(
    name: str,
    reference: sympy.Expr,
    acceleration: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    ranges: Sequence[tuple[float, float]],
    steps: int,
    seed: int,
    n: int,
    grid: int,
    rollout_time: float,
    rollout_ranges: Sequence[tuple[float, float]],
) -> CaseResult:
    """Sample, learn, extract, check (see :mod:`physics_examples`)."""
    start = time.perf_counter()
    samples = uniform(n, ranges, seed)
    q, qdot = samples[:, :1], samples[:, 1:]
    qddot = acceleration(q, qdot)
    model = kanpiler_prior("qdot**2", ranges, grid)
    with warnings.catch_warnings():
        # the share of indefinite states is recorded below; the formula's checks judge it
        warnings.filterwarnings("ignore", "the learned mass matrix", RuntimeWarning)
        found = fit_lagrangian(
            q, qdot, qddot, [Q], [QDOT], model=model, grid=grid, steps=steps, seed=seed
        )
    law = found.expression
    truth = canonical_lagrangian(reference, [Q], [QDOT])
    result = CaseResult(name, law, truth, details=found)
    result.metrics["kan_acceleration_error"] = found.kan_error
    result.metrics["indefinite_mass_share"] = float(found.checks["indefinite mass matrix share"])
    if law is None:
        result.checks["formula found"] = False
        result.metrics["formula_acceleration_error"] = found.error
        fresh = uniform(N_PARITY, ranges, seed + 10_000)
        result.panels = law_panels(
            found,
            truth,
            fresh[:, :1],
            fresh[:, 1:],
            acceleration(fresh[:, :1], fresh[:, 1:]),
            ranges,
        )
        result.seconds = time.perf_counter() - start
        return result
    exact = compare_laws(law, truth, [Q, QDOT], ignore_constant=True)
    fitted = compare_laws(found.fitted or law, truth, [Q, QDOT], ignore_constant=True)
    fresh = uniform(4000, ranges, seed + 10_000)
    fq, fv = fresh[:, :1], fresh[:, 1:]
    predicted = found.accelerations(fq, fv)
    true = acceleration(fq, fv)
    error = float((predicted - true).pow(2).mean().sqrt() / true.pow(2).mean().sqrt())

    # rollout: the recovered law against the true dynamics, and its energy
    law_fn = formula_to_torch(law, [Q, QDOT])
    start_states = uniform(8, rollout_ranges, seed + 20_000)
    dt, n_steps = 0.01, round(rollout_time / 0.01)
    learned_q, learned_v = rollout(
        lambda a, b: lagrangian_accelerations(law_fn, a, b),
        start_states[:, :1],
        start_states[:, 1:],
        dt,
        n_steps,
    )
    true_q, true_v = rollout(acceleration, start_states[:, :1], start_states[:, 1:], dt, n_steps)
    deviation = float(
        torch.maximum((learned_q - true_q).abs().max(), (learned_v - true_v).abs().max())
    )
    energy_fn = formula_to_torch(lagrangian_energy(law, [QDOT]), [Q, QDOT])
    energy = energy_fn(torch.cat([learned_q, learned_v], 2).reshape(-1, 2)).reshape(n_steps + 1, -1)
    drift = float(
        ((energy - energy[0]).abs().max(0).values / energy[0].abs().clamp_min(1e-12)).max()
    )

    result.metrics.update(
        coefficient_error=fitted.coefficient_error,
        spurious=fitted.spurious,
        acceleration_error=error,
        rollout_deviation=deviation,
        energy_drift=drift,
    )
    result.checks.update(
        {
            "equals the reference up to a*L + b + dF/dt": exact.exact,
            "coefficients within 2% before snapping": fitted.coefficient_error < 0.02,
            "no spurious term above 1%": fitted.spurious < 0.01,
            "acceleration relative RMSE < 1e-3 on fresh samples": error < 1e-3,
            "rollout follows the true dynamics (max deviation < 1e-3)": deviation < 1e-3,
            "energy conserved along the rollout (relative drift < 1e-6)": drift < 1e-6,
        }
    )
    result.panels = law_panels(found, truth, fq[:N_PARITY], fv[:N_PARITY], true[:N_PARITY], ranges)
    result.seconds = time.perf_counter() - start
    return result


DATA_SEED = 12345  # the data of every development case (model seeds vary)


def true_accelerations(
    reference: sympy.Expr, symbols: Sequence[sympy.Symbol], states: torch.Tensor
):
    """Accelerations of ``reference`` at ``states`` ``[q, qdot]`` (n, 2 d)."""
    dof = states.shape[1] // 2
    return lagrangian_accelerations(
        formula_to_torch(reference, list(symbols)), states[:, :dof], states[:, dof:]
    )


def run_lagrangian_case(
    name: str,
    reference: sympy.Expr,
    symbols: Sequence[sympy.Symbol],
    ranges: Sequence[tuple[float, float]],
    steps: int | None,
    seed: int,
    n: int,
    acceleration_tol: float,
    **options: Any,
) -> CaseResult:
    """A case of several degrees of freedom judged by J3 of PHYSICS_CASES.md: samples
    (data seed :data:`DATA_SEED`) -> :func:`fit_lagrangian` at its defaults (``steps``
    None) -> the law,
    compared with ``reference`` in the canonical gauge (coefficients within 2% before
    snapping, no extra term above 1%), and its accelerations on fresh states (relative
    RMSE below ``acceleration_tol``). No law is a failure, with the library's reason."""
    start = time.perf_counter()
    symbols = list(symbols)
    dof = len(symbols) // 2
    qs, vs = symbols[:dof], symbols[dof:]
    states = uniform(n, ranges, DATA_SEED)
    accelerations = true_accelerations(reference, symbols, states)
    with warnings.catch_warnings():
        # recorded in the metrics below (indefinite_mass_share)
        warnings.filterwarnings("ignore", "the learned mass matrix", RuntimeWarning)
        found = fit_lagrangian(
            states[:, :dof],
            states[:, dof:],
            accelerations,
            qs,
            vs,
            seed=seed,
            **({} if steps is None else {"steps": steps}),
            **options,
        )
    truth = canonical_lagrangian(reference, qs, vs)
    result = CaseResult(name, found.law, truth, details=found)
    result.metrics["network_acceleration_error"] = found.kan_error
    result.metrics["indefinite_mass_share"] = float(found.checks["indefinite mass matrix share"])
    fresh = uniform(10_000, ranges, DATA_SEED + 1)
    true = true_accelerations(reference, symbols, fresh)
    learned = {
        "network": lagrangian_accelerations(
            found.lagrangian or found.model, fresh[:, :dof], fresh[:, dof:], on_singular="ignore"
        )
        .detach()[:N_PARITY, 0]
        .numpy()
    }
    if found.law is None:
        result.checks["formula found"] = False
        result.metrics["formula_acceleration_error"] = found.error
    else:
        predicted = found.accelerations(fresh[:, :dof], fresh[:, dof:])
        error = float(
            (predicted - true).pow(2).sum(1).mean().sqrt() / true.pow(2).sum(1).mean().sqrt()
        )
        exact = compare_laws(found.law, truth, symbols, ignore_constant=True)
        fitted = compare_laws(found.fitted or found.law, truth, symbols, ignore_constant=True)
        result.metrics.update(
            acceleration_error=error,
            coefficient_error=fitted.coefficient_error,
            spurious=fitted.spurious,
        )
        result.checks.update(
            {
                "equals the reference up to a*L + b + dF/dt": exact.exact,
                "coefficients within 2% before snapping": fitted.coefficient_error < 0.02,
                "no spurious term above 1%": fitted.spurious < 0.01,
                f"acceleration relative RMSE < {acceleration_tol:g} on fresh samples": error
                < acceleration_tol,
            }
        )
        learned["formula"] = predicted[:N_PARITY, 0].numpy()
    result.panels = [
        LawParity(
            true[:N_PARITY, 0].numpy(),
            learned,
            title=f"accelerations on fresh states ({vs[0]}dot)",
            quantity=f"d{vs[0]}/dt",
        )
    ]
    result.seconds = time.perf_counter() - start
    return result
