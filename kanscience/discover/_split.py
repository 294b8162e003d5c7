"""Divide and conquer for :func:`kanscience.discover.discover`: split by separability.

A trained KAN (the most accurate one so far) is a smooth surrogate of the data.
:func:`kanscience.structure.detect_separability` finds additive or multiplicative groups
of variables in it; each group's formula is searched on surrogate data (the group's
variables from the data, the others at an anchor: their medians for a sum, the sample
where the surrogate is largest in size for a product), recursively: a group of two or
more variables may split again, tested on the same surrogate restricted to the group.
The parts found for the groups are added or multiplied, and every combination's
constants are refitted on the real data. Where no combination explains the data (exactly,
or up to noise), the group whose surrogate slice was fitted worst (relative to its spread)
is searched again on the data themselves, divided by the other groups' formulas (or less
them; :func:`residual_search`): the surrogate's error in that group is gone, and the
other groups' formulas, fitted well, carry little error of their own.

The separability scores are local (mixed second derivatives, averaged over samples), so
a function that is nearly separable on much of its domain can pass them; before any group
is searched, the split is checked globally on the surrogate (:func:`assembles`); a split
that does not assemble is made coarser, the two groups that interact most merged into
one, until it does (``x1 g(x2, x3)`` whose scores also pass ``x2`` apart from ``x3``).
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import sympy
import torch
from torch import Tensor

from ..symbolic import formula_to_torch
from ._polish import EQUAL_POLISHED, candidates_from
from ._ranking import (
    RANK_TOLERANCE,
    Candidate,
    complexity,
    error_bound,
    family,
    rank,
    simplicity,
)
from ._search import CARRIED, Search, SurrogateModel, evaluate, probe, refit, row_weights

if TYPE_CHECKING:
    from ..structure import SeparabilityResult

__all__: list[str] = []


# a spline surrogate's second derivatives are rough: spurious interaction scores reach
# ~0.05 (Levenberg-Marquardt fits, grid 10) where true ones are ~0.5, hence the loose
# threshold
THRESHOLD = 0.2
MAX_COMBINATIONS = 16
FAMILY_OPTIONS = 2
"""Options of a surrogate group beyond the simplest within the surrogate's error: the
simplest of other families (structure and transform) that fit the slice as well."""
ASSEMBLY_TOLERANCE = 0.1
"""RMS misfit, as a share of the surrogate's spread, allowed to a split's assembly beyond
what the surrogate's own error accounts for."""


def restrict(
    fn: Callable[[Tensor], Tensor], base: Tensor, group: list[int]
) -> Callable[[Tensor], Tensor]:
    """``z -> fn(x)`` with ``x[:, group] = z`` and the other variables at ``base``."""

    def restricted(z: Tensor) -> Tensor:
        full = base.to(z.dtype).expand(z.shape[0], -1).clone()
        full[:, group] = z
        return fn(full)

    return restricted


def _anchor(
    fn: Callable[[Tensor], Tensor], x: Tensor, multiplicative: bool, values: Tensor | None = None
) -> Tensor:
    """Where a split's groups are sliced: the median of ``x`` for a sum; for a product the
    sample where ``|fn|`` is largest among the half of the samples nearest the median
    (scaled by each column's spread), so that every group's slice is large against the
    surrogate's error (at the median the other factors may nearly vanish) and away from
    the edges of the data (where the surrogate is least accurate)."""
    median = x.median(0).values
    if not multiplicative:
        return median
    if values is None:
        with torch.no_grad():
            values = fn(x)
    scale = x.std(0).clamp_min(torch.finfo(x.dtype).tiny)
    distance = ((x - median) / scale).pow(2).sum(1)
    central = distance <= distance.median()
    return x[torch.where(central, values.abs(), -1.0).argmax()]


