"""Constitutive law of a compressible neo-Hookean solid, from stress samples.

``F = I + U(-s, s)^(3x3)`` (samples with ``det F <= 0`` dropped), Kirchhoff stress
``tau = mu (F F^T - I) + lambda log(det F) I`` with ``E = 1, nu = 0.2`` (``mu = 5/12``,
``lambda = 5/18``). With the auxiliary feature ``J = det F`` and a linear-elastic prior,
each component becomes a formula:

    tau11 = mu (F11^2 + F12^2 + F13^2 - 1) + lambda log J,
    tau12 = mu (F11 F21 + F12 F22 + F13 F23).

Run: ``python -m physics_examples.neo_hookean [--seed S] [--steps N] [--n N]``.
"""

from __future__ import annotations

import time

import sympy
import torch

from kanscience.formula import formula_to_torch
from kanscience.physics import (
    compare_laws,
    deformation_symbols,
    determinant_feature,
    fit_constitutive,
)

from . import CaseResult, run_as_script

E, NU = sympy.Integer(1), sympy.Rational(1, 5)
MU = E / (2 * (1 + NU))
LAMBDA = E * NU / ((1 + NU) * (1 - 2 * NU))
F11, F12, F13, F21, F22, F23, F31, F32, F33 = FS = deformation_symbols()
J = sympy.Symbol("J", real=True)
REFERENCE = {(0, 0): MU * (F11**2 + F12**2 + F13**2 - 1) + LAMBDA * sympy.log(J),
             (0, 1): MU * (F11 * F21 + F12 * F22 + F13 * F23)}


def sample(n: int, s: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Deformation gradients (det F > 0 kept) and their Kirchhoff stresses."""
    generator = torch.Generator().manual_seed(int(seed))
    F = torch.eye(3, dtype=torch.float64) + s * (
        2 * torch.rand(n, 3, 3, generator=generator, dtype=torch.float64) - 1)
    det = torch.linalg.det(F)
    F, det = F[det > 0], det[det > 0]
    eye = torch.eye(3, dtype=torch.float64)
    tau = float(MU) * (F @ F.transpose(1, 2) - eye) + float(LAMBDA) * torch.log(det)[:, None, None] * eye
    return F, tau


def main(steps: int = 50, seed: int = 0, n: int = 2000, grid: int = 5, s: float = 0.2
         ) -> CaseResult:
    """Fit tau11 and tau12 and check them (see the module docstring)."""
    start = time.perf_counter()
    F, tau = sample(n, s, seed)
    fresh_F, fresh_tau = sample(4000, s, seed + 10_000)
    variables = FS + [J]
    fresh_inputs = torch.cat([fresh_F.reshape(-1, 9), torch.linalg.det(fresh_F)[:, None]], 1)
    laws, details, checks, metrics = {}, {}, {}, {}
    for component, reference in REFERENCE.items():
        label = f"tau{component[0] + 1}{component[1] + 1}"
        found = fit_constitutive(F, tau[:, component[0], component[1]], component,
                                 aux={"J": determinant_feature()}, steps=steps, grid=grid,
                                 seed=seed)
        laws[label], details[label] = found.snapped, found
        exact = compare_laws(found.snapped, reference, variables, scaled=False)
        fitted = compare_laws(found.expression, reference, variables, scaled=False)
        y = fresh_tau[:, component[0], component[1]]
        prediction = formula_to_torch(found.snapped, variables)(fresh_inputs)
        r2 = 1 - float((prediction - y).pow(2).sum() / (y - y.mean()).pow(2).sum())
        metrics.update({f"{label} coefficient_error": fitted.coefficient_error,
                        f"{label} spurious": fitted.spurious, f"{label} fresh R^2": r2,
                        f"{label} prior R^2": found.prior_r2})
        checks.update({
            f"{label} equals the reference": exact.exact,
            f"{label} mu, lambda within 2% before snapping": fitted.coefficient_error < 0.02,
            f"{label} no spurious term above 1%": fitted.spurious < 0.01,
            f"{label} R^2 > 0.999 on fresh samples": r2 > 0.999,
        })
    result = CaseResult("neo_hookean", laws, {f"tau{i + 1}{j + 1}": e for (i, j), e in
                                              REFERENCE.items()}, checks, metrics,
                        details=details)
    result.seconds = time.perf_counter() - start
    return result


if __name__ == "__main__":
    raise SystemExit(run_as_script(main, __doc__.splitlines()[0]))
