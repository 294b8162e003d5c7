"""Power law times a function of one monomial: ``y = C prod x_i^m_i * F(prod x_i^k_i)``.

Physical laws often take this form, ``F`` acting on a dimensionless group: ``m_0 /
sqrt(1 - v^2 / c^2)``, ``n_0 exp(-m g x / (k_B T))``, ``arcsin(lambda / (n d))``,
``exp(-theta^2 / (2 sigma^2)) / sigma``. With positive inputs and a one-signed target it
is a KAN ``[n, 2, 1]`` on ``z = log x`` fitting ``log|y|``: both hidden nodes linear in
``z`` (symbolic ``'x'`` edges), the first passed on linearly (the power law), the second
(``u = k . z``) through a spline edge ``G``. Trained by Levenberg-Marquardt, it gives the
exponents of the monomial only up to a power, and ``F`` only up to a power of the
monomial: ``F(q) q^-lam`` for ``q = exp(s u)`` is fitted by the library (``c f(a q + b) +
d``) for a few ``s`` (``v / c`` or ``v^2 / c^2``) and the ``lam`` that leave simple
exponents in the power law, and so is ``1 / F`` (Planck's ``1 / (exp(q) - 1)``). The
best fit of every function becomes a formula (exponents as fitted, and rounded to
multiples of 1/2), refitted on the data; the best of those are polished
(:func:`kanscience.discover._polish.screen`).
"""

from __future__ import annotations

import contextlib
import itertools
import math
import time
from collections.abc import Callable

import sympy
import torch
from torch import Tensor

from ..core import KAN, trace
from ..symbolic import fit_affine, symbolic_score
from ..train import TrainingDivergedError
from ._kan_fits import SURROGATE_GRID, retrained_on_y, standardize, train_lm
from ._polish import screen
from ._search import OutOfTime, Search, rmse

__all__: list[str] = []

POWERS = (1.0, 2.0, -1.0, -2.0, 0.5)
"""The powers ``s`` of the monomial tried as the argument of ``F``."""
EXPONENTS = (0.0, 1.0, -1.0, 2.0, -2.0, 0.5, -0.5, 3.0, -3.0)
"""Simple exponents of the power law: ``lam`` is chosen to make one of them appear."""
SCREEN, BEST = 24, 6
"""Fits made into formulas and refitted, and formulas then polished (by rank)."""
ON_Y = 4
"""Fits screened besides, those closest to ``y`` itself."""
RESTARTS = 4
"""Random starts of the KAN (the direction of the monomial is found by the fit)."""
GIVE_UP = 0.05
"""The structure does not apply when no start fits the standardized log|y| better."""
NOISE_MARGIN = 1.5
"""On noisy data the structure gives up only when its fit on ``y`` is worse than this
multiple of the best validation RMSE seen so far."""
MAX_LAMBDAS = len(EXPONENTS) - 1
"""Powers ``lam`` tried besides 0 (as many as there are nonzero simple exponents: with one
variable, every one of them is a candidate)."""
GRID_NUMBER = 25
AFFINE_RANGE = (-3.0, 3.0)
AFFINE_SAMPLES = 200
"""Grid and samples of the affine fits (many rows: coarser than for single edges)."""


