"""The sparse-sum structure: a (sub)problem as a few library functions of single inputs.

:class:`SparseSum` fits ``y ~ c0 + sum_k c_k f_k(x_{i_k})`` by
:func:`kanscience.symbolic.sparse_sum_fit` (exhaustive over small subsets of library
features, chosen by an information criterion), on ``y`` and, for a one-signed target, on
``log |y|`` (where a sum of logarithms and powers is a product of powers and
exponentials). No network is trained, so it costs milliseconds; each formula found is
then polished, refitted and snapped like any other
(:func:`kanscience.discover._polish.candidates_from`).
"""

from __future__ import annotations

import time
from typing import Any

import sympy
from torch import Tensor

from ..symbolic import sparse_sum_fit
from ._polish import candidates_from
from ._search import Search
from ._structure import Context, Structure

__all__ = ["SparseSum"]


class SparseSum(Structure):
    """``c0 + sum_k c_k f_k(x_{i_k})`` with at most ``max_terms`` library terms (each one
    function of one input, or a product of two of different inputs), on ``y`` and, for a
    one-signed target, on ``log |y|``, ``y^2`` and ``1 / y``; applies to every problem.

    Parameters
    ----------
    max_terms : int
        Largest number of terms of a sum.
    """

    name = "sparse-sum"

    def __init__(self, max_terms: int = 3) -> None:
        self.max_terms = max_terms

    def applies(self, context: Context) -> bool:
        return context.n >= 1

    def _targets(self, search: Search, context: Context) -> list[tuple[Tensor, Tensor, Any, str]]:
        """(inputs, target, sympy inverse, source) of ``y`` and, when usable, ``log |y|``
        (on the rows where it is signal, for a target of one sign only up to noise)."""
        x, y = search.fit_x, search.fit_y
        targets = [(x, y, lambda e: e, self.name)]
        if context.has_log:
            _, target, inverse, sign = context.transforms[1]
            rows = x if context.rows is None else x[context.rows]
            targets.append((rows, target, inverse, f"{self.name}(log)"))
            if context.rows is None:  # one-signed throughout: a power of a sparse sum
                targets.append((x, y**2, lambda e, s=sign: s * sympy.sqrt(e), f"{self.name}(y^2)"))
                targets.append((x, 1 / y, lambda e: 1 / e, f"{self.name}(1/y)"))
        return targets

    def propose_and_fit(self, search: Search, context: Context) -> None:
        start = time.perf_counter()
        for x, target, inverse, source in self._targets(search, context):
            if search.time_left() <= 0:
                break
            fit = sparse_sum_fit(
                x, target, search.library, max_terms=self.max_terms, interactions=True
            )
            if fit.terms:
                candidates_from(search, inverse(fit.expression(search.symbols)), source)
        search.log.append(f"{self.name}: {time.perf_counter() - start:.1f}s")
