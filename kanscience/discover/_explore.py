"""Search one (sub)problem: run the structures that apply, cheapest first, sharing time.

Each :class:`~kanscience.discover._structure.Structure` in
:func:`~kanscience.discover._catalogue.default_structures` that applies to the problem
gets its share of the time left (the last one all of it) and stops when the problem is
solved or the deadline passes. Structures on ``log |y|`` of a target that is one-signed
only up to noise fit the rows where the target is signal.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

from ._catalogue import default_structures
from ._kan_fits import only_rows
from ._search import Search
from ._structure import Structure, SurrogateModel, context_for

__all__ = ["explore", "log_first"]


def explore(
    search: Search,
    hidden: int | None = None,
    depth: int = 2,
    surrogate: SurrogateModel | None = None,
    structures: Sequence[Structure] | None = None,
) -> None:
    """Try the structures in order until solved or out of time.

    Parameters
    ----------
    search : Search
        The problem; candidates are added to it.
    hidden : int, optional
        Width of hidden layers (default ``n + 2``, at most 7).
    depth : int
        Levels of decomposition (separation, pair reduction) allowed below this problem.
    surrogate : SurrogateModel, optional
        A smooth model of the data from the parent problem (a group of a split).
    structures : sequence of Structure, optional
        Default ``search.structures``, else
        :func:`~kanscience.discover._catalogue.default_structures`.
    """
    context = context_for(search, depth, hidden, surrogate, explore)
    candidates = structures or search.structures or default_structures()
    chosen = [s for s in candidates if s.applies(context)]
    # the list is reordered in place behind the structure being run (same length)
    for index, structure in enumerate(chosen):
        if search.deadline <= time.perf_counter() or search.solved():
            break
        remaining = search.deadline - time.perf_counter()
        last = index == len(chosen) - 1
        seconds = remaining if last else remaining * structure.share
        if structure.decomposes and search.stop_at is not None:
            grace = search.stop_at - time.perf_counter()
            seconds = min(seconds, max(grace, 0.0) + search.grace_share)
        search.start_branch(seconds)
        search.finishing = structure.direct or structure.decomposes
        try:
            with only_rows(search, context.rows if structure.on_log else None):
                structure.fit(search, context)
        finally:
            search.finishing = False
        if context.log_first:
            chosen[index + 1 :] = log_first(chosen[index + 1 :])
    search.start_branch(math.inf)


def log_first(structures: list[Structure]) -> list[Structure]:
    """``structures`` with the direct ones at its head (those before the first structure
    that is not direct) reordered: those on ``log |y|`` first, otherwise in order."""
    head = next((i for i, s in enumerate(structures) if not s.direct), len(structures))
    return sorted(structures[:head], key=lambda s: not s.on_log) + structures[head:]
