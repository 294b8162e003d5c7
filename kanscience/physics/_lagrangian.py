"""Lagrangians from ``(q, qdot, qddot)`` data: the :func:`fit_lagrangian` workflow.

A KAN ``L`` is trained with :func:`kanscience.fit`, starting from a prior
(``L = |qdot|^2 / 2`` by default, or any KAN such as a kanpiler-compiled prior) so that the
mass matrix ``M = d2L/dv2`` (:mod:`kanscience.physics._euler_lagrange`) is regular from the
first step: first on the Euler-Lagrange residual (:func:`residual_loss`, no inverse of
``M``), then on the relative acceleration error (:func:`acceleration_loss`).

The formula is read off the KAN's edges (:func:`kanscience.physics.edge_candidates`,
velocity edges with their linear part removed: it is a total derivative); the
coefficients come from the data: the Euler-Lagrange residual is linear in the
coefficients of the terms, so the law is the minimal-support null vector of that operator
(:func:`kanscience.physics.sparse_null_vectors`), terms whose residual vanishes
identically (total derivatives, constants) left out. :func:`canonical_lagrangian` then
fixes the gauge ``a L + b + dF(q)/dt``: no constant, no total-derivative term,
``d2L/dv1^2 = 1`` at rest. Decoupled subsystems give several independent null vectors
(each part is a Lagrangian on its own, their relative scale is not in the data): the law
is then their sum, each part in its canonical scale (``null_dim`` says so).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast

import sympy
import torch
from torch import Tensor

from ..core import KAN, Dataset
from ..symbolic import formula_to_torch
from ..train import Batch, fit
from ._candidates import edge_candidates
from ._display import history_figure, laws_latex, summary_html
from ._euler_lagrange import (
    SingularMassMatrixError,
    _pair,
    _singular,
    acceleration_loss,
    euler_lagrange,
    lagrangian_accelerations,
    residual_loss,
)
from ._expressions import as_symbols, combine_terms
from ._lagrangian_gauge import canonical_lagrangian
from ._snap import snap_expression
from ._sparse import sparse_null_vectors
from ._term_library import independent_terms, unique_terms

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["LagrangianResult", "fit_lagrangian"]


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

    def plot(self) -> Figure:
        """Held-out loss of the KAN after each training step; returns the Figure (shows
        and writes nothing)."""
        return history_figure(self.history, "held-out loss")

    def _repr_latex_(self) -> str | None:
        return laws_latex([("L", self.expression)])

    def _repr_html_(self) -> str:
        numbers = [
            ("relative acceleration error", self.error),
            ("KAN's relative acceleration error", self.kan_error),
            ("Lagrangians fitting the data (dimension)", self.null_dim),
        ]
        return summary_html("Lagrangian", [("L", self.expression)], numbers, self.plot())


def _prior_model(
    prior: sympy.Expr, symbols: list[sympy.Symbol], x: Tensor, grid: int, seed: int
) -> KAN:
    """A one-layer KAN pre-fitted (least squares) to the prior's values on ``x``."""
    model = KAN([x.shape[1], 1], grid=grid, k=3, seed=seed, dtype=torch.float64)
    model.update_grid_(x)
    values = formula_to_torch(prior, symbols)(x)[:, None]
    data = Dataset(x, values, x, values)
    fit(model, data, opt="LBFGS", steps=5, grid_schedule=None, progress=False, seed=seed)
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
        prior_expr = cast(
            sympy.Expr,
            sum(s**2 for s in vs) / 2
            if prior is None
            # sympy's overloads of sympify leave out ``locals``, which the function takes
            else sympy.sympify(prior, locals={str(s): s for s in symbols}),  # pyright: ignore[reportCallIssue]
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

    phase = {"loss": residual_loss}

    def objective(m: KAN, batch: Batch) -> Tensor:
        rows = (train if batch.split == "train" else test)[batch.index]
        return phase["loss"](m, batch.inputs[:, :dof], batch.inputs[:, dof:], qddot[rows])

    data = Dataset(x[train], x[train, :0], x[test], x[test, :0])  # no labels: rows by index
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
                grid_schedule=None,
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
    options = parts + (
        [canonical_lagrangian(cast(sympy.Expr, sum(parts)), qs, vs)] if len(parts) > 1 else []
    )
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
