"""State of one :func:`kanscience.discover._discover.discover` call, and formula polishing.

A formula found by a structure is polished before it is scored:

1. simplified and made identifiable (:mod:`kanscience.discover._forms`: polynomial parts
   expanded, powers and logarithms of sums normalized), so that its constants can be
   refitted and snapped one by one;
2. its constants are refitted on the data by least squares
   (:func:`kanscience.symbolic._formula.fit_constants`);
3. snapped to simple numbers: all at once at a few tolerances; and, for the best formulas
   at the end of the search (:func:`polish_best`), one constant at a time, refitting the
   others after each snap and keeping a snap only while the validation error stays within
   the search's ``tolerance`` (relative) of the unsnapped formula's. On noisy data a
   fitted ``0.498`` is statistically indistinguishable from ``1/2``: the greedy snapper
   accepts it; on exact data only exact snaps survive.

Every polished variant becomes a :class:`Candidate`.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import time
from dataclasses import dataclass, field
from typing import Any

import sympy
import torch
from torch import Tensor

from ..symbolic._formula import (
    expression_complexity,
    fit_constants,
    float_constants,
    formula_to_torch,
    snap_constants,
)
from ._forms import (
    SYMPY_ERRORS,
    drop_unit_factors,
    expand_polynomials,
    normalize_scales,
    positive_symbols,
    simplify,
)

__all__ = ["Candidate"]

_PI = (sympy.pi, 1 / sympy.pi)
SNAPS = (
    (1e-3, (), True),
    (1e-3, _PI, True),
    (1e-2, (), False),
    (1e-6, (), True),
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


class OutOfTime(Exception):
    """Raised from a training callback when the current structure's time is up."""


@dataclass
class Search:
    """Mutable state of one search (the whole data, or one group of a split).

    ``target``: the search is solved once a candidate's validation RMSE reaches it
    (``1e-9`` of the target's spread for data; the surrogate's error for the surrogate
    data of a split group). ``models``: ``(validation RMSE, callable)`` of trained KANs,
    candidates for the surrogate of a split.
    """

    symbols: list[sympy.Symbol]
    fit_x: Tensor
    fit_y: Tensor
    val_x: Tensor
    val_y: Tensor
    test_x: Tensor
    test_y: Tensor
    library: Any
    options: dict
    deadline: float
    probe_x: Tensor | None = None
    target: float = 0.0
    found: dict = field(default_factory=dict)
    log: list = field(default_factory=list)
    models: list = field(default_factory=list)
    polished: set = field(default_factory=set)
    branch_deadline: float = math.inf
    train_deadline: float = math.inf

    def time_left(self) -> float:
        return min(self.deadline, self.branch_deadline) - time.perf_counter()

    def start_branch(self, seconds: float) -> None:
        """Give the next structure ``seconds``; training may use 70% of them."""
        now = time.perf_counter()
        self.branch_deadline = now + seconds
        self.train_deadline = now + 0.7 * seconds

    def clock(self) -> float:
        """Training callback: stops a fit (by raising) once its time is up."""
        if time.perf_counter() > min(self.train_deadline, self.deadline):
            raise OutOfTime
        return 0.0

    @property
    def spread(self) -> float:
        return float(self.val_y.std())

    def best_error(self) -> float:
        return min((c.val_rmse for c in self.found.values()), default=math.inf)

    def ranked(self) -> tuple[Candidate, ...]:
        """The candidates ranked (:func:`rank` at the search's tolerance)."""
        return rank(list(self.found.values()), self.spread, relative=self.tolerance)[0]

    def solved(self) -> bool:
        return self.best_error() <= max(self.target, 1e-9 * self.spread)

    @property
    def tolerance(self) -> float:
        """Relative validation RMSE within which formulas count as equally good."""
        return self.options.get("tolerance", 0.1)

    def as_good_as(self, error: float) -> float:
        """The largest validation RMSE that counts as equally good as ``error``."""
        return error_bound(error, self.spread, self.tolerance)


