"""Formula polishing: a formula found by a structure is polished before it is scored:

1. simplified and made identifiable (:mod:`kanscience.discover._forms`: polynomial parts
   expanded, powers and logarithms of sums normalized; products of a fitted constant and
   exact ones folded into one float, :func:`kanscience.symbolic.merge_constants`), so
   that its constants can be refitted and snapped one by one;
2. its constants are refitted on the data by least squares
   (:func:`kanscience.symbolic.fit_constants`);
3. snapped to simple numbers (fractions, and fractions times a closed form such as
   ``pi`` or ``sqrt(2)``, :data:`CLOSED_FORMS`): all at once at a few tolerances; and,
   for the best formulas at the end of the search (:func:`polish_best`), one constant at
   a time, refitting the others after each snap and keeping a snap only while the
   validation error stays within the search's ``tolerance`` (relative) of the unsnapped
   formula's. On noisy data a fitted ``0.498`` is statistically indistinguishable from
   ``1/2``: the greedy snapper accepts it; on exact data only exact snaps survive.

Every polished variant becomes a :class:`~kanscience.discover.Candidate` of the
:class:`~kanscience.discover._search.Search`.
"""

from __future__ import annotations

import itertools
import math
from typing import cast

import sympy

from ..symbolic import SIMPLE_CONSTANTS, float_constants, merge_constants, snap_constants
from ._forms import (
    drop_unit_factors,
    expand_polynomials,
    normalize_scales,
    positive_symbols,
    simplify,
)
from ._ranking import Candidate, family, rank, scale_and_offset, simplicity
from ._search import Search, add, refit

__all__ = [
    "CLOSED_FORMS",
    "EQUAL_POLISHED",
    "GREEDY_OPTIONS",
    "SNAPS",
    "candidates_from",
    "polish_best",
    "prepare",
    "refit_merged",
    "screen",
    "snap_floats",
    "snap_greedy",
]

_PI = (sympy.pi, 1 / sympy.pi)
CLOSED_FORMS = (
    *SIMPLE_CONSTANTS,
    1 / sympy.pi**2,
    sympy.sqrt(sympy.pi),
    1 / sympy.sqrt(sympy.pi),
    sympy.sqrt(2 * sympy.pi),
    1 / sympy.sqrt(2 * sympy.pi),
)
"""Closed forms whose rational multiples are snap targets of the tightest all-at-once
snap and, as the closest one to each constant, of the greedy snapper (its data check
decides); the wider all-at-once snaps try fractions and fractions of ``pi`` only."""
SNAPS = (
    (1e-3, (), True),
    (1e-3, _PI, True),
    (1e-2, (), False),
    (1e-6, CLOSED_FORMS, True),
    (1e-3, (), False),
    (1e-4, (), True),
    (1e-2, _PI, False),
    (3e-2, (), False),
)
"""(tolerance, constants, whole) of the all-at-once snaps, most useful first; ``whole``
snaps the overall factor and offset too (a tidy form of exact data), else they stay free."""
# the greedy snapper's constants and widest tolerance (its data check decides)
GREEDY_CONSTANTS = _PI
GREEDY_TOLERANCE = 5e-2
GREEDY_OPTIONS = 12
GREEDY_ERROR = 0.1  # only formulas with R^2 > 0.99 are snapped one constant at a time
ZERO_SNAP = 0.25  # additive constants inside a formula up to this size are tried as 0
SNAP_ROUNDS = 3  # snaps at one tolerance, each followed by a refit of the other constants
EXACT_SNAP = 1e-9  # a refitted constant this close to a simple number is it (as in refit)
EQUAL_POLISHED = 4
"""Formulas that the validation rows cannot tell from the best
(:meth:`~kanscience.discover._search.Search.indistinguishable`) polished, simplest first,
where a structure finds several (sparse sums, assemblies of a split): their snapped
constants tell them apart."""


def snap_floats(
    expr: sympy.Expr, tol: float, constants: tuple, keep: set | frozenset = frozenset()
) -> sympy.Expr:
    """:func:`kanscience.symbolic.snap_constants` on the floats of ``expr`` not in ``keep``;
    exponents snap to rationals only (``x^(19/(6 pi))`` is never a law). Products of
    constants are folded into one float first (:func:`kanscience.symbolic.merge_constants`:
    ``9.8696 x / pi^2`` is ``1.0 x``), and again after each round of snaps, whose new
    floats are snapped in turn.

    >>> x = sympy.Symbol("x")
    >>> snap_floats(9.86960440108936 * x / sympy.pi**2 + 0.7391, 1e-6, CLOSED_FORMS)
    x + 0.7391
    """
    expr = merge_constants(expr)
    for _ in range(3):
        exponents = {p.exp for p in expr.atoms(sympy.Pow) if isinstance(p.exp, sympy.Float)}
        mapping = {}
        for f in float_constants(expr) - set(keep):
            snapped = snap_constants(f, tol=tol, constants=() if f in exponents else constants)
            if snapped != f:
                mapping[f] = snapped
        if not mapping:
            break
        expr = merge_constants(cast(sympy.Expr, expr.xreplace(mapping)))
    return expr