def assembles(
    fn: Callable[[Tensor], Tensor],
    x: Tensor,
    groups: list[list[int]],
    multiplicative: bool,
    error: float,
) -> bool:
    """Whether ``fn`` is the sum (or product) of its restrictions to ``groups``: with every
    variable outside a group at an anchor ``a``, ``f(x) = sum_k f(x_k, a) - (K - 1) f(a)``
    (or ``f(x) f(a)^(K - 1) = prod_k f(x_k, a)``), within :data:`ASSEMBLY_TOLERANCE` of the
    spread of ``f`` on ``x`` plus ``2 (K + 1)`` times the surrogate's ``error`` (the
    identity takes ``K + 1`` values of it). The anchor is the median for a sum and, for a
    product, the sample where ``|f|`` is largest (no division by a value near zero).

    Examples
    --------
    >>> x = torch.rand(200, 3, dtype=torch.float64) + 1
    >>> f = lambda z: z[:, 0] * torch.cos(z[:, 1] * z[:, 2])
    >>> assembles(f, x, [[0], [1, 2]], True, 0.0), assembles(f, x, [[0], [1], [2]], True, 0.0)
    (True, False)
    """
    with torch.no_grad():
        values = fn(x)
        if not bool(torch.isfinite(values).all()):
            return False
        anchor = _anchor(fn, x, multiplicative, values)
        at_anchor = fn(anchor[None])[0]
        parts = []
        for group in groups:
            z = anchor.expand_as(x).clone()
            z[:, group] = x[:, group]
            parts.append(fn(z))
        stacked = torch.stack(parts)
        k = len(groups)
        if multiplicative:
            assembled = stacked.prod(0) / at_anchor ** (k - 1)
        else:
            assembled = stacked.sum(0) - (k - 1) * at_anchor
        misfit = float((assembled - values).pow(2).mean().sqrt())
    allowed = ASSEMBLY_TOLERANCE * float(values.std()) + 2 * (k + 1) * error
    return misfit <= allowed


def merge_closest(groups: list[list[int]], interaction: np.ndarray) -> list[list[int]]:
    """``groups`` with the two that interact most (the largest ``interaction[i, j]`` between
    their variables) merged into one: the next coarser split.

    Examples
    --------
    >>> m = np.array([[0, 0.1, 0.0], [0.1, 0, 0.15], [0.0, 0.15, 0]])
    >>> merge_closest([[0], [1], [2]], m)
    [[0], [1, 2]]
    """
    pairs = itertools.combinations(range(len(groups)), 2)
    a, b = max(pairs, key=lambda p: float(interaction[np.ix_(groups[p[0]], groups[p[1]])].max()))
    merged = sorted(groups[a] + groups[b])
    rest = [g for k, g in enumerate(groups) if k not in (a, b)]
    return sorted([*rest, merged], key=lambda g: g[0])