def complexity(expr: sympy.Expr) -> int:
    """Nodes of the expression tree; a constant sub-expression (``0.3``, ``1/(2 pi)``) is
    one node if it is a small number (an integer up to 3 or a half of one: exponents,
    signs) and :data:`CONSTANT_COST` nodes otherwise, except the overall factor and
    offset (units and zero points), which count as one.

    On noisy data many formulas fit equally well; the constant cost prefers a law whose
    constants are simple over a smaller-looking one with made-up constants
    (``m / sqrt(1 - v^2 / c^2)`` over ``0.085 m (cosh(17 v / (5 c)) + 54 / 5)``).

    >>> t = sympy.Symbol("t")
    >>> complexity(sympy.exp(t / (2 * sympy.pi))), complexity(sympy.exp(0.159 * t))
    (6, 6)
    >>> complexity(0.4 * sympy.exp(-t ** 2 / 2) + 1.7)
    12
    """
    total = _nodes(expr)
    for number, _ in (expr.as_coeff_Mul(), expr.as_coeff_Add()):
        if number.is_number and number != 0 and not _small(number) and expr.free_symbols:
            total -= CONSTANT_COST - 1
    return total


CONSTANT_COST = 3


def _small(number: sympy.Expr) -> bool:
    return bool(number.is_Rational and abs(number.p) <= 3 and number.q <= 2)


def _nodes(expr: sympy.Expr) -> int:
    if not expr.free_symbols:
        return 1 if _small(expr) else CONSTANT_COST
    variable = [arg for arg in expr.args if arg.free_symbols]
    constants = [arg for arg in expr.args if not arg.free_symbols]
    if expr.is_Mul or expr.is_Add:
        # all constant factors (terms) of a product (sum) together are one constant
        constant = sympy.Mul(*constants) if expr.is_Mul else sympy.Add(*constants)
        return 1 + (_nodes(constant) if constants else 0) + sum(_nodes(a) for a in variable)
    return 1 + sum(_nodes(arg) for arg in expr.args)


def rmse(prediction: Tensor, target: Tensor) -> float:
    value = float(((prediction - target) ** 2).mean().sqrt())
    return value if math.isfinite(value) else math.inf


def probe(x: Tensor, seed: int) -> Tensor:
    """The data, plus random points in its bounding box: a formula must be finite on all of
    them (a fitted law may overshoot a domain bound the data only touch, as ``arcsin`` at
    a corner of the box, so the box's surface is left out)."""
    lo, hi = x.min(0).values, x.max(0).values
    u = torch.rand(256, x.shape[1], generator=torch.Generator().manual_seed(seed), dtype=x.dtype)
    return torch.cat([x, lo + u * (hi - lo)])


def evaluate(search: Search, expr: sympy.Expr) -> tuple[float, float, float]:
    """(validation RMSE, test RMSE, test R^2); a formula that is not finite on the training
    data and its bounding box (say ``sqrt(x - 1.0014)`` for ``x`` from 1) gets inf."""
    try:
        fn = formula_to_torch(expr, search.symbols)
        with torch.no_grad():
            if search.probe_x is not None and not bool(torch.isfinite(fn(search.probe_x)).all()):
                return math.inf, math.inf, -math.inf
            val = rmse(fn(search.val_x), search.val_y)
            test_pred = fn(search.test_x)
    except (ValueError, TypeError, RuntimeError, OverflowError):
        return math.inf, math.inf, -math.inf
    test = rmse(test_pred, search.test_y)
    variance = float(((search.test_y - search.test_y.mean()) ** 2).mean())
    r2 = 1.0 - test**2 / variance if variance > 0 else (1.0 if test == 0 else -math.inf)
    return val, test, r2


def add(search: Search, expr: sympy.Expr, source: str) -> float:
    """Score ``expr`` and keep it; returns its validation RMSE (inf if unusable)."""
    if expr.has(sympy.zoo, sympy.nan, sympy.oo, -sympy.oo, sympy.I):
        return math.inf
    key = sympy.srepr(expr)
    if key in search.found:
        return search.found[key].val_rmse
    val, test, r2 = evaluate(search, expr)
    if math.isfinite(val):
        search.found[key] = Candidate(expr, complexity(expr), test, r2, val, source)
    return val


