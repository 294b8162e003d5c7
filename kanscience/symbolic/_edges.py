"""Symbolic regression of KAN edges: ``edge(x) ~ c * f(a * x + b) + d``.

The fits come from :func:`kanscience.symbolic.fit_affine` (every candidate function for
every edge at once, float64), ranked by :func:`kanscience.symbolic.symbolic_score`.

:func:`suggest_symbolic` ranks the functions for one edge, :func:`auto_symbolic` fixes all
spline edges of a model, :func:`fix_symbolic` / :func:`unfix_symbolic` edit one edge.
Activations always come from :func:`kanscience.core.trace` on the data passed in.

Ranking score (pykan's, lower is better)::

    score = (1 - weight_simple) * log2(1 + 1e-5 - r2) + weight_simple * complexity
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor

from ..core import KAN, ZERO_FUNCTION, trace
from ..core._functions import (
    FunctionLibrary,
    LibraryLike,
    SymbolicFunction,
    get_function,
    resolve_library,
)
from ._affine import AffineFit, fit_affine, symbolic_score

__all__ = [
    "AutoSymbolicResult",
    "EdgeChoice",
    "Suggestion",
    "auto_symbolic",
    "auto_symbolic_",
    "fix_symbolic",
    "fix_symbolic_",
    "suggest_symbolic",
    "unfix_symbolic",
    "unfix_symbolic_",
]


# ---------------------------------------------------------------- model level
@dataclass(frozen=True)
class Suggestion:
    """One ranked candidate for an edge: ``c * f(a * x + b) + d`` with ``f`` = ``name``."""

    name: str
    r2: float
    complexity: int
    score: float
    params: tuple[float, float, float, float]


@dataclass(frozen=True)
class EdgeChoice:
    """What :func:`auto_symbolic` did to edge ``(layer, i, j)``.

    ``status`` is ``'fixed'`` (set to ``name``), ``'kept'`` (already symbolic) or
    ``'below_threshold'`` (left numeric: best ``r2`` under ``r2_threshold``);
    ``suggestions`` holds the ranked candidates (empty for ``'kept'``).
    """

    layer: int
    i: int
    j: int
    status: str
    name: str
    r2: float
    complexity: int
    params: tuple[float, float, float, float]
    suggestions: tuple[Suggestion, ...] = ()


class AutoSymbolicResult(NamedTuple):
    """``(model, report)`` from :func:`auto_symbolic`."""

    model: KAN
    report: tuple[EdgeChoice, ...]


def _check_model(model: object) -> None:
    if not isinstance(model, KAN):
        raise TypeError(f"model must be a kanscience.KAN, got {type(model).__name__}")


def _library_for(model: KAN, lib: LibraryLike) -> FunctionLibrary:
    return model.library if lib is None else resolve_library(lib)


def _edge_data(
    model: KAN, x: Tensor, edges: Sequence[tuple[int, int, int]]
) -> tuple[Tensor, Tensor]:
    """Inputs and whole activations of ``edges`` on ``x``, each (n_edges, batch) float64."""
    if not isinstance(x, Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    x = model.check_input(x)
    reference = copy.deepcopy(model).to(torch.float64)
    with torch.no_grad():
        traces = trace(reference, x.detach().to(torch.float64))
    inputs = torch.stack([traces[l].inputs[:, i] for l, i, _ in edges])
    outputs = torch.stack([traces[l].activations[:, i, j] for l, i, j in edges])
    return inputs, outputs


def _quadruple(params: Tensor) -> tuple[float, float, float, float]:
    a, b, c, d = (float(v) for v in params)
    return a, b, c, d


def _rank(
    lib: FunctionLibrary, fit: AffineFit, column: int, weight_simple: float
) -> list[Suggestion]:
    names = lib.names
    complexity = torch.tensor([lib[n].complexity for n in names], dtype=torch.float64)
    r2 = fit.r2[:, column]
    scores = symbolic_score(r2, complexity, weight_simple)
    order = sorted(range(len(names)), key=lambda k: (float(scores[k]), k))
    return [
        Suggestion(
            names[k],
            float(r2[k]),
            int(complexity[k]),
            float(scores[k]),
            _quadruple(fit.params[k, column]),
        )
        for k in order
    ]


def suggest_symbolic(
    model: KAN,
    x: Tensor,
    layer: int,
    i: int,
    j: int,
    lib: LibraryLike = None,
    topk: int = 5,
    weight_simple: float = 0.8,
    a_range: Sequence[float] = (-10.0, 10.0),
    b_range: Sequence[float] = (-10.0, 10.0),
    **fit_options,
) -> list[Suggestion]:
    """Rank the library's functions for edge ``(layer, i, j)`` by :func:`symbolic_score`.

    The edge's whole activation on ``x`` (spline and any symbolic part) is fitted.

    Parameters
    ----------
    model : KAN
    x : Tensor (batch, n_in)
    layer, i, j : int
        Layer, input node and output subnode of the edge.
    lib : library specification, optional
        Candidates (default: the model's library).
    topk : int
        Number of suggestions returned (best first).
    weight_simple : float in [0, 1]
    a_range, b_range, **fit_options
        Passed to :func:`fit_affine`.

    Returns
    -------
    list of Suggestion
    """
    _check_model(model)
    model.check_edge(layer, i, j)
    if not 0.0 <= weight_simple <= 1.0:
        raise ValueError(f"weight_simple must be in [0, 1], got {weight_simple!r}")
    if isinstance(topk, bool) or not isinstance(topk, int) or topk < 1:
        raise ValueError(f"topk must be an int >= 1, got {topk!r}")
    library = _library_for(model, lib)
    inputs, outputs = _edge_data(model, x, [(layer, i, j)])
    fit = fit_affine(inputs, outputs, library, a_range, b_range, **fit_options)
    return _rank(library, fit, 0, weight_simple)[:topk]


def _ensure_library(model: KAN, records: Iterable[SymbolicFunction]) -> None:
    """Add records missing from the model's library (on a model we own)."""
    missing = [r for r in records if r.name not in model.library or model.library[r.name] is not r]
    if not missing:
        return
    library = model.library.with_functions(*missing)
    model.library = library
    for kan_layer in model.layers:
        kan_layer.library = library


@torch.no_grad()
def _fix(model: KAN, layer: int, i: int, j: int, name: str, params: Sequence[float]) -> None:
    """Set an edge symbolic (in place); a constant ``'0'`` edge moves its ``d`` to the bias."""
    a, b, c, d = (float(v) for v in params)
    if name == ZERO_FUNCTION:
        bias = model.subnode_bias[layer]
        bias[j] = bias[j] + model.subnode_scale[layer][j] * d
        a, b, c, d = 1.0, 0.0, 0.0, 0.0
    model.set_symbolic_(layer, i, j, name, affine=(a, b, c, d), mode="s")


def auto_symbolic_(
    model: KAN,
    x: Tensor,
    lib: LibraryLike = None,
    weight_simple: float = 0.8,
    r2_threshold: float = 0.0,
    a_range: Sequence[float] = (-10.0, 10.0),
    b_range: Sequence[float] = (-10.0, 10.0),
    topk: int = 5,
    **fit_options,
) -> tuple[EdgeChoice, ...]:
    """In-place :func:`auto_symbolic`; returns the report. On error the model is unchanged."""
    _check_model(model)
    if not 0.0 <= weight_simple <= 1.0:
        raise ValueError(f"weight_simple must be in [0, 1], got {weight_simple!r}")
    library = _library_for(model, lib)
    edges, kept = [], []
    for layer, kan_layer in enumerate(model.layers):
        numeric = (kan_layer.mask != 0).nonzero().tolist()
        edges.extend((layer, i, j) for i, j in numeric)
        symbolic = ((kan_layer.symbolic_mask != 0) & (kan_layer.mask == 0)).nonzero().tolist()
        kept.extend((layer, i, j) for i, j in symbolic)
    report: list[EdgeChoice] = []
    for layer, i, j in kept:
        affine = tuple(model.layers[layer].symbolic_affine[i, j].tolist())
        name = model.layers[layer].symbolic_names[i][j]
        complexity = model.library[name].complexity if name in model.library else 0
        report.append(EdgeChoice(layer, i, j, "kept", name, math.nan, complexity, affine))
    if edges:
        inputs, outputs = _edge_data(model, x, edges)
        fit = fit_affine(inputs, outputs, library, a_range, b_range, **fit_options)
        choices = []
        for column, (layer, i, j) in enumerate(edges):
            ranked = _rank(library, fit, column, weight_simple)
            best = ranked[0]
            status = (
                "fixed"
                if best.r2 >= r2_threshold and math.isfinite(best.score)
                else "below_threshold"
            )
            choices.append(
                EdgeChoice(
                    layer,
                    i,
                    j,
                    status,
                    best.name,
                    best.r2,
                    best.complexity,
                    best.params,
                    tuple(ranked[:topk]),
                )
            )
        _ensure_library(model, library.values())
        for choice in choices:
            if choice.status == "fixed":
                _fix(model, choice.layer, choice.i, choice.j, choice.name, choice.params)
        report.extend(choices)
    report.sort(key=lambda c: (c.layer, c.i, c.j))
    return tuple(report)


def auto_symbolic(
    model: KAN,
    x: Tensor,
    lib: LibraryLike = None,
    weight_simple: float = 0.8,
    r2_threshold: float = 0.0,
    a_range: Sequence[float] = (-10.0, 10.0),
    b_range: Sequence[float] = (-10.0, 10.0),
    topk: int = 5,
    **fit_options,
) -> AutoSymbolicResult:
    """A new model with every spline edge replaced by its best symbolic function.

    Every edge with an active spline part is fitted on ``x`` (all edges of all layers in
    one :func:`fit_affine` call, from a single trace) and set to the function with the
    lowest :func:`symbolic_score`, unless its ``r2`` is below ``r2_threshold``. Edges that
    are already purely symbolic are kept; edges switched off stay off. When ``'0'`` wins,
    the edge's mean on ``x`` is moved into its subnode bias. The affine parameters stay
    trainable, so :func:`kanscience.fit` can polish them afterwards.

    Parameters
    ----------
    model : KAN
    x : Tensor (batch, n_in)
    lib : library specification, optional
        Candidate functions (default: the model's library).
    weight_simple : float in [0, 1]
    r2_threshold : float
    a_range, b_range, **fit_options
        Passed to :func:`fit_affine`.
    topk : int
        Suggestions kept per edge in the report.

    Returns
    -------
    AutoSymbolicResult
        ``(model, report)``; ``report`` has one :class:`EdgeChoice` per edge considered.

    Examples
    --------
    >>> model = KAN([1, 1], seed=0, dtype=torch.float64)
    >>> model.set_symbolic_(0, 0, 0, "sin", (2.0, 0.5, 1.5, 0.0), mode="n")  # spline + sin
    >>> x = torch.linspace(-1, 1, 101, dtype=torch.float64)[:, None]
    >>> new, report = auto_symbolic(model, x, lib=["x", "sin", "x^2"])
    >>> report[0].status, new.layers[0].symbolic_names[0][0] in ("x", "sin", "x^2")
    ('fixed', True)
    """
    _check_model(model)
    new = copy.deepcopy(model)
    report = auto_symbolic_(
        new, x, lib, weight_simple, r2_threshold, a_range, b_range, topk, **fit_options
    )
    return AutoSymbolicResult(new, report)


def fix_symbolic_(
    model: KAN,
    x: Tensor | None,
    layer: int,
    i: int,
    j: int,
    name: str | SymbolicFunction,
    a_range: Sequence[float] = (-10.0, 10.0),
    b_range: Sequence[float] = (-10.0, 10.0),
    **fit_options,
) -> Suggestion | None:
    """Set edge ``(layer, i, j)`` to ``name`` in place, fitting ``(a, b, c, d)`` on ``x``.

    With ``x=None`` the affine parameters are ``(1, 0, 1, 0)`` and ``None`` is returned;
    otherwise the fit (a :class:`Suggestion`, score with ``weight_simple = 0.8``).
    """
    _check_model(model)
    model.check_edge(layer, i, j)
    record = name if isinstance(name, SymbolicFunction) else get_function(name, model.library)
    if x is None:
        _ensure_library(model, [record])
        _fix(model, layer, i, j, record.name, (1.0, 0.0, 1.0, 0.0))
        return None
    inputs, outputs = _edge_data(model, x, [(layer, i, j)])
    fit = fit_affine(inputs, outputs, [record], a_range, b_range, **fit_options)
    suggestion = _rank(FunctionLibrary([record]), fit, 0, 0.8)[0]
    if not math.isfinite(suggestion.r2):
        raise ValueError(
            f"{record.name!r} cannot be evaluated on the inputs of edge "
            f"({layer}, {i}, {j}) for any (a, b) in the ranges"
        )
    _ensure_library(model, [record])
    _fix(model, layer, i, j, record.name, suggestion.params)
    return suggestion


def fix_symbolic(
    model: KAN,
    x: Tensor | None,
    layer: int,
    i: int,
    j: int,
    name: str | SymbolicFunction,
    **options,
) -> KAN:
    """A new model with edge ``(layer, i, j)`` set to ``name`` (see :func:`fix_symbolic_`)."""
    _check_model(model)
    new = copy.deepcopy(model)
    fix_symbolic_(new, x, layer, i, j, name, **options)
    return new


def unfix_symbolic_(model: KAN, layer: int, i: int, j: int) -> None:
    """Return edge ``(layer, i, j)`` to a spline edge, in place."""
    _check_model(model)
    model.check_edge(layer, i, j)
    model.unset_symbolic_(layer, i, j)


def unfix_symbolic(model: KAN, layer: int, i: int, j: int) -> KAN:
    """A new model with edge ``(layer, i, j)`` back to a spline edge."""
    _check_model(model)
    model.check_edge(layer, i, j)
    new = copy.deepcopy(model)
    new.unset_symbolic_(layer, i, j)
    return new
