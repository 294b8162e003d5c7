"""Hidden symmetry of the Schwarzschild black hole: a time that makes space flat.

The metric in Cartesian-like coordinates (``r_s = 1``) at points with ``r`` uniform in
``[1.2, 3]`` and uniform directions. A KAN ``f(r)`` is trained so that after
``t' = t + f(r)`` the spatial metric is the identity; ``f'`` gets a closed form, sympy
integrates it. Expected (Gullstrand-Painleve):
``f(r) = +-(2 sqrt(r) + log((sqrt(r) - 1) / (sqrt(r) + 1))) + C``.

Plot (``result.plot()``): the time shift ``f(r)`` and its derivative ``f'(r)`` over the
sampled radii, true against the formula and the KAN itself, each mapped by its best
``a f + b`` (``a`` should come out ``+-1``; ``f'`` is mapped by the same ``a``).

Run: ``python -m physics_examples.schwarzschild [--seed S] [--steps N] [--n N]
[--plot out.png]``.
"""

from __future__ import annotations

import time
from typing import cast

import sympy
import torch

from kanscience.physics import (
    LawCurves,
    LawPanel,
    TimeShiftResult,
    apply_transform,
    compare_laws,
    learn_time_shift,
    schwarzschild_metric,
    time_shift_residual,
)

from . import CaseResult, run_as_script
from ._plots import gauge_note, gauges, in_gauge, kan_values, values

R = sympy.Symbol("r", positive=True)
REFERENCE = 2 * sympy.sqrt(R) + sympy.log((sympy.sqrt(R) - 1) / (sympy.sqrt(R) + 1))
R_RANGE = (1.2, 3.0)
XYZ = sympy.symbols("x y z", real=True)


def sample_points(n: int, seed: int) -> torch.Tensor:
    """``n`` points with ``r`` uniform in :data:`R_RANGE` and uniform directions."""
    generator = torch.Generator().manual_seed(int(seed))
    r = R_RANGE[0] + (R_RANGE[1] - R_RANGE[0]) * torch.rand(
        n, generator=generator, dtype=torch.float64
    )
    direction = torch.randn(n, 3, generator=generator, dtype=torch.float64)
    return r[:, None] * direction / direction.norm(dim=1, keepdim=True)


def law_panels(found: TimeShiftResult, law: sympy.Expr | None, m: int = 181) -> list[LawPanel]:
    """``f`` and ``f'`` on ``m`` radii: true against the formula ``law`` (of :data:`R`, when
    found) and the KAN, each mapped by the ``a f + b`` fitted on ``f``."""
    r = torch.linspace(*R_RANGE, m, dtype=torch.float64)[:, None]
    f_true = values(REFERENCE, [R], r)
    df_true = values(sympy.diff(REFERENCE, R), [R], r)
    f, df = {}, {}
    if law is not None:
        f["formula"], df["formula"] = values(law, [R], r), values(sympy.diff(law, R), [R], r)
    f["KAN"] = kan_values(found.model, r)
    points = r.clone().requires_grad_(True)
    with torch.enable_grad():
        (slope,) = torch.autograd.grad(found.model(points).sum(), points)
    df["KAN"] = slope[:, 0].detach().numpy()
    maps = gauges(f, f_true)
    (f,) = in_gauge(f, f_true)
    df = {label: maps[label][0] * v for label, v in df.items()}
    x = r[:, 0].numpy()
    note = gauge_note(maps) + "\n(a = +-1 for the right law)"
    return [
        LawCurves(
            x,
            f_true,
            f,
            title="time shift f(r) (learned: a f + b)",
            xlabel="r",
            ylabel="f",
            note=note,
        ),
        LawCurves(x, df_true, df, title="f'(r) (learned: a f')", xlabel="r", ylabel="f'"),
    ]


def main(
    steps: int = 50, seed: int = 0, n: int = 1000, grid: tuple[int, ...] = (10, 20)
) -> CaseResult:
    """Learn the time shift and check it (see the module docstring)."""
    start = time.perf_counter()
    metric = schwarzschild_metric(1, [str(s) for s in XYZ])
    found = learn_time_shift(metric, sample_points(n, seed), XYZ, steps=steps, grid=grid, seed=seed)
    law = found.expression
    result = CaseResult("schwarzschild", law, REFERENCE, details=found)
    result.metrics["kan_residual"] = found.kan_residual
    if law is None or found.derivative is None:
        result.checks["formula found"] = False
        result.panels = law_panels(found, None)
        result.seconds = time.perf_counter() - start
        return result
    law = cast(sympy.Expr, law.xreplace({found.symbol: R}))
    derivative = sympy.simplify(sympy.diff(law, R))
    reference_derivative = sympy.diff(REFERENCE, R)
    sign = 1 if float(derivative.subs(R, 2)) > 0 else -1
    matches = sympy.simplify(derivative - sign * reference_derivative) == 0
    constant = sympy.simplify(law - sign * REFERENCE)
    transformed = apply_transform(found.derivative.transform, sign * reference_derivative)
    learned = cast(sympy.Expr, found.derivative.transformed.xreplace({found.symbol: R}))
    fitted = compare_laws(learned, transformed, [R], scaled=False)
    residual = time_shift_residual(
        metric,
        law.subs(R, sympy.sqrt(sum(s**2 for s in XYZ))),
        sample_points(4000, seed + 10_000),
        XYZ,
    )
    result.metrics.update(
        coefficient_error=fitted.coefficient_error,
        spurious=fitted.spurious,
        fresh_residual=residual,
    )
    result.checks.update(
        {
            "f = +-(2 sqrt r + log((sqrt r - 1)/(sqrt r + 1))) + C": bool(
                matches and not constant.free_symbols
            ),
            "coefficients of f' within 2% before snapping": fitted.coefficient_error < 0.02,
            "no spurious term above 1%": fitted.spurious < 0.01,
            "shifted spatial metric flat on fresh points (residual < 1e-3)": residual < 1e-3,
        }
    )
    result.panels = law_panels(found, law)
    result.seconds = time.perf_counter() - start
    return result


if __name__ == "__main__":
    raise SystemExit(run_as_script(main, (__doc__ or "").splitlines()[0]))
