"""Elastic (spring) pendulum Lagrangian (case D5 of PHYSICS_CASES.md).

``L = (rd^2 + r^2 thd^2) / 2 + 9.8 r cos(theta) - 5 (r - 1)^2``. Data: ``N = 10^4`` states
(data seed 12345), ``r ~ U[0.5, 1.5]``, ``theta ~ U[-pi, pi]``, ``rd, thd ~ U[-2, 2]``;
supervision is the accelerations ``(rdd, thdd)``. Judged by J3 (relative acceleration RMSE
below 1e-2 on fresh states, coefficients within 2%, no extra term above 1%);
:func:`kanscience.physics.fit_lagrangian` runs at its defaults.

Run: ``python -m physics_examples.elastic_pendulum [--seed S] [--steps N] [--n N]``.
"""

from __future__ import annotations

import math

import sympy

from . import CaseResult, run_as_script
from ._lagrange import run_lagrangian_case

R, THETA, RD, THD = SYMBOLS = sympy.symbols("r theta rd thd", real=True)
REFERENCE = (
    (RD**2 + R**2 * THD**2) / 2 + sympy.Rational(49, 5) * R * sympy.cos(THETA) - 5 * (R - 1) ** 2
)
RANGES = [(0.5, 1.5), (-math.pi, math.pi), (-2.0, 2.0), (-2.0, 2.0)]


def main(steps: int | None = None, seed: int = 0, n: int = 10_000) -> CaseResult:
    """Learn the Lagrangian and judge it (J3); ``steps`` None: the library's default."""
    return run_lagrangian_case("elastic_pendulum", REFERENCE, SYMBOLS, RANGES, steps, seed, n, 1e-2)


if __name__ == "__main__":
    raise SystemExit(run_as_script(main, (__doc__ or "").splitlines()[0]))