def surrogate_search(
    search: Search, x: Tensor, values: Tensor, columns: list[int], seconds: float, error: float
) -> Search:
    """A sub-problem of ``search`` on surrogate data: inputs ``x`` (the columns ``columns``
    of the problem), targets ``values`` (a surrogate's, departing from the law by about
    ``error``), ``seconds`` to solve it; solved at 1.5 times that error."""
    n_val = max(1, x.shape[0] // 5)
    return Search(
        symbols=[search.symbols[i] for i in columns],
        fit_x=x[n_val:],
        fit_y=values[n_val:],
        val_x=x[:n_val],
        val_y=values[:n_val],
        test_x=x[:n_val],
        test_y=values[:n_val],
        library=search.library,
        options=search.options,
        deadline=time.perf_counter() + seconds,
        probe_x=probe(x, search.options.seed),
        target=1.5 * error,
        data_error=1.5 * error,
        tolerance=search.tolerance,
        structures=search.structures,
    )


def simplest_fits(sub: Search, error: float) -> list[sympy.Expr]:
    """The formulas of a sub-problem on surrogate data worth assembling: the simplest
    within the surrogate's ``error`` and within twice it, within 1% and within 5% of the
    spread (the surrogate data carry the surrogate's error: a law fits them to about
    that error, and within twice it a simpler series may fit as well; the assembly on
    the data tells them apart)."""
    options: list[sympy.Expr] = []
    spread = sub.spread if sub.spread > 0 else 1.0
    for floor in (error / spread, 2 * error / spread, 1e-2, 5e-2):
        ranked, _ = rank(list(sub.found.values()), spread, floor=floor)
        if ranked and ranked[0].expr not in options:
            options.append(ranked[0].expr)
    # after the first, the other forms that fit the slice as well as the best: the
    # surrogate's error may hide which is the law (1 / sqrt(1 - u^2) beside
    # 1 / sqrt(cos u - 1/2)), and the data, or the simplest whole formula, decide
    alternatives = [e for e in _simplest_per_family(sub, spread) if e not in options[:1]]
    return list(dict.fromkeys(options[:1] + alternatives[:FAMILY_OPTIONS] + options[1:]))


def _simplest_per_family(sub: Search, spread: float) -> list[sympy.Expr]:
    """The simplest formula of each :func:`family` (structure and transform) within
    :func:`rank`'s tolerance of the best validation error of ``sub``, simplest first."""
    found = list(sub.found.values())
    if not found:
        return []
    tolerance = error_bound(min(c.val_rmse for c in found), spread, RANK_TOLERANCE)
    simplest: dict[str, Candidate] = {}
    for c in sorted(found, key=lambda c: (simplicity(c.expr, c.complexity), c.val_rmse)):
        if c.val_rmse <= tolerance:
            simplest.setdefault(family(c), c)
    return [c.expr for c in simplest.values()]


def residual_search(
    search: Search,
    group: list[int],
    others: list[tuple[list[int], sympy.Expr]],
    multiplicative: bool,
    error: float,
) -> Search | None:
    """The sub-problem of ``group`` on the real data of ``search``: its target divided by
    the product (or less the sum) of the other groups' formulas ``others`` (``(group,
    formula of its variables)``), with weights that keep the noise of equal size (a
    quotient's noise grows as the divisor shrinks); solved at 1.5 times the ``error``
    the others' formulas bring (relative for a product, absolute for a sum). None where
    the others are not finite and nonzero on the data."""
    try:
        functions = [
            (columns, formula_to_torch(expr, [search.symbols[i] for i in columns]))
            for columns, expr in others
        ]
    except (ValueError, TypeError, RuntimeError, OverflowError):
        return None

    def rewrite(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor | None] | None:
        """The target and the rows' own weights (None: equal)."""
        try:
            with torch.no_grad():
                values = torch.stack([fn(x[:, columns]) for columns, fn in functions])
        except (ValueError, TypeError, RuntimeError, OverflowError):
            return None
        rest = values.prod(0) if multiplicative else values.sum(0)
        if not bool(torch.isfinite(rest).all()) or (multiplicative and bool((rest == 0).any())):
            return None
        return (y / rest, rest**2) if multiplicative else (y - rest, None)

    fit, val = rewrite(search.fit_x, search.fit_y), rewrite(search.val_x, search.val_y)
    test = rewrite(search.test_x, search.test_y)
    if fit is None or val is None or test is None:
        return None
    if multiplicative:
        error = error * float(val[0].pow(2).mean().sqrt())
    return Search(
        symbols=[search.symbols[i] for i in group],
        fit_x=search.fit_x[:, group],
        fit_y=fit[0],
        val_x=search.val_x[:, group],
        val_y=val[0],
        test_x=search.test_x[:, group],
        test_y=test[0],
        library=search.library,
        options=search.options,
        deadline=search.deadline,
        probe_x=None if search.probe_x is None else search.probe_x[:, group],
        target=max(search.target, 1.5 * error),
        data_error=max(search.data_error, error),
        tolerance=search.tolerance,
        structures=search.structures,
        fit_weight=row_weights(fit[1], search.fit_weight),
        val_weight=row_weights(val[1], search.val_weight),
    )


def _error_of_others(subs: list[Search], multiplicative: bool) -> float:
    """The error the best formulas of ``subs`` (the other groups) bring to a residual: the
    root sum of their squared validation RMSEs, relative to their targets' RMS for a
    product."""
    squares = [
        (
            _relative(sub.best_error(), float(sub.val_y.pow(2).mean().sqrt()))
            if multiplicative
            else sub.best_error()
        )
        ** 2
        for sub in subs
    ]
    return math.sqrt(sum(squares))


def _relative(error: float, scale: float) -> float:
    """``error / scale``; inf for a scale of 0 (nothing is known relative to it)."""
    return error / scale if scale > 0 else math.inf


def assemble_best(
    search: Search,
    parts: list[list[sympy.Expr]],
    combine: Callable[[list[sympy.Expr]], sympy.Expr],
    source: str,
) -> None:
    """Refit ``combine`` of one option per part on the real data, the combinations of the
    simplest options first (at most :data:`MAX_COMBINATIONS`), and polish the best; then,
    unless it is exact, the others that the validation rows cannot tell from it, simplest
    first (at most :data:`EQUAL_POLISHED` in all): on noisy data a law and an
    approximation assemble alike, and the simpler after snapping is the law."""
    search.start_branch(max(search.deadline - time.perf_counter(), 0.0))
    choices = sorted(
        itertools.product(*[list(enumerate(p)) for p in parts]), key=lambda c: sum(i for i, _ in c)
    )[:MAX_COMBINATIONS]
    assembled: list[tuple[float, sympy.Expr]] = []
    for choice in choices:
        if assembled and search.time_left() <= 0:
            break
        fitted = refit(search, combine([expr for _, expr in choice]))
        value = evaluate(search, fitted)[0]
        if math.isfinite(value):
            assembled.append((value, fitted))
    if not assembled:
        return
    best_error, best = min(assembled, key=lambda item: item[0])
    candidates_from(search, best, source)
    equal = search.indistinguishable_from(best_error)
    others = sorted(
        (expr for value, expr in assembled if value <= equal and expr != best), key=complexity
    )
    for expr in others[: EQUAL_POLISHED - 1]:
        if search.exact() or search.time_left() <= 0:
            break
        candidates_from(search, expr, source)


def _assembling_groups(
    search: Search,
    fn: Callable[[Tensor], Tensor],
    error: float,
    result: SeparabilityResult,
    multiplicative: bool,
) -> list[list[int]] | None:
    """The finest split of ``result`` (made coarser while needed) from which the
    surrogate ``fn`` assembles (:func:`assembles`), or None."""
    groups = [list(g) for g in result.groups]
    while not assembles(fn, search.fit_x[:400], groups, multiplicative, error):
        kind = "*" if multiplicative else "+"
        search.log.append(f"split{kind}{groups} rejected: the surrogate does not assemble")
        if len(groups) <= 2:
            return None
        groups = merge_closest(groups, result.interaction_matrix)
    return groups


def split_branch(
    search: Search, surrogate: SurrogateModel, depth: int, explore: Callable[..., None]
) -> None:
    """Split ``search`` by the separability of ``surrogate`` (see the module docstring);
    ``explore(sub_search, surrogate=..., depth=...)`` searches each group."""
    from ..structure import detect_separability

    fn, error = surrogate
    start = time.perf_counter()
    try:
        report = detect_separability(fn, search.fit_x[:300].clone(), threshold=THRESHOLD)
    except ValueError:  # the surrogate is not finite or vanishes on the sample
        return
    # every kind the scores pass, the smallest interaction first: the threshold is loose
    # for rough surrogates, so a nearly additive product may pass as a sum too (and
    # assemble within the tolerance)
    kinds = [(False, report.additive), (True, report.multiplicative)]
    kinds.sort(key=lambda kind: math.inf if kind[1] is None else kind[1].score)
    for multiplicative, result in kinds:
        if result is None or not result.separable:
            continue
        groups = _assembling_groups(search, fn, error, result, multiplicative)
        if groups is not None:
            break
    else:
        return
    anchor = _anchor(fn, search.fit_x[:400], multiplicative)
    parts, subs = [], []
    for position, group in enumerate(groups):
        share = search.time_left() / (len(groups) - position + 0.5)
        x = anchor.expand_as(search.fit_x).clone()
        x[:, group] = search.fit_x[:, group]
        with torch.no_grad():
            values = fn(x)
        sub = surrogate_search(search, x[:, group], values, group, share, error)
        inner = (restrict(fn, anchor, group), error) if len(group) >= 2 else None
        explore(sub, surrogate=inner, depth=max(depth - 1, 0))
        search.log.extend(f"  {tuple(group)}: {line}" for line in sub.log)
        options = simplest_fits(sub, error)
        if not options:
            return
        parts.append(options)
        subs.append(sub)
    label = "*" if multiplicative else "+"
    source = f"split{label.join(str(tuple(g)) for g in groups)}"

    def combine(terms: list[sympy.Expr]) -> sympy.Expr:
        if multiplicative:
            return sympy.Float(1.0) * sympy.Mul(*terms)
        return sympy.Add(*terms) + sympy.Float(1.0)

    assemble_best(search, parts, combine, source)
    if not (search.exact() or search.consistent()) and search.time_left() > 0:
        worst = _worst_group_on_data(
            search, groups, subs, parts, multiplicative, error, depth, explore
        )
        if worst is not None:
            assemble_best(search, parts, combine, f"{source}/{tuple(groups[worst])} on the data")
    search.log.append(f"{source}: {time.perf_counter() - start:.1f}s")


def _worst_group_on_data(
    search: Search,
    groups: list[list[int]],
    subs: list[Search],
    parts: list[list[sympy.Expr]],
    multiplicative: bool,
    error: float,
    depth: int,
    explore: Callable[..., None],
) -> int | None:
    """The assembly does not explain the data: search the group whose surrogate slice was
    fitted worst again, on the data with the other groups' formulas divided out (or
    subtracted), and put its best formulas first among the group's options in ``parts``.
    Returns that group's index (None where its data could not be formed)."""
    worst = max(range(len(groups)), key=lambda k: _relative(subs[k].best_error(), subs[k].spread))
    others = [k for k in range(len(groups)) if k != worst]
    sub = residual_search(
        search,
        groups[worst],
        [(groups[k], parts[k][0]) for k in others],
        multiplicative,
        _error_of_others([subs[k] for k in others], multiplicative),
    )
    if sub is None:
        return None
    sub.deadline = time.perf_counter() + search.time_left() / 1.5
    explore(sub, depth=max(depth - 1, 0))
    search.log.extend(f"  {tuple(groups[worst])} on the data: {line}" for line in sub.log)
    ranked = [c.expr for c in sub.ranked()[:CARRIED]]
    parts[worst] = ranked + [e for e in simplest_fits(sub, error) if e not in ranked]
    return worst
