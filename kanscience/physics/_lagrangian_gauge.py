"""The gauge of a Lagrangian, and its energy.

A Lagrangian is defined up to ``a L + b + dF(q)/dt``: these change no equation of motion.
:func:`canonical_lagrangian` fixes that gauge (no constant, no total-derivative term,
``d2L/dv1^2 = 1`` at rest), so that a learned law can be compared with a known one term by
term; :func:`lagrangian_energy` gives the conserved energy ``E = v . dL/dv - L``, whose drift
along a :func:`kanscience.physics.rollout` measures a law's quality.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import sympy

from ._expressions import as_symbols, combine_terms, split_terms

__all__ = ["canonical_lagrangian", "lagrangian_energy"]


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
    linear: list[sympy.Expr] = [sympy.S.Zero] * len(vs)
    rest = []
    for coefficient, term in split_terms(expr, qs + vs):
        if term == 1:
            continue
        # sympy.degree's ``gen`` is unannotated with default 0, so it is inferred as int;
        # sympy documents (and here gets) a Symbol
        degrees = cast(
            "list[object]",
            [
                sympy.degree(term, s) if term.is_polynomial(s) else None  # pyright: ignore[reportArgumentType]
                for s in vs
            ],
        )
        if sum(1 for g in degrees if g) == 1 and all(g in (0, 1) for g in degrees):
            i = degrees.index(1)
            linear[i] += coefficient * term / vs[i]
        else:
            rest.append((coefficient, term))
    kept = combine_terms(rest)
    if any(c != 0 for c in linear) and not _is_gradient_field(linear, qs):
        kept += sum(c * s for c, s in zip(linear, vs))
    point: dict[sympy.Basic | complex, sympy.Basic | complex] = {s: 0 for s in vs}
    point |= {s: (0 if at is None else at[i]) for i, s in enumerate(qs)}
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
