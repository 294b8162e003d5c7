"""Conserved quantity of the 1-D harmonic oscillator, from its flow alone.

Flow ``(dx/dt, dp/dt) = (p, -x)`` sampled at ``(x, p)`` uniform in ``[-1, 1]^2``. Expected:
one conserved quantity, ``H = (x^2 + p^2) / 2`` up to ``a H + b``.

Run: ``python -m physics_examples.harmonic_oscillator [--seed S] [--steps N] [--n N]``.
"""

from __future__ import annotations

import time

import sympy
import torch

from kanscience.physics import (
    compare_laws,
    conservation_residual,
    expression_gradient,
    find_conserved_quantities,
)

from . import CaseResult, run_as_script, uniform

X, P = sympy.symbols("x p", real=True)
REFERENCE = (X**2 + P**2) / 2
RANGES = [(-1.0, 1.0), (-1.0, 1.0)]


def flow(states: torch.Tensor) -> torch.Tensor:
    """``(p, -x)``."""
    return torch.stack([states[:, 1], -states[:, 0]], 1)


def main(steps: int = 50, seed: int = 0, n: int = 1000, grid: int = 5) -> CaseResult:
    """Find the conserved quantity and check it.

    Parameters
    ----------
    steps : int
        L-BFGS steps per deflation stage (40% leaving, 60% polishing).
    seed : int
    n : int
        Sampled states.
    grid : int
    """
    start = time.perf_counter()
    states = uniform(n, RANGES, seed)
    leave = max(1, round(0.4 * steps))
    found = find_conserved_quantities(flow, states, [X, P], steps=(leave, steps - leave),
                                      grid=grid, seed=seed)
    law = found.expressions[0] if found.expressions else None
    result = CaseResult("harmonic_oscillator", law, REFERENCE, details=found)
    result.metrics["kan_residual"] = found.stages[0].residual if found.stages else float("nan")
    result.checks["one conserved quantity"] = found.count == 1
    if law is not None:
        exact = compare_laws(law, REFERENCE, [X, P], ignore_constant=True)
        fitted = compare_laws(found.fitted[0], REFERENCE, [X, P], ignore_constant=True)
        fresh = uniform(4000, RANGES, seed + 10_000)
        residual = conservation_residual(expression_gradient(law, [X, P], fresh), flow(fresh))
        result.metrics.update(coefficient_error=fitted.coefficient_error,
                              spurious=fitted.spurious, fresh_residual=residual)
        result.checks.update({
            "equals (x^2 + p^2)/2 up to a*H + b": exact.exact,
            "coefficients within 2% before snapping": fitted.coefficient_error < 0.02,
            "no spurious term above 1%": fitted.spurious < 0.01,
            "conservation residual < 1e-3 on fresh states": residual < 1e-3,
        })
    else:
        result.checks["formula found"] = False
    result.seconds = time.perf_counter() - start
    return result


if __name__ == "__main__":
    raise SystemExit(run_as_script(main, __doc__.splitlines()[0]))
