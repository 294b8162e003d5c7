"""Constitutive law of a compressible neo-Hookean solid, from stress samples.

``F = I + U(-s, s)^(3x3)`` (samples with ``det F <= 0`` dropped), Kirchhoff stress
``tau = mu (F F^T - I) + lambda log(det F) I`` with ``E = 1, nu = 0.2`` (``mu = 5/12``,
``lambda = 5/18``). With the auxiliary feature ``J = det F``,
:func:`kanscience.physics.fit_constitutive` finds each component's formula through the
general symbolic search (``tau12`` on the pairwise products of the ``F`` entries, which
the search gets after the entries alone):

    tau11 = mu (F11^2 + F12^2 + F13^2 - 1) + lambda log J,
    tau12 = mu (F11 F21 + F12 F22 + F13 F23).

Plot (``result.plot()``): the two classic material tests, ``tau11`` under uniaxial stretch
``F = diag(lambda, 1, 1)`` and ``tau12`` under simple shear ``F = I + gamma e1 e2^T``
(within the sampled range), and predicted against true stress on fresh samples, for the
formula and for the KAN itself (the fitted linear-elastic prior plus the network on its
residual); stress has no gauge, so nothing is fitted for the plot.

Run: ``python -m physics_examples.neo_hookean [--seed S] [--steps N] [--n N]
[--plot out.png]``.
"""

from __future__ import annotations

import time

import numpy as np
import sympy
import torch

from kanscience.physics import (
    ConstitutiveResult,
    LawCurves,
    LawPanel,
    LawParity,
    compare_laws,
    deformation_symbols,
    determinant_feature,
    fit_constitutive,
    term_matrix,
)
from kanscience.symbolic import formula_to_torch

from . import CaseResult, run_as_script
from ._plots import N_PARITY, kan_values, values

E, NU = sympy.Integer(1), sympy.Rational(1, 5)
MU = E / (2 * (1 + NU))
LAMBDA = E * NU / ((1 + NU) * (1 - 2 * NU))
F11, F12, F13, F21, F22, F23, F31, F32, F33 = FS = deformation_symbols()
J = sympy.Symbol("J", real=True)
REFERENCE = {
    (0, 0): MU * (F11**2 + F12**2 + F13**2 - 1) + LAMBDA * sympy.log(J),
    (0, 1): MU * (F11 * F21 + F12 * F22 + F13 * F23),
}


def kirchhoff(F: torch.Tensor) -> torch.Tensor:
    """The true Kirchhoff stress ``mu (F F^T - I) + lambda log(det F) I`` of ``F`` (n, 3, 3)."""
    eye = torch.eye(3, dtype=F.dtype)
    log_j = torch.log(torch.linalg.det(F))[:, None, None]
    return float(MU) * (F @ F.transpose(1, 2) - eye) + float(LAMBDA) * log_j * eye


