"""A discover ``Search`` over given data, as discover builds one (shared by the tests of
the discover package's parts)."""

from __future__ import annotations

import math

import sympy
import torch

from kanscience.core import resolve_library
from kanscience.discover import DISCOVERY_LIBRARY, DiscoverOptions
from kanscience.discover._search import Search, probe


def make_search(
    x: torch.Tensor,
    y: torch.Tensor,
    names,
    *,
    deadline: float = math.inf,
    tolerance: float = 0.1,
    **options,
) -> Search:
    """The first fifth of the rows validates (and tests); the rest is fitted. ``names``
    are strings (real symbols are made) or sympy symbols; ``options`` override
    :class:`DiscoverOptions` fields."""
    n_val = x.shape[0] // 5
    symbols = [sympy.Symbol(v, real=True) if isinstance(v, str) else v for v in names]
    return Search(
        symbols=symbols,
        fit_x=x[n_val:],
        fit_y=y[n_val:],
        val_x=x[:n_val],
        val_y=y[:n_val],
        test_x=x[:n_val],
        test_y=y[:n_val],
        library=resolve_library(DISCOVERY_LIBRARY),
        options=DiscoverOptions(**options),
        deadline=deadline,
        probe_x=probe(x, 0),
        tolerance=tolerance,
    )
