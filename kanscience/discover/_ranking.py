"""Candidates and their ranking: complexity, simplicity and the Pareto front.

A :class:`Candidate` is one formula with its complexity and errors. :func:`complexity`
counts expression nodes with fitted constants costing more than simple ones;
:func:`simplicity` orders equally complex formulas by their constants; :func:`rank`
returns the Pareto front of complexity against validation error, the simplest formula
as good as the best (within a relative tolerance) first.

Examples
--------
>>> x = sympy.Symbol("x")
>>> exact = Candidate(x**2, complexity(x**2), 0.0, 1.0, val_rmse=1e-3)
>>> fitted = Candidate(1.01 * x**2 + 0.02 * x, 9, 0.0, 1.0, val_rmse=0.95e-3)
>>> front, _ = rank([fitted, exact], spread=1.0)
>>> front[0].expr
x**2
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import cast

import sympy

from ..symbolic import expression_complexity, float_constants, merge_constants
from ._forms import SYMPY_ERRORS

__all__ = [
    "CONSTANT_COST",
    "SCALE_COST",
    "RANK_TOLERANCE",
    "ROUNDING",
    "Candidate",
    "complexity",
    "error_bound",
    "family",
    "n_floats",
    "rank",
    "rank_consistent_first",
    "readable",
    "scale_and_offset",
    "simplicity",
]


@dataclass(frozen=True)
class Candidate:
    """One formula: its complexity (expression nodes, a constant counting as one) and errors.

    ``val_rmse`` is on the validation part of the training data (used for ranking);
    ``test_rmse`` and ``test_r2`` on the test split; ``source`` names the structure and
    the snapping that produced it.
    """

    expr: sympy.Expr
    complexity: int
    test_rmse: float
    test_r2: float
    val_rmse: float = math.nan
    source: str = ""


def complexity(expr: sympy.Expr) -> int:
    """Nodes of the expression tree; a constant sub-expression (``0.3``, ``1/(2 pi)``) is
    one node if it is a small number (an integer up to 3 or a half of one: exponents,
    signs) and :data:`CONSTANT_COST` nodes otherwise, except the overall factor and
    offset (units and zero points), which count :data:`SCALE_COST`. A closed-form
    constant counts as much as a fitted float, never more (``x / (2 pi)`` and ``0.159 x``
    alike).

    On noisy data many formulas fit equally well; the constant cost prefers a law whose
    constants are simple over a smaller-looking one with made-up constants
    (``m / sqrt(1 - v^2 / c^2)`` over ``0.085 m (cosh(17 v / (5 c)) + 54 / 5)``).

    >>> t = sympy.Symbol("t")
    >>> complexity(sympy.exp(t / (2 * sympy.pi))), complexity(sympy.exp(0.159 * t))
    (6, 6)
    >>> complexity(0.4 * sympy.exp(-t ** 2 / 2) + 1.7)
    13
    >>> complexity(t / (2 * sympy.pi)), complexity(0.159 * t)
    (4, 4)
    """
    return _nodes(expr) - (CONSTANT_COST - SCALE_COST) * _free_scale_and_offset(expr)


def _scale_and_offset_constants(expr: sympy.Expr) -> tuple[sympy.Expr, sympy.Expr]:
    """The overall constant factor and additive constant of ``expr``, floats or exact
    (``1/(2 pi)``): all constant factors of a product (terms of a sum) together, as
    :func:`_nodes` counts them."""
    args = cast("tuple[sympy.Expr, ...]", expr.args)
    constants = [a for a in args if not a.free_symbols]
    factor = sympy.Mul(*constants) if expr.is_Mul else sympy.S.One
    offset = sympy.Add(*constants) if expr.is_Add else sympy.S.Zero
    return factor, offset


CONSTANT_COST = 3
SCALE_COST = 2
"""Nodes of an overall factor or offset that is not a small number: less than another
constant (units and zero points are arbitrary), more than none (a law that needs no
factor beats an equally good approximation that needs one: ``m / sqrt(1 - v^2 / c^2)``
against ``0.707 m / sqrt(cos(v / c) - 1/2)``)."""


def _small(number: sympy.Basic) -> bool:
    return isinstance(number, sympy.Rational) and abs(number.p) <= 3 and number.q <= 2


def chosen_constants(expr: sympy.Expr) -> int:
    """The constants of a formula that the data chose: constant sub-expressions other than
    small numbers (fitted floats, and exact constants that snapping picked among many,
    ``9/7`` or ``1/(2 pi)``), the overall factor and offset not counted.

    >>> t, u = sympy.symbols("t u")
    >>> chosen_constants(0.4 * sympy.exp(-t**2 / 2)), chosen_constants(t / (1 - 9 * u / 7))
    (0, 1)
    >>> chosen_constants(0.4 * sympy.exp(-t**2 / 2) + 1.7)  # the amplitude, not the offset
    1
    """
    priced = (_nodes(expr) - _nodes(expr, cost=1)) // (CONSTANT_COST - 1)
    return priced - _free_scale_and_offset(expr)


def _free_scale_and_offset(expr: sympy.Expr) -> int:
    """How many of the overall factor and offset are constants other than small numbers
    (they fix units and zero points, and are not priced as constants)."""
    if not expr.free_symbols:
        return 0
    return sum(n != 0 and not _small(n) for n in _scale_and_offset_constants(expr))


def _nodes(expr: sympy.Basic, cost: int = CONSTANT_COST) -> int:
    """Nodes of the tree, a constant that is not a small number counting as ``cost``."""
    if not expr.free_symbols:
        return 1 if _small(expr) else cost
    args = cast("tuple[sympy.Expr, ...]", expr.args)  # sympy's stubs say Basic
    variable = [arg for arg in args if arg.free_symbols]
    constants = [arg for arg in args if not arg.free_symbols]
    if expr.is_Mul or expr.is_Add:
        # all constant factors (terms) of a product (sum) together are one constant
        constant = sympy.Mul(*constants) if expr.is_Mul else sympy.Add(*constants)
        return (
            1
            + (_nodes(constant, cost) if constants else 0)
            + sum(_nodes(a, cost) for a in variable)
        )
    return 1 + sum(_nodes(arg, cost) for arg in expr.args)


def scale_and_offset(expr: sympy.Expr) -> set[sympy.Float]:
    """The overall factor and the overall additive constant of ``expr``, if floats that
    occur nowhere else in it: they fix units and zero points rather than the form of a
    law (a factor that is also a constant inside, as in ``0.16 x / (exp(0.16 x) - 1)``,
    is part of the form)."""
    found = set()
    for number, rest in (expr.as_coeff_Mul(), expr.as_coeff_Add()):
        if isinstance(number, sympy.Float) and number not in float_constants(rest):
            found.add(number)
    return found


def family(candidate: Candidate) -> str:
    """The structure and functions a candidate came from (its source without snaps)."""
    return candidate.source.split("/snap")[0]


def n_floats(expr: sympy.Expr) -> int:
    """Number of distinct floats (fitted constants) in ``expr``, not counting an overall
    factor or offset."""
    return len(float_constants(expr) - scale_and_offset(expr))


def simplicity(expr: sympy.Expr, nodes: int | None = None) -> tuple[int, int, int, int]:
    """Sort key of simpler formulas: nodes (:func:`complexity`, given as ``nodes`` if
    known), fitted constants, a fitted overall factor or offset (``1 / (2 cosh q)``
    before ``0.5002 / cosh q``), then the size of the exact constants (1/2 before
    11/(7 pi)); a rational pi fraction is as cheap as a number for the node count."""
    nodes = complexity(expr) if nodes is None else nodes
    free = len(scale_and_offset(expr))
    return nodes, n_floats(expr), free, expression_complexity(expr) - nodes


def readable(candidate: Candidate) -> Candidate:
    """``candidate`` with its fractions combined if that is shorter (by :func:`complexity`):
    ``Y / (2 sigma (1 + 1/sigma))`` reads ``Y / (2 (sigma + 1))``; and with products of
    constants folded into one number where that is shorter
    (:func:`kanscience.symbolic.merge_constants`: ``0.65 pi x`` reads ``2.04 x``). The
    same function."""
    try:
        merged = merge_constants(candidate.expr)
        forms = [merged, merge_constants(cast(sympy.Expr, sympy.together(merged)))]
    except SYMPY_ERRORS:
        return candidate
    best, size = candidate, (candidate.complexity, expression_complexity(candidate.expr))
    for form in forms:
        form_size = (complexity(form), expression_complexity(form))
        if form_size < size and not form.has(sympy.zoo, sympy.nan):
            best, size = (
                dataclasses.replace(candidate, expr=form, complexity=form_size[0]),
                form_size,
            )
    return best


ROUNDING = 1e-9
"""Errors at most this fraction of the target's spread are rounding: the formula is exact."""


