"""State of one :func:`kanscience.discover` call: data splits, time, candidates found.

A :class:`Search` holds the fitting, validation and test data of one (sub)problem, its
deadlines and the candidates found so far (keyed by their sympy ``srepr``). Formulas
are scored by :func:`evaluate` (finite on the data and its bounding box, else unusable)
and kept by :func:`add`; :func:`refit` refits a formula's constants on the data. How
formulas are simplified and snapped before they are kept is in
:mod:`kanscience.discover._polish`; how they are ranked, in
:mod:`kanscience.discover._ranking`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sympy
import torch
from torch import Tensor

from ..symbolic import fit_constants, formula_to_torch, snap_constants
from ._noise import (
    NEIGHBOURS,
    STRUCTURE_Z,
    NeighbourGraph,
    neighbour_graph,
    noise_variance,
    residual_structure,
)
from ._options import DiscoverOptions
from ._ranking import (
    ROUNDING,
    Candidate,
    chosen_constants,
    complexity,
    error_bound,
    rank_consistent_first,
)

__all__ = [
    "CARRIED",
    "OutOfTime",
    "Search",
    "SurrogateModel",
    "add",
    "evaluate",
    "probe",
    "refit",
    "rmse",
    "row_weights",
]


SurrogateModel = tuple[Callable[[Tensor], Tensor], float]
"""A smooth callable ``x -> y`` approximating the data, and its error: its departure from
the law (:meth:`Search.departure`), at most its validation RMSE."""


GRACE_SHARE = 0.1
"""Least share of a search's time spent after the data are first explained up to noise,
for the best formula then, and once more for each constant that the data chose in it
(:func:`~kanscience.discover._ranking.chosen_constants`)."""


CARRIED = 3
"""Best-ranked formulas of a sub-problem on the data (a reduced problem, a group of a
split searched again) carried back to the problem it came from."""


def row_weights(weight: Tensor | None, parent: Tensor | None = None) -> Tensor | None:
    """The product of a sub-problem's own row weights and its parent's (either may be
    None: equal), scaled to mean 1; None when both are.

    >>> row_weights(torch.tensor([1.0, 3.0]), torch.tensor([2.0, 2.0]))
    tensor([0.5000, 1.5000])
    """
    if weight is None:
        weight, parent = parent, None
    if weight is None:
        return None
    weight = weight if parent is None else weight * parent
    return weight / weight.mean()


class OutOfTime(Exception):
    """Raised from a training callback when the current structure's time is up."""


