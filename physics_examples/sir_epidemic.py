"""D1: the logarithmic invariant of the SIR epidemic, from its flow.

``dS/dt = -beta S I``, ``dI/dt = beta S I - gamma I`` with ``beta = 2``, ``gamma = 1``,
sampled at 1000 states ``(S, I)`` uniform in ``[0.2, 2]^2`` (data seed 12345). Expected: one
invariant, ``V = S + I - (gamma / beta) ln S = S + I - ln(S) / 2``, whose ``S`` part is a sum
of two library functions. Judged by J1 (symbolic, up to ``a V + b``), J2 and J4 of
../shared/PHYSICS_CASES.md, at the library's defaults.

Run: ``python -m physics_examples.sir_epidemic [--seed S] [--steps N] [--n N] [--plot out.png]``.
"""

from __future__ import annotations

import time

import sympy
import torch

from kanscience.physics import find_conserved_quantities

from . import CaseResult, run_as_script, uniform
from ._invariant_judge import judge_law

S, I = SYMBOLS = sympy.symbols("S I", real=True)
REFERENCE = S + I - sympy.log(S) / 2
RANGES = [(0.2, 2.0), (0.2, 2.0)]
DATA_SEED = 12345


def flow(states: torch.Tensor) -> torch.Tensor:
    """``(-2 S I, 2 S I - I)``."""
    s, i = states[:, 0], states[:, 1]
    return torch.stack([-2 * s * i, 2 * s * i - i], 1)


def main(steps: int = 50, seed: int = 0, n: int = 1000, budget: float = 30.0) -> CaseResult:
    """Find the invariant and judge it.

    Parameters
    ----------
    steps : int
        L-BFGS steps per deflation stage (40% leaving, 60% polishing).
    seed : int
        Model seed (the data seed is fixed).
    n : int
        Sampled states.
    budget : float
        Seconds of symbolic search per invariant (``formula_budget``).
    """
    start = time.perf_counter()
    states = uniform(n, RANGES, DATA_SEED)
    leave = max(1, round(0.4 * steps))
    found = find_conserved_quantities(
        flow, states, SYMBOLS, steps=(leave, steps - leave), formula_budget=budget, seed=seed
    )
    law = found.expressions[0] if found.expressions else None
    result = CaseResult("sir_epidemic", law, REFERENCE, details=found)
    result.checks["one conserved quantity (rank test)"] = found.count == 1
    fresh = uniform(10_000, RANGES, DATA_SEED + 1)
    if law is None:
        result.metrics["count"] = found.count
    judge_law(result, law, REFERENCE, SYMBOLS, fresh, flow, name="V", shown=fresh[:300])
    result.seconds = time.perf_counter() - start
    return result


if __name__ == "__main__":
    raise SystemExit(run_as_script(main, (__doc__ or "").splitlines()[0]))