def _merged(expr: sympy.Expr) -> sympy.Expr:
    """``expr`` with products of constants folded (a fitted float times an exact constant,
    :func:`kanscience.symbolic.merge_constants`) and, as :func:`refit` leaves its floats,
    the folded ones within ``EXACT_SNAP`` of a simple number made that number."""
    return snap_constants(merge_constants(expr), tol=EXACT_SNAP)


def refit_merged(search: Search, expr: sympy.Expr) -> sympy.Expr:
    """``expr`` simplified and its constants refitted, with products of constants folded
    before the fit (fewer redundant constants) and after it (:func:`_merged`)."""
    return _merged(refit(search, merge_constants(simplify(expr))))


def _additive_constants(expr: sympy.Expr) -> set[sympy.Float]:
    """Floats that are a term of a sum inside ``expr`` (not its overall offset): on noisy
    data such a term lets the other constants of the sum drift (``-0.06 + 0.95 / sqrt(1 -
    0.95 q^2)`` for ``1 / sqrt(1 - q^2)``), so dropping it is one of the snaps tried."""
    found = set()
    for node in sympy.preorder_traversal(expr):
        if node.is_Add and node is not expr:
            found.update(a for a in node.args if isinstance(a, sympy.Float))
    return found


def _snap_options(
    expr: sympy.Expr, error: float = 0.0
) -> list[tuple[float, sympy.Float, sympy.Expr]]:
    """(relative distance, float, simple number) for each float near a simple number (a
    fraction, a fraction times pi or 1/pi and the closest fraction times any of
    :data:`CLOSED_FORMS`, except for exponents), and 0 for a small additive constant
    inside the formula; the overall factor snaps to a fraction only, and an overall offset
    to 0 where it is smaller than the formula's ``error`` (below the noise, it may be no
    part of the law)."""
    exponents = {p.exp for p in expr.atoms(sympy.Pow)}
    additive = _additive_constants(expr)
    free = scale_and_offset(expr)
    offset, _ = expr.as_coeff_Add()
    factor, _ = expr.as_coeff_Mul()
    out = []
    if isinstance(offset, sympy.Float) and 0 < abs(float(offset)) <= error:
        out.append((abs(float(offset)), offset, sympy.S.Zero))
    if factor in free and (snapped := snap_constants(factor, tol=GREEDY_TOLERANCE)) != factor:
        # an overall factor the data cannot tell from a fraction (1.00001 on noisy data)
        out.append((abs(float(snapped) / float(factor) - 1), factor, snapped))
    for f in float_constants(expr) - free:
        options = {snap_constants(f, tol=GREEDY_TOLERANCE)}
        if f not in exponents:
            options.add(snap_constants(f, tol=GREEDY_TOLERANCE, constants=GREEDY_CONSTANTS))
            options.add(snap_constants(f, tol=GREEDY_TOLERANCE, constants=CLOSED_FORMS))
        if f in additive and abs(float(f)) <= ZERO_SNAP:
            options.add(sympy.S.Zero)
        value = float(f)
        out.extend(
            (abs(float(snapped) - value) / max(1.0, abs(value)), f, snapped)
            for snapped in options
            if snapped != f
        )
    return sorted(out, key=lambda o: (o[0], str(o[2]), float(o[1])))


def _tag(f: sympy.Float, snapped: sympy.Expr) -> tuple[str, str]:
    """Identifies a snap across refits (which move a constant in its third digit and may
    flip its sign when a sum is rewritten)."""
    return str(abs(snapped)), f"{abs(float(f)):.1g}"


def snap_greedy(search: Search, expr: sympy.Expr, source: str, error: float) -> None:
    """Snap the constants of a refitted ``expr`` (validation RMSE ``error``) one at a time.

    In rounds: every single snap is tried (refitting the other constants); those that keep
    the validation RMSE within the search's ``tolerance`` of ``error`` are then applied
    cumulatively, the most simplifying first (dropping a term before rounding a factor;
    :func:`simplicity`), each kept only while the error stays within that bound. Rounds go
    on while a snap passes (at most ``3 * GREEDY_OPTIONS`` refits).
    """
    key = sympy.srepr(expr)
    if key in search.polished or not math.isfinite(error):
        return
    search.polished.add(key)
    limit = search.as_good_as(error)
    current, count, budget = expr, 0, 3 * GREEDY_OPTIONS

    def apply(f: sympy.Float, snapped: sympy.Expr) -> tuple[float, sympy.Expr]:
        nonlocal count, budget
        count, budget = count + 1, budget - 1
        trial = refit_merged(search, cast(sympy.Expr, current.xreplace({f: snapped})))
        return add(search, trial, f"{source}/snap{count}"), trial

    while budget > 0:
        single = []
        for _, f, snapped in _snap_options(current, error)[:GREEDY_OPTIONS]:
            if budget <= 0 or search.time_left() <= 0:
                break
            value, trial = apply(f, snapped)
            if value <= limit:
                single.append((simplicity(trial), value, count, _tag(f, snapped), trial))
        if not single:
            return
        single.sort(key=lambda s: s[:3])  # the snaps that simplify most first
        current = single[0][4]
        for *_, tag, _ in single[1:]:
            match = [
                (f, snapped)
                for _, f, snapped in _snap_options(current, error)
                if _tag(f, snapped) == tag
            ]
            if not match or budget <= 0 or search.time_left() <= 0:
                continue
            value, trial = apply(*match[0])
            if value <= limit:
                current = trial


