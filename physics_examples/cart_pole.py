"""Cart-pole Lagrangian (case D4 of PHYSICS_CASES.md): two coupled degrees of freedom.

Cart mass 1, a point mass 0.5 at the end of a massless pole of length 1, ``g = 9.8``,
``theta`` from the downward vertical:
``L = 3/4 xd^2 + 1/2 xd thd cos(theta) + 1/4 thd^2 + 4.9 cos(theta)``, with the coupling
``xd thd cos(theta)`` a product of three factors. Data: ``N = 10^4`` states (data seed
12345), ``x ~ U[-1, 1]``, ``theta ~ U[-pi, pi]``, ``xd, thd ~ U[-2, 2]``; supervision is the
two accelerations. Judged by J3 (relative acceleration RMSE below 1e-2 on fresh states,
coefficients within 2%, no extra term above 1%); :func:`kanscience.physics.fit_lagrangian`
runs at its defaults.

Run: ``python -m physics_examples.cart_pole [--seed S] [--steps N] [--n N]``.
"""

from __future__ import annotations

import math

import sympy

from . import CaseResult, run_as_script
from ._lagrange import run_lagrangian_case

X, THETA, XD, THD = SYMBOLS = sympy.symbols("x theta xd thd", real=True)
REFERENCE = (
    sympy.Rational(3, 4) * XD**2
    + XD * THD * sympy.cos(THETA) / 2
    + THD**2 / 4
    + sympy.Rational(49, 10) * sympy.cos(THETA)
)
RANGES = [(-1.0, 1.0), (-math.pi, math.pi), (-2.0, 2.0), (-2.0, 2.0)]


def main(steps: int | None = None, seed: int = 0, n: int = 10_000) -> CaseResult:
    """Learn the Lagrangian and judge it (J3); ``steps`` None: the library's default."""
    return run_lagrangian_case("cart_pole", REFERENCE, SYMBOLS, RANGES, steps, seed, n, 1e-2)


if __name__ == "__main__":
    raise SystemExit(run_as_script(main, (__doc__ or "").splitlines()[0]))