def error_bound(error: float, spread: float, relative: float, floor: float = ROUNDING) -> float:
    """The largest validation RMSE as good as ``error``: within ``relative`` of it, or
    numerically exact (at most ``floor`` times the target's spread)."""
    return max((1 + relative) * error, floor * spread)


RANK_TOLERANCE = 0.1
"""Relative validation error within which :func:`rank` calls formulas equally good."""


def rank(
    found: list[Candidate],
    spread: float,
    floor: float = ROUNDING,
    relative: float = RANK_TOLERANCE,
) -> tuple[tuple[Candidate, ...], tuple[Candidate, ...]]:
    """(Pareto front ranked best first, all candidates by complexity).

    Simpler means fewer expression nodes (:func:`complexity`), then fewer fitted constants
    (:func:`n_floats`), then smaller exact constants. The front holds the candidates that
    beat every simpler one on validation RMSE; the simplest one within ``relative`` of the
    best error (or within ``floor * spread``) ranks first, then the others within that
    tolerance by simplicity, then the rest by error.
    """
    simple = {id(c): simplicity(c.expr, c.complexity) for c in found}
    by_complexity = sorted(found, key=lambda c: (*simple[id(c)], c.val_rmse, sympy.srepr(c.expr)))
    front, best_so_far = [], math.inf
    for c in by_complexity:
        if c.val_rmse < best_so_far:
            front.append(c)
            best_so_far = c.val_rmse
    if not front:
        return (), tuple(by_complexity)
    tolerance = error_bound(min(c.val_rmse for c in front), spread, relative, floor)
    ranked = sorted(
        front,
        key=lambda c: (
            c.val_rmse > tolerance,
            simple[id(c)] if c.val_rmse <= tolerance else (c.val_rmse, 0, 0, 0),
        ),
    )
    return tuple(ranked), tuple(by_complexity)