def refit(search: Search, expr: sympy.Expr) -> sympy.Expr:
    """Refit the constants of ``expr``; constants within 1e-9 of a simple number (an
    exponent that went to 1e-16, say) then become that number."""
    try:
        fitted = fit_constants(
            expr, search.symbols, search.fit_x, search.fit_y, steps=search.options["polish_steps"]
        )
    except (ValueError, TypeError, RuntimeError, OverflowError):
        return expr
    return snap_constants(fitted, tol=1e-9)


def _scale_and_offset(expr: sympy.Expr) -> set[sympy.Float]:
    """The overall factor and the overall additive constant of ``expr``, if floats: they
    fix units and zero points rather than the form of a law."""
    found = set()
    for number, _ in (expr.as_coeff_Mul(), expr.as_coeff_Add()):
        if isinstance(number, sympy.Float):
            found.add(number)
    return found


def snap_floats(
    expr: sympy.Expr, tol: float, constants: tuple, keep: set | frozenset = frozenset()
) -> sympy.Expr:
    """:func:`kanscience.symbolic._formula.snap_constants` on the floats of ``expr`` not in ``keep``;
    exponents snap to rationals only (``x^(19/(6 pi))`` is never a law)."""
    exponents = {p.exp for p in expr.atoms(sympy.Pow) if isinstance(p.exp, sympy.Float)}
    mapping = {}
    for f in float_constants(expr) - set(keep):
        snapped = snap_constants(f, tol=tol, constants=() if f in exponents else constants)
        if snapped != f:
            mapping[f] = snapped
    return expr.xreplace(mapping)


def _additive_constants(expr: sympy.Expr) -> set[sympy.Float]:
    """Floats that are a term of a sum inside ``expr`` (not its overall offset): on noisy
    data such a term lets the other constants of the sum drift (``-0.06 + 0.95 / sqrt(1 -
    0.95 q^2)`` for ``1 / sqrt(1 - q^2)``), so dropping it is one of the snaps tried."""
    found = set()
    for node in sympy.preorder_traversal(expr):
        if node.is_Add and node is not expr:
            found.update(a for a in node.args if isinstance(a, sympy.Float))
    return found


def _snap_options(expr: sympy.Expr) -> list[tuple[float, sympy.Float, sympy.Expr]]:
    """(relative distance, float, simple number) for each float near a simple number (a
    fraction, and a fraction times pi or 1/pi except for exponents), and 0 for a small
    additive constant inside the formula, except the overall factor and offset."""
    exponents = {p.exp for p in expr.atoms(sympy.Pow)}
    additive = _additive_constants(expr)
    out = []
    for f in float_constants(expr) - _scale_and_offset(expr):
        options = {snap_constants(f, tol=GREEDY_TOLERANCE)}
        if f not in exponents:
            options.add(snap_constants(f, tol=GREEDY_TOLERANCE, constants=GREEDY_CONSTANTS))
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
        trial = refit(search, simplify(current.xreplace({f: snapped})))
        return add(search, trial, f"{source}/snap{count}"), trial

    while budget > 0:
        single = []
        for _, f, snapped in _snap_options(current)[:GREEDY_OPTIONS]:
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
                (f, snapped) for _, f, snapped in _snap_options(current) if _tag(f, snapped) == tag
            ]
            if not match or budget <= 0 or search.time_left() <= 0:
                continue
            value, trial = apply(*match[0])
            if value <= limit:
                current = trial