@dataclass
class Search:
    """Mutable state of one search (the whole data, or one group of a split).

    ``target``: the search is solved once a candidate's validation RMSE reaches it
    (``1e-9`` of the target's spread for data; the surrogate's error for the surrogate
    data of a split group), or once a candidate explains the data up to noise
    (:meth:`consistent`). ``models``: ``(validation RMSE, callable)`` of trained KANs,
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
    options: DiscoverOptions
    deadline: float
    probe_x: Tensor | None = None
    target: float = 0.0
    found: dict = field(default_factory=dict)
    log: list = field(default_factory=list)
    models: list = field(default_factory=list)
    polished: set = field(default_factory=set)
    branch_deadline: float = math.inf
    train_deadline: float = math.inf
    tolerance: float = 0.1
    """Relative validation RMSE within which formulas count as equally good."""
    data_error: float = 0.0
    """RMS error of the data known in advance (a surrogate's, for the surrogate data of a
    sub-problem); 0 for measured data."""
    structures: tuple = ()
    """The structures to try (:mod:`kanscience.discover._structure`); empty: the default."""
    started: float = field(default_factory=time.perf_counter)
    stop_at: float | None = None
    """The end of the grace period after the data were explained up to noise."""
    consistent_since: float | None = None
    """When the data were first explained up to noise."""
    grace_for: int = -1
    """The number of candidates when :attr:`stop_at` was last computed (candidates are
    only ever added: the best one changes only when their number does)."""
    finishing: bool = False
    """The current structure runs to its own deadline even when the grace period ends
    (a direct structure: cheap, and the source of the simplest laws)."""
    residual_z: dict = field(default_factory=dict)
    """z-score of each candidate's residual structure (:mod:`kanscience.discover._noise`)."""
    graph: NeighbourGraph | None = None
    validation_graph: NeighbourGraph | None = None
    """The neighbour graph of the validation rows alone (:meth:`departure`)."""
    fit_weight: Tensor | None = None
    """Relative weights of the fitting rows' squared errors (the inverse variances of their
    noise, mean 1), where the noise is not equal throughout (a dimensionless target:
    ``y / scale(x)`` carries noise ``sigma / |scale(x)|``); None: equal."""
    val_weight: Tensor | None = None
    """The same for the validation rows: validation errors are weighted RMSEs."""

    def time_left(self) -> float:
        end = min(self.deadline, self.branch_deadline, self._grace_end())
        return end - time.perf_counter()

    def start_branch(self, seconds: float) -> None:
        """Give the next structure ``seconds``; training may use 70% of them."""
        now = time.perf_counter()
        self.branch_deadline = now + seconds
        self.train_deadline = now + 0.7 * seconds

    def training_time_up(self, _state: object = None) -> bool:
        """Whether training of the current structure is out of time (a ``fit`` callback:
        returning True stops the fit)."""
        return time.perf_counter() > min(self.train_deadline, self.deadline, self._grace_end())

    def _grace_end(self) -> float:
        return math.inf if self.finishing or self.stop_at is None else self.stop_at

    def clock(self) -> None:
        """Raise :class:`OutOfTime` once training is out of time (for hand-written loops)."""
        if self.training_time_up():
            raise OutOfTime

    @property
    def spread(self) -> float:
        # one validation sample has no spread (and no unbiased estimate of one)
        return float(self.val_y.std()) if self.val_y.numel() > 1 else 0.0

    @property
    def rounding(self) -> float:
        """The validation RMSE of a formula exact to rounding (:data:`ROUNDING` of the
        spread)."""
        return ROUNDING * self.spread

    def best_error(self) -> float:
        return min((c.val_rmse for c in self.found.values()), default=math.inf)

    def ranked(self) -> tuple[Candidate, ...]:
        """The candidates ranked (:func:`rank_consistent_first` at the search's tolerance)."""
        found = list(self.found.values())
        consistent = {id(c) for c in self.consistent()}
        return rank_consistent_first(
            found, [id(c) in consistent for c in found], self.spread, self.tolerance
        )

    def solved(self) -> bool:
        """Exact (:meth:`exact`), or explained up to noise (:meth:`consistent`) for a grace
        period: as long again as the search took to get there, and at least
        :data:`GRACE_SHARE` of its time once, and once more per constant the data chose
        in the formula that ranks first (:func:`chosen_constants`: fitted floats and
        snapped numbers other than small ones; the overall factor and offset not
        counted). Noise hides a law's last digits, so a close series or a form with
        made-up constants may pass first; the structures that follow get that time to
        find a simpler law, and more of it the more constants the best formula needed.
        The grace period ends at :attr:`stop_at` (updated on every call, as the best
        formula changes), which also bounds :meth:`time_left` (except for a direct
        structure under way: :attr:`finishing`)."""
        if self.exact():
            return True
        now = time.perf_counter()
        if self.consistent_since is None:
            if not self.consistent():
                return False
            self.consistent_since = now
        if self.stop_at is None or self.grace_for != len(self.found):
            found = self.consistent_since - self.started
            grace = found
            if math.isfinite(self.grace_share):
                constants = chosen_constants(self.ranked()[0].expr)
                grace = max(found, (1 + constants) * self.grace_share)
            self.stop_at, self.grace_for = self.consistent_since + grace, len(self.found)
        return now >= self.stop_at

    @property
    def grace_share(self) -> float:
        """:data:`GRACE_SHARE` of the search's time, in seconds (inf without a deadline)."""
        return GRACE_SHARE * (self.deadline - self.started)

    def exact(self) -> bool:
        """Whether a candidate reaches the target error (or numerical exactness)."""
        return self.best_error() <= max(self.target, self.rounding)

    def exact_to_rounding(self) -> bool:
        """Whether a candidate is exact up to rounding (:attr:`rounding`), whatever the
        target error."""
        return self.best_error() <= self.rounding

    def consistent(self) -> tuple[Candidate, ...]:
        """The candidates that explain the data up to noise: residuals on the fitting and
        validation data with no structure (:func:`~kanscience.discover._noise.residual_structure`),
        and a validation error that the best one does not beat by more than twice the
        standard error of a mean squared error (``sqrt(2 / n)``, relative). Formulas exact
        to rounding (at most ``1e-9`` of the spread) are all consistent: their residuals are
        rounding errors, which are functions of the inputs, not noise."""
        if self._neighbours() is None:
            return ()
        bound = self.indistinguishable()
        chosen = []
        for key, candidate in self.found.items():
            if candidate.val_rmse <= self.rounding:
                chosen.append(candidate)
                continue
            if candidate.val_rmse > bound:
                continue
            if key not in self.residual_z:
                self.residual_z[key] = self._structure(candidate.expr)
            if self.residual_z[key] < STRUCTURE_Z:
                chosen.append(candidate)
        return tuple(chosen)

    def indistinguishable(self) -> float:
        """The largest validation RMSE that the validation rows cannot tell from the best
        one (:meth:`indistinguishable_from`)."""
        return self.indistinguishable_from(self.best_error())

    def indistinguishable_from(self, error: float) -> float:
        """The largest validation RMSE that the validation rows cannot tell from ``error``:
        twice the standard error of a mean squared error (``sqrt(2 / n)``, relative) above
        it."""
        return error * (1 + 2 * math.sqrt(2 / max(self.val_y.numel(), 1)))

    def _structure(self, expr: sympy.Expr) -> float:
        try:
            fn = formula_to_torch(expr, self.symbols)
        except (ValueError, TypeError, RuntimeError, OverflowError):
            return math.inf
        return self.structure_z(fn)

    def structure_z(self, fn: Callable[[Tensor], Tensor]) -> float:
        """The z-score of the residual structure of a model ``x -> y`` on the fitting and
        validation data (``inf`` when it cannot be evaluated there)."""
        graph, residual = self._neighbours(), self._residual(fn)
        if graph is None or residual is None:
            return math.inf
        return residual_structure(residual, graph)

    def misfit(self, fn: Callable[[Tensor], Tensor]) -> float:
        """The RMS of what is not noise in a model's residual on the fitting and validation
        data (:func:`~kanscience.discover._noise.noise_variance` removed from its mean
        square; ``inf`` when it cannot be evaluated there)."""
        graph, residual = self._neighbours(), self._residual(fn)
        if graph is None or residual is None:
            return math.inf
        x = torch.cat([self.fit_x, self.val_x])
        noise = noise_variance(residual, x, graph)
        return math.sqrt(max(float(residual.pow(2).mean()) - noise, 0.0))

    def departure(self, fn: Callable[[Tensor], Tensor]) -> float:
        """An upper bound on the RMS departure of a model ``x -> y`` (a trained surrogate)
        from the law, on the validation rows: their mean squared residual less the noise's
        variance (:func:`~kanscience.discover._noise.noise_variance` on the validation
        rows alone: the fitting rows' residuals are smaller by what the model learned of
        their noise), plus twice the standard error of that variance (``sqrt(2 / n)``,
        relative). On noisy data a model's validation RMSE is mostly the noise's, while a
        test of structure on the model (a symmetry, a split) errs by the model's departure
        alone. Without noise it is the validation RMSE; ``inf`` where the model cannot be
        evaluated."""
        n = self.val_x.shape[0]
        residual = self._residual(fn, validation_only=True)
        if residual is None:
            return math.inf
        mean_square = float(residual.pow(2).mean())
        if n <= 4 * NEIGHBOURS:
            return math.sqrt(mean_square)
        if self.validation_graph is None:
            self.validation_graph = neighbour_graph(self.val_x)
        noise = noise_variance(residual, self.val_x, self.validation_graph)
        return math.sqrt(mean_square - noise + 2 * math.sqrt(2 / n) * noise)

    def _residual(
        self, fn: Callable[[Tensor], Tensor], validation_only: bool = False
    ) -> Tensor | None:
        """The residual on the fitting and validation rows (or the validation rows only),
        weighted (times the square root of the weights) so that its noise is of equal size
        throughout."""
        x, y, weight = self.val_x, self.val_y, self.val_weight
        if not validation_only:
            x, y = torch.cat([self.fit_x, x]), torch.cat([self.fit_y, y])
            if self.fit_weight is not None and weight is not None:
                weight = torch.cat([self.fit_weight, weight])
            else:
                weight = None
        try:
            with torch.no_grad():
                residual = fn(x) - y
        except (ValueError, TypeError, RuntimeError, OverflowError):
            return None
        if residual.shape != (x.shape[0],) or not bool(torch.isfinite(residual).all()):
            return None
        if weight is not None:
            residual = residual * weight.sqrt()
        return residual

    def _neighbours(self) -> NeighbourGraph | None:
        """The neighbour graph of the fitting and validation rows (built once); None when
        they are too few to tell noise from a misfit, or while fitting on a subset."""
        n = self.fit_x.shape[0] + self.val_x.shape[0]
        if n <= 4 * NEIGHBOURS:
            return None
        if self.graph is None:
            self.graph = neighbour_graph(torch.cat([self.fit_x, self.val_x]))
        return self.graph if self.graph.indices.shape[0] == n else None

    def noise_bound(self) -> float:
        """An upper bound on the noise's RMS: the smallest validation RMSE of a formula or a
        trained model (nothing fits held-out data better than its noise)."""
        return min([self.best_error()] + [error for error, _ in self.models])

    def as_good_as(self, error: float) -> float:
        """The largest validation RMSE that counts as equally good as ``error``."""
        return error_bound(error, self.spread, self.tolerance)


def rmse(prediction: Tensor, target: Tensor, weight: Tensor | None = None) -> float:
    """Root mean squared error (weighted by ``weight``, of mean 1, where given); inf where
    it is not finite."""
    squared = (prediction - target) ** 2
    value = float((squared if weight is None else weight * squared).mean().sqrt())
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
            val = rmse(fn(search.val_x), search.val_y, search.val_weight)
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
            expr,
            search.symbols,
            search.fit_x,
            search.fit_y,
            steps=search.options.polish_steps,
            weights=search.fit_weight,
        )
    except (ValueError, TypeError, RuntimeError, OverflowError):
        return expr
    return snap_constants(fitted, tol=1e-9)
