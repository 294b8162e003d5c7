"""Lagrangians from ``(q, qdot, qddot)`` data: Euler-Lagrange loss, formula, gauge, rollout.

For ``L(q, v)`` with ``d`` degrees of freedom the Euler-Lagrange equations read

    M a = dL/dq - C v,    M = d2L/dv2 (the mass matrix),  C = d2L/(dv dq),

so the accelerations follow from the Hessian of ``L`` (:func:`euler_lagrange`,
:func:`lagrangian_accelerations`; a singular ``M`` raises or warns). A KAN ``L`` is
trained with :func:`kanscience.fit`, starting from a prior (``L = |qdot|^2 / 2`` by
default, or any KAN such as a kanpiler-compiled prior) so that ``M`` is regular from the
first step: first on the Euler-Lagrange residual (:func:`residual_loss`, no inverse of
``M``), then on the relative acceleration error (:func:`acceleration_loss`).

The formula is read off the KAN's edges (:func:`kanscience.physics._candidates.edge_candidates`,
velocity edges with their linear part removed: it is a total derivative); the
coefficients come from the data: the Euler-Lagrange residual is linear in the
coefficients of the terms, so the law is the minimal-support null vector of that operator
(:func:`kanscience.physics._sparse.sparse_null_vectors`), terms whose residual vanishes
identically (total derivatives, constants) left out. :func:`canonical_lagrangian` then
fixes the gauge ``a L + b + dF(q)/dt``: no constant, no total-derivative term,
``d2L/dv1^2 = 1`` at rest. Decoupled subsystems give several independent null vectors
(each part is a Lagrangian on its own, their relative scale is not in the data): the law
is then their sum, each part in its canonical scale (``null_dim`` says so).

:func:`rollout` integrates equations of motion (RK4) to compare trajectories and measure
the drift of the energy ``E = v . dL/dv - L`` (:func:`lagrangian_energy`).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import sympy
import torch
from torch import Tensor

from ..core import KAN, Dataset
from ..symbolic import formula_to_torch
from ..train import fit
from ._candidates import edge_candidates, independent_terms, unique_terms
from ._expressions import as_symbols, combine_terms, split_terms
from ._snap import snap_expression
from ._sparse import sparse_null_vectors

__all__ = [
    "LagrangianResult",
    "SingularMassMatrixError",
    "acceleration_loss",
    "canonical_lagrangian",
    "euler_lagrange",
    "fit_lagrangian",
    "lagrangian_accelerations",
    "lagrangian_energy",
    "residual_loss",
    "rollout",
]

ScalarFn = Callable[[Tensor], Tensor]


class SingularMassMatrixError(ValueError):
    """``d2L/dqdot2`` is singular: the Lagrangian does not determine the accelerations."""


# ------------------------------------------------------------------ Euler-Lagrange
def euler_lagrange(
    lagrangian: ScalarFn, q: Tensor, v: Tensor, create_graph: bool = False
) -> tuple[Tensor, Tensor]:
    """Mass matrix and force side of the Euler-Lagrange equations ``M a = F``.

    Parameters
    ----------
    lagrangian : callable
        ``L(x) -> (n,)`` or ``(n, 1)`` of ``x = [q, v]`` (n, 2d); a KAN or a
        :func:`kanscience.symbolic._formula.formula_to_torch` function.
    q, v : Tensor (n, d)
    create_graph : bool
        Keep the graph (to train through the result).

    Returns
    -------
    (M, F)
        ``M = d2L/dv2`` (n, d, d) and ``F = dL/dq - d2L/(dv dq) v`` (n, d).

    Examples
    --------
    >>> f = lambda x: 0.5 * x[:, 1] ** 2 + torch.cos(x[:, 0])
    >>> m, force = euler_lagrange(f, torch.tensor([[0.5]]), torch.tensor([[1.0]]))
    >>> m.item(), round(force.item(), 6)
    (1.0, -0.479426)
    """
    d = q.shape[1]
    x = torch.cat([q, v], 1).detach().requires_grad_(True)
    with torch.enable_grad():
        value = lagrangian(x).reshape(-1)
        gradient = _grad(value.sum(), x)
        rows = [_grad(gradient[:, d + j].sum(), x) for j in range(d)]
    hessian = torch.stack(rows, 1)  # (n, d, 2d): row j = d/dx of dL/dv_j
    mass = hessian[:, :, d:]
    mixed = hessian[:, :, :d]  # d2L / dv_j dq_k
    force = gradient[:, :d] - torch.einsum("njk,nk->nj", mixed, v)
    if not create_graph:
        mass, force = mass.detach(), force.detach()
    return mass, force


def _grad(output: Tensor, x: Tensor) -> Tensor:
    """d output / dx with the graph kept; zeros where ``output`` does not depend on ``x``."""
    if not output.requires_grad:
        return torch.zeros_like(x)
    (gradient,) = torch.autograd.grad(output, x, create_graph=True, allow_unused=True)
    return torch.zeros_like(x) if gradient is None else gradient


def _singular(mass: Tensor, tol: float) -> Tensor:
    values = torch.linalg.svdvals(mass)
    scale = values.max().clamp_min(1e-300)
    return values.min(1).values <= tol * scale


def lagrangian_accelerations(
    lagrangian: ScalarFn,
    q: Tensor,
    v: Tensor,
    on_singular: str = "raise",
    singular_tol: float = 1e-10,
) -> Tensor:
    """Accelerations ``a = M^-1 F`` implied by ``lagrangian`` at states ``(q, v)``.

    Parameters
    ----------
    lagrangian : callable
    q, v : Tensor (n, d)
    on_singular : {'raise', 'warn', 'ignore'}
        What to do where ``M`` is singular (smallest singular value below
        ``singular_tol`` times the largest over all states); there the result is NaN.
    singular_tol : float

    Raises
    ------
    SingularMassMatrixError
        With ``on_singular='raise'``, naming how many states are singular.
    """
    if on_singular not in ("raise", "warn", "ignore"):
        raise ValueError(f"on_singular must be 'raise', 'warn' or 'ignore', got {on_singular!r}")
    q, v = _pair(q, v)
    mass, force = euler_lagrange(lagrangian, q, v)
    bad = _singular(mass, singular_tol)
    if bool(bad.any()):
        message = (
            f"singular mass matrix d2L/dqdot2 at {int(bad.sum())} of {len(bad)} states: "
            "the Lagrangian does not determine the accelerations there"
        )
        if on_singular == "raise":
            raise SingularMassMatrixError(message)
        if on_singular == "warn":
            warnings.warn(message, RuntimeWarning, stacklevel=2)
    safe = torch.where(bad[:, None, None], torch.eye(mass.shape[1], dtype=mass.dtype), mass)
    acceleration = torch.linalg.solve(safe, force)
    return torch.where(bad[:, None], torch.nan, acceleration)


def residual_loss(lagrangian: ScalarFn, q: Tensor, v: Tensor, a: Tensor) -> Tensor:
    """``mean |M a - F|^2 / mean |M a|^2`` (differentiable): the Euler-Lagrange residual
    relative to the inertial term. No inverse of ``M``, so no barrier where ``M`` turns
    singular; for a one-layer KAN (linear in its coefficients) a Rayleigh quotient, free of
    spurious local minima. The first training phase of :func:`fit_lagrangian`."""
    mass, force = euler_lagrange(lagrangian, q, v, create_graph=True)
    inertia = torch.einsum("njk,nk->nj", mass, a)
    return (inertia - force).pow(2).sum(1).mean() / inertia.pow(2).sum(1).mean().clamp_min(1e-300)


def acceleration_loss(lagrangian: ScalarFn, q: Tensor, v: Tensor, a: Tensor) -> Tensor:
    """``mean |a_L - a|^2 / mean |a|^2`` (differentiable), ``a_L`` from the Euler-Lagrange
    equations of ``lagrangian``; the polishing phase of :func:`fit_lagrangian`."""
    mass, force = euler_lagrange(lagrangian, q, v, create_graph=True)
    predicted = torch.linalg.solve(mass, force)
    return (predicted - a).pow(2).sum(1).mean() / a.pow(2).sum(1).mean().clamp_min(1e-300)


# ------------------------------------------------------------------ gauge and energy
def _is_gradient_field(coefficients: Sequence[sympy.Expr], q: Sequence[sympy.Symbol]) -> bool:
    return all(
        sympy.simplify(sympy.diff(coefficients[i], q[j]) - sympy.diff(coefficients[j], q[i])) == 0
        for i in range(len(q))
        for j in range(i + 1, len(q))
    )


def canonical_lagrangian(
    expr: sympy.Expr,
    q: Sequence[str | sympy.Symbol],
    v: Sequence[str | sympy.Symbol],
    at: Sequence[float] | None = None,
) -> sympy.Expr:
    """``expr`` in the gauge ``L -> a L + b + dF(q)/dt`` fixed as follows.

    The constant is dropped; the part linear in the velocities, ``sum_i g_i(q) v_i``, is
    dropped when it is a total derivative (``dg_i/dq_j = dg_j/dq_i``); the result is
    scaled so that ``d2L/dv_i^2 = 1`` at ``v = 0``, ``q = at`` (default ``q = 0``) for the
    first velocity ``v_i`` where it is not zero.

    Examples
    --------
    >>> q, v = sympy.symbols("q v")
    >>> canonical_lagrangian(3 * v**2 + 6 * sympy.cos(q) + 2 * v + 7, [q], [v])
    v**2/2 + cos(q)
    """
    qs, vs = as_symbols(q, "q"), as_symbols(v, "v")
    expr = sympy.expand(sympy.sympify(expr))
    linear = [sympy.S.Zero] * len(vs)
    rest = []
    for coefficient, term in split_terms(expr, qs + vs):
        if term == 1:
            continue
        degrees = [sympy.degree(term, s) if term.is_polynomial(s) else None for s in vs]
        if sum(1 for g in degrees if g) == 1 and all(g in (0, 1) for g in degrees):
            i = degrees.index(1)
            linear[i] += coefficient * term / vs[i]
        else:
            rest.append((coefficient, term))
    kept = combine_terms(rest)
    if any(c != 0 for c in linear) and not _is_gradient_field(linear, qs):
        kept += sum(c * s for c, s in zip(linear, vs))
    point = {s: 0 for s in vs} | {s: (0 if at is None else at[i]) for i, s in enumerate(qs)}
    for velocity in vs:  # the first velocity with a kinetic term sets the scale
        scale = sympy.diff(kept, velocity, 2).subs(point)
        if scale.is_number and scale != 0 and sympy.simplify(scale).is_finite:
            return sympy.expand(kept / scale)
    return sympy.expand(kept)


def lagrangian_energy(expr: sympy.Expr, v: Sequence[str | sympy.Symbol]) -> sympy.Expr:
    """The energy ``E = sum_i v_i dL/dv_i - L`` of a Lagrangian.

    >>> q, v = sympy.symbols("q v")
    >>> lagrangian_energy(v**2 / 2 + sympy.cos(q), [v])
    v**2/2 - cos(q)
    """
    vs = as_symbols(v, "v")
    return sympy.expand(sum(s * sympy.diff(expr, s) for s in vs) - expr)


def rollout(
    acceleration: Callable[[Tensor, Tensor], Tensor],
    q0: Tensor,
    v0: Tensor,
    dt: float,
    n_steps: int,
) -> tuple[Tensor, Tensor]:
    """Integrate ``qddot = acceleration(q, v)`` with classical RK4.

    Parameters
    ----------
    acceleration : callable
        ``(q, v) -> a``, each (n, d).
    q0, v0 : Tensor (n, d)
        Initial states (a batch of trajectories).
    dt : float
    n_steps : int

    Returns
    -------
    (q, v)
        Trajectories of shape (n_steps + 1, n, d).
    """
    if not dt > 0 or n_steps < 1:
        raise ValueError(f"dt must be > 0 and n_steps >= 1, got {dt!r}, {n_steps!r}")
    q, v = _pair(q0, v0, "q0", "v0")
    qs, vs = [q], [v]
    for _ in range(int(n_steps)):
        k1q, k1v = v, acceleration(q, v)
        k2q, k2v = v + dt / 2 * k1v, acceleration(q + dt / 2 * k1q, v + dt / 2 * k1v)
        k3q, k3v = v + dt / 2 * k2v, acceleration(q + dt / 2 * k2q, v + dt / 2 * k2v)
        k4q, k4v = v + dt * k3v, acceleration(q + dt * k3q, v + dt * k3v)
        q = q + dt / 6 * (k1q + 2 * k2q + 2 * k3q + k4q)
        v = v + dt / 6 * (k1v + 2 * k2v + 2 * k3v + k4v)
        qs.append(q)
        vs.append(v)
    return torch.stack(qs), torch.stack(vs)


# ------------------------------------------------------------------ inputs
def _pair(q: object, v: object, q_name: str = "q", v_name: str = "qdot") -> tuple[Tensor, Tensor]:
    out = []
    for value, name in ((q, q_name), (v, v_name)):
        if not isinstance(value, Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
        value = value.detach().to(torch.float64)
        if value.ndim == 1:
            value = value[:, None]
        if value.ndim != 2:
            raise ValueError(f"{name} must have shape (n, dof), got {tuple(value.shape)}")
        if not bool(torch.isfinite(value).all()):
            bad = int((~torch.isfinite(value)).any(1).sum())
            raise ValueError(f"{name} contains NaN or Inf in {bad} row(s)")
        out.append(value)
    if out[0].shape != out[1].shape:
        raise ValueError(
            f"{q_name} and {v_name} must have the same shape, got "
            f"{tuple(out[0].shape)} and {tuple(out[1].shape)}"
        )
    return out[0], out[1]


# ------------------------------------------------------------------ the workflow
@dataclass
class LagrangianResult:
    """What :func:`fit_lagrangian` found.

    Attributes
    ----------
    model : KAN
        The trained Lagrangian (inputs ``[q, qdot]``).
    kan_error : float
        Relative RMS acceleration error of the KAN on held-out samples.
    expression : sympy.Expr or None
        The law in the canonical gauge (:func:`canonical_lagrangian`), constants snapped.
    fitted : sympy.Expr or None
        The same before snapping.
    terms : list of sympy.Expr
        The candidate terms offered to the null-space search.
    gauge_terms : list of sympy.Expr
        Candidate terms whose Euler-Lagrange residual vanishes identically.
    error : float
        Relative RMS acceleration error of ``expression`` on held-out samples.
    null_dim : int
        Dimension of the space of Lagrangians (in the term library, modulo gauge terms)
        that fit the data: 1 when the law is unique up to gauge; more for decoupled
        subsystems, whose relative scales the data cannot fix.
    variables : (list, list)
        The ``q`` and ``qdot`` symbols.
    history : list of float
        Held-out KAN loss after each training step (both phases).
    """

    model: KAN
    kan_error: float
    expression: sympy.Expr | None
    fitted: sympy.Expr | None
    terms: list[sympy.Expr]
    gauge_terms: list[sympy.Expr]
    error: float
    variables: tuple[list[sympy.Symbol], list[sympy.Symbol]]
    history: list[float] = field(default_factory=list)
    null_dim: int = 0

    def accelerations(self, q: Tensor, v: Tensor) -> Tensor:
        """Accelerations of the recovered formula at ``(q, v)``."""
        if self.expression is None:
            raise ValueError("no formula was recovered")
        qs, vs = self.variables
        return lagrangian_accelerations(formula_to_torch(self.expression, qs + vs), q, v)


def _prior_model(
    prior: sympy.Expr, symbols: list[sympy.Symbol], x: Tensor, grid: int, seed: int
) -> KAN:
    """A one-layer KAN pre-fitted (least squares) to the prior's values on ``x``."""
    model = KAN([x.shape[1], 1], grid=grid, k=3, seed=seed, dtype=torch.float64)
    model.update_grid_(x)
    values = formula_to_torch(prior, symbols)(x)[:, None]
    fit(model, Dataset(x, values, x, values), steps=5, update_grid=False, progress=False, seed=seed)
    return model


