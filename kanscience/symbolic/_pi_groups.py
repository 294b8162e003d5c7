"""Dimensional analysis: Buckingham Pi groups and the consistency of a candidate formula.

Examples
--------
>>> from kanscience.symbolic import parse_units
>>> dims = parse_units({"l": "m", "g": "m/s**2", "m": "kg"}, target="s")
>>> problem = buckingham_pi(dims)
>>> problem.groups, problem.target_scale
((), {'l': Fraction(1, 2), 'g': Fraction(-1, 2)})
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import reduce

import sympy

from ._dimensions import DimensionError, Dimensions

__all__ = [
    "DimensionlessProblem",
    "buckingham_pi",
    "dimension_of",
    "is_dimensionally_consistent",
]

MAX_EXPONENT_SEARCH = 12  # pivot sets tried per group basis: C(n, rank) up to this many thousands


@dataclass(frozen=True)
class DimensionlessProblem:
    """A problem rewritten in dimensionless groups (Buckingham Pi).

    Attributes
    ----------
    groups : tuple of dict
        Each group is ``{variable: exponent}``; the product of ``variable ** exponent`` is
        dimensionless. Together they span every dimensionless monomial of the variables.
    target_scale : dict
        ``{variable: exponent}`` whose product has the target's units (empty when the
        target is dimensionless), so ``target / scale`` is a function of the groups.
    alternative_scales : tuple of dict
        Other scales as small as ``target_scale`` (the same sum and largest of the
        absolute exponents; ``m v^2`` beside ``m c^2`` for an energy): each is
        ``target_scale`` times a monomial of the groups, so any of them may stand in its
        place (the data can tell which makes ``target / scale`` simplest).
    """

    groups: tuple[dict[str, Fraction], ...]
    target_scale: dict[str, Fraction]
    alternative_scales: tuple[dict[str, Fraction], ...] = ()

    def group_expressions(self, symbols: Mapping[str, sympy.Symbol]) -> list[sympy.Expr]:
        """The groups as sympy monomials of ``symbols``."""
        return [_monomial(g, symbols) for g in self.groups]

    def scale_expression(self, symbols: Mapping[str, sympy.Symbol]) -> sympy.Expr:
        """The target scale as a sympy monomial of ``symbols``."""
        return _monomial(self.target_scale, symbols)


def _monomial(exponents: Mapping[str, Fraction], symbols: Mapping[str, sympy.Symbol]) -> sympy.Expr:
    return sympy.Mul(*[symbols[n] ** sympy.Rational(e) for n, e in exponents.items()])


# ------------------------------------------------------------------------- Pi groups
def _fraction(value: object) -> Fraction:
    """An exact rational (sympy Rational, int, Fraction) as a Fraction."""
    return Fraction(str(value))


def _columns(matrix: sympy.Matrix, columns: Sequence[int]) -> sympy.Matrix:
    return matrix.extract(list(range(matrix.rows)), list(columns))


def _integer(vector: Sequence[sympy.Rational]) -> list[int]:
    """The smallest integer multiple of a rational vector, first nonzero entry positive."""
    fractions = [_fraction(v) for v in vector]
    lcm = reduce(lambda a, b: a * b // math.gcd(a, b), [f.denominator for f in fractions], 1)
    ints = [int(f * lcm) for f in fractions]
    gcd = reduce(math.gcd, [abs(i) for i in ints if i], 0) or 1
    ints = [i // gcd for i in ints]
    first = next((i for i in ints if i), 1)
    return [-i for i in ints] if first < 0 else ints


def _basis_for_pivots(matrix: sympy.Matrix, pivots: tuple[int, ...]) -> list[list[int]] | None:
    """Null-space basis with the non-pivot columns free (one unit per vector), or None."""
    sub = _columns(matrix, pivots)
    if sub.rank() < len(pivots):
        return None
    free = [j for j in range(matrix.shape[1]) if j not in pivots]
    solve = sub.pinv() if sub.shape[0] != sub.shape[1] else sub.inv()
    basis = []
    for j in free:
        column = _columns(matrix, [j])
        coeff = -(solve * column)
        if sub * coeff != -column:
            return None
        vector = [sympy.Integer(0)] * matrix.shape[1]
        vector[j] = sympy.Integer(1)
        for p, c in zip(pivots, coeff):
            vector[p] = c
        basis.append(_integer(vector))
    return basis


def _cost(vectors: Sequence[Sequence[int]]) -> tuple[int, int]:
    exponents = [abs(e) for v in vectors for e in v]
    return sum(exponents), max(exponents, default=0)


def buckingham_pi(dimensions: Dimensions) -> DimensionlessProblem:
    """Dimensionless groups of the variables and a scale carrying the target's units.

    The groups are an integer basis of the null space of the dimension matrix; among the
    bases with one free variable per group, the one with the smallest exponents is kept
    (so the pendulum's groups come out as ``l/(g T^2)``-like monomials, not multiples).

    Raises
    ------
    DimensionError
        When no monomial of the variables has the target's units (the target cannot be
        written as a scale times a function of the groups).
    """
    names = list(dimensions.variables)
    matrix = dimensions.matrix(names)
    rank = matrix.rank()
    n = len(names)
    independent_rows = matrix.T.columnspace()
    reduced = sympy.Matrix.hstack(*independent_rows).T if independent_rows else sympy.zeros(0, n)
    best: tuple | None = None
    for count, pivots in enumerate(itertools.combinations(range(n), rank)):
        if count >= MAX_EXPONENT_SEARCH * 1000:
            break
        basis = (
            _basis_for_pivots(reduced, pivots)
            if rank
            else [[1 if i == j else 0 for i in range(n)] for j in range(n)]
        )
        if basis is None:
            continue
        key = (_cost(basis), pivots)
        if best is None or key < best[0]:
            best = (key, basis, pivots)
    groups: tuple[dict[str, Fraction], ...] = ()
    if best is not None:
        groups = tuple(
            {names[i]: Fraction(e) for i, e in enumerate(vector) if e} for vector in best[1]
        )
    scales: list[dict[str, Fraction]] = [{}]
    if dimensions.target is not None and any(dimensions.target):
        target = sympy.Matrix([sympy.Rational(e) for e in dimensions.target])
        scales = _target_scales(matrix, target, names)
        if not scales:
            have = ", ".join(
                f"{n}: {_unit_text(dimensions.variables[n], dimensions.base)}" for n in names
            )
            raise DimensionError(
                "no product of powers of the variables has the target's units "
                f"({_unit_text(dimensions.target, dimensions.base)}; the variables have {have}): "
                "the units are inconsistent, or a dimensional constant is missing from the "
                "variables"
            )
    return DimensionlessProblem(groups, scales[0], tuple(scales[1:]))


def _unit_text(vector: Sequence[Fraction], base: Sequence[str]) -> str:
    """An exponent vector as a unit string (``m*s**-2``; ``1`` when dimensionless)."""
    parts = [
        b if e == 1 else f"{b}**{e}" if e.denominator == 1 else f"{b}**({e})"
        for b, e in zip(base, vector)
        if e != 0
    ]
    return "*".join(parts) or "1"


def _target_scales(
    matrix: sympy.Matrix, target: sympy.Matrix, names: list[str]
) -> list[dict[str, Fraction]]:
    """The smallest-exponent monomials of the variables with the target's units (none if
    there is none): the preferred one first (then fewest divisions), then the others of
    the same sum and largest of the absolute exponents."""
    rank = matrix.rank()
    found: dict[tuple, tuple] = {}
    for pivots in itertools.combinations(range(len(names)), rank):
        sub = _columns(matrix, pivots)
        if sub.rank() < rank:
            continue
        solution = sub.pinv() * target
        if sub * solution != target:
            continue
        exponents = [sympy.Rational(s) for s in solution]
        scale = tuple((names[p], _fraction(s)) for p, s in zip(pivots, exponents) if s != 0)
        cost = (
            sum(abs(e) for e in exponents),  # smallest exponents first,
            max(abs(e) for e in exponents),  # then no large single power,
            sum(1 for e in exponents if e < 0),  # then fewest divisions
            pivots,
        )
        if scale not in found or cost < found[scale]:
            found[scale] = cost
    ranked = sorted(found, key=lambda scale: found[scale])
    if not ranked:
        return []
    smallest = found[ranked[0]][:2]
    return [dict(scale) for scale in ranked if found[scale][:2] == smallest]


# ---------------------------------------------------------------------- consistency
def dimension_of(expr: sympy.Expr, dimensions: Dimensions) -> tuple[Fraction, ...]:
    """The units of ``expr`` over ``dimensions.base``.

    Numbers are dimensionless; sums need equal units; powers need dimensionless or
    rational exponents; other functions (exp, log, sin, ...) need dimensionless arguments.

    Raises
    ------
    DimensionError
        Naming the sub-expression whose units do not add up.
    """
    zero = tuple(Fraction(0) for _ in dimensions.base)

    def walk(e: sympy.Basic) -> tuple[Fraction, ...]:
        if e.is_Number or e.is_NumberSymbol:
            return zero
        if isinstance(e, sympy.Symbol):
            if e.name not in dimensions.variables:
                raise DimensionError(f"{e.name} has no units")
            return dimensions.variables[e.name]
        if isinstance(e, sympy.Add):
            parts = [walk(a) for a in e.args]
            if any(p != parts[0] for p in parts):
                raise DimensionError(f"{e} adds terms of different units")
            return parts[0]
        if isinstance(e, sympy.Mul):
            total = zero
            for a in e.args:
                total = tuple(x + y for x, y in zip(total, walk(a)))
            return total
        if isinstance(e, sympy.Pow):
            base_units, exponent = walk(e.base), e.exp
            if walk(exponent) != zero:
                raise DimensionError(f"{e} has an exponent with units")
            if base_units == zero:
                return zero
            if not exponent.is_Rational:
                raise DimensionError(f"{e} raises a quantity with units to a non-rational power")
            power = _fraction(exponent)
            return tuple(x * power for x in base_units)
        if isinstance(e, sympy.Abs):
            return walk(e.args[0])
        for argument in e.args:
            if walk(argument) != zero:
                raise DimensionError(f"{e} applies {type(e).__name__} to a quantity with units")
        return zero

    return walk(sympy.sympify(expr))


def is_dimensionally_consistent(expr: sympy.Expr, dimensions: Dimensions) -> bool:
    """Whether ``expr`` is consistent and has the target's units (any, if no target).

    A free overall constant is not allowed to carry units: a candidate that matches the
    data only with a dimensional constant in front is rejected.
    """
    try:
        units = dimension_of(expr, dimensions)
    except DimensionError:
        return False
    return dimensions.target is None or units == tuple(dimensions.target)