def power_model(search: Search, n: int, seed: int) -> KAN:
    """``[n, 2, 1]`` with linear symbolic first-layer edges (random slopes), a linear edge
    from the first hidden node and a spline edge from the second."""
    options = search.options
    model = KAN(
        [n, 2, 1], grid=options.grid, k=3, seed=seed, dtype=torch.float64, library=search.library
    )
    slopes = torch.randn(n, 2, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    for i in range(n):
        for j in range(2):
            model.set_symbolic_(0, i, j, "x", (1.0, 0.0, float(slopes[i, j]), 0.0))
    model.set_symbolic_(1, 0, 0, "x", (1.0, 0.0, 1.0, 0.0))
    return model


def _linear(values: Tensor, z: Tensor) -> tuple[Tensor, float]:
    """Least-squares ``values ~ w . z + b``: (w, b)."""
    design = torch.cat([z, torch.ones_like(z[:, :1])], 1)
    solution = torch.linalg.lstsq(design, values[:, None]).solution[:, 0]
    return solution[:-1], float(solution[-1])


def _monomial(symbols: list[sympy.Symbol], exponents: Tensor, rounded: bool) -> sympy.Expr:
    """``prod x_i^e_i``; ``rounded``: exponents within 0.1 of a multiple of 1/2 become it
    (exact, not refitted: the data of a noisy law rarely pin an exponent better)."""

    def power(e: float) -> sympy.Expr:
        return sympy.Rational(round(2 * e), 2) if rounded and _simple(e) else sympy.Float(e)

    return sympy.Mul(*(s ** power(float(e)) for s, e in zip(symbols, exponents)))


def _simple(value: float) -> bool:
    return abs(2 * value - round(2 * value)) < 0.1


def _lambdas(alpha: Tensor, k: Tensor) -> list[float]:
    """Powers ``lam`` of the monomial moved from the power law (exponents ``alpha``) into
    ``F``: 0, and the ``lam`` that make the most exponents ``alpha_i + lam k_i`` simple
    (multiples of 1/2), the fewest nonzero, among those that make one of them one of
    :data:`EXPONENTS`."""
    found: dict[float, float] = {}  # exact values, one per 0.01
    for a_i, k_i in zip(alpha.tolist(), k.tolist()):
        if abs(k_i) > 0.05:
            for v in EXPONENTS:
                found.setdefault(round((v - a_i) / k_i, 2), (v - a_i) / k_i)

    def quality(lam: float) -> tuple[int, int, float]:
        exponents = [a + lam * b for a, b in zip(alpha.tolist(), k.tolist())]
        return (-sum(map(_simple, exponents)), sum(abs(e) > 0.05 for e in exponents), abs(lam))

    best = sorted(found.values(), key=quality)
    return [0.0] + [lam for lam in best if abs(lam) > 0.005][:MAX_LAMBDAS]


def _misfit_on_y(
    search: Search,
    params: Tensor,
    rows: list[tuple[float, float, int, str]],
    group: Tensor,
    base: Tensor,
    power_law: Tensor,
    y: Tensor,
) -> Tensor:
    """RMSE on ``|y|`` (samples of ``group``) of every fit ``(function, row)`` of
    ``F^way q^-lam`` made into a law, its overall constant refitted by least squares
    (``inf`` where it cannot be evaluated)."""
    lam = torch.tensor([r[1] for r in rows], dtype=y.dtype)[:, None]
    way = torch.tensor([r[2] for r in rows], dtype=y.dtype)[:, None]
    misfit = torch.full(params.shape[:2], math.inf, dtype=y.dtype)
    for f_index, name in enumerate(search.library.names):
        a, b, c, d = (v[:, None] for v in params[f_index].unbind(-1))
        with torch.no_grad():
            law = power_law * (c * search.library[name].torch_fn(a * group + b) + d) ** way
            law = law * torch.exp(lam * base)
            constant = (law @ y) / law.pow(2).sum(1)
            error = (y - constant[:, None] * law).pow(2).mean(1).sqrt()
        misfit[f_index] = torch.where(torch.isfinite(error), error, math.inf)
    return misfit


def _fit(search: Search, z: Tensor, t: Tensor, on_y: Callable[[Tensor], float]) -> KAN | None:
    """The best of a few random starts (LM at the initial grid), refined and retrained;
    None when no start fits (by :data:`GIVE_UP`, relative, on the standardized ``log|y|``
    or, for noise that ``log`` magnifies near ``y = 0``, on ``y`` itself: ``on_y`` maps
    the model's output to its relative RMSE on ``y``)."""
    best, best_loss = None, float("inf")
    for restart in range(RESTARTS):
        model = power_model(search, z.shape[1], search.options.seed + restart)
        with contextlib.suppress(TrainingDivergedError, OutOfTime):
            train_lm(search, model, z, t[:, None], search.options.lm_steps)
        with torch.no_grad():
            loss = rmse(model(z)[:, 0], t)
        if loss < best_loss:
            best, best_loss = model, loss
        if best_loss < 1e-3 or search.time_left() <= 0:
            break
    if best is None:
        return None
    if best_loss > GIVE_UP:
        # on noisy data, a fit as good as the best model so far is good enough to go on
        noise = search.noise_bound() / search.spread if search.spread > 0 else 0.0
        with torch.no_grad():
            if on_y(best(z)[:, 0]) > max(GIVE_UP, NOISE_MARGIN * noise):
                return None
    try:
        best = best.refine(SURROGATE_GRID, z)
        train_lm(search, best, z, t[:, None], search.options.lm_steps)
    except (TrainingDivergedError, OutOfTime):
        pass
    return best


def power_branch(search: Search) -> None:
    """Fit the structure (see the module docstring) and add its formulas."""
    x, y = search.fit_x, search.fit_y
    sign = 1 if bool((y > 0).all()) else -1 if bool((y < 0).all()) else 0
    if (
        search.time_left() <= 0
        or sign == 0
        or not bool((x > 0).all())
        or not bool((search.val_x > 0).all())
    ):
        return
    start = time.perf_counter()
    z = torch.log(x)
    t, mean, std = standardize(torch.log(y.abs()))
    spread = float(y.std())

    def on_y(output: Tensor) -> float:
        return rmse(sign * torch.exp(std * output + mean), y) / spread if spread > 0 else 0.0

    fitted = _fit(search, z, t, on_y)
    if fitted is None:
        return

    def on_x(candidate: KAN) -> Callable[[Tensor], Tensor]:
        """``x -> y`` of a model of the standardized ``log|y|`` on ``log x``."""
        return lambda points: sign * torch.exp(std * candidate(torch.log(points))[:, 0] + mean)

    def validation_error(candidate: KAN) -> float:
        with torch.no_grad():
            return rmse(on_x(candidate)(search.val_x), search.val_y, search.val_weight)

    model = retrained_on_y(search, fitted, z, sign, mean, std, validation_error)
    model.requires_grad_(False)
    surrogate = on_x(model)
    error = validation_error(model)
    with torch.no_grad():
        layers = trace(model, z[: search.options.max_symbolic])
    search.models.append((error, surrogate))
    z = z[: search.options.max_symbolic]
    inner, outer = layers[0].outputs, layers[1]
    linear, g = outer.activations[:, 0, 0], outer.activations[:, 1, 0]
    offset = float((outer.outputs[:, 0] - linear - g).mean())
    alpha, beta = _linear(linear, z)
    k, _ = _linear(inner[:, 1], z)
    reference = float(k[k.abs().argmax()])
    if reference == 0.0:
        return
    # F up to a constant, and up to a power of the group: the split of log|y| between the
    # power law and G(u) is free along u, so F(q) q^-lam is fitted for a few lam, and so
    # is its reciprocal (Planck's 1 / (exp(q) - 1))
    factor = torch.exp(std * (g - g.mean()))[:AFFINE_SAMPLES]
    base = (z[:AFFINE_SAMPLES] @ k) / reference
    rows: list[tuple[float, float, int, str]] = list(
        itertools.product(POWERS, _lambdas(std * alpha, k / reference), (1, -1), ("max", "median"))
    )
    q = torch.stack([torch.exp(s * base) for s, _, _, _ in rows])
    # the group is scaled to at most 1 (domains of arcsin, sqrt...) or to median 1 (a
    # group spanning decades inside exp)
    scale = torch.stack(
        [q[r].amax() if norm == "max" else q[r].median() for r, (_, _, _, norm) in enumerate(rows)]
    )[:, None]
    target = torch.stack([(factor * torch.exp(-lam * base)) ** way for _, lam, way, _ in rows])
    fits = fit_affine(
        q / scale,
        target,
        search.library,
        a_range=AFFINE_RANGE,
        b_range=AFFINE_RANGE,
        grid_number=GRID_NUMBER,
    )
    names = search.library.names
    # formula size: the function, and the variables in the power law and in the group
    size = [
        int(((std * alpha + lam * k / reference).abs() > 0.05).sum())
        + int(((power * k / reference).abs() > 0.05).sum())
        + int(way < 0)
        for power, lam, way, _ in rows
    ]
    complexity = torch.tensor(
        [[search.library[f].complexity + extra for extra in size] for f in names],
        dtype=torch.float64,
    )
    scores = symbolic_score(fits.r2, complexity, search.options.weight_simple)
    # the fits of F are all close (F is known to the KAN's accuracy): screen, for every
    # function in the order of its best score, its rows of the highest R^2 (ties: the
    # smaller formula), by refitting the formulas on the data
    # smallest formulas, and for a complex law the most accurate fits, get screened
    best_score = scores.min(1).values
    by_score = [f for f in best_score.argsort().tolist() if math.isfinite(float(best_score[f]))]
    by_r2 = sorted(by_score, key=lambda f: -float(fits.r2[f].max()))
    functions = list(dict.fromkeys(itertools.chain.from_iterable(zip(by_score, by_r2))))
    order = []
    for f_index in functions:
        misfit = [float(e) for e in 1 - fits.r2[f_index]]
        by_fit = sorted(range(len(rows)), key=lambda r: (misfit[r], size[r]))
        # fits within 10x of the best are equally good (the KAN's own error limits them):
        # the smallest formulas among them (the group itself before its powers), then the
        # best fit
        close = [r for r in by_fit if misfit[r] <= 10 * misfit[by_fit[0]] + 1e-12]
        picks = (
            sorted(close, key=lambda r: (size[r], abs(rows[r][0]) != 1, misfit[r]))[:2] + by_fit[:1]
        )
        order.extend(f_index * len(rows) + r for r in dict.fromkeys(picks))
    order = order[:SCREEN]
    # F is known to the KAN's accuracy, which noise makes rough where |y| is small: the
    # fits closest to y itself (overall constant refitted) are screened too
    misfit_on_y = _misfit_on_y(
        search,
        fits.params,
        rows,
        q / scale,
        base,
        torch.exp(z[:AFFINE_SAMPLES] @ (std * alpha)),
        sign * search.fit_y[:AFFINE_SAMPLES],
    )
    closest = [i for i in misfit_on_y.reshape(-1).argsort().tolist() if i not in order]
    order.extend(i for i in closest[:ON_Y] if math.isfinite(float(misfit_on_y.reshape(-1)[i])))
    constant = sympy.Float(
        sign * float(torch.exp(torch.tensor(mean + std * (beta + offset + float(g.mean())))))
    )
    formulas = []
    # every fit with simple exponents first, then with the fitted ones
    for rounded, flat in itertools.product((True, False), order):
        f_index, r_index = divmod(flat, len(rows))
        power, lam, way, _ = rows[r_index]
        a, b, c, d = fits.params[f_index, r_index].tolist()
        record = search.library[names[f_index]]
        group = _monomial(search.symbols, power * k / reference, rounded)
        a = a / float(scale[r_index])
        inner = sympy.Float(a) * group + sympy.Float(b)
        function = sympy.Float(c) * record.sympy_fn(inner) + sympy.Float(d)
        expr = (
            constant
            * _monomial(search.symbols, std * alpha + lam * k / reference, rounded)
            * function**way
        )
        label = (
            f"log|y|~power*f(monomial^{power:g})"
            f"/{'1/' if way < 0 else ''}{names[f_index]}{'' if rounded else '/free'}"
        )
        formulas.append((expr, label))
    screen(search, formulas, BEST)
    search.log.append(f"log|y|~power*f(monomial): {time.perf_counter() - start:.1f}s")
