"""All independent conserved quantities of the 2-D isotropic oscillator, in one run.

States ``(x1, x2, x3, x4) = (q1, p1, q2, p2)`` uniform in ``[-1, 1]^4``, flow
``(x2, -x1, x4, -x3)``. Four quadratic invariants,

    H1 = (x1^2 + x2^2)/2,  H2 = (x3^2 + x4^2)/2,  L = x1 x4 - x2 x3,  K = x1 x3 + x2 x4,

are related by ``4 H1 H2 = L^2 + K^2``, so exactly three are independent. The count (3)
must come from the data (deflation + rank test), and the three formulas must each be one
of ``H1, H2, L, K`` up to scale, with independent gradients.

Plot (``result.plot()``): one panel per recovered quantity, learned against true values on
fresh states, against the reference it matches (or, failing that, the one it is closest
to), for the formula and for its coefficients before snapping, each mapped by its best
``a Q + b``. (The KANs are not shown: each learns some function of the invariants, not
necessarily one of them.)

Run: ``python -m physics_examples.isotropic_oscillator [--seed S] [--steps N] [--n N]
[--plot out.png]``.
"""

from __future__ import annotations

import time

import sympy
import torch

from kanscience.physics import (
    ConservedQuantities,
    LawPanel,
    LawParity,
    compare_laws,
    conservation_residual,
    expression_gradient,
    find_conserved_quantities,
    gradient_rank,
)

from . import CaseResult, run_as_script, uniform
from ._plots import N_PARITY, gauge_note, gauges, in_gauge, values

X1, X2, X3, X4 = SYMBOLS = sympy.symbols("x1 x2 x3 x4", real=True)
REFERENCE = {
    "H1": (X1**2 + X2**2) / 2,
    "H2": (X3**2 + X4**2) / 2,
    "L": X1 * X4 - X2 * X3,
    "K": X1 * X3 + X2 * X4,
}
RANGES = [(-1.0, 1.0)] * 4


def flow(states: torch.Tensor) -> torch.Tensor:
    """``(x2, -x1, x4, -x3)``."""
    return torch.stack([states[:, 1], -states[:, 0], states[:, 3], -states[:, 2]], 1)


def _match(expr: sympy.Expr) -> str | None:
    for name, reference in REFERENCE.items():
        if compare_laws(expr, reference, SYMBOLS, ignore_constant=True).exact:
            return name
    return None


def law_panels(found: ConservedQuantities, names: list[str | None], seed: int) -> list[LawPanel]:
    """One parity panel per expression of ``found`` (see the module docstring); ``names``
    are the references the expressions matched (None: take the closest)."""
    fresh = uniform(N_PARITY, RANGES, seed + 30_000)
    truths = {name: values(ref, SYMBOLS, fresh) for name, ref in REFERENCE.items()}
    panels: list[LawPanel] = []
    for index, (expr, name) in enumerate(zip(found.expressions, names)):
        learned = {"formula": values(expr, SYMBOLS, fresh)}
        if index < len(found.fitted):
            learned["before snapping"] = values(found.fitted[index], SYMBOLS, fresh)
        if name is None:  # closest reference: smallest residual after the gauge
            name = min(
                truths,
                key=lambda k: float(
                    ((in_gauge(learned, truths[k])[0]["formula"] - truths[k]) ** 2).mean()
                    / (truths[k] ** 2).mean()
                ),
            )
        note = gauge_note(gauges(learned, truths[name]))
        (learned,) = in_gauge(learned, truths[name])
        panels.append(
            LawParity(
                truths[name],
                learned,
                title=f"quantity {index + 1}: ${name} = {sympy.latex(REFERENCE[name])}$",
                quantity=name,
                note=note,
            )
        )
    return panels


def main(
    steps: int = 50, seed: int = 0, n: int = 1000, grid: int = 5, budget: float = 30.0
) -> CaseResult:
    """Find all conserved quantities and check them (see the module docstring)."""
    start = time.perf_counter()
    states = uniform(n, RANGES, seed)
    leave = max(1, round(0.4 * steps))
    found = find_conserved_quantities(
        flow,
        states,
        SYMBOLS,
        steps=(leave, steps - leave),
        grid=grid,
        formula_budget=budget,
        seed=seed,
    )
    names = [_match(e) for e in found.expressions]
    result = CaseResult(
        "isotropic_oscillator",
        found.expressions,
        "three of H1, H2, L, K (4 H1 H2 = L^2 + K^2)",
        details=found,
    )
    result.checks["three independent quantities (rank test)"] = found.count == 3
    result.checks["three formulas"] = len(found.expressions) == 3
    result.checks["each is H1, H2, L or K up to a*Q + b"] = bool(names) and all(names)
    result.checks["three different ones"] = len(set(names)) == len(names) == 3
    errors, spurious = [0.0], [0.0]
    for name, fitted in zip(names, found.fitted):
        if name is not None:
            comparison = compare_laws(fitted, REFERENCE[name], SYMBOLS, ignore_constant=True)
            errors.append(comparison.coefficient_error)
            spurious.append(comparison.spurious)
    fresh = uniform(4000, RANGES, seed + 10_000)
    gradients = [expression_gradient(e, SYMBOLS, fresh) for e in found.expressions]
    residuals = [conservation_residual(g, flow(fresh)) for g in gradients] or [float("inf")]
    rank = gradient_rank(torch.stack(gradients, 1))[0] if gradients else 0
    result.metrics.update(
        coefficient_error=max(errors),
        spurious=max(spurious),
        fresh_residual=max(residuals),
        formula_rank=rank,
        kan_stages=len(found.stages),
    )
    result.checks["coefficients within 2% before snapping"] = max(errors) < 0.02
    result.checks["no spurious term above 1%"] = max(spurious) < 0.01
    result.checks["conservation residual < 1e-3 on fresh states"] = max(residuals) < 1e-3
    result.checks["formula gradients have rank 3"] = rank == 3
    result.panels = law_panels(found, names, seed)
    result.seconds = time.perf_counter() - start
    return result


if __name__ == "__main__":
    raise SystemExit(run_as_script(main, (__doc__ or "").splitlines()[0]))
