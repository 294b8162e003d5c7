"""Lagrangian of a relativistic particle in a uniform field, from ``(q, qdot, qddot)``.

``qddot = (1 - qdot^2)^(3/2)`` (unit mass, charge, field and ``c``) with ``q`` uniform in
``[-2, 2]`` and ``qdot`` in ``[-1, 1]``; the KAN starts from the kanpiler prior
``L = qdot^2``. Expected ``L = -sqrt(1 - qdot^2) + q`` up to ``a L + b + dF(q)/dt``, found
without any hand re-fit: the velocity edge is also tried as ``g(a qdot^2 + b)``.

Run: ``python -m physics_examples.relativistic_particle [--seed S] [--steps N] [--n N]``.
"""

from __future__ import annotations

import sympy
import torch

from . import CaseResult, run_as_script
from ._lagrange import QDOT, Q, run_case

REFERENCE = -sympy.sqrt(1 - QDOT**2) + Q
RANGES = [(-2.0, 2.0), (-1.0, 1.0)]


def acceleration(q: torch.Tensor, qdot: torch.Tensor) -> torch.Tensor:
    """``(1 - qdot^2)^(3/2)``."""
    return (1 - qdot**2).clamp_min(0) ** 1.5


def main(steps: int = 100, seed: int = 0, n: int = 1000, grid: int = 10) -> CaseResult:
    """Learn the Lagrangian and check it (formula, accelerations, rollout, energy)."""
    return run_case(
        "relativistic_particle",
        REFERENCE,
        acceleration,
        RANGES,
        steps,
        seed,
        n,
        grid,
        rollout_time=2.0,
        rollout_ranges=[(-1.0, 1.0), (-0.5, 0.5)],
    )


if __name__ == "__main__":
    raise SystemExit(run_as_script(main, (__doc__ or "").splitlines()[0]))
