"""Lagrangian of the single pendulum, from ``(q, qdot, qddot)`` samples.

``qddot = -sin q`` with ``q, qdot`` uniform in ``[-2, 2]``; the KAN starts from the
kanpiler prior ``L = qdot^2``. Expected ``L = qdot^2/2 + cos q`` up to
``a L + b + dF(q)/dt``.

Run: ``python -m physics_examples.pendulum [--seed S] [--steps N] [--n N]``.
"""

from __future__ import annotations

import sympy
import torch

from . import CaseResult, run_as_script
from ._lagrange import QDOT, Q, run_case

REFERENCE = QDOT**2 / 2 + sympy.cos(Q)
RANGES = [(-2.0, 2.0), (-2.0, 2.0)]


def acceleration(q: torch.Tensor, qdot: torch.Tensor) -> torch.Tensor:
    """``-sin q``."""
    return -torch.sin(q)


def main(steps: int = 50, seed: int = 0, n: int = 1000, grid: int = 10) -> CaseResult:
    """Learn the Lagrangian and check it (formula, accelerations, rollout, energy)."""
    return run_case(
        "pendulum",
        REFERENCE,
        acceleration,
        RANGES,
        steps,
        seed,
        n,
        grid,
        rollout_time=10.0,
        rollout_ranges=[(-1.5, 1.5), (-1.0, 1.0)],
    )


if __name__ == "__main__":
    raise SystemExit(run_as_script(main, (__doc__ or "").splitlines()[0]))
