"""Conserved quantity of the 1-D harmonic oscillator, from its flow alone.

Flow ``(dx/dt, dp/dt) = (p, -x)`` sampled at ``(x, p)`` uniform in ``[-1, 1]^2``. Expected:
one conserved quantity, ``H = (x^2 + p^2) / 2`` up to ``a H + b``.

Plot (``result.plot()``): the level sets of the learned quantity (the formula and the KAN
itself, each mapped by its best ``a H + b``) over those of ``H``, i.e. the phase-space
orbits, and learned against true ``H`` on fresh states.

Run: ``python -m physics_examples.harmonic_oscillator [--seed S] [--steps N] [--n N]
[--plot out.png]``.
"""

from __future__ import annotations

import time

import sympy
import torch

from kanscience.physics import (
    ConservedQuantities,
    LawContours,
    LawPanel,
    LawParity,
    compare_laws,
    conservation_residual,
    expression_gradient,
    find_conserved_quantities,
)

from . import CaseResult, run_as_script, uniform
from ._plots import N_PARITY, box_grid, gauge_note, gauges, in_gauge, values

X, P = sympy.symbols("x p", real=True)
REFERENCE = (X**2 + P**2) / 2
RANGES = [(-1.0, 1.0), (-1.0, 1.0)]


def flow(states: torch.Tensor) -> torch.Tensor:
    """``(p, -x)``."""
    return torch.stack([states[:, 1], -states[:, 0]], 1)


def law_panels(
    found: ConservedQuantities, law: sympy.Expr | None, seed: int, m: int = 61
) -> list[LawPanel]:
    """Level sets on an ``m x m`` grid and a parity panel on fresh states: the true ``H``
    against the formula ``law`` (when found) and the first KAN of ``found``, each in the
    gauge ``a Q + b`` fitted on the grid."""
    x, p, grid = box_grid(RANGES, m)
    fresh = uniform(N_PARITY, RANGES, seed + 30_000)
    true_grid, true_fresh = values(REFERENCE, [X, P], grid), values(REFERENCE, [X, P], fresh)
    on_grid, on_fresh = {}, {}
    if law is not None:
        on_grid["formula"] = values(law, [X, P], grid)
        on_fresh["formula"] = values(law, [X, P], fresh)
    if found.models:
        with torch.no_grad():
            on_grid["KAN"] = found.kan_values(0, grid).double().numpy()
            on_fresh["KAN"] = found.kan_values(0, fresh).double().numpy()
    note = gauge_note(gauges(on_grid, true_grid))
    on_grid, on_fresh = in_gauge(on_grid, true_grid, on_fresh)
    contours = {label: v.reshape(m, m) for label, v in on_grid.items()}
    return [
        LawContours(
            x,
            p,
            true_grid.reshape(m, m),
            contours,
            title="level sets of H = orbits (learned: a Q + b)",
            xlabel="x",
            ylabel="p",
            note=note,
        ),
        LawParity(true_fresh, on_fresh, title="H on fresh states", quantity="H"),
    ]


def main(
    steps: int = 50, seed: int = 0, n: int = 1000, grid: int = 5, budget: float = 30.0
) -> CaseResult:
    """Find the conserved quantity and check it.

    Parameters
    ----------
    steps : int
        L-BFGS steps per deflation stage (40% leaving, 60% polishing).
    seed : int
    n : int
        Sampled states.
    grid : int
    budget : float
        Seconds of symbolic search per conserved quantity (``formula_budget``).
    """
    start = time.perf_counter()
    states = uniform(n, RANGES, seed)
    leave = max(1, round(0.4 * steps))
    found = find_conserved_quantities(
        flow,
        states,
        [X, P],
        steps=(leave, steps - leave),
        grid=grid,
        formula_budget=budget,
        seed=seed,
    )
    law = found.expressions[0] if found.expressions else None
    result = CaseResult("harmonic_oscillator", law, REFERENCE, details=found)
    result.metrics["kan_residual"] = found.stages[0].residual if found.stages else float("nan")
    result.checks["one conserved quantity"] = found.count == 1
    if law is not None:
        exact = compare_laws(law, REFERENCE, [X, P], ignore_constant=True)
        fitted = compare_laws(found.fitted[0], REFERENCE, [X, P], ignore_constant=True)
        fresh = uniform(4000, RANGES, seed + 10_000)
        residual = conservation_residual(expression_gradient(law, [X, P], fresh), flow(fresh))
        result.metrics.update(
            coefficient_error=fitted.coefficient_error,
            spurious=fitted.spurious,
            fresh_residual=residual,
        )
        result.checks.update(
            {
                "equals (x^2 + p^2)/2 up to a*H + b": exact.exact,
                "coefficients within 2% before snapping": fitted.coefficient_error < 0.02,
                "no spurious term above 1%": fitted.spurious < 0.01,
                "conservation residual < 1e-3 on fresh states": residual < 1e-3,
            }
        )
    else:
        result.checks["formula found"] = False
    result.panels = law_panels(found, law, seed)
    result.seconds = time.perf_counter() - start
    return result


if __name__ == "__main__":
    raise SystemExit(run_as_script(main, (__doc__ or "").splitlines()[0]))
