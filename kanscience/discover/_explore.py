"""The structures discover tries on one (sub)problem, cheapest first, and how time is shared.

The order is fixed by :func:`plans`: the additive KAN on ``y`` and on ``log|y|``, the
log-product and the power law times a function of one monomial, a surrogate and a split by
separability (``n >= 3``), ``f(product)``, ``f(sum)``, the product on ``log|y|``, sums of
pairwise products and a hidden layer on ``y`` and on ``log|y|``.
"""

from __future__ import annotations

import math
import time

from ..core import KAN
from ._power import power_branch
from ._search import Search
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

__all__ = ["explore", "plans"]

# a split's surrogate must reach R^2 > 0.999
_SURROGATE_ERROR = 0.03
# share of the remaining time given to a structure, by kind
_SHARES = {"split": 0.7, "hidden": 0.5}


def plans(n: int, h: int, has_log: bool, inner_split: bool, depth: int) -> list[tuple]:
    """(kind, width, transform index, hidden) in the order they are tried."""
    plans: list[tuple] = [("kan", [n, 1], 0, False)]
    if has_log:
        plans.append(("kan", [n, 1], 1, False))
        plans += [("log-product", None, 1, False)] if n >= 2 else []
        plans.append(("power", None, 1, False))
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


def explore(
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
    planned = plans(n, h, len(options) > 1, surrogate is not None, depth)
    log_model = None
    for index, (kind, width, which, is_hidden) in enumerate(planned):
        if search.deadline <= time.perf_counter() or search.solved():
            break
        remaining = search.deadline - time.perf_counter()
        last = index == len(planned) - 1
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
            split_branch(search, chosen, depth, explore)
    elif kind == "power":
        power_branch(search)
    elif kind == "surrogate":
        assert width is not None
        surrogate_branch(search, width, transform)
    elif kind in ("product", "f(product)"):
        product_branch(search, transform, free=kind == "f(product)")
    else:
        assert width is not None  # every other plan is a KAN of a given width
        trained = kan_branch(search, width, transform, is_hidden)
        if transform[0] != "y" and width == [n, 1]:
            return trained
    return log_model
