"""From data to ranked formulas: the KAN discovery pipeline.

:func:`discover` tries a few KAN structures on the data, cheapest first, each through the
same steps, and returns every formula it found, ranked:

1. train a KAN in float64 (:mod:`kanscience.discover._structures`: Levenberg-Marquardt;
   hidden layers first with a sparsity penalty by L-BFGS, then pruned), refine its grid
   and train again;
2. fix every edge symbolically (:func:`kanscience.symbolic._edges.auto_symbolic`, and the
   runner-up function on the edges where the choice was close), extract the formula;
3. polish it (:mod:`kanscience.discover._search`): simplify, expand polynomial parts,
   refit all constants on the data by least squares, snap constants to simple numbers
   (all at once at a few tolerances; for the best formulas at the end, also one at a
   time while the validation error stays within that tolerance of the unsnapped
   formula's, which on noisy data recovers ``1/2`` from a fitted ``0.498``);
4. score every formula on a validation split of the training data.

The structures (``n`` inputs), cheapest first: the additive KAN ``[n, 1]`` on ``y`` and on
``log|y|`` (power laws and products; its edges ``g_i`` also give the product ``prod
exp(g_i)``); a power law times a function of one monomial
(:mod:`kanscience.discover._power`); for ``n >= 3`` a dense surrogate KAN and a split by
separability (:mod:`kanscience.discover._split`, recursive); the product ``[n, [0, 1], 1]``
and ``f(product)`` (its output edge freed); ``f(sum)`` as ``[n, 1, 1]``; the product on
``log|y|``; ``[n, [0, n // 2], 1]`` (sums of pairwise products) and ``[n, h, 1]`` on ``y``
and on ``log|y|``. The ``log|y|`` structures need a one-signed target; when noise makes a
few samples of a positive law near zero negative, they fit the samples above the noise
scale those samples show (:func:`kanscience.discover._structures.signal_rows`).

The search stops once a formula fits the validation data to rounding error, or when
``time_budget`` runs out: a training run is cut short at its structure's share; with time
left after the last structure the structures are tried again from other initializations
(up to three rounds); the last 15% of the budget snaps the constants of the best formulas
one at a time.

Candidates are ranked by ``(val_rmse > tolerance, complexity, fitted constants)``
(complexity: expression nodes, a constant other than a small number counting as three;
:func:`kanscience.discover._search.complexity`): the
simplest formula whose validation RMSE is within ``snap_tolerance`` (at least ``8 /
n_val``, what ``n_val`` validation points resolve: 2% for 400) of the best one, or below
``1e-9`` of the target's spread, comes first: on noisy data the formulas the data cannot
tell apart count as equally good. ``test_rmse`` and ``test_r2`` come from the test split,
never used for fitting or ranking; on noisy data they report the noise honestly.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import sympy
import torch

from ..core import KAN, Dataset, as_tensor
from ..core._functions import LibraryLike, resolve_library
from ._power import power_branch
from ._search import Candidate, Search, polish_best, probe, rank, readable
from ._split import Surrogate, split_branch
from ._structures import (
    kan_branch,
    log_product_branch,
    only_rows,
    product_branch,
    signal_rows,
    surrogate_branch,
    transforms,
)

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

# a split's surrogate must reach R^2 > 0.999
_SURROGATE_ERROR = 0.03
# share of the remaining time given to a structure, by kind
_SHARES = {"split": 0.7, "hidden": 0.5}
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


def _split(data, test_fraction: float, seed: int) -> Dataset:
    if isinstance(data, tuple) and len(data) == 2:
        x = as_tensor(data[0], "x", torch.float64)
        y = as_tensor(data[1], "y", torch.float64)
        if x.shape[0] != y.shape[0]:
            raise ValueError(f"x has {x.shape[0]} samples but y has {y.shape[0]}")
        if x.shape[0] < 8:
            raise ValueError(f"need at least 8 samples, got {x.shape[0]}")
        order = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(seed))
        n_test = max(1, round(test_fraction * x.shape[0]))
        test, train = order[:n_test], order[n_test:]
        return Dataset(x[train], y[train], x[test], y[test])
    if isinstance(data, (Dataset, dict)):
        return Dataset.coerce(data).to(torch.float64)
    raise TypeError(
        f"data must be a Dataset, a pykan dataset dict or a tuple (x, y), got {type(data).__name__}"
    )


def _plans(n: int, h: int, has_log: bool, inner_split: bool, depth: int) -> list[tuple]:
    """(kind, width, transform index, hidden) in the order they are tried."""
    plans: list[tuple] = [("kan", [n, 1], 0, False)]
    if has_log:
        plans.append(("kan", [n, 1], 1, False))
        if n >= 2:
            plans += [("log-product", None, 1, False), ("power", None, 1, False)]
    if depth > 0 and n >= 3:
        plans += (
            [("split", None, 0, False)]
            if inner_split
            else [("surrogate", [n, h, 1], 0, False), ("split", None, 0, False)]
        )
    if n >= 2:
        plans += [("f(product)", None, 0, False), ("kan", [n, 1, 1], 0, False)]
        if has_log:
            plans.append(("product", None, 1, False))
        plans.append(("kan", [n, [0, max(1, n // 2)], 1], 0, True))
    plans.append(("kan", [n, h, 1], 0, True))
    if has_log:
        plans.append(("kan", [n, h, 1], 1, True))
    return plans


def _surrogate(search: Search) -> Surrogate | None:
    """The most accurate trained model, if it fits the data to R^2 > 0.999."""
    if not search.models:
        return None
    error, fn = min(search.models, key=lambda m: m[0])
    return (fn, error) if error <= _SURROGATE_ERROR * search.spread else None


def _explore(
    search: Search, hidden: int | None = None, depth: int = 2, surrogate: Surrogate | None = None
) -> None:
    """Try the structures in order until solved or out of time; ``surrogate`` (for a
    group of a split) allows splitting again early, ``depth`` bounds the recursion."""
    n = search.fit_x.shape[1]
    options = transforms(search.fit_y)
    rows = signal_rows(search.fit_y) if len(options) == 1 else None
    if rows is not None:  # noisy, one-signed: the log structures fit where y is signal
        options.append(transforms(search.fit_y[rows])[1])
    h = hidden or min(n + 2, 7)
    plans = _plans(n, h, len(options) > 1, surrogate is not None, depth)
    log_model = None
    for index, (kind, width, which, is_hidden) in enumerate(plans):
        if search.deadline <= time.perf_counter() or search.solved():
            break
        remaining = search.deadline - time.perf_counter()
        last = index == len(plans) - 1
        share = _SHARES["split"] if kind == "split" else _SHARES["hidden"] if is_hidden else 1.0
        search.start_branch(remaining if last else remaining * share)
        transform = options[which]
        with only_rows(search, rows if which == 1 else None):
            log_model = _run(search, kind, width, transform, is_hidden, depth, surrogate, log_model)
    search.start_branch(math.inf)


def _run(
    search: Search,
    kind: str,
    width: list | None,
    transform: tuple,
    is_hidden: bool,
    depth: int,
    surrogate: Surrogate | None,
    log_model: KAN | None,
) -> KAN | None:
    """Try one structure; returns the additive KAN on ``log|y|`` once it is trained (for the
    log-product), else ``log_model`` unchanged."""
    n = search.fit_x.shape[1]
    if kind == "log-product":
        if log_model is not None:
            log_product_branch(search, log_model, transform)
    elif kind == "split":
        chosen = surrogate if surrogate is not None else _surrogate(search)
        if chosen is not None:
            split_branch(search, chosen, depth, _explore)
    elif kind == "power":
        power_branch(search)
    elif kind == "surrogate":
        surrogate_branch(search, width, transform)
    elif kind in ("product", "f(product)"):
        product_branch(search, transform, free=kind == "f(product)")
    else:
        trained = kan_branch(search, width, transform, is_hidden)
        if transform[0] != "y" and width == [n, 1]:
            return trained
    return log_model


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
    snap_tolerance: float = 0.02,
    test_fraction: float = 0.25,
    seed: int = 0,
    time_budget: float | None = 180.0,
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
        Training samples used (a seeded subsample; 20% of them validate).
    weight_simple, grid_number : passed to the symbolic fits.
    alternatives, alternative_gap : runner-up functions tried on at most ``alternatives``
        edges whose two best scores differ by at most ``alternative_gap``.
    polish_steps : Levenberg-Marquardt iterations when refitting a formula's constants.
    snap_tolerance : float
        Relative validation RMSE within which formulas count as equally good (raised to
        ``8 / n_val`` for few validation points): a constant snapped one at a time is kept
        while the error stays within it, and the simplest formula within it of the best
        one ranks first.
    seed : int
        Seeds the split, the subsample and the initializations (results are deterministic).
    time_budget : float or None
        Seconds; structures not started before it runs out are skipped.

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
    dataset = _split(data, test_fraction, seed)
    if dataset.n_out != 1:
        raise ValueError(f"discover fits one output; y has {dataset.n_out} columns")
    n = dataset.n_in
    names = [f"x_{i + 1}" for i in range(n)] if var_names is None else list(var_names)
    if len(names) != n or len(set(names)) != n or not all(isinstance(v, str) for v in names):
        raise ValueError(f"var_names must be {n} distinct strings, got {var_names!r}")
    for label, value, low in (
        ("steps", steps, 1),
        ("lm_steps", lm_steps, 1),
        ("max_train", max_train, 10),
        ("grid", grid, 1),
        ("refine_grid", refine_grid, 1),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{label} must be an int >= {low}, got {value!r}")
    if time_budget is not None and not time_budget > 0:
        raise ValueError(f"time_budget must be > 0 seconds or None, got {time_budget!r}")
    if not snap_tolerance >= 0:
        raise ValueError(f"snap_tolerance must be >= 0, got {snap_tolerance!r}")
    library = resolve_library(lib)
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(dataset.train_input.shape[0], generator=generator)[:max_train]
    x, y = dataset.train_input[order], dataset.train_label[order, 0]
    n_val = max(1, x.shape[0] // 5)
    budget = math.inf if time_budget is None else time_budget
    search = Search(
        symbols=[sympy.Symbol(v, real=True) for v in names],
        fit_x=x[n_val:],
        fit_y=y[n_val:],
        val_x=x[:n_val],
        val_y=y[:n_val],
        test_x=dataset.test_input,
        test_y=dataset.test_label[:, 0],
        library=library,
        options={
            "steps": steps,
            "lm_steps": lm_steps,
            "lamb": lamb,
            "grid": grid,
            "refine_grid": refine_grid,
            "weight_simple": weight_simple,
            "grid_number": grid_number,
            "alternatives": alternatives,
            "alternative_gap": alternative_gap,
            "polish_steps": polish_steps,
            "tolerance": max(snap_tolerance, 8 / n_val),
            "seed": seed,
            "max_symbolic": 1000,
        },
        deadline=started + (1 - _POLISH_SHARE) * budget,
        probe_x=probe(x, seed),
    )
    for restart in range(_ROUNDS):  # time left: again, from other initializations
        if search.solved() or time.perf_counter() >= search.deadline:
            break
        search.options["seed"] = seed + restart
        _explore(search, hidden)
    search.options["seed"] = seed
    search.deadline = started + budget
    search.start_branch(math.inf)
    if not search.solved():
        polish_best(search, 5)
    ranked, everything = rank(list(search.found.values()), search.spread, relative=search.tolerance)
    ranked, _ = rank([readable(c) for c in ranked], search.spread, relative=search.tolerance)
    return DiscoveryResult(
        ranked, everything, tuple(search.symbols), time.perf_counter() - started, tuple(search.log)
    )
