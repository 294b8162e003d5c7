"""D3: the energy of the Duffing oscillator from trajectories alone (no flow given).

``dx/dt = p``, ``dp/dt = -x - x^3``: 40 trajectories from ``(x0, p0)`` uniform in
``[-1.5, 1.5]^2`` (data seed 12345), ``t`` in ``[0, 10]``, 200 samples each, integrated at
``rtol = atol = 1e-10``; optionally with relative noise on the states (``--noise 1e-3``).
The library gets the states and times only and estimates the flow itself. Expected: one
invariant, ``H = p^2/2 + x^2/2 + x^4/4`` up to ``a H + b``; judged by J1, J2 (with the true
flow) and J4 on 10^4 states of fresh trajectories.

Run: ``python -m physics_examples.duffing_trajectories [--seed S] [--steps N]
[--noise 1e-3] [--plot out.png]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import sympy
import torch
from scipy.integrate import solve_ivp

from kanscience.physics import find_conserved_quantities

from . import CaseResult, run_as_script
from ._invariant_judge import judge_law

X, P = SYMBOLS = sympy.symbols("x p", real=True)
REFERENCE = P**2 / 2 + X**2 / 2 + X**4 / 4
DATA_SEED = 12345


def flow(states: torch.Tensor) -> torch.Tensor:
    """``(p, -x - x^3)``."""
    return torch.stack([states[:, 1], -states[:, 0] - states[:, 0] ** 3], 1)


def trajectories(
    n: int = 40, samples: int = 200, noise: float = 0.0, seed: int = DATA_SEED
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``n`` trajectories ``(t, states)`` (see the module docstring)."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0.0, 10.0, samples)
    out = []
    for start in rng.uniform(-1.5, 1.5, size=(n, 2)):
        solution = solve_ivp(
            lambda _, y: [y[1], -y[0] - y[0] ** 3],
            (0.0, 10.0),
            start,
            t_eval=t,
            rtol=1e-10,
            atol=1e-10,
            method="DOP853",
        )
        states = solution.y.T
        if noise:
            states = states * (1 + noise * rng.standard_normal(states.shape))
        out.append((t, states))
    return out


def main(steps: int = 50, seed: int = 0, noise: float = 0.0, budget: float = 30.0) -> CaseResult:
    """Find the energy from trajectories and judge it (see the module docstring)."""
    start = time.perf_counter()
    leave = max(1, round(0.4 * steps))
    found = find_conserved_quantities(
        trajectories=trajectories(noise=noise),
        variables=SYMBOLS,
        steps=(leave, steps - leave),
        formula_budget=budget,
        seed=seed,
    )
    law = found.expressions[0] if found.expressions else None
    name = "duffing_trajectories" + (f" (noise {noise:g})" if noise else "")
    result = CaseResult(name, law, REFERENCE, details=found)
    result.checks["one conserved quantity (rank test)"] = found.count == 1
    fresh_runs = trajectories(n=50, seed=DATA_SEED + 1)
    fresh = torch.from_numpy(np.concatenate([states for _, states in fresh_runs]))
    if found.flow is not None:
        result.metrics["flow_relative_error"] = found.flow.relative_error
    judge_law(result, law, REFERENCE, SYMBOLS, fresh, flow, name="H", shown=fresh[::33])
    result.seconds = time.perf_counter() - start
    return result


def _main_with_noise(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--noise", type=float, default=0.0)
    known, rest = parser.parse_known_args(argv)

    def run(**options: object) -> CaseResult:
        return main(noise=known.noise, **options)  # type: ignore[arg-type]

    return run_as_script(run, (__doc__ or "").splitlines()[0], rest)


if __name__ == "__main__":
    raise SystemExit(_main_with_noise())