def _term_operator(
    terms: list[sympy.Expr], symbols: list[sympy.Symbol], q: Tensor, v: Tensor, a: Tensor
) -> Tensor:
    """Euler-Lagrange residual of each term: (n * d, n_terms)."""
    columns = []
    for term in terms:
        mass, force = euler_lagrange(formula_to_torch(term, symbols), q, v)
        columns.append((torch.einsum("njk,nk->nj", mass, a) - force).reshape(-1))
    return torch.stack(columns, 1)


def fit_lagrangian(
    q: Tensor,
    qdot: Tensor,
    qddot: Tensor,
    q_names: Sequence[str | sympy.Symbol] | None = None,
    qdot_names: Sequence[str | sympy.Symbol] | None = None,
    *,
    model: KAN | None = None,
    prior: sympy.Expr | str | None = None,
    grid: int = 10,
    steps: int = 100,
    residual_fraction: float = 0.5,
    topk: int = 4,
    null_tol: float = 1e-6,
    test_fraction: float = 0.2,
    seed: int = 0,
) -> LagrangianResult:
    """Learn a Lagrangian from samples of ``(q, qdot, qddot)`` and read off its formula.

    Parameters
    ----------
    q, qdot, qddot : Tensor (n, dof)
    q_names, qdot_names : list of str, optional
        Symbols (default ``q_1..``, ``qdot_1..``; ``q``/``qdot`` for one DOF).
    model : KAN, optional
        Starting model with inputs ``[q, qdot]`` and one output (e.g. a compiled prior);
        default: a one-layer KAN pre-fitted to ``prior``.
    prior : sympy.Expr or str, optional
        Prior Lagrangian (default ``sum(qdot_i**2) / 2``).
    grid : int
        Grid intervals of the default model.
    steps : int
        L-BFGS steps in all.
    residual_fraction : float
        Share of the steps on :func:`residual_loss` (robust start); the rest polish
        :func:`acceleration_loss` (the error that matters).
    topk : int
        Candidate functions kept per edge.
    null_tol : float
        Null-space tolerance of the coefficient solve.
    test_fraction : float
    seed : int

    Returns
    -------
    LagrangianResult

    Raises
    ------
    ValueError
        For NaN/Inf or mismatched shapes, or a prior (or model) whose mass matrix is
        singular on the data (:class:`SingularMassMatrixError`).
    """
    q, qdot = _pair(q, qdot)
    _, qddot = _pair(q, qddot, "q", "qddot")
    n, dof = q.shape
    if n < 10:
        raise ValueError(f"need at least 10 samples, got {n}")
    if q_names is None:
        q_names = ["q"] if dof == 1 else [f"q_{i + 1}" for i in range(dof)]
    if qdot_names is None:
        qdot_names = ["qdot"] if dof == 1 else [f"qdot_{i + 1}" for i in range(dof)]
    qs, vs = as_symbols(q_names, "q_names"), as_symbols(qdot_names, "qdot_names")
    if len(qs) != dof or len(vs) != dof:
        raise ValueError(f"q_names and qdot_names must name {dof} coordinates each")
    symbols = qs + vs
    x = torch.cat([q, qdot], 1)
    generator = torch.Generator().manual_seed(int(seed))
    permutation = torch.randperm(n, generator=generator)
    n_test = max(1, round(test_fraction * n))
    test, train = permutation[:n_test], permutation[n_test:]

    if model is None:
        prior_expr = (
            sum(s**2 for s in vs) / 2
            if prior is None
            else sympy.sympify(prior, locals={str(s): s for s in symbols})
        )
        bad = _singular(euler_lagrange(formula_to_torch(prior_expr, symbols), q, qdot)[0], 1e-10)
        if bool(bad.all()):
            raise SingularMassMatrixError(
                f"the prior {prior_expr} has a singular mass matrix d2L/dqdot2 on the data; "
                "give a prior that depends quadratically on the velocities"
            )
        model = _prior_model(prior_expr, symbols, x[train], grid, seed)
    else:
        if not isinstance(model, KAN) or model.n_in != 2 * dof or model.n_out != 1:
            raise ValueError(f"model must be a KAN with {2 * dof} inputs [q, qdot] and 1 output")
        model = model.copy().to(torch.float64)
    mass, _ = euler_lagrange(model, q[train], qdot[train])
    if bool(_singular(mass, 1e-10).any()):
        warnings.warn(
            "the starting model has a singular mass matrix at some states; training may diverge",
            RuntimeWarning,
            stacklevel=2,
        )

    order = torch.cat([train, test])

    phase = {"loss": residual_loss}

    def objective(m: KAN, inputs: Tensor, labels: Tensor) -> Tensor:
        rows = order[labels[:, 0].long()]
        return phase["loss"](m, inputs[:, :dof], inputs[:, dof:], qddot[rows])

    index = torch.arange(n, dtype=torch.float64)[:, None]
    data = Dataset(x[train], index[: len(train)], x[test], index[len(train) :])
    first = round(residual_fraction * steps)
    history_losses: list[float] = []
    for loss, n_steps in ((residual_loss, first), (acceleration_loss, steps - first)):
        if n_steps:
            phase["loss"] = loss
            history_losses += fit(
                model,
                data,
                steps=n_steps,
                objective=objective,
                update_grid=False,
                progress=False,
                seed=seed,
            ).test_loss
    predicted = lagrangian_accelerations(model, q[test], qdot[test], on_singular="ignore")
    kan_error = float(
        (predicted - qddot[test]).pow(2).sum(1).mean().sqrt()
        / qddot[test].pow(2).sum(1).mean().sqrt()
    )

    terms: list[sympy.Expr] = []
    if model.depth == 1 and model.width_out[1] == 1:
        per_edge = edge_candidates(
            model, x[train], symbols, topk=topk, remove_linear=list(range(dof, 2 * dof))
        )
        terms = independent_terms(
            unique_terms([t for edge in per_edge for c in edge for t in c.terms], symbols),
            symbols,
            x[train],
        )
    result = LagrangianResult(
        model, kan_error, None, None, terms, [], float("nan"), (qs, vs), history_losses
    )
    if not terms:
        return result
    operator = _term_operator(terms, symbols, q[train], qdot[train], qddot[train])
    complexity = [sympy.count_ops(t) for t in terms]
    found = sparse_null_vectors(operator, tol=null_tol, complexity=complexity)
    result.gauge_terms = [terms[k] for k in found.trivial]
    result.null_dim = found.null_dim
    parts = [
        canonical_lagrangian(
            combine_terms([(sympy.Float(float(vector[k]), 15), terms[k]) for k in support]), qs, vs
        )
        for vector, support in zip(found.vectors, found.supports)
    ]
    parts = [p for p in parts if p != 0]
    # several independent parts (decoupled subsystems): any combination is a Lagrangian;
    # their sum, each part in its own canonical scale, is the one offered besides each part
    options = parts + ([canonical_lagrangian(sum(parts), qs, vs)] if len(parts) > 1 else [])
    best = None
    for canonical in options:
        snapped, _ = snap_expression(canonical)
        try:
            predicted = lagrangian_accelerations(
                formula_to_torch(snapped, symbols), q[test], qdot[test], on_singular="ignore"
            )
        except (ValueError, RuntimeError):
            continue
        error = float(
            (predicted - qddot[test]).pow(2).sum(1).mean().sqrt()
            / qddot[test].pow(2).sum(1).mean().sqrt()
        )
        if math.isfinite(error) and (best is None or error < best[0]):
            best = (error, snapped, canonical)
    if best is not None:
        result.error, result.expression, result.fitted = best
    return result