def prepare(search: Search, expr: sympy.Expr) -> sympy.Expr:
    """``expr`` simplified, made identifiable and refitted, without factors that are 1 on
    the data (:func:`~kanscience.discover._forms.drop_unit_factors`), with products of
    constants folded (:func:`kanscience.symbolic.merge_constants`)."""
    expr = expand_polynomials(merge_constants(simplify(expr)), search.symbols)
    positive = positive_symbols(
        search.symbols, search.probe_x if search.probe_x is not None else search.fit_x
    )
    fitted = refit(search, normalize_scales(expr, search.symbols, search.val_x, positive))
    return _merged(drop_unit_factors(fitted, search.symbols, search.fit_x))


def screen(search: Search, formulas: list[tuple[sympy.Expr, str]], keep: int) -> None:
    """Refit every formula, then polish the ``keep`` that rank best (:func:`rank`)."""
    screened = {}
    for expr, source in formulas:
        if search.time_left() <= 0:
            break
        fitted = prepare(search, expr)
        add(search, fitted, source)
        key = sympy.srepr(fitted)
        if key in search.found:
            screened[key] = search.found[key]
    for candidate in rank(list(screened.values()), search.spread, relative=search.tolerance)[0][
        :keep
    ]:
        if search.time_left() <= 0:
            break
        candidates_from(search, candidate.expr, candidate.source)


def candidates_from(search: Search, expr: sympy.Expr, source: str) -> None:
    """Polish ``expr``, then add it and its snapped variants (see the module docstring)."""
    expr = prepare(search, expr)
    add(search, expr, source)
    for number, (tol, constants, whole) in enumerate(SNAPS):
        if number >= 3 and search.time_left() <= 0:
            break
        name = f"{source}/snap{tol:g}{'pi' if constants else ''}{'' if whole else 'inner'}"
        current = expr
        # the refit after a snap moves the other constants, maybe onto simple numbers
        # (1.00025 / sqrt(1 - 0.9975 q^2): the factor snaps at 1e-3, then the refitted
        # 0.99995 does)
        for _ in range(SNAP_ROUNDS):
            snapped = snap_floats(
                current, tol, constants, frozenset() if whole else scale_and_offset(current)
            )
            if snapped == current:
                break
            current = refit_merged(search, snapped)
            add(search, current, name)


def _nearly_simple(search: Search, count: int) -> list[Candidate]:
    """Up to ``count`` candidates, one per :func:`family`, as accurate as the best (within
    the search's tolerance), whose fitted constants are closest to all being simple: the
    fewest floats without a snap option, then the smallest. On noisy data a law with free
    constants (complexity 19) may fit no better than a wrong simpler form, and only
    snapping shows that it is the law."""
    limit = min(search.as_good_as(search.best_error()), _greedy_limit(search))
    best: dict[str, Candidate] = {}
    for c in search.found.values():
        if (
            c.val_rmse <= limit
            and "/snap" not in c.source
            and (family(c) not in best or c.val_rmse < best[family(c)].val_rmse)
        ):
            best[family(c)] = c

    def unsnapped(c: Candidate) -> int:
        inner = float_constants(c.expr) - scale_and_offset(c.expr)
        return len(inner - {f for _, f, _ in _snap_options(c.expr)})

    return sorted(best.values(), key=lambda c: (unsnapped(c), c.complexity, c.val_rmse))[:count]


def _greedy_limit(search: Search) -> float:
    """The largest validation RMSE of a formula worth snapping one constant at a time:
    R^2 > 0.99, or, when formulas explain the data up to noise (however large), as good
    as the best one."""
    limit = GREEDY_ERROR * search.spread
    if search.best_error() > limit and search.consistent():
        return search.as_good_as(search.best_error())
    return limit


def polish_best(search: Search, count: int) -> None:
    """Greedy snapping, while time is left, of the ``count`` top-ranked candidates (with
    R^2 > 0.99, or as good as the best on data explained up to noise) and the ``count``
    nearest to simple constants (:func:`_nearly_simple`),
    alternately, each family of formulas once."""
    done: set = set()
    while search.time_left() > 0:
        limit = _greedy_limit(search)
        ranked = [c for c in search.ranked()[:count] if c.val_rmse <= limit]
        pairs = itertools.zip_longest(ranked, _nearly_simple(search, count))
        todo = [
            c
            for c in itertools.chain.from_iterable(pairs)
            if c is not None and family(c) not in done
        ]
        if not todo:
            return
        done.add(family(todo[0]))
        snap_greedy(search, todo[0].expr, todo[0].source, todo[0].val_rmse)
