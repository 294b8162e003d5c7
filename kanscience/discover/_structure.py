"""The :class:`Structure` interface: one kind of law, tried on a (sub)problem.

A structure proposes a model for a (sub)problem, fits it and turns it into formulas: it
reads the data of a :class:`~kanscience.discover._search.Search`, adds the candidates it
finds there (each scored on validation and test data, with its complexity) and returns
them. :func:`kanscience.discover._explore.explore` runs the structures that apply to a
problem, cheapest first, and shares the time among them; the structures themselves are in
:mod:`kanscience.discover._catalogue`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field

from torch import Tensor

from ..core import KAN
from ._kan_fits import signal_rows, transforms
from ._noise import STRUCTURE_Z
from ._ranking import Candidate
from ._search import Search, SurrogateModel

__all__ = ["Context", "Structure", "SurrogateModel", "context_for"]


@dataclass
class Context:
    """What the structures of one problem share.

    Attributes
    ----------
    n : int
        Number of variables.
    depth : int
        Levels of decomposition still allowed below this problem.
    hidden : int
        Width of hidden layers.
    transforms : list
        ``(name, target, inverse, sign)`` per usable transform of ``y``
        (:func:`kanscience.discover._kan_fits.transforms`); index 1 is ``log |y|``.
    surrogate : SurrogateModel or None
        Given by the parent of a group of a split: the parent's surrogate, restricted.
    explore : callable
        ``explore(sub_search, depth=..., surrogate=...)`` for sub-problems.
    rows : Tensor or None
        For a target of one sign up to noise, the rows where ``log |y|`` is signal
        (:func:`kanscience.discover._kan_fits.signal_rows`): the log structures fit those.
    log_model : KAN or None
        The additive KAN on ``log |y|`` once trained.
    log_first : bool
        Set by :class:`~kanscience.discover._sparse.SparseSum` when a sparse sum on
        ``log |y|`` explains ``y`` better than one on ``y``: the direct structures on
        ``log |y|`` are tried before those on ``y`` (a product of functions of single
        variables is additive on ``log |y|``).
    """

    n: int
    depth: int
    hidden: int
    transforms: list
    surrogate: SurrogateModel | None
    rows: Tensor | None
    explore: Callable[..., None]
    log_model: KAN | None = field(default=None)
    log_first: bool = False

    @property
    def has_log(self) -> bool:
        return len(self.transforms) > 1

    def best_surrogate(self, search: Search, max_error: float) -> SurrogateModel | None:
        """The given surrogate, else the most accurate trained model if its validation
        RMSE is at most ``max_error`` times the target's spread, or if its residuals are
        indistinguishable from noise, or if what is not noise in them is that small (on
        noisy data no model gets below the noise, however accurate it is). Its error is
        its departure from the law (:meth:`Search.departure`), not its validation RMSE:
        the tests on it (symmetries, splits) and the targets of its groups err by that."""
        if self.surrogate is not None:
            return self.surrogate
        if not search.models:
            return None
        error, fn = min(search.models, key=lambda m: m[0])
        limit = max_error * search.spread
        if error <= limit or search.structure_z(fn) < STRUCTURE_Z or search.misfit(fn) <= limit:
            return fn, min(error, search.departure(fn))
        return None


class Structure(ABC):
    """One kind of law: proposes a model for a problem, fits it, returns its formulas.

    Attributes
    ----------
    name : str
    share : float
        Share of the remaining time the structure may use (the last one to run gets all).
    on_log : bool
        Fits ``log |y|`` (needs a one-signed target).
    direct : bool
        Fits closed forms directly (cheap, the source of the simplest laws): once started
        it runs to its share of the time even when the grace period after the data were
        explained up to noise ends (:attr:`kanscience.discover._search.Search.finishing`).
    decomposes : bool
        Splits the problem into smaller ones when a test on a surrogate accepts: once
        started it too runs past the end of the grace period, by at most one grace share
        (:data:`kanscience.discover._search.GRACE_SHARE` of the search's time). An accepted
        symmetry or separation is evidence for a simpler law in the smaller problems, and
        cut short they return nothing.
    """

    name: str = "structure"
    share: float = 1.0
    on_log: bool = False
    direct: bool = False
    decomposes: bool = False

    def applies(self, context: Context) -> bool:
        """Whether the structure can describe a problem of this shape."""
        return context.has_log or not self.on_log

    @abstractmethod
    def propose_and_fit(self, search: Search, context: Context) -> None:
        """Fit the structure to ``search``'s data and add its formulas to ``search``."""

    def fit(self, search: Search, context: Context) -> tuple[Candidate, ...]:
        """Run the structure; the candidates it added (with errors and complexity)."""
        before = set(search.found)
        self.propose_and_fit(search, context)
        return tuple(c for key, c in search.found.items() if key not in before)

    def __repr__(self) -> str:
        return self.name


def context_for(
    search: Search,
    depth: int,
    hidden: int | None,
    surrogate: SurrogateModel | None,
    explore: Callable[..., None],
) -> Context:
    """The shared context of a problem (``transforms`` of its target included)."""
    n = search.fit_x.shape[1]
    options = transforms(search.fit_y)
    rows = signal_rows(search.fit_y) if len(options) == 1 else None
    if rows is not None:  # noisy, one-signed: the log structures fit where y is signal
        options.append(transforms(search.fit_y[rows])[1])
    return Context(
        n=n,
        depth=depth,
        hidden=hidden or min(n + 2, 7),
        transforms=options,
        surrogate=surrogate,
        rows=rows,
        explore=explore,
    )