def prepare(search: Search, expr: sympy.Expr) -> sympy.Expr:
    """``expr`` simplified, made identifiable and refitted, without factors that are 1 on
    the data (:func:`~kanscience.discover._forms.drop_unit_factors`)."""
    expr = expand_polynomials(simplify(expr), search.symbols)
    positive = positive_symbols(
        search.symbols, search.probe_x if search.probe_x is not None else search.fit_x
    )
    fitted = refit(search, normalize_scales(expr, search.symbols, search.val_x, positive))
    return drop_unit_factors(fitted, search.symbols, search.fit_x)


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
    free = _scale_and_offset(expr)
    for number, (tol, constants, whole) in enumerate(SNAPS):
        if number >= 3 and search.time_left() <= 0:
            break
        snapped = snap_floats(expr, tol, constants, frozenset() if whole else free)
        if snapped == expr:
            continue
        name = f"{source}/snap{tol:g}{'pi' if constants else ''}{'' if whole else 'inner'}"
        add(search, refit(search, simplify(snapped)), name)


def family(candidate: Candidate) -> str:
    """The structure and functions a candidate came from (its source without snaps)."""
    return candidate.source.split("/snap")[0]


def _nearly_simple(search: Search, count: int) -> list[Candidate]:
    """Up to ``count`` candidates, one per :func:`family`, as accurate as the best (within
    the search's tolerance), whose fitted constants are closest to all being simple: the
    fewest floats without a snap option, then the smallest. On noisy data a law with free
    constants (complexity 19) may fit no better than a wrong simpler form, and only
    snapping shows that it is the law."""
    limit = min(search.as_good_as(search.best_error()), GREEDY_ERROR * search.spread)
    best: dict[str, Candidate] = {}
    for c in search.found.values():
        if (
            c.val_rmse <= limit
            and "/snap" not in c.source
            and (family(c) not in best or c.val_rmse < best[family(c)].val_rmse)
        ):
            best[family(c)] = c

    def unsnapped(c: Candidate) -> int:
        return n_floats(c.expr) - len({f for _, f, _ in _snap_options(c.expr)})

    return sorted(best.values(), key=lambda c: (unsnapped(c), c.complexity, c.val_rmse))[:count]


def polish_best(search: Search, count: int) -> None:
    """Greedy snapping, while time is left, of the ``count`` top-ranked candidates (with
    R^2 > 0.99) and the ``count`` nearest to simple constants (:func:`_nearly_simple`),
    alternately, each family of formulas once."""
    done: set = set()
    while search.time_left() > 0:
        ranked = [c for c in search.ranked()[:count] if c.val_rmse <= GREEDY_ERROR * search.spread]
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


def n_floats(expr: sympy.Expr) -> int:
    """Number of distinct floats (fitted constants) in ``expr``, not counting an overall
    factor or offset."""
    return len(float_constants(expr) - _scale_and_offset(expr))


def simplicity(expr: sympy.Expr, nodes: int | None = None) -> tuple[int, int, int]:
    """Sort key of simpler formulas: nodes (:func:`complexity`, given as ``nodes`` if
    known), fitted constants, then the size of the exact constants (1/2 before 11/(7 pi));
    a rational pi fraction is as cheap as a number for the node count."""
    nodes = complexity(expr) if nodes is None else nodes
    return nodes, n_floats(expr), expression_complexity(expr) - nodes


def readable(candidate: Candidate) -> Candidate:
    """``candidate`` with its fractions combined if that is shorter (by :func:`complexity`):
    ``Y / (2 sigma (1 + 1/sigma))`` reads ``Y / (2 (sigma + 1))``. The same function."""
    try:
        form = sympy.together(candidate.expr)
    except SYMPY_ERRORS:
        return candidate
    nodes = complexity(form)
    if nodes >= candidate.complexity or form.has(sympy.zoo, sympy.nan):
        return candidate
    return dataclasses.replace(candidate, expr=form, complexity=nodes)


def error_bound(error: float, spread: float, relative: float, floor: float = 1e-9) -> float:
    """The largest validation RMSE as good as ``error``: within ``relative`` of it, or
    numerically exact (at most ``floor`` times the target's spread)."""
    return max((1 + relative) * error, floor * spread)


def rank(
    found: list[Candidate], spread: float, floor: float = 1e-9, relative: float = 0.1
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
            simple[id(c)] if c.val_rmse <= tolerance else (c.val_rmse, 0, 0),
        ),
    )
    return tuple(ranked), tuple(by_complexity)
