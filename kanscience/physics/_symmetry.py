"""Hidden symmetry: a time shift ``t' = t + f(s)`` that makes a metric's space flat.

With ``t = t' - f(x)`` a metric ``ds^2 = g_00 dt^2 + 2 g_0i dt dx^i + g_ij dx^i dx^j``
becomes

    g'_ij = g_ij - g_0i d_j f - g_0j d_i f + g_00 d_i f d_j f,

(:func:`shifted_spatial_metric`). A KAN ``f`` of a scalar feature ``s`` of the spatial
coordinates (the radius by default) is trained with :func:`kanscience.fit` so that
``g'_ij = delta_ij`` (:func:`flatness_loss`, normalized by the flatness defect of the
original metric). Its derivative ``f'(s)`` (autograd through the KAN) gets a closed form
by :func:`kanscience.physics.univariate_formula`, sympy integrates it to ``f``,
and the formula is checked on fresh points.

For the Schwarzschild metric (:func:`schwarzschild_metric`, ``r_s = 1``) this finds the
Gullstrand-Painleve time ``f(r) = +-(2 sqrt(r) + log((sqrt(r) - 1) / (sqrt(r) + 1))) + C``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast

import sympy
import torch
from torch import Tensor

from ..core import KAN, Dataset
from ..symbolic import formula_to_torch
from ..train import Batch, fit
from ._display import history_figure, laws_latex, summary_html
from ._expressions import as_symbols
from ._univariate import UnivariateFit, univariate_formula

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "TimeShiftResult",
    "flatness_loss",
    "learn_time_shift",
    "metric_function",
    "schwarzschild_metric",
    "shifted_spatial_metric",
    "time_shift_residual",
]

MetricLike = Callable[[Tensor], Tensor] | sympy.Matrix


def schwarzschild_metric(
    rs: float | sympy.Expr = 1, variables: Sequence[str] = ("x", "y", "z")
) -> sympy.Matrix:
    """The Schwarzschild metric in Cartesian-like coordinates ``(t, x, y, z)``.

    ``ds^2 = -(1 - rs/r) dt^2 + dx.dx + (1/(1 - rs/r) - 1) (n.dx)^2``, ``n = x / r``.

    Returns
    -------
    sympy.Matrix (4, 4)
        Entries are functions of the spatial symbols (real).

    Examples
    --------
    >>> g = schwarzschild_metric()
    >>> g[0, 0]
    -1 + 1/sqrt(x**2 + y**2 + z**2)
    """
    xs = as_symbols(list(variables), "variables")
    if len(xs) != 3:
        raise ValueError(f"variables must name 3 spatial coordinates, got {variables!r}")
    r = sympy.sqrt(sum(s**2 for s in xs))
    rs = sympy.sympify(rs)
    g = sympy.zeros(4, 4)
    g[0, 0] = -(1 - rs / r)
    for i in range(3):
        for j in range(3):
            g[i + 1, j + 1] = (1 if i == j else 0) + (1 / (1 - rs / r) - 1) * xs[i] * xs[j] / r**2
    return g


def metric_function(
    metric: sympy.MatrixBase, variables: Sequence[str | sympy.Symbol]
) -> Callable[[Tensor], Tensor]:
    """A torch function ``points (n, 3) -> g (n, 4, 4)`` from a sympy metric."""
    if not isinstance(metric, sympy.MatrixBase) or metric.shape != (4, 4):
        raise ValueError(f"metric must be a 4x4 sympy Matrix, got {metric!r}")
    symbols = as_symbols(variables)
    entries = [
        [formula_to_torch(cast(sympy.Expr, sympy.sympify(metric[i, j])), symbols) for j in range(4)]
        for i in range(4)
    ]

    def evaluate(points: Tensor) -> Tensor:
        return torch.stack(
            [torch.stack([entries[i][j](points) for j in range(4)], -1) for i in range(4)], -2
        )

    return evaluate


def shifted_spatial_metric(g: Tensor, grad_f: Tensor) -> Tensor:
    """Spatial metric ``g'_ij`` after ``t' = t + f(x)``.

    Parameters
    ----------
    g : Tensor (n, 4, 4)
        Metric in ``(t, x^1, x^2, x^3)``.
    grad_f : Tensor (n, 3)
        Spatial gradient of ``f``.

    Returns
    -------
    Tensor (n, 3, 3)
    """
    spatial, mixed, g00 = g[:, 1:, 1:], g[:, 0, 1:], g[:, 0, 0]
    cross = mixed[:, :, None] * grad_f[:, None, :]
    return (
        spatial
        - cross
        - cross.transpose(1, 2)
        + g00[:, None, None] * (grad_f[:, :, None] * grad_f[:, None, :])
    )


def flatness_loss(g: Tensor, grad_f: Tensor) -> Tensor:
    """``mean |g' - I|_F^2 / mean |g_spatial - I|_F^2`` (0 when space is flat after the
    shift, 1 for no shift)."""
    eye = torch.eye(3, dtype=g.dtype, device=g.device)
    defect = (shifted_spatial_metric(g, grad_f) - eye).pow(2).sum((1, 2)).mean()
    return defect / (g[:, 1:, 1:] - eye).pow(2).sum((1, 2)).mean().clamp_min(1e-300)


@dataclass
class TimeShiftResult:
    """What :func:`learn_time_shift` found.

    Attributes
    ----------
    model : KAN
        ``f`` as a KAN of the feature.
    kan_residual : float
        ``sqrt(flatness_loss)`` of the KAN on held-out points.
    derivative : UnivariateFit or None
        Closed form of ``f'`` (in ``derivative.expression``).
    expression : sympy.Expr or None
        ``f`` (sympy's antiderivative; add any constant).
    residual : float
        ``sqrt(flatness_loss)`` of ``expression`` on fresh points.
    feature : sympy.Expr
    symbol : sympy.Symbol
        The symbol standing for the feature in ``expression``.
    history : list of float
    """

    model: KAN
    kan_residual: float
    derivative: UnivariateFit | None
    expression: sympy.Expr | None
    residual: float
    feature: sympy.Expr
    symbol: sympy.Symbol
    history: list[float] = field(default_factory=list)

    def plot(self) -> Figure:
        """Held-out flatness loss of the KAN after each training step; returns the Figure
        (shows and writes nothing)."""
        return history_figure(self.history, "held-out flatness loss")

    def _repr_latex_(self) -> str | None:
        return laws_latex([(f"f({sympy.latex(self.symbol)})", self.expression)])

    def _repr_html_(self) -> str:
        laws = [("f", self.expression), ("of the feature", self.feature)]
        numbers = [("residual", self.residual), ("KAN's residual", self.kan_residual)]
        return summary_html("Time shift t' = t + f", laws, numbers, self.plot())


def _points(points: object) -> Tensor:
    if not isinstance(points, Tensor):
        raise TypeError(f"points must be a torch.Tensor (n, 3), got {type(points).__name__}")
    if points.ndim != 2 or points.shape[1] != 3 or points.shape[0] < 10:
        raise ValueError(f"points must have shape (n >= 10, 3), got {tuple(points.shape)}")
    if not bool(torch.isfinite(points).all()):
        raise ValueError("points contain NaN or Inf")
    return points.detach().to(torch.float64)


def _feature_and_gradient(
    feature: sympy.Expr, symbols: list[sympy.Symbol], points: Tensor
) -> tuple[Tensor, Tensor]:
    p = points.clone().requires_grad_(True)
    with torch.enable_grad():
        s = formula_to_torch(feature, symbols)(p)
        (grad,) = torch.autograd.grad(s.sum(), p)
    return s.detach()[:, None], grad.detach()


def _metric_values(metric: MetricLike, symbols: list[sympy.Symbol], points: Tensor) -> Tensor:
    evaluate = metric_function(metric, symbols) if isinstance(metric, sympy.MatrixBase) else metric
    g = evaluate(points)
    if not isinstance(g, Tensor) or tuple(g.shape) != (points.shape[0], 4, 4):
        raise ValueError(
            f"metric must give (n, 4, 4) values, got {getattr(g, 'shape', type(g).__name__)}"
        )
    if not bool(torch.isfinite(g).all()):
        raise ValueError(
            "metric is not finite at some points (a horizon or singularity "
            "inside the sampled region?)"
        )
    return g.detach().to(torch.float64)


def _kan_derivative(model: KAN, s: Tensor) -> Tensor:
    s = s.detach().requires_grad_(True)
    with torch.enable_grad():
        (d,) = torch.autograd.grad(model(s).sum(), s)
    return d[:, 0]


def learn_time_shift(
    metric: MetricLike,
    points: Tensor,
    variables: Sequence[str | sympy.Symbol] = ("x", "y", "z"),
    feature: sympy.Expr | None = None,
    feature_name: str = "r",
    *,
    grid: int | Sequence[int] = (10, 20),
    steps: int = 50,
    r2_target: float = 1 - 1e-5,
    test_fraction: float = 0.2,
    verify_points: Tensor | None = None,
    seed: int = 0,
    **formula_options,
) -> TimeShiftResult:
    """Learn ``t' = t + f(s)`` flattening the spatial part of ``metric``; extract ``f``.

    Parameters
    ----------
    metric : sympy.Matrix (4, 4) or callable
        The metric in ``(t, x, y, z)`` as a sympy matrix of ``variables``, or a function
        ``points (n, 3) -> (n, 4, 4)``.
    points : Tensor (n, 3)
        Spatial sample points.
    variables : three names or symbols
    feature : sympy.Expr, optional
        The scalar ``s`` that ``f`` depends on (default the radius).
    feature_name : str
        Name of the symbol standing for ``s`` in the formula (positive).
    grid : int or list of int
        KAN grid intervals; a list trains coarse to fine (:meth:`KAN.refine` between).
    steps : int
        L-BFGS steps per grid.
    r2_target : float
        Fit quality asked of the closed form of ``f'`` against the KAN's derivative (the
        KAN is accurate to about 1e-3, so 1 - 1e-5 in R^2).
    test_fraction : float
    verify_points : Tensor (m, 3), optional
        Fresh points for the check of the formula (default: the held-out points).
    seed : int
    **formula_options
        Passed to :func:`kanscience.physics.univariate_formula`.

    Returns
    -------
    TimeShiftResult
    """
    points = _points(points)
    symbols = as_symbols(variables)
    if len(symbols) != 3:
        raise ValueError(f"variables must name 3 spatial coordinates, got {variables!r}")
    feature = sympy.sqrt(sum(s**2 for s in symbols)) if feature is None else sympy.sympify(feature)
    s_values, s_grad = _feature_and_gradient(feature, symbols, points)
    g = _metric_values(metric, symbols, points)
    n = points.shape[0]
    generator = torch.Generator().manual_seed(int(seed))
    permutation = torch.randperm(n, generator=generator)
    n_test = max(1, round(test_fraction * n))
    test, train = permutation[:n_test], permutation[n_test:]

    grids = [int(grid)] if isinstance(grid, int) else [int(size) for size in grid]
    if not grids or min(grids) < 1:
        raise ValueError(f"grid must be a positive int or a list of them, got {grid!r}")
    model = KAN([1, 1], grid=grids[0], k=3, seed=seed, dtype=torch.float64)
    model.update_grid_(s_values[train])
    # start from f(s) = s: f' keeps one sign while it grows or shrinks towards a solution
    # (the loss sees only (grad f)^2, so a random start can mix the two branches +-f)
    start = Dataset(s_values[train], s_values[train], s_values[test], s_values[test])
    fit(model, start, opt="LBFGS", steps=5, grid_schedule=None, progress=False, seed=seed)

    def objective(m: KAN, batch: Batch) -> Tensor:
        rows = (train if batch.split == "train" else test)[batch.index]
        inputs = batch.inputs.detach().requires_grad_(True)
        (df,) = torch.autograd.grad(m(inputs).sum(), inputs, create_graph=True)
        return flatness_loss(g[rows], df * s_grad[rows])

    data = Dataset(s_values[train], s_values[train, :0], s_values[test], s_values[test, :0])
    losses: list[float] = []
    for position, size in enumerate(grids):
        if position:  # coarse to fine, as pykan: the refined model starts from the coarse one
            model = model.refine(size, s_values[train])
        history = fit(
            model,
            data,
            steps=steps,
            objective=objective,
            grid_schedule=None,
            progress=False,
            seed=seed,
        )
        losses += history.test_loss
    kan_residual = losses[-1] if losses else float("nan")

    symbol = sympy.Symbol(feature_name, positive=bool(s_values.min() > 0))
    try:
        derivative = univariate_formula(
            s_values[train, 0],
            _kan_derivative(model, s_values[train]),
            symbol,
            r2_target=r2_target,
            **formula_options,
        )
    except ValueError:  # no closed form reached the target: keep the KAN, report no formula
        return TimeShiftResult(
            model, kan_residual, None, None, float("nan"), feature, symbol, losses
        )
    expression = sympy.simplify(sympy.integrate(derivative.expression, symbol))
    check = _points(verify_points) if verify_points is not None else points[test]
    residual = time_shift_residual(metric, expression.subs(symbol, feature), check, symbols)
    return TimeShiftResult(
        model, kan_residual, derivative, expression, residual, feature, symbol, losses
    )


def time_shift_residual(
    metric: MetricLike,
    f: sympy.Expr,
    points: Tensor,
    variables: Sequence[str | sympy.Symbol] = ("x", "y", "z"),
) -> float:
    """``sqrt(flatness_loss)`` of the shift ``t' = t + f`` (sympy, of ``variables``) at
    ``points``; 0 when the shifted spatial metric is exactly flat."""
    symbols = as_symbols(variables)
    points = _points(points)
    p = points.clone().requires_grad_(True)
    with torch.enable_grad():
        (grad,) = torch.autograd.grad(formula_to_torch(f, symbols)(p).sum(), p)
    return float(flatness_loss(_metric_values(metric, symbols, points), grad.detach()).sqrt())
