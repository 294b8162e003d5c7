"""The KAN structures :func:`kanscience.discover.discover` tries, and how each is trained.

Training (float64): a structure without sparsity penalty is trained by
Levenberg-Marquardt (:class:`kanscience.train.LevenbergMarquardt`, grid updates in
the first half of the steps, stopped once a step no longer lowers the error); a hidden
layer is first trained by L-BFGS with pykan's sparsity penalty (which Levenberg-Marquardt
cannot minimize) and pruned. Then the grid is refined and the model trained again by
Levenberg-Marquardt. A model of ``log|y|`` is then retrained on ``y`` itself
(:func:`train_log_link`, kept where it validates better): noise of equal size on ``y`` is
large on ``log|y|`` where ``|y|`` is small. Every trained model is kept in
``search.models`` as a surrogate of the data for :mod:`kanscience.discover._split`.

Structures (``n`` inputs): additive ``[n, 1]``; ``f(sum_i g_i(x_i))`` as ``[n, 1, 1]``;
the product ``[n, [0, 1], 1]`` (one multiplication node over one factor per variable)
and ``f(prod_i g_i(x_i))``, the same with its output edge freed; the log-product built
from the additive KAN on ``log|y|``; and hidden layers ``[n, [0, m], 1]``, ``[n, h, 1]``.
Each trained model is made symbolic (:func:`kanscience.symbolic.auto_symbolic`, plus the
runner-up function on the edges where the choice was close) and its formulas polished
(:mod:`kanscience.discover._polish`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

import torch
from torch import Tensor

from ..core import KAN, Dataset, fit_coefficients
from ..symbolic import auto_symbolic, fit_affine, symbolic_formula, symbolic_score
from ..symbolic._edges import _fix
from ..train import LevenbergMarquardt, Penalty, TrainingDivergedError, fit
from ._polish import candidates_from
from ._pursuit import best_functions
from ._search import OutOfTime, Search, rmse, row_weights

__all__: list[str] = []

SURROGATE_GRID = 10


def transforms(y: Tensor) -> list[tuple[str, Tensor, Any, int]]:
    """(name, transformed target, sympy inverse, sign of y) for every usable transform."""
    import sympy

    out: list[tuple[str, Tensor, Any, int]] = [("y", y, lambda e: e, 1)]
    if bool((y > 0).all()) or bool((y < 0).all()):
        sign = 1 if bool((y > 0).all()) else -1
        out.append(("log|y|", torch.log(y.abs()), lambda e, s=sign: s * sympy.exp(e), sign))
    return out


def signal_rows(y: Tensor, decades: float = 1.0, margin: float = 2.0) -> Tensor | None:
    """For a target of one sign up to noise (the samples of the minority sign are all
    smaller, by at least ``decades`` decades, than the largest of the majority sign:
    noise around zero, however many of them a law that decays to zero has): the samples
    whose magnitude exceeds ``margin`` times that of every sample of the other sign, where
    ``log|y|`` is not dominated by the noise. None when ``y`` has one sign throughout (all
    samples are usable) or really has both."""
    positive = float((y > 0).double().mean())
    if positive in (0.0, 1.0):
        return None
    sign = 1.0 if positive > 0.5 else -1.0
    noise = float((-sign * y).clamp_min(0).max())
    if noise > 10.0**-decades * float((sign * y).max()):
        return None
    rows = sign * y > margin * noise
    return rows if int(rows.sum()) >= 20 else None


@contextmanager
def only_rows(search: Search, rows: Tensor | None) -> Iterator[None]:
    """Within the block the search fits on ``search.fit_x[rows]`` only (validation and test
    data are unchanged)."""
    if rows is None:
        yield
        return
    x, y, weight = search.fit_x, search.fit_y, search.fit_weight
    search.fit_x, search.fit_y = x[rows], y[rows]
    search.fit_weight = None if weight is None else weight[rows]
    try:
        yield
    finally:
        search.fit_x, search.fit_y, search.fit_weight = x, y, weight


def standardize(t: Tensor) -> tuple[Tensor, float, float]:
    mean, std = float(t.mean()), float(t.std())
    std = std if std > 0 else 1.0
    return (t - mean) / std, mean, std


def train_lm(search: Search, model: KAN, x: Tensor, y: Tensor, steps: int) -> None:
    """Levenberg-Marquardt on the mean squared error (in place); grid updates every 5
    steps in the first half; stops when a step no longer lowers the error by 1e-6
    (relative), or raises OutOfTime. Falls back to L-BFGS for models too large for LM."""
    try:
        optimizer = LevenbergMarquardt(model)
    except ValueError:
        data = Dataset(x, y, x[:1], y[:1])
        history = fit(
            model,
            data,
            opt="LBFGS",
            steps=steps,
            progress=False,
            callbacks=[search.training_time_up],
        )
        if history.stopped_early:
            raise OutOfTime from None
        return
    previous = math.inf
    with model.layers[0].reuse_features(x):
        for step in range(steps):
            updating = step < steps // 2
            if updating and step % 5 == 0:
                model.update_grid_(x)
            loss = optimizer.step(x, y)
            search.clock()
            if not updating and not loss < previous * (1 - 1e-6):
                break
            previous = loss


def train_log_link(
    search: Search,
    model: KAN,
    x: Tensor,
    y: Tensor,
    sign: int,
    mean: float,
    std: float,
    steps: int,
    weight: Tensor | None = None,
) -> None:
    """Levenberg-Marquardt on ``y`` itself for a model of the standardized ``log|y|``
    (``y ~ sign exp(std t(x) + mean)``; in place; raises OutOfTime).

    Noise of equal size on ``y`` is of size ``sigma / |y|`` on ``log|y|``: a fit of
    ``log|y|`` by least squares lets the rows where ``|y|`` is small, all noise, pull as
    hard as the rest. Each step is a Gauss-Newton step of the least squares on ``y`` (the
    log link of a generalized linear model): the working response ``t + (sign y - mu) /
    (std mu)`` with row weights ``(std mu)^2`` (times ``weight``), ``mu = exp(std t +
    mean)``, defined for every row (noise may give a row of a positive law a negative
    ``y``)."""
    optimizer = LevenbergMarquardt(model)
    previous = math.inf
    with model.layers[0].reuse_features(x):
        for _ in range(steps):
            with torch.no_grad():
                t = model(x)[:, 0]
                mu = torch.exp(std * t + mean)
                squared = (sign * y - mu) ** 2
                error = float((squared if weight is None else weight * squared).mean())
                if not error < previous * (1 - 1e-6):
                    break
                previous = error
                working = t + (sign * y - mu) / (std * mu)
                rows = row_weights((std * mu) ** 2, weight)
            optimizer.step(x, working[:, None], rows)
            search.clock()


def retrained_on_y(
    search: Search,
    model: KAN,
    x: Tensor,
    sign: int,
    mean: float,
    std: float,
    validate: Callable[[KAN], float],
) -> KAN:
    """A copy of ``model`` (of the standardized ``log|y|`` on inputs ``x``, the fitting
    rows' features) retrained on ``y`` itself (:func:`train_log_link`) where that lowers
    its validation RMSE on ``y`` (``validate``), else ``model``."""
    if search.time_left() <= 0:
        return model
    retrained = model.copy()
    with suppress(TrainingDivergedError, OutOfTime, ValueError, RuntimeError):
        train_log_link(
            search,
            retrained,
            x,
            search.fit_y,
            sign,
            mean,
            std,
            search.options.lm_steps,
            search.fit_weight,
        )
    return retrained if validate(retrained) < validate(model) else model


def train(
    search: Search,
    model: KAN,
    x: Tensor,
    t: Tensor,
    hidden: bool,
    refine_grid: int | None = None,
    validate: Callable[[KAN], float] | None = None,
) -> KAN:
    """Train ``model`` on standardized targets ``t`` (see the module docstring); with
    ``validate`` (a model's validation error) the grid is refined only as far as the
    validation error improves (:func:`refined`)."""
    options = search.options
    y = t[:, None]
    try:
        if hidden:
            n_val = max(1, x.shape[0] // 5)
            history = fit(
                model,
                Dataset(x, y, x[:n_val], y[:n_val]),
                opt="LBFGS",
                steps=options.steps,
                penalty=Penalty(lamb=options.lamb),
                progress=False,
                seed=options.seed,
                callbacks=[search.training_time_up],
            )
            if history.stopped_early:  # out of time: keep the model as trained so far
                return model
            model = _prune(model, x)
        else:
            train_lm(search, model, x, y, options.lm_steps)
    except (TrainingDivergedError, OutOfTime):
        return model
    return refined(search, model, x, y, refine_grid or options.refine_grid, validate)


def refined(
    search: Search,
    model: KAN,
    x: Tensor,
    y: Tensor,
    grid: int,
    validate: Callable[[KAN], float] | None = None,
) -> KAN:
    """``model`` refined to ``grid`` intervals and retrained by Levenberg-Marquardt.

    On noisy data a finer grid fits the noise (``grid + k`` coefficients per edge against
    the samples): with ``validate``, the refined model is kept only if its validation
    error is no worse than the coarse one's, else the grid half way is tried, else the
    coarse model is kept. Without it, the refined model as trained (as far as time allowed).
    """
    coarse = model
    current = coarse.layers[0].num
    best_error = validate(coarse) if validate is not None else math.inf
    for new_grid in dict.fromkeys((grid, (current + grid) // 2)):
        if new_grid <= current:
            break
        fine = coarse.refine(new_grid, x)
        stopped = False
        try:
            train_lm(search, fine, x, y, search.options.lm_steps)
        except (TrainingDivergedError, OutOfTime):
            stopped = True
        if validate is None or validate(fine) <= best_error:
            return fine
        if stopped:
            break
    return coarse


def _prune(model: KAN, x: Tensor) -> KAN:
    from ..analysis import prune

    return prune(model, x, node_th=1e-2, edge_th=3e-2).model


def as_surrogate(
    model: KAN, transform: tuple, mean: float, std: float
) -> Callable[[Tensor], Tensor]:
    """``x -> y`` of a model trained on the standardized ``transform`` of ``y``."""
    name, _, _, sign = transform

    def surrogate(z: Tensor) -> Tensor:
        value = std * model(z)[:, 0] + mean
        return sign * torch.exp(value) if name != "y" else value

    return surrogate


def validator(search: Search, transform: tuple, mean: float, std: float) -> Callable[[KAN], float]:
    """A model's validation RMSE on ``y`` (NaN-safe: a non-finite error is ``inf``)."""

    def error(model: KAN) -> float:
        with torch.no_grad():
            value = rmse(
                as_surrogate(model, transform, mean, std)(search.val_x),
                search.val_y,
                search.val_weight,
            )
        return value if math.isfinite(value) else math.inf

    return error


def remember(search: Search, model: KAN, transform: tuple, mean: float, std: float) -> None:
    """Keep a trained model as a candidate surrogate ``x -> y`` (with its validation RMSE)."""
    model = model.copy().requires_grad_(False)
    error = validator(search, transform, mean, std)(model)
    if math.isfinite(error):
        search.models.append((error, as_surrogate(model, transform, mean, std)))


def symbolic_model(
    search: Search,
    model: KAN,
    x: Tensor,
    inverse: Any,
    mean: float,
    std: float,
    source: str,
    target: Tensor | None = None,
) -> None:
    """auto_symbolic ``model``, then add its formula and (time permitting) runner-up
    variants; with ``target`` (the standardized transformed target at the rows of ``x``),
    also the variants of :func:`outer_on_data`."""
    options = search.options
    try:
        symbolic, report = auto_symbolic(
            model,
            x[: options.max_symbolic],
            lib=search.library,
            weight_simple=options.weight_simple,
            grid_number=options.grid_number,
        )
    except ValueError:
        return
    variants = [(symbolic, source)]
    close = sorted(
        (
            (c.suggestions[1].score - c.suggestions[0].score, c)
            for c in report
            if c.status == "fixed" and len(c.suggestions) > 1
        ),
        key=lambda g: g[0],
    )
    for gap, choice in close[: options.alternatives]:
        if gap > options.alternative_gap:
            break
        runner_up = choice.suggestions[1]
        variant = symbolic.copy()
        _fix(variant, choice.layer, choice.i, choice.j, runner_up.name, runner_up.params)
        edge = f"{choice.layer},{choice.i},{choice.j}"
        variants.append((variant, f"{source}/edge{edge}={runner_up.name}"))
    if target is not None:
        variants += outer_on_data(search, symbolic, x, target, source)
    for number, (variant, name) in enumerate(variants):
        if number and search.time_left() <= 0:
            return
        try:
            (expr,) = symbolic_formula(variant, search.symbols)
        except ValueError:
            continue
        candidates_from(search, inverse(std * expr + mean), name)


OUTER_OPTIONS = 2
"""Functions of the output edge fitted on the data (:func:`outer_on_data`) made into
formulas: this many best by score, and as many best by R^2."""


def outer_on_data(
    search: Search, symbolic: KAN, x: Tensor, target: Tensor, source: str
) -> list[tuple[KAN, str]]:
    """Variants of a symbolic KAN ``y = f(h(x))`` whose single output edge ``f`` is fitted
    on the data, ``target ~ c f(a h(x) + b) + d`` at the formula ``h`` of its inner edges,
    for the :data:`OUTER_OPTIONS` best library functions by score and as many by R^2.

    On noisy data the trained output spline is smoothed towards what the inner splines
    could absorb (an arcsin of ``n sin(theta)`` comes out nearly linear), while the points
    ``(h(x), y)`` of the snapped inner formula still trace the outer law under the noise
    (where several functions fit them equally, the one with the law ranks by R^2).
    None where the model has more than one output edge or its inner edges are not all
    symbolic."""
    last = symbolic.layers[-1]
    if len(symbolic.layers) < 2 or last.in_dim != 1 or last.out_dim != 1:
        return []
    if any(bool((layer.mask != 0).any()) for layer in list(symbolic.layers)[:-1]):
        return []
    rows = search.options.max_symbolic
    with torch.no_grad():
        inner = symbolic.node_values(x[:rows])[-2][:, 0]
    t = target.reshape(-1)[:rows]
    if not (bool(torch.isfinite(inner).all()) and float(inner.std()) > 0):
        return []
    fits = fit_affine(inner, t, search.library, grid_number=search.options.grid_number)
    variants = []
    for k in best_functions(search, fits.r2[:, 0], OUTER_OPTIONS):
        variant = symbolic.copy()
        name = search.library.names[k]
        _fix(variant, len(symbolic.layers) - 1, 0, 0, name, fits.params[k, 0].tolist())
        variants.append((variant, f"{source}/outer={name}"))
    return variants


def kan_branch(
    search: Search,
    width: list,
    transform: tuple,
    hidden: bool,
    model: KAN | None = None,
    label: str | None = None,
) -> KAN | None:
    """Train a KAN on a transform of ``y``, keep it as a surrogate, add its formulas."""
    name, t, inverse, _ = transform
    options = search.options
    if search.time_left() <= 0:
        return None
    start = time.perf_counter()
    t_std, mean, std = standardize(t)
    if model is None:
        model = KAN(
            width,
            grid=options.grid,
            k=3,
            mult_arity=2,
            seed=options.seed,
            dtype=torch.float64,
            library=search.library,
        )
    validate = validator(search, transform, mean, std)
    model = train(search, model, search.fit_x, t_std, hidden, validate=validate)
    if name != "y":
        model = retrained_on_y(search, model, search.fit_x, transform[3], mean, std, validate)
    remember(search, model, transform, mean, std)
    source = f"{name}~{label or f'KAN{width}'}"
    symbolic_model(search, model, search.fit_x, inverse, mean, std, source, t_std)
    search.log.append(f"{source}: {time.perf_counter() - start:.1f}s")
    return model


def surrogate_branch(search: Search, width: list, transform: tuple) -> None:
    """Train a dense KAN without penalty, at a moderate grid (smooth second derivatives
    for the separability tests), only as a surrogate of the data."""
    if search.time_left() <= 0:
        return
    start = time.perf_counter()
    t_std, mean, std = standardize(transform[1])
    model = KAN(
        width,
        grid=search.options.grid,
        k=3,
        seed=search.options.seed,
        dtype=torch.float64,
        library=search.library,
    )
    validate = validator(search, transform, mean, std)
    model = train(search, model, search.fit_x, t_std, False, SURROGATE_GRID, validate)
    remember(search, model, transform, mean, std)
    search.log.append(f"{transform[0]}~surrogate{width}: {time.perf_counter() - start:.1f}s")


def product_model(search: Search, n: int) -> KAN:
    """``[n, [0, 1], 1]``: one multiplication node over one factor per variable, every
    factor starting as the constant 1 (so no factor starts with a vanishing gradient)."""
    model = KAN(
        [n, [0, 1], 1],
        mult_arity=[[], [n], []],
        grid=search.options.grid,
        seed=search.options.seed,
        dtype=torch.float64,
        library=search.library,
    )
    with torch.no_grad():
        first = model.layers[0]
        first.mask.copy_(torch.eye(n, dtype=torch.float64))
        first.scale_base.zero_()
        first.scale_sp.fill_(1.0)
        first.coef.fill_(1.0)
        for j in range(n):
            for i in range(n):
                if i != j:
                    model.set_mode_(0, i, j, "off")
    model.set_symbolic_(1, 0, 0, "x", (1.0, 0.0, 1.0, 0.0))
    return model


@torch.no_grad()
def free_output(model: KAN, x: Tensor) -> KAN:
    """A copy of a trained product model whose symbolic output edge ``c (a p + b) + d``
    becomes a spline edge computing the same affine map of the product ``p``."""
    model = model.copy()
    layer = model.layers[1]
    p = model.node_values(x)[1]
    a, b, c, d = layer.symbolic_affine[0, 0].tolist()
    layer.update_grid_(p)
    target = (c * (a * p + b) + d)[:, :, None]
    layer.coef.copy_(fit_coefficients(p, target, layer.grid, layer.k))
    layer.scale_base.zero_()
    layer.scale_sp.fill_(1.0)
    model.unset_symbolic_(1, 0, 0)
    return model


def product_branch(search: Search, transform: tuple, free: bool) -> None:
    """The product KAN on a transform of ``y``; with ``free``, then ``f(product)``."""
    n = search.fit_x.shape[1]
    width = [n, [0, 1], 1]
    trained = kan_branch(
        search, width, transform, False, product_model(search, n), f"product{width}"
    )
    if not free or trained is None or search.solved() or search.time_left() <= 0:
        return
    name, t, inverse, _ = transform
    start = time.perf_counter()
    t_std, mean, std = standardize(t)
    model = free_output(trained, search.fit_x)
    with suppress(TrainingDivergedError, OutOfTime):
        train_lm(search, model, search.fit_x, t_std[:, None], search.options.lm_steps)
    if name != "y":
        validate = validator(search, transform, mean, std)
        model = retrained_on_y(search, model, search.fit_x, transform[3], mean, std, validate)
    remember(search, model, transform, mean, std)
    source = f"{name}~f(product{width})"
    symbolic_model(search, model, search.fit_x, inverse, mean, std, source, t_std)
    search.log.append(f"{source}: {time.perf_counter() - start:.1f}s")


def log_product_branch(search: Search, log_model: KAN, transform: tuple) -> None:
    """A product KAN ``[n, [0, 1], 1]`` built from the additive KAN on ``log|y|``:
    factor ``i`` is ``exp(g_i(x_i))``, fitted by the library functions."""
    name, t, _, sign = transform
    if search.time_left() <= 0:
        return
    from ..core import trace

    start = time.perf_counter()
    n = search.fit_x.shape[1]
    x = search.fit_x[: search.options.max_symbolic]
    _, mean, std = standardize(t)
    with torch.no_grad():
        edges = trace(log_model, x)[0].activations[:, :, 0]  # (batch, n): g_i(x_i)
    factors = torch.exp(std * (edges - edges.mean(0)))
    fits = fit_affine(x.T, factors.T, search.library, grid_number=search.options.grid_number)
    names = search.library.names
    complexity = torch.tensor([search.library[f].complexity for f in names], dtype=torch.float64)
    scores = symbolic_score(fits.r2, complexity[:, None], search.options.weight_simple)
    order = scores.argsort(0)  # (funcs, n) best first per variable
    model = KAN(
        [n, [0, 1], 1],
        mult_arity=[[], [n], []],
        seed=0,
        dtype=torch.float64,
        library=search.library,
    )
    for layer, kan_layer in enumerate(model.layers):
        for i in range(kan_layer.in_dim):
            for j in range(kan_layer.out_dim):
                model.set_mode_(layer, i, j, "off")
    for i in range(n):
        k = int(order[0, i])
        _fix(model, 0, i, i, names[k], fits.params[k, i].tolist())
    scale = float(torch.exp(torch.tensor(std * float(edges.mean(0).sum()) + mean)))
    model.set_symbolic_(1, 0, 0, "x", (1.0, 0.0, scale, 0.0))
    source = f"{name}~product[{n},[0,1],1]"
    variants = [(model, source)]
    gaps = sorted((float(scores[order[1, i], i] - scores[order[0, i], i]), i) for i in range(n))
    for gap, i in gaps[: search.options.alternatives]:
        if gap > search.options.alternative_gap:
            break
        k = int(order[1, i])
        variant = model.copy()
        _fix(variant, 0, i, i, names[k], fits.params[k, i].tolist())
        variants.append((variant, f"{source}/x{i}={names[k]}"))
    for variant, label in variants:
        if search.time_left() <= 0:
            break
        (expr,) = symbolic_formula(variant, search.symbols)
        candidates_from(search, sign * expr, label)
    search.log.append(f"{source}: {time.perf_counter() - start:.1f}s")
