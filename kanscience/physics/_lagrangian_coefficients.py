"""Candidate terms of a Lagrangian from its coefficient functions, each a problem of the positions.

Where the learned Lagrangian is a quadratic polynomial in the velocities
(:func:`velocity_expansion`), ``L = L_0(q) + sum_{i <= j} qdot_i qdot_j M_ij(q)`` up to
gauge, and every coefficient function is a smaller problem for
:func:`kanscience.discover.discover` (:func:`coefficient_fronts`):

- a kinetic coefficient ``M_ij`` whose spread over the positions is within the surrogate's
  accuracy is offered as a constant (the refit fixes its value); any other goes to
  ``discover``;
- the potential ``L_0`` goes to ``discover`` twice: its values, and its **forces**. The
  Euler-Lagrange equations give the force ``dL_0/dq`` at each *data* state from the
  surrogate's kinetic part and the observed accelerations,
  ``dL_0/dq = F(q, 0) + (M a - F)(q, qdot)`` (``M``, ``F``: the surrogate's mass matrix and
  force side), free of the surrogate's own error in ``L_0``; each component
  ``dL_0/dq_i`` is found by ``discover`` and integrated in ``q_i`` (a force is often
  simpler than its potential: ``-10 (r - 1)`` against ``-5 (r - 1)^2``).

``discover`` stops at a target from the surrogate's accuracy (``surrogate_error``, the
relative acceleration error of the network), so the search does not spend its budget
fitting the network's own error.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import cast

import sympy
import torch
from torch import Tensor

from ..discover import discover
from ._euler_lagrange import euler_lagrange
from ._expressions import split_terms

__all__ = ["coefficient_fronts", "discover_terms", "monomials", "velocity_expansion"]

ScalarFn = Callable[[Tensor], Tensor]
Front = list[list[sympy.Expr]]  # the terms of each Pareto-front formula, best first

MARGIN = 3.0
"""Target error of ``discover`` on a coefficient function, in units of the surrogate's
relative acceleration error: a coefficient (or a force) of the network carries a few times
the error of the accelerations it produces."""

MAX_TARGET = 0.5
INTEGRABLE_OPS = 20
"""Largest ``count_ops`` of a force term handed to ``sympy.integrate`` (bigger ones are
skipped: integration time grows fast with size, and such terms are rarely exact)."""


def monomials(dof: int) -> list[tuple[int, ...]]:
    """Velocity monomials of degree 0, 1 and 2 as index tuples."""
    return (
        [()]
        + [(i,) for i in range(dof)]
        + list(itertools.combinations_with_replacement(range(dof), 2))
    )


def velocity_expansion(
    lagrangian: ScalarFn, q: Tensor, v: Tensor
) -> tuple[dict[tuple[int, ...], Tensor], float]:
    """Least-squares quadratic in the velocities of ``lagrangian`` at each position.

    Parameters
    ----------
    lagrangian : callable ``(n, 2 d) -> (n,)``
    q : Tensor (n_q, d)
        Positions.
    v : Tensor (m, d)
        Velocities, the same at every position (``m`` above the number of monomials).

    Returns
    -------
    (coefficients, error)
        Monomial (index tuple, ``()`` for the constant) -> coefficient at each position
        (n_q,), and the RMS misfit relative to the RMS spread of ``lagrangian``.

    Examples
    --------
    >>> f = lambda x: x[:, 1] ** 2 * torch.cos(x[:, 0]) + x[:, 0]
    >>> q = torch.linspace(-1, 1, 5, dtype=torch.float64)[:, None]
    >>> v = torch.linspace(-1, 1, 7, dtype=torch.float64)[:, None]
    >>> coefficients, misfit = velocity_expansion(f, q, v)
    >>> bool(torch.allclose(coefficients[(0, 0)], torch.cos(q[:, 0]))), misfit < 1e-12
    (True, True)
    """
    n_q, dof = q.shape
    terms = monomials(dof)
    design = torch.stack(
        [torch.ones(len(v), dtype=v.dtype) if not m else v[:, list(m)].prod(1) for m in terms],
        1,
    )
    states = torch.cat([q.repeat_interleave(len(v), 0), v.repeat(n_q, 1)], 1)
    with torch.no_grad():
        values = lagrangian(states).reshape(n_q, len(v)).T  # (m, n_q)
    solution = torch.linalg.lstsq(design, values).solution  # (p, n_q)
    misfit = (design @ solution - values).pow(2).mean().sqrt()
    spread = (values - values.mean()).pow(2).mean().sqrt().clamp_min(1e-300)
    return dict(zip(terms, solution)), float(misfit / spread)


def _terms_of(expr: sympy.Expr, symbols: list[sympy.Symbol]) -> list[sympy.Expr]:
    """The non-constant terms of ``expr`` (expanded), without their coefficients."""
    return [t for _, t in split_terms(sympy.expand(expr), symbols) if t != 1]


def discover_terms(
    x: Tensor,
    y: Tensor,
    symbols: list[sympy.Symbol],
    budget: float,
    seed: int,
    target_error: float | None = None,
) -> tuple[Front, list[sympy.Expr], str]:
    """``discover`` on ``(x, y)`` (columns named by ``symbols``): the terms of each
    Pareto-front formula (best first), the formulas, and the best one as text."""
    found = discover(
        (x, y),
        [str(s) for s in symbols],
        time_budget=max(budget, 1.0),
        target_error=target_error,
        seed=seed,
    )
    by_name = {str(s): s for s in symbols}
    formulas = [
        cast(sympy.Expr, c.expr.xreplace({s: by_name[str(s)] for s in c.expr.free_symbols}))
        for c in found.candidates
    ]
    best = str(formulas[0]) if formulas else "nothing"
    return [_terms_of(f, symbols) for f in formulas], formulas, best


def _target(surrogate_error: float, noise: float, spread: float) -> float | None:
    """``discover``'s target for data of RMS error ``surrogate_error * noise`` and standard
    deviation ``spread`` (None: an exact surrogate, no target)."""
    if not surrogate_error > 0 or not spread > 0:
        return None
    return min(MAX_TARGET, MARGIN * surrogate_error * max(noise, spread) / spread)


def _integrated(formula: sympy.Expr, variable: sympy.Symbol) -> list[sympy.Expr]:
    """The antiderivative in ``variable`` of each term of ``formula`` that sympy integrates
    in closed form (others are skipped)."""
    out = []
    for term in sympy.Add.make_args(sympy.expand(formula)):
        if sympy.count_ops(term) > INTEGRABLE_OPS:
            continue
        try:
            integral = sympy.integrate(term, variable, conds="none")
        except (NotImplementedError, ValueError, TypeError, RecursionError):
            continue
        if not integral.has(sympy.Integral) and not integral.has(sympy.Piecewise):
            out.append(cast(sympy.Expr, integral))
    return out


def potential_forces(surrogate: ScalarFn, q: Tensor, v: Tensor, a: Tensor) -> Tensor:
    """``dL_0/dq`` at the data states (see the module docstring): (n, d)."""
    mass, force = euler_lagrange(surrogate, q, v)
    _, at_rest = euler_lagrange(surrogate, q, torch.zeros_like(v))
    return at_rest + torch.einsum("njk,nk->nj", mass, a) - force


def coefficient_fronts(
    surrogate: ScalarFn,
    coefficients: dict[tuple[int, ...], Tensor],
    positions: Tensor,
    data: tuple[Tensor, Tensor, Tensor],
    symbols: list[sympy.Symbol],
    budget: float,
    seed: int,
    surrogate_error: float = 0.0,
) -> tuple[list[Front], list[str]]:
    """Candidate fronts for each coefficient function (see the module docstring).

    Parameters
    ----------
    surrogate : callable
        The learned Lagrangian, even in the velocities.
    coefficients : dict
        From :func:`velocity_expansion` at ``positions``.
    positions : Tensor (n_q, d)
    data : (q, qdot, qddot)
        Training states and accelerations (for the potential's forces).
    symbols : list of sympy.Symbol
        ``q`` then ``qdot`` symbols.
    budget : float
        Seconds for all ``discover`` calls together.
    seed : int
    surrogate_error : float
        Relative acceleration error of the surrogate (0: exact, no target).

    Returns
    -------
    (fronts, log)
        One front per problem, each a list of term groups (the velocity monomial itself
        first), and one log line per search.
    """
    dof = positions.shape[1]
    qs = symbols[:dof]
    problems = [m for m in coefficients if len(m) != 1]  # the odd part is gauge: dropped
    kinetic = [m for m in problems if m]
    scale = max(float(coefficients[m].pow(2).mean().sqrt()) for m in kinetic)
    # a kinetic coefficient that varies by less than the surrogate's error: a constant
    flat = max(1e-3, MARGIN * surrogate_error)
    searches = len(problems) + dof
    started = time.perf_counter()

    def share() -> float:  # what is left, split among the searches still to run
        nonlocal searches
        searches -= 1
        return (budget - (time.perf_counter() - started)) / (searches + 1)

    fronts: list[Front] = []
    log = []
    for monomial in problems:
        factor = sympy.Mul(*(symbols[dof + i] for i in monomial))
        values = coefficients[monomial]
        spread = float(values.std())
        front: Front = [[factor] if monomial else []]
        if spread > flat * (scale if monomial else float(values.abs().max())):
            noise = scale if monomial else spread
            found, _, best = discover_terms(
                positions,
                values,
                qs,
                share(),
                seed,
                _target(surrogate_error, noise, spread),
            )
            log.append(f"{factor}: discover's best {best}")
            front += [[cast(sympy.Expr, t * factor) for t in group] for group in found]
        fronts.append(front)
    q, v, a = data
    forces = potential_forces(surrogate, q, v, a)
    for i in range(dof):
        spread = float(forces[:, i].std())
        if not spread > flat * float(forces.abs().max()):
            continue
        _, formulas, best = discover_terms(
            q,
            forces[:, i],
            qs,
            share(),
            seed,
            _target(surrogate_error, spread, spread),
        )
        log.append(f"dL/d{qs[i]} from the data: discover's best {best}")
        front = [[]]
        for formula in formulas:
            front.append(
                [t for integral in _integrated(formula, qs[i]) for t in _terms_of(integral, qs)]
            )
        fronts.append(front)
    return fronts, log
