"""D7: a damped oscillator has no conserved quantity, and the library says so.

``dx/dt = p``, ``dp/dt = -x - 0.3 p`` sampled at 1000 states uniform in ``[-1, 1]^2`` (data
seed 12345). The honest answer is a count of 0, with the evidence of the rank test: every
network tried leaves a conservation residual far above the tolerance.

Run: ``python -m physics_examples.damped_oscillator [--seed S] [--steps N] [--n N]``.
"""

from __future__ import annotations

import time

import sympy
import torch

from kanscience.physics import find_conserved_quantities

from . import CaseResult, run_as_script, uniform

X, P = SYMBOLS = sympy.symbols("x p", real=True)
RANGES = [(-1.0, 1.0), (-1.0, 1.0)]
DATA_SEED = 12345


def flow(states: torch.Tensor) -> torch.Tensor:
    """``(p, -x - 0.3 p)``."""
    return torch.stack([states[:, 1], -states[:, 0] - 0.3 * states[:, 1]], 1)


def main(steps: int = 50, seed: int = 0, n: int = 1000) -> CaseResult:
    """Look for invariants and check that none is reported (see the module docstring)."""
    start = time.perf_counter()
    states = uniform(n, RANGES, DATA_SEED)
    leave = max(1, round(0.4 * steps))
    found = find_conserved_quantities(
        flow, states, SYMBOLS, steps=(leave, steps - leave), seed=seed
    )
    result = CaseResult("damped_oscillator", found.expressions, [], details=found)
    best = min((s.residual for s in found.stages), default=float("nan"))
    result.metrics.update(count=found.count, smallest_stage_residual=best, stages=len(found.stages))
    result.checks["count 0 (rank test)"] = found.count == 0
    result.checks["no law reported"] = found.expressions == [] and found.invariants == []
    result.checks["evidence: every network tried was rejected"] = bool(found.stages) and all(
        not s.accepted for s in found.stages
    )
    result.checks["the summary says so"] = found.summary.startswith("no conserved quantity")
    result.seconds = time.perf_counter() - start
    return result


if __name__ == "__main__":
    raise SystemExit(run_as_script(main, (__doc__ or "").splitlines()[0]))