def rank_consistent_first(
    found: list[Candidate],
    consistent: list[bool],
    spread: float,
    relative: float = RANK_TOLERANCE,
) -> tuple[Candidate, ...]:
    """:func:`rank`, with the front of the candidates that explain the data up to noise
    (``consistent``, one flag per candidate) first: on noisy data a simpler formula whose
    residuals still carry structure (a truncated series) does not outrank the law.

    Examples
    --------
    >>> x = sympy.Symbol("x")
    >>> series = Candidate(1 + x, 3, 0.0, 1.0, val_rmse=1.01)
    >>> law = Candidate(sympy.exp(x), 6, 0.0, 1.0, val_rmse=1.00)
    >>> [str(c.expr) for c in rank([series, law], 1.0)[0]]
    ['x + 1', 'exp(x)']
    >>> [str(c.expr) for c in rank_consistent_first([series, law], [False, True], 1.0)]
    ['exp(x)', 'x + 1']
    """
    if len(consistent) != len(found):
        raise ValueError(f"consistent must have one flag per candidate ({len(found)})")
    first, _ = rank([c for c, ok in zip(found, consistent) if ok], spread, relative=relative)
    shown = {id(c) for c in first}
    rest, _ = rank(found, spread, relative=relative)
    return first + tuple(c for c in rest if id(c) not in shown)
