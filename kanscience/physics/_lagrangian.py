"""Lagrangians from ``(q, qdot, qddot)`` data: the :func:`fit_lagrangian` workflow.

1. **Network.** ``L = T0 + alpha N`` (:mod:`kanscience.physics._lagrangian_network`): a
   fixed prior ``T0`` (``|qdot|^2 / 2`` by default) plus a MultKAN ``N``, scaled at
   initialization so that the mass matrix ``d2L/dqdot2`` is positive definite on every
   training state. By default ``N`` has the mechanical form ``V(q) + sum qdot_i qdot_j
   M_ij(q)`` (a network of the positions whose outputs are ``V`` and the ``M_ij``: every
   natural mechanical Lagrangian, couplings such as ``qdot_1 qdot_2 cos q_2`` included);
   ``form="general"`` makes it a network of ``[q, qdot]`` (any Lagrangian). A given
   ``model`` is the whole Lagrangian instead (e.g. a kanpiler-compiled prior). Training is
   :func:`kanscience.fit` in phases (:mod:`kanscience.physics._lagrangian_training`) on the
   Euler-Lagrange residual (:func:`residual_loss`, no inverse of ``M``; in the mechanical
   form a few starting networks race through the first Adam phase and the one with the
   lowest held-out loss goes on) and, in the general
   form, the relative acceleration error (:func:`acceleration_loss`); a step that turns
   the loss NaN or Inf stops the training with the last good model restored (``fit``'s
   guard), and says so in a warning and in ``checks``. In the mechanical form the last
   layer's weights are then solved exactly, by linear least squares on the
   Euler-Lagrange residual (:mod:`kanscience.physics._lagrangian_polish`). A mass matrix
   that is not definite on some held-out states is warned about too.
2. **Formula.** The network, without its part odd in the velocities (the gauge ``dF/dt``),
   is a surrogate for :func:`kanscience.discover.discover`; the terms of its Pareto front
   (each search stopping at a target from the network's held-out accuracy) are refitted
   jointly under the Euler-Lagrange residual of the data, put in the gauge
   of :func:`canonical_lagrangian`, snapped, and verified on held-out accelerations
   (:mod:`kanscience.physics._lagrangian_formula`).
3. **Verdict.** ``law`` is the formula when it passed, else None with ``reason``;
   ``checks`` holds the numbers behind it.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sympy
import torch
from torch import Tensor

from ..core import KAN
from ..symbolic import formula_to_torch
from ._candidates import edge_candidates
from ._display import history_figure, laws_latex, summary_html
from ._euler_lagrange import _pair, lagrangian_accelerations
from ._expressions import as_symbols
from ._lagrangian_formula import relative_error, search_lagrangian_formula
from ._lagrangian_network import (
    LearnedLagrangian,
    even_part,
    indefinite_fraction,
    starting_lagrangian,
)
from ._lagrangian_polish import polish_last_layer
from ._lagrangian_training import STARTS, race_starts, start_seeds, training_phases
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
        The trained network (the whole Lagrangian when one was given, else the part
        added to the prior: see ``lagrangian``).
    lagrangian : LearnedLagrangian
        The learned Lagrangian, a callable of ``[q, qdot]`` (prior + scaled network).
    kan_error : float
        Relative RMS acceleration error of the network on held-out samples.
    expression : sympy.Expr or None
        The law in the canonical gauge (:func:`canonical_lagrangian`), constants snapped
        where that kept it within ``tolerance``; None when no formula passed (``reason``).
    fitted : sympy.Expr or None
        The best refitted formula before snapping (also when it did not pass).
    terms : list of sympy.Expr
        The candidate terms (from ``discover``'s Pareto fronts) of the last refit.
    gauge_terms : list of sympy.Expr
        Candidate terms whose Euler-Lagrange residual vanishes identically.
    error : float
        Relative RMS acceleration error of the best formula on held-out samples.
    null_dim : int
        Dimension of the space of Lagrangians (in the term library, modulo gauge terms)
        that fit the data: 1 when the law is unique up to gauge; more for decoupled
        subsystems, whose relative scales the data cannot fix (the law is then the sum of
        the parts, each in its canonical scale).
    variables : (list, list)
        The ``q`` and ``qdot`` symbols.
    history : list of float
        Held-out network loss after each training step (all phases; of the winning
        start of the race).
    reason : str
        Why ``expression`` is None (empty when a law was found).
    gauge : str
        The gauge of the law.
    checks : dict
        The numbers behind the verdict: acceleration errors (network, formula), the share
        of held-out states with an indefinite mass matrix, whether training diverged, the
        misfit of the velocity expansion, the route of the formula search.
    log : list of str
        One line per symbolic search.
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
    lagrangian: LearnedLagrangian | None = None
    reason: str = ""
    gauge: str = ""
    checks: dict[str, Any] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)

    @property
    def law(self) -> sympy.Expr | None:
        """The verified law (``expression``), or None (see ``reason``)."""
        return self.expression

    def accelerations(self, q: Tensor, v: Tensor) -> Tensor:
        """Accelerations of the recovered formula at ``(q, v)``."""
        if self.expression is None:
            raise ValueError(f"no formula was recovered: {self.reason}")
        qs, vs = self.variables
        return lagrangian_accelerations(formula_to_torch(self.expression, qs + vs), q, v)

    def plot(self) -> Figure:
        """Held-out loss of the network after each training step; returns the Figure
        (shows and writes nothing)."""
        return history_figure(self.history, "held-out loss")

    def _repr_latex_(self) -> str | None:
        return laws_latex([("L", self.expression)])

    def _repr_html_(self) -> str:
        numbers = [
            ("relative acceleration error", self.error),
            ("network's relative acceleration error", self.kan_error),
            ("Lagrangians fitting the data (dimension)", self.null_dim),
        ]
        return summary_html("Lagrangian", [("L", self.expression)], numbers, self.plot())


def _names(
    names: Sequence[str | sympy.Symbol] | None, default: str, dof: int, argument: str
) -> list[sympy.Symbol]:
    if names is None:
        names = [default] if dof == 1 else [f"{default}_{i + 1}" for i in range(dof)]
    symbols = as_symbols(names, argument)
    if len(symbols) != dof:
        raise ValueError(f"{argument} must name {dof} coordinates, got {len(symbols)}")
    return symbols


def fit_lagrangian(
    q: Tensor,
    qdot: Tensor,
    qddot: Tensor,
    q_names: Sequence[str | sympy.Symbol] | None = None,
    qdot_names: Sequence[str | sympy.Symbol] | None = None,
    *,
    model: KAN | None = None,
    form: str = "mechanical",
    width: Any = None,
    prior: sympy.Expr | str | None = None,
    grid: int = 10,
    steps: int = 40,
    adam_steps: int = 300,
    residual_fraction: float = 0.5,
    max_monitor: int = 500,
    max_train: int | None = None,
    tolerance: float = 1e-3,
    null_tol: float = 1e-6,
    quadratic_tol: float = 1e-2,
    time_budget: float = 60.0,
    levels: int = 2,
    test_fraction: float = 0.2,
    seed: int = 0,
) -> LagrangianResult:
    """Learn a Lagrangian from samples of ``(q, qdot, qddot)`` and find its formula.

    Parameters
    ----------
    q, qdot, qddot : Tensor (n, dof)
    q_names, qdot_names : list of str, optional
        Symbols (default ``q_1..``, ``qdot_1..``; ``q``/``qdot`` for one DOF).
    model : KAN, optional
        The whole starting Lagrangian (inputs ``[q, qdot]``, one output), e.g. a compiled
        prior; default: ``prior`` plus a scaled MultKAN of ``width``.
    form : {'mechanical', 'general'}
        The network's form (see the module docstring): ``'mechanical'`` (inputs ``q``,
        outputs ``V`` and the ``d (d + 1) / 2`` entries ``M_ij``, ``i <= j``) or
        ``'general'`` (inputs ``[q, qdot]``, one output). Ignored with ``model``.
    width : KAN width, optional
        Width of the network added to the prior, any depth, with multiplication nodes
        (default ``[d, [2 d, d], 1 + d (d + 1) / 2]`` for the mechanical form, ``[2 d, 1]``
        for the general one).
    prior : sympy.Expr or str, optional
        The fixed prior (default ``sum(qdot_i**2) / 2``), a positive definite quadratic
        form in the velocities.
    grid : int
        Grid intervals of the network.
    steps : int
        L-BFGS steps in all (in the mechanical form all on the residual, after Adam).
    adam_steps : int
        Adam steps of each of the mechanical form's two first phases (see
        :func:`kanscience.physics._lagrangian_training.training_phases`).
    residual_fraction : float
        Share of the steps on :func:`residual_loss` (robust start); the rest polish
        :func:`acceleration_loss` (the error that matters).
    max_train : int
        Training samples (a seeded subsample of the non-held-out ones); None: 1000 for
        the mechanical form (a network of the positions only), else 2000.
    max_monitor : int
        Held-out samples whose loss is recorded after each training step (``history``).
    tolerance : float
        Largest relative RMS acceleration error on held-out samples for a formula to be
        returned as the law (raise it above the noise of the accelerations).
    null_tol : float
        Null-space tolerance of the coefficient refit.
    quadratic_tol : float
        Largest misfit of the network's quadratic expansion in the velocities for the
        per-coefficient search (see :mod:`kanscience.physics._lagrangian_formula`).
    time_budget : float
        Seconds for the symbolic searches together.
    levels : int
        Depth of the Pareto fronts merged into the candidate library.
    test_fraction : float
    seed : int

    Returns
    -------
    LagrangianResult
        ``law`` is None with ``reason`` when no formula passed.

    Raises
    ------
    ValueError
        For NaN/Inf or mismatched shapes, a prior with unknown symbols, or a prior whose
        mass matrix is singular on the data (:class:`SingularMassMatrixError`).

    Warns
    -----
    RuntimeWarning
        When training diverged (the last good model is kept), or when the trained mass
        matrix is not definite on some held-out states.
    """
    q, qdot = _pair(q, qdot)
    _, qddot = _pair(q, qddot, "q", "qddot")
    n, dof = q.shape
    if n < 10:
        raise ValueError(f"need at least 10 samples, got {n}")
    qs = _names(q_names, "q", dof, "q_names")
    vs = _names(qdot_names, "qdot", dof, "qdot_names")
    symbols = qs + vs
    x = torch.cat([q, qdot], 1)
    generator = torch.Generator().manual_seed(int(seed))
    permutation = torch.randperm(n, generator=generator)
    n_test = max(1, round(test_fraction * n))
    if max_train is None:
        max_train = 1000 if model is None and form == "mechanical" else 2000
    test, train = permutation[:n_test], permutation[n_test:][:max_train]

    learned = starting_lagrangian(model, prior, form, width, grid, symbols, x[train], seed)
    phases = training_phases(steps, residual_fraction, adam_steps, learned.mechanical)
    starts = [learned]
    if learned.mechanical and phases and phases[0].opt == "Adam":
        # Adam's basin depends on the start: a few starts race through the first phase
        starts += [
            starting_lagrangian(None, prior, form, width, grid, symbols, x[train], other)
            for other in start_seeds(seed, STARTS)[1:]
        ]
    record = race_starts(starts, x, qddot, train, test[:max_monitor], phases, seed)
    if record.learned is not None:
        learned = record.learned
    diverged = bool(record.diverged)
    if diverged:
        warnings.warn(
            f"training diverged ({record.diverged}); the last good model is kept",
            RuntimeWarning,
            stacklevel=2,
        )
    learned, residual_before, residual_after = polish_last_layer(
        learned, (q[train], qdot[train], qddot[train]), (q[test], qdot[test], qddot[test])
    )
    network = learned.model
    predicted = lagrangian_accelerations(learned, q[test], qdot[test], on_singular="ignore")
    kan_error = relative_error(predicted, qddot[test])
    indefinite = indefinite_fraction(learned, q[test], qdot[test])
    if indefinite > 0:
        warnings.warn(
            f"the learned mass matrix d2L/dqdot2 is not definite on {indefinite:.1%} of the "
            "held-out states: the Lagrangian does not determine the motion there",
            RuntimeWarning,
            stacklevel=2,
        )
    result = LagrangianResult(
        network,
        kan_error,
        None,
        None,
        [],
        [],
        math.nan,
        (qs, vs),
        record.history,
        lagrangian=learned,
        checks={
            "network acceleration error": kan_error,
            "indefinite mass matrix share": indefinite,
            "training diverged": diverged,
            "held-out residual before and after the last-layer solve": (
                residual_before,
                residual_after,
            ),
        },
    )
    edge_terms: list[sympy.Expr] = []
    if network.depth == 1 and network.width_out[1] == 1:
        # a one-layer network's edges are 1-D functions: their best library fits (velocity
        # edges without their linear part, a total derivative) are candidate terms too
        per_edge = edge_candidates(
            network, x[train], symbols, remove_linear=list(range(dof, 2 * dof))
        )
        edge_terms = independent_terms(
            unique_terms([t for edge in per_edge for c in edge for t in c.terms], symbols),
            symbols,
            x[train],
        )
    found = search_lagrangian_formula(
        even_part(learned, dof),
        symbols,
        (q[train], qdot[train], qddot[train]),
        (q[test], qdot[test], qddot[test]),
        tolerance=tolerance,
        null_tol=null_tol,
        quadratic_tol=quadratic_tol,
        time_budget=time_budget,
        levels=levels,
        seed=seed,
        edge_terms=edge_terms,
        surrogate_error=kan_error,
    )
    result.expression, result.fitted, result.error = found.law, found.fitted, found.error
    result.terms, result.gauge_terms, result.null_dim = (
        found.terms,
        found.gauge_terms,
        found.null_dim,
    )
    result.reason, result.log = ("" if found.law is not None else found.reason), found.log
    result.gauge = (
        "a L + b + dF(q)/dt fixed: no constant, no total-derivative term, the first "
        "velocity's d2L/dqdot^2 = 1 at q = 0, qdot = 0 (canonical_lagrangian)"
    )
    result.checks.update(
        {
            "formula acceleration error": found.error,
            "tolerance": tolerance,
            "velocity expansion misfit": found.quadratic_error,
            "route": found.route,
        }
    )
    return result
