"""From a learned Lagrangian to a verified formula, through :func:`kanscience.discover.discover`.

The network is used as a surrogate: its part even in the velocities (which drops every
total derivative ``dF(q)/dt``, a gauge freedom) is sampled on the data's states and handed
to the general symbolic search, in one of two ways, tried in order:

1. **velocity expansion**: where the surrogate is a quadratic polynomial in the velocities
   (relative error of a least-squares quadratic in ``qdot`` at each position below
   ``quadratic_tol``; a mechanical Lagrangian ``qdot^T M(q) qdot / 2 - V(q)`` is), each
   coefficient function ``M_ij(q)`` and ``L(q, 0)`` is a problem in the positions only,
   and each goes to ``discover`` on its own (a constant needs no search), as do the
   potential's forces at the data states, integrated back
   (:mod:`kanscience.physics._lagrangian_coefficients`);
2. **whole**: ``discover`` on the surrogate as a function of all the variables.

Each ``discover`` stops at a target from the surrogate's own accuracy
(``surrogate_error``), so what comes out depends on that accuracy, not on the time the
machine gives the search.

The terms of the Pareto-front formulas (times their velocity monomials) form a small
library; the coefficients are refitted jointly under the physics loss itself: the
Euler-Lagrange residual on the *data* is linear in them, so the law is the minimal-support
null vector of that operator (:func:`kanscience.physics.sparse_null_vectors`), put in the
gauge of :func:`canonical_lagrangian`, pruned of the terms the held-out accelerations do
not need (each removal refitted: a sum of null vectors, e.g. a Lagrangian plus the
reduced Lagrangian of a cyclic coordinate, can carry a term no single law needs;
:mod:`kanscience.physics._lagrangian_prune`) and snapped. A law is accepted only when its
accelerations match held-out data to ``tolerance``; the simplest accepted one wins, and
when none passes the result says so, with the reason.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import cast

import sympy
import torch
from torch import Tensor

from ..symbolic import formula_to_torch
from ._euler_lagrange import lagrangian_accelerations
from ._expressions import combine_terms
from ._lagrangian_coefficients import (
    MARGIN,
    coefficient_fronts,
    discover_terms,
    monomials,
    velocity_expansion,
)
from ._lagrangian_gauge import canonical_lagrangian
from ._lagrangian_prune import held_out_error, prune_terms, relative_error, term_operator
from ._snap import snap_expression
from ._sparse import sparse_null_vectors

__all__ = ["FormulaSearch", "search_lagrangian_formula"]

ScalarFn = Callable[[Tensor], Tensor]


@dataclass
class FormulaSearch:
    """What the search found: the law (None when no formula passed, see ``reason``)."""

    law: sympy.Expr | None = None
    fitted: sympy.Expr | None = None
    error: float = math.inf
    terms: list[sympy.Expr] = field(default_factory=list)
    gauge_terms: list[sympy.Expr] = field(default_factory=list)
    null_dim: int = 0
    route: str = ""
    reason: str = ""
    quadratic_error: float = math.nan
    log: list[str] = field(default_factory=list)


@dataclass
class _Problem:
    """The data and settings shared by every candidate library."""

    symbols: list[sympy.Symbol]
    train: tuple[Tensor, Tensor, Tensor]
    test: tuple[Tensor, Tensor, Tensor]
    tolerance: float
    null_tol: float


def _held_out_error(problem: _Problem, expr: sympy.Expr) -> float:
    return held_out_error(expr, problem.symbols, problem.test)


SNAP_VARIANT = 1e-2
"""Relative tolerance of the snapped constants of a term fitted more than once."""


def _skeleton(term: sympy.Expr) -> str:
    """The term with its floats as placeholders: two fits of one term share it."""
    placeholder = sympy.Symbol("_constant")
    return sympy.srepr(term.xreplace({f: placeholder for f in term.atoms(sympy.Float)}))


def _one_fit_per_term(terms: list[sympy.Expr]) -> list[sympy.Expr]:
    """One fit of each term, and, for a term fitted more than once with different
    constants (``cos(1.002 theta)``, ``cos(1.0027 theta)``: two searches, one term),
    also its constants snapped to simple numbers: near copies would get large cancelling
    coefficients in the refit; the Euler-Lagrange null space decides between the fit
    and the snapped form."""
    out: list[sympy.Expr] = []
    first: dict[str, sympy.Expr] = {}
    repeated: list[sympy.Expr] = []
    for term in terms:
        key = _skeleton(term)
        if key not in first:
            first[key] = term
            out.append(term)
        elif term != first[key] and first[key] not in repeated:
            repeated.append(first[key])
    for term in repeated:
        snapped = snap_expression(term, rel_tol=SNAP_VARIANT)[0]
        if snapped.free_symbols and snapped not in out:
            out.append(snapped)
    return out


def _solve_library(problem: _Problem, terms: list[sympy.Expr]) -> FormulaSearch:
    """The minimal-support Euler-Lagrange null vector(s) over ``terms``, in the canonical
    gauge, snapped where that keeps the held-out error within ``tolerance``."""
    dof = problem.train[0].shape[1]
    qs, vs = problem.symbols[:dof], problem.symbols[dof:]
    result = FormulaSearch(terms=list(terms))
    if not terms:
        result.reason = "no candidate terms"
        return result
    terms = _one_fit_per_term(terms)
    result.terms = list(terms)
    operator = term_operator(terms, problem.symbols, *problem.train)
    if not bool(torch.isfinite(operator).all()):
        result.reason = "a candidate term is not finite on the data"
        return result
    complexity = [float(sympy.count_ops(t)) for t in terms]
    found = sparse_null_vectors(
        operator, tol=problem.null_tol, max_support=len(terms), complexity=complexity
    )
    result.gauge_terms = [terms[k] for k in found.trivial]
    result.null_dim = found.null_dim
    parts = [
        canonical_lagrangian(
            combine_terms([(sympy.Float(float(vec[k]), 15), terms[k]) for k in support]), qs, vs
        )
        for vec, support in zip(found.vectors, found.supports)
    ]
    parts = [p for p in parts if p != 0]
    if not parts:
        result.reason = (
            "no combination of the candidate terms has a vanishing Euler-Lagrange residual "
            f"(tolerance {problem.null_tol:g})"
        )
        return result
    # decoupled subsystems: each part is a Lagrangian; their sum, each in its own scale.
    # A part alone wins where it explains the held-out data better than the sum (a
    # second null vector that only nearly vanishes, from near-degenerate terms)
    options = [canonical_lagrangian(cast(sympy.Expr, sum(parts)), qs, vs)]
    if len(parts) > 1:
        options += [canonical_lagrangian(p, qs, vs) for p in parts]
    fitted_error, fitted = min(
        ((_held_out_error(problem, o), o) for o in options), key=lambda pair: pair[0]
    )
    if fitted_error <= problem.tolerance:
        pruned = prune_terms(
            fitted, problem.symbols, problem.train, problem.test, problem.tolerance
        )
        fitted = canonical_lagrangian(pruned[1], qs, vs)
    q_test, v_test, a_test = problem.test
    best = None
    for expr in (snap_expression(fitted)[0], fitted):
        try:
            predicted = lagrangian_accelerations(
                formula_to_torch(expr, problem.symbols), q_test, v_test, on_singular="ignore"
            )
        except (ValueError, RuntimeError):
            continue
        error = relative_error(predicted, a_test)
        if error <= problem.tolerance:
            best = (error, expr)
            break
        if best is None or error < best[0]:
            best = (error, expr)
    result.fitted = fitted
    if best is None:
        result.reason = "the refitted formula is not finite on the held-out states"
        return result
    result.error = best[0]
    if best[0] <= problem.tolerance:
        result.law = best[1]
    else:
        result.reason = (
            f"the best refitted formula {best[1]} misses the held-out accelerations by "
            f"{best[0]:.3g} (relative RMS), above the tolerance {problem.tolerance:g}"
        )
    return result


def search_lagrangian_formula(
    surrogate: ScalarFn,
    symbols: list[sympy.Symbol],
    train: tuple[Tensor, Tensor, Tensor],
    test: tuple[Tensor, Tensor, Tensor],
    *,
    tolerance: float,
    null_tol: float,
    quadratic_tol: float,
    time_budget: float,
    levels: int,
    seed: int,
    edge_terms: Sequence[sympy.Expr] = (),
    surrogate_error: float = 0.0,
) -> FormulaSearch:
    """Formulas for the surrogate Lagrangian (see the module docstring).

    Parameters
    ----------
    surrogate : callable
        The learned Lagrangian, even in the velocities.
    symbols : list of sympy.Symbol
        ``q`` then ``qdot`` symbols.
    train, test : (q, qdot, qddot)
        Data for the physics refit and for the held-out verification.
    tolerance : float
        Largest relative RMS acceleration error (held out) of an accepted law.
    null_tol : float
        Null-space tolerance of the coefficient refit.
    quadratic_tol : float
        Largest relative misfit of the velocity expansion for it to be tried.
    time_budget : float
        Seconds for all ``discover`` calls together.
    levels : int
        Pareto-front depth merged into one library (1: the best formula of each problem).
    seed : int
    edge_terms : sequence of sympy.Expr
        Terms read off the edges of a one-layer network, offered with the whole
        surrogate's Pareto front.
    surrogate_error : float
        The surrogate's relative acceleration error on held-out data: ``discover`` stops
        at a target of a few times it (0: an exact surrogate, no target).
    """
    started = time.perf_counter()
    q, v, _ = train
    dof = q.shape[1]
    problem = _Problem(symbols, train, test, tolerance, null_tol)
    generator = torch.Generator().manual_seed(int(seed))
    n_positions = min(len(q), 400)
    positions = q[torch.randperm(len(q), generator=generator)[:n_positions]]
    m = max(4 * len(monomials(dof)), 24)
    velocities = v[torch.randperm(len(v), generator=generator)[:m]]
    coefficients, quadratic_error = velocity_expansion(surrogate, positions, velocities)
    attempts: list[FormulaSearch] = []
    routes = ["velocity expansion", "whole"] if quadratic_error <= quadratic_tol else ["whole"]
    log = [f"velocity expansion misfit {quadratic_error:.3g}"]
    for route in routes:
        remaining = time_budget - (time.perf_counter() - started)
        if route == "velocity expansion":
            fronts, lines = coefficient_fronts(
                surrogate,
                coefficients,
                positions,
                train,
                symbols,
                remaining,
                seed,
                surrogate_error,
            )
            log += lines
        else:
            x = torch.cat([q, v], 1)
            with torch.no_grad():
                y = surrogate(x).reshape(-1)
            target = MARGIN * surrogate_error if surrogate_error > 0 else None
            found, _, best = discover_terms(x, y, symbols, max(remaining, 10.0), seed, target)
            log.append(f"whole: discover's best {best}")
            whole: list[list[sympy.Expr]] = [[], *found]
            fronts = [whole]
            if edge_terms:
                fronts.append([list(edge_terms)])
        for level in range(1, levels + 1):
            library: list[sympy.Expr] = []
            for front in fronts:
                for group in front[: level + 1]:
                    library += [t for t in group if t not in library]
            attempt = _solve_library(problem, library)
            attempt.route = route
            attempts.append(attempt)
            if attempt.law is not None:
                attempt.quadratic_error, attempt.log = quadratic_error, log
                return attempt
            if all(len(front) <= level + 1 for front in fronts):
                break
    best = min(attempts, key=lambda a: a.error) if attempts else FormulaSearch()
    best.quadratic_error, best.log = quadratic_error, log
    best.law = None
    best.reason = best.reason or "no formula passed"
    return best
