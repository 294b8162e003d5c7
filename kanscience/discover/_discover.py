"""From data to ranked formulas: the KAN discovery pipeline.

:func:`discover` tries a few KAN structures on the data, cheapest first, each through the
same steps, and returns every formula it found, ranked:

1. train a KAN in float64 (:mod:`kanscience.discover._kan_fits`: Levenberg-Marquardt;
   hidden layers first with a sparsity penalty by L-BFGS, then pruned), refine its grid
   and train again;
2. fix every edge symbolically (:func:`kanscience.symbolic.auto_symbolic`, and the
   runner-up function on the edges where the choice was close), extract the formula;
3. polish it (:mod:`kanscience.discover._polish`): simplify, expand polynomial parts,
   refit all constants on the data by least squares, snap constants to simple numbers
   (all at once at a few tolerances; for the best formulas at the end, also one at a
   time while the validation error stays within that tolerance of the unsnapped
   formula's, which on noisy data recovers ``1/2`` from a fitted ``0.498``);
4. score every formula on a validation split of the training data.

The structures (:mod:`kanscience.discover._structure`, one class per kind of law), cheapest
first: the additive KAN ``[n, 1]`` on ``y`` and on ``log|y|`` (power laws and products;
its edges ``g_i`` also give the product ``prod exp(g_i)``); a power law times a function of
one monomial (:mod:`kanscience.discover._power`); then, on a dense surrogate KAN of width
``2n + 1``, the modular decomposition: a symmetry of a pair of variables (a function of
``x_i - x_j``, ``x_i / x_j``, ``x_i x_j`` or ``x_i + x_j``) or a scaling law
(``x_j^a g(x_i / x_j)``) gives the problem again with fewer or better variables
(:mod:`kanscience.discover._reduce`), and additive or multiplicative separability gives
one problem per group (:mod:`kanscience.discover._split`), each searched recursively and
assembled, its constants refitted on the original data (where no assembly fits, the group
fitted worst is searched again on the data, the other groups' formulas divided out);
then the product ``[n, [0, 1],
1]`` and ``f(product)`` (its output edge freed); ``f(sum)`` as ``[n, 1, 1]``; the product
on ``log|y|``; ``[n, [0, n // 2], 1]`` (sums of pairwise products) and ``[n, h, 1]`` on
``y`` and on ``log|y|``. The ``log|y|`` structures need a one-signed target; when noise
makes samples of a positive law near zero negative, they fit the samples above the
noise scale those samples show (:func:`kanscience.discover._kan_fits.signal_rows`), and
their models are retrained on ``y`` itself, where noise is of equal size
(:func:`kanscience.discover._kan_fits.train_log_link`).
Settings are a frozen :class:`~kanscience.discover._options.DiscoverOptions`.

The search stops once a formula fits the validation data to rounding error, or when
``time_budget`` runs out: a training run is cut short at its structure's share; with time
left after the last structure the structures are tried again from other initializations
(up to three rounds); the last 15% of the budget snaps the constants of the best formulas
one at a time.

Candidates are ranked by ``(val_rmse > tolerance, complexity, fitted constants)``
(complexity: expression nodes, a constant other than a small number counting as three;
:func:`kanscience.discover._ranking.complexity`): the
simplest formula whose validation RMSE is within ``8 / n_val`` of the best one (what
``n_val`` validation points resolve: a misfit that two standard errors of the paired
difference of squared errors cannot tell from noise; 2% for 400, and at least
``snap_tolerance``), or below ``1e-9`` of the target's spread, comes first: on noisy
data the formulas the data cannot tell apart count as equally good. The training rows
beyond ``max_train`` validate too (up to three times as many), so larger noisy data
resolve finer differences. ``test_rmse`` and ``test_r2`` come from the test split,
never used for fitting or ranking; on noisy data they report the noise honestly.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sympy
import torch

from ..core import Dataset
from ..core._functions import FunctionLibrary, LibraryLike, resolve_library
from ..core._html import latex_math
from ..symbolic import Dimensions, Formula, formula_to_torch
from ._display import front_figure, front_html, front_text
from ._explore import explore
from ._inputs import fit_validation_rows, training_data, units_as_dimensions
from ._options import DiscoverOptions
from ._polish import polish_best
from ._ranking import Candidate, rank, rank_consistent_first, readable
from ._search import Search, probe, row_weights
from ._stability import FrontUncertainty, front_uncertainty
from ._structure import Structure
from ._units import DimensionlessData, constant_law, dimensionless_data, restore_candidates

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["DISCOVERY_LIBRARY", "Candidate", "DiscoveryResult", "discover"]

DISCOVERY_LIBRARY = (
    "x",
    "x^2",
    "x^3",
    "x^4",
    "1/x",
    "1/x^2",
    "1/x^3",
    "sqrt",
    "1/sqrt(x)",
    "x^1.5",
    "exp",
    "log",
    "sin",
    "cos",
    "tanh",
    "cosh",
    "arcsin",
    "arctan",
    "gaussian",
    "0",
)
"""Function names :func:`discover` fits by default (a subset of the default library)."""

_POLISH_SHARE = 0.15
_ROUNDS = 3


@dataclass(frozen=True)
class DiscoveryResult:
    """Ranked candidates (best first) and what the search did.

    Attributes
    ----------
    candidates : tuple of Candidate
        The Pareto front of (complexity, validation RMSE), ranked best first, each in its
        shortest form (fractions combined where that is shorter).
    all_candidates : tuple of Candidate
        Every distinct formula evaluated, by complexity.
    variables : tuple of sympy.Symbol
    seconds : float
    log : tuple of str
        One line per structure tried.
    """

    candidates: tuple[Candidate, ...]
    all_candidates: tuple[Candidate, ...] = ()
    variables: tuple[sympy.Symbol, ...] = ()
    seconds: float = 0.0
    log: tuple[str, ...] = ()

    @property
    def best(self) -> Candidate:
        """The top-ranked candidate."""
        if not self.candidates:
            raise ValueError("no formula was found (the time budget may be too small)")
        return self.candidates[0]

    def formula(self, index: int = 0) -> Formula:
        """The candidate ``index`` of the ranking (0: the best) as an exportable
        :class:`~kanscience.symbolic.Formula` of :attr:`variables` (LaTeX, numpy, torch,
        JAX, code in other languages)."""
        if not -len(self.candidates) <= index < len(self.candidates):
            raise IndexError(
                f"index must address one of the {len(self.candidates)} candidates, got {index}"
            )
        return Formula(self.candidates[index].expr, self.variables)

    def plot(self, ax: Axes | None = None) -> Figure:
        """The Pareto front: complexity against validation RMSE (log scale), the best
        formula starred; one point per candidate with a finite validation RMSE. Drawn on
        ``ax`` when given; returns the Figure (shows and writes nothing)."""
        return front_figure(self.candidates, ax)

    def uncertainty(self, x: torch.Tensor, y: torch.Tensor, **options) -> FrontUncertainty:
        """How sure data ``(x, y)`` are of each formula of the front: its stability over
        resamples and its constants with standard errors (constants refitted only, never
        a new search; see :func:`~kanscience.discover.front_uncertainty` for ``options``).
        Printed or shown in a notebook, it is the Pareto table with those columns."""
        return front_uncertainty(self.candidates, self.variables, x, y, **options)

    def __str__(self) -> str:
        """The Pareto table as text (rank, complexity, test RMSE, test R^2, formula)."""
        return front_text(self.candidates)

    def _repr_html_(self) -> str:
        """The Pareto table with MathML formulas, the front as inline SVG, the log."""
        return front_html(self.candidates, self.variables, self.seconds, self.log)

    def _repr_latex_(self) -> str | None:
        """The best formula as inline LaTeX (``None`` when nothing was found)."""
        return latex_math(self.candidates[0].expr) if self.candidates else None


def _discover_dimensionless(
    reduced: DimensionlessData,
    dimensions: Dimensions,
    dataset: Dataset,
    options: DiscoverOptions,
    library: FunctionLibrary,
    started: float,
    structures: Sequence[Structure] | None = None,
) -> DiscoveryResult:
    """Discovery on the dimensionless groups; the laws mapped back to the variables."""
    groups = ", ".join(
        f"{g} = {e}"
        for g, e in zip(reduced.group_names, reduced.problem.group_expressions(reduced.symbols()))
    )
    scale = reduced.problem.scale_expression(reduced.symbols())
    log = [f"dimensionless: y / ({scale}) as a function of {groups or 'no group (a constant)'}"]
    if reduced.group_names:
        inner = _search(
            reduced.dataset,
            list(reduced.group_names),
            options,
            library,
            started,
            structures,
            weight=reduced.train_weight,
        )
        found, everything, log = inner.candidates, inner.all_candidates, log + list(inner.log)
    else:
        expr = constant_law(reduced)
        found = everything = (Candidate(expr, 1, math.nan, math.nan, source="constant"),)

    def evaluate(
        expr: sympy.Expr, symbols: Sequence[sympy.Symbol], x: torch.Tensor
    ) -> torch.Tensor:
        return formula_to_torch(expr, list(symbols))(x)

    restored = restore_candidates(found, reduced, dimensions, dataset, evaluate)
    all_restored = restore_candidates(everything, reduced, dimensions, dataset, evaluate)
    symbols = tuple(reduced.symbols().values())
    return DiscoveryResult(
        restored, all_restored, symbols, time.perf_counter() - started, tuple(log)
    )


def discover(
    data: Dataset | dict | tuple,
    var_names: Sequence[str] | None = None,
    *,
    lib: LibraryLike = DISCOVERY_LIBRARY,
    hidden: int | None = None,
    steps: int = 50,
    lm_steps: int = 40,
    lamb: float = 1e-3,
    grid: int = 5,
    refine_grid: int = 20,
    max_train: int = 2000,
    weight_simple: float = 0.8,
    grid_number: int = 51,
    alternatives: int = 3,
    alternative_gap: float = 1.0,
    polish_steps: int = 40,
    snap_tolerance: float = 0.0,
    test_fraction: float = 0.25,
    seed: int = 0,
    time_budget: float | None = 180.0,
    target_error: float | None = None,
    units: Dimensions | Mapping[str, object] | Sequence[object] | None = None,
    target_units: object | None = None,
    structures: Sequence[Structure] | None = None,
) -> DiscoveryResult:
    """Find formulas ``y = f(x)`` for the data with KANs (see the module docstring).

    Parameters
    ----------
    data : Dataset, pykan dataset dict, or tuple (x, y)
        A tuple is split into train and test (``test_fraction``, seeded); ``y`` must have
        one column.
    var_names : sequence of str, optional
        Names of the inputs (default ``x_1 .. x_n``); they become real sympy symbols.
    lib : library specification
        Functions the edges may use (default :data:`DISCOVERY_LIBRARY`).
    hidden : int, optional
        Width of the hidden layer of the deeper structures (default ``2 n + 1``, at most 9).
    steps, lm_steps, lamb, grid, refine_grid : training (L-BFGS steps of the sparsity
        phase of hidden-layer KANs, Levenberg-Marquardt steps per phase, sparsity weight,
        grid intervals before and after refinement).
    max_train : int
        Training samples fitted and validated (a seeded subsample; 20% of them validate,
        and so do up to ``3 max_train`` of the training rows beyond it).
    weight_simple, grid_number : passed to the symbolic fits.
    alternatives, alternative_gap : runner-up functions tried on at most ``alternatives``
        edges whose two best scores differ by at most ``alternative_gap``.
    polish_steps : Levenberg-Marquardt iterations when refitting a formula's constants.
    snap_tolerance : float
        Least relative validation RMSE within which formulas count as equally good (the
        tolerance is ``8 / n_val``, what ``n_val`` validation points resolve, when that
        is larger): a constant snapped one at a time is kept while the error stays within
        it, and the simplest formula within it of the best one ranks first.
    seed : int
        Seeds the split, the subsample and the initializations (results are deterministic).
    time_budget : float or None
        Seconds; structures not started before it runs out are skipped.
    target_error : float or None
        Stop once a formula's validation RMSE is at most this fraction of the target's
        standard deviation: for data that are a smooth surrogate of known accuracy (the
        values of a trained network, say), whose residuals never look like noise. None:
        stop only when a formula is exact or explains the data up to noise.
    units : mapping name -> unit, sequence of units (column order), or Dimensions, optional
        Units of the inputs (unit strings such as ``"kg*m/s**2"`` or exponent vectors over
        SI's base units; a :class:`kanscience.symbolic.Dimensions` from
        :func:`kanscience.symbolic.parse_units` for other bases). The search then runs on
        the dimensionless groups (Buckingham Pi) with the target divided by a monomial
        carrying its units, and every formula returned is dimensionally consistent. Where
        the groups are not finite on the data (a fractional power of a negative input),
        the search runs on the raw inputs and says so in ``log``. With units,
        ``val_rmse`` is measured on the dimensionless target.
    target_units : unit string or exponent vector, optional
        Units of the target (with a mapping ``units``; default dimensionless).
    structures : sequence of Structure, optional
        The kinds of law to try, in order, in the whole problem and in every sub-problem
        (default :func:`kanscience.discover.default_structures`); a
        :class:`kanscience.discover.Structure` subclass adds a new kind.

    Returns
    -------
    DiscoveryResult

    Examples
    --------
    >>> import torch
    >>> x = torch.rand(400, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64) + 1
    >>> y = x[:, 0] ** 2 + torch.sin(x[:, 1])
    >>> result = discover((x, y), ["a", "b"], steps=20, time_budget=60)
    >>> result.best.expr, result.best.test_r2 > 0.999999
    (a**2 + sin(b), True)
    """
    started = time.perf_counter()
    options = DiscoverOptions(**{k: v for k, v in locals().items() if k in DiscoverOptions.names()})
    dataset = training_data(data, test_fraction, seed)
    n = dataset.n_in
    names = [f"x_{i + 1}" for i in range(n)] if var_names is None else list(var_names)
    if len(names) != n or len(set(names)) != n or not all(isinstance(v, str) for v in names):
        raise ValueError(f"var_names must be {n} distinct strings, got {var_names!r}")
    dimensions = units_as_dimensions(units, target_units, names)
    library = resolve_library(lib)
    if dimensions is not None:
        reduced = dimensionless_data(dataset, names, dimensions)
        if reduced is not None:
            return _discover_dimensionless(
                reduced, dimensions, dataset, options, library, started, structures
            )
    return _search(dataset, names, options, library, started, structures)


def _search(
    dataset: Dataset,
    names: Sequence[str],
    options: DiscoverOptions,
    library: FunctionLibrary,
    started: float,
    structures: Sequence[Structure] | None = None,
    weight: torch.Tensor | None = None,
) -> DiscoveryResult:
    """The search on the data (a subsample of the training split; see the module
    docstring), with restarts while time is left, then the final polish. ``weight``: of
    the training rows' squared errors, where their noise is not of equal size."""
    seed = options.seed
    fit_rows, val_rows = fit_validation_rows(dataset.train_input.shape[0], options.max_train, seed)
    x, y = dataset.train_input, dataset.train_label[:, 0]
    val_x = x[val_rows]
    budget = math.inf if options.time_budget is None else options.time_budget
    search = Search(
        symbols=[sympy.Symbol(v, real=True) for v in names],
        fit_x=x[fit_rows],
        fit_y=y[fit_rows],
        val_x=val_x,
        val_y=y[val_rows],
        test_x=dataset.test_input,
        test_y=dataset.test_label[:, 0],
        library=library,
        options=options,
        tolerance=max(options.snap_tolerance, 8 / val_x.shape[0]),
        deadline=started + (1 - _POLISH_SHARE) * budget,
        probe_x=probe(x[fit_rows], seed),
        structures=tuple(structures or ()),
        fit_weight=None if weight is None else row_weights(weight[fit_rows]),
        val_weight=None if weight is None else row_weights(weight[val_rows]),
    )
    if options.target_error is not None:
        search.target = options.target_error * search.spread
    for restart in range(_ROUNDS):  # time left: again, from other initializations
        if search.solved() or time.perf_counter() >= search.deadline:
            break
        search.options = dataclasses.replace(options, seed=seed + restart)
        explore(search, options.hidden)
    search.options = options
    search.deadline = started + budget
    numerically_exact = search.best_error() <= search.rounding
    if (search.stop_at is not None or search.exact()) and not numerically_exact:
        # explained up to noise or to the target error: snapping is worth at most as
        # long as the search took
        search.deadline = min(search.deadline, 2 * time.perf_counter() - started)
    search.stop_at = search.consistent_since = None
    search.start_branch(math.inf)
    if not numerically_exact:
        polish_best(search, 5)
    found = list(search.found.values())
    consistent = {id(c) for c in search.consistent()}
    ranked = search.ranked()
    ranked = rank_consistent_first(
        [readable(c) for c in ranked],
        [id(c) in consistent for c in ranked],
        search.spread,
        search.tolerance,
    )
    everything = rank(found, search.spread, relative=search.tolerance)[1]
    return DiscoveryResult(
        ranked, everything, tuple(search.symbols), time.perf_counter() - started, tuple(search.log)
    )