def sample(n: int, s: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Deformation gradients (det F > 0 kept) and their Kirchhoff stresses."""
    generator = torch.Generator().manual_seed(int(seed))
    F = torch.eye(3, dtype=torch.float64) + s * (
        2 * torch.rand(n, 3, 3, generator=generator, dtype=torch.float64) - 1
    )
    F = F[torch.linalg.det(F) > 0]
    return F, kirchhoff(F)


def law_inputs(F: torch.Tensor) -> torch.Tensor:
    """The law's variables ``F11 .. F33, J`` at ``F`` (n, 3, 3): (n, 10)."""
    return torch.cat([F.reshape(-1, 9), torch.linalg.det(F)[:, None]], 1)


def kan_stress(found: ConstitutiveResult, inputs: torch.Tensor) -> np.ndarray:
    """The stress the KAN of ``found`` predicts (prior + network) at ``inputs`` (n, 10)."""
    variables = FS + list(found.aux)
    features = term_matrix(found.features, variables, inputs)
    return values(found.prior, variables, inputs) + kan_values(found.model, features)


def law_panels(
    details: dict[str, ConstitutiveResult],
    fresh_F: torch.Tensor,
    fresh_tau: torch.Tensor,
    s: float,
    m: int = 101,
) -> list[LawPanel]:
    """Uniaxial stretch (``tau11``) and simple shear (``tau12``) on ``m`` points of
    ``[-s, s]``, and parity on the first :data:`N_PARITY` fresh samples, for each fitted
    component in ``details``: the snapped formula and the KAN (:func:`kan_stress`)."""
    variables = FS + [J]
    amount = torch.linspace(-s, s, m, dtype=torch.float64)
    stretch = torch.eye(3, dtype=torch.float64).repeat(m, 1, 1)
    stretch[:, 0, 0] += amount
    shear = torch.eye(3, dtype=torch.float64).repeat(m, 1, 1)
    shear[:, 0, 1] = amount
    tests = {
        "tau11": (
            0,
            0,
            stretch,
            stretch[:, 0, 0],
            r"uniaxial stretch $F = \mathrm{diag}(\lambda, 1, 1)$",
            r"$\lambda$",
        ),
        "tau12": (0, 1, shear, amount, r"simple shear $F = I + \gamma\, e_1 e_2^T$", r"$\gamma$"),
    }
    curves, parity = [], []
    fresh_inputs = law_inputs(fresh_F[:N_PARITY])
    for label, (i, j, F, x, title, xlabel) in tests.items():
        if label not in details:
            continue
        found, name = details[label], rf"$\tau_{{{i + 1}{j + 1}}}$"
        inputs = law_inputs(F)
        curves.append(
            LawCurves(
                x.numpy(),
                kirchhoff(F)[:, i, j].numpy(),
                {
                    "formula": values(found.snapped, variables, inputs),
                    "KAN": kan_stress(found, inputs),
                },
                title=f"{name}: {title}",
                xlabel=xlabel,
                ylabel=name,
            )
        )
        parity.append(
            LawParity(
                fresh_tau[:N_PARITY, i, j].numpy(),
                {
                    "formula": values(found.snapped, variables, fresh_inputs),
                    "KAN": kan_stress(found, fresh_inputs),
                },
                title=f"{name} on fresh samples",
                quantity=name,
            )
        )
    return curves + parity


def main(
    steps: int = 50, seed: int = 0, n: int = 2000, grid: int = 5, s: float = 0.2
) -> CaseResult:
    """Fit tau11 and tau12 and check them (see the module docstring)."""
    start = time.perf_counter()
    F, tau = sample(n, s, seed)
    fresh_F, fresh_tau = sample(4000, s, seed + 10_000)
    variables = FS + [J]
    fresh_inputs = law_inputs(fresh_F)
    laws, details, checks, metrics = {}, {}, {}, {}
    for component, reference in REFERENCE.items():
        label = f"tau{component[0] + 1}{component[1] + 1}"
        found = fit_constitutive(
            F,
            tau[:, component[0], component[1]],
            component,
            aux={"J": determinant_feature()},
            steps=steps,
            grid=grid,
            seed=seed,
        )
        laws[label], details[label] = found.snapped, found
        exact = compare_laws(found.snapped, reference, variables, scaled=False)
        fitted = compare_laws(found.expression, reference, variables, scaled=False)
        y = fresh_tau[:, component[0], component[1]]
        prediction = formula_to_torch(found.snapped, variables)(fresh_inputs)
        r2 = 1 - float((prediction - y).pow(2).sum() / (y - y.mean()).pow(2).sum())
        metrics.update(
            {
                f"{label} coefficient_error": fitted.coefficient_error,
                f"{label} spurious": fitted.spurious,
                f"{label} fresh R^2": r2,
                f"{label} prior R^2": found.prior_r2,
            }
        )
        checks.update(
            {
                f"{label} equals the reference": exact.exact,
                f"{label} mu, lambda within 2% before snapping": fitted.coefficient_error < 0.02,
                f"{label} no spurious term above 1%": fitted.spurious < 0.01,
                f"{label} R^2 > 0.999 on fresh samples": r2 > 0.999,
            }
        )
    result = CaseResult(
        "neo_hookean",
        laws,
        {f"tau{i + 1}{j + 1}": e for (i, j), e in REFERENCE.items()},
        checks,
        metrics,
        details=details,
        panels=law_panels(details, fresh_F, fresh_tau, s),
    )
    result.seconds = time.perf_counter() - start
    return result


if __name__ == "__main__":
    raise SystemExit(run_as_script(main, (__doc__ or "").splitlines()[0]))
