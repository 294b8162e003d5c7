"""Candidate terms of a law, read off a trained KAN.

A one-layer KAN ``[n, 1]`` computes ``sum_i phi_i(x_i)``: each edge is a 1-D function and
:func:`kanscience.symbolic.fit_affine` ranks library functions ``c * g(a x + b) + d``
for it. Instead of committing to the best function of each edge, :func:`edge_candidates`
keeps the top few as *terms* ``g(a x + b)`` (outer ``c`` and ``d`` dropped: a linear solve
of the physics criterion finds them later, see :mod:`kanscience.physics._sparse`), with the
inner constants normalized and snapped:

* power functions and ``log`` are made scale free, ``g(a x + b) ~ g(k x + sign(b))``,
  ``exp(a x + b) ~ exp(a x)``, before ``k`` (or ``a``) is snapped;
* polynomials ``x^n`` become the monomials ``x, ..., x^n`` (no inner constants at all);
* even edges are also tried as functions of ``x^2``: ``g(a x^2 + b)`` (e.g.
  ``sqrt(1 - v^2)``, which no library function of ``a v + b`` gives);
* candidates whose argument barely varies on the data (Taylor stand-ins) or that are not
  finite there are dropped, and every live edge also offers its input itself.

The resulting term lists are cleaned by :mod:`kanscience.physics._term_library`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import sympy
import torch
from torch import Tensor

from ..core import KAN, trace
from ..core._functions import LibraryLike, resolve_library
from ..symbolic import fit_affine, formula_to_torch, symbolic_score
from ._expressions import as_symbols
from ._snap import snap_number

__all__ = [
    "DEFAULT_COMPOSITES",
    "DEFAULT_EDGE_FUNCTIONS",
    "Candidate",
    "edge_candidates",
]

#: Functions tried on every edge (names of :data:`kanscience.DEFAULT_LIBRARY`).
DEFAULT_EDGE_FUNCTIONS: tuple[str, ...] = (
    "x",
    "x^2",
    "x^3",
    "x^4",
    "1/x",
    "1/x^2",
    "sqrt",
    "1/sqrt(x)",
    "exp",
    "log",
    "sin",
    "cos",
    "tanh",
    "arctan",
    "cosh",
)
#: Functions tried as ``g(a x^2 + b)`` on even edges.
DEFAULT_COMPOSITES: tuple[str, ...] = ("sqrt", "1/sqrt(x)", "1/x", "log", "exp")

_POWERS = {
    "x": 1,
    "x^2": 2,
    "x^3": 3,
    "x^4": 4,
    "x^5": 5,
    "1/x": -1,
    "1/x^2": -2,
    "1/x^3": -3,
    "1/x^4": -4,
    "1/x^5": -5,
    "sqrt": 0.5,
    "x^0.5": 0.5,
    "x^1.5": 1.5,
    "1/sqrt(x)": -0.5,
    "1/x^0.5": -0.5,
}
_POLYNOMIAL = {"x": 1, "x^2": 2, "x^3": 3, "x^4": 4, "x^5": 5}


@dataclass(frozen=True)
class Candidate:
    """One candidate term for an edge.

    Attributes
    ----------
    terms : tuple of sympy.Expr
        The term(s) the edge function contributes (several for a polynomial).
    name : str
        Library function (``'sqrt(x^2)'`` for a composite of ``sqrt`` with ``x^2``).
    variable : int
        Input index of the edge.
    r2 : float
        Quality of the edge fit.
    complexity : int
    exact : bool
        Whether every inner constant snapped to an exact value.
    """

    terms: tuple[sympy.Expr, ...]
    name: str
    variable: int
    r2: float
    complexity: int
    exact: bool


def _snap(value: float, tol: float, max_denominator: int) -> tuple[sympy.Expr, bool]:
    snapped = snap_number(value, tol, max_denominator)
    return (snapped, True) if snapped is not None else (sympy.Float(value, 8), False)


def _inner(
    record_name: str,
    a: float,
    b: float,
    u: sympy.Expr,
    scale: float,
    tol: float,
    max_denominator: int,
) -> tuple[sympy.Expr, bool, float]:
    """The argument of ``g``, normalized and snapped (``scale`` = typical |u|), whether all
    its constants snapped, and its slope in ``u``."""
    if abs(b) <= tol * abs(a) * scale:
        b = 0.0
    if record_name in _POWERS or record_name == "log":
        if b == 0.0:  # g(a u) ~ g(sign(a) u)
            return sympy.sign(a) * u, True, 1.0
        k, exact = _snap(a / abs(b), tol, max_denominator)
        return k * u + int(math.copysign(1, b)), exact, a / abs(b)
    if record_name == "exp":
        a_s, exact = _snap(a, tol, max_denominator)
        return a_s * u, exact, a
    a_s, exact_a = _snap(a, tol, max_denominator)
    if b == 0.0:
        return a_s * u, exact_a, a
    b_s, exact_b = _snap(b, tol, max_denominator)
    return a_s * u + b_s, exact_a and exact_b, a


def _terms(
    record,
    name: str,
    a: float,
    b: float,
    u: sympy.Expr,
    symbol: sympy.Symbol,
    scale: float,
    tol: float,
    max_denominator: int,
    u_span: float,
    min_span: float,
) -> tuple[tuple[sympy.Expr, ...], bool]:
    if name in _POLYNOMIAL and u == symbol:
        return tuple(symbol**n for n in range(1, _POLYNOMIAL[name] + 1)), True
    inner, exact, slope = _inner(name, a, b, u, scale, tol, max_denominator)
    if abs(slope) * u_span < min_span:  # g barely varies: a Taylor stand-in for a polynomial
        return (), False
    term = sympy.expand(record.sympy_fn(inner))
    # a polynomial of u (e.g. (v^2 + 1)^2 from a composite): its monomials
    if term.is_polynomial(symbol):
        monomials = [t for t in sympy.Poly(term, symbol).monoms() if t[0] > 0]
        return tuple(symbol ** m[0] for m in sorted(monomials)), exact
    return (term,), exact


def _finite_on(terms: Sequence[sympy.Expr], symbol: sympy.Symbol, values: Tensor) -> bool:
    """Whether every term is finite at every sample (snapping can move a singularity)."""
    return all(
        bool(torch.isfinite(formula_to_torch(t, [symbol])(values[:, None])).all()) for t in terms
    )


def edge_candidates(
    model: KAN,
    x: Tensor,
    variables: Sequence[str | sympy.Symbol],
    functions: LibraryLike = DEFAULT_EDGE_FUNCTIONS,
    composites: LibraryLike | None = DEFAULT_COMPOSITES,
    topk: int = 3,
    r2_min: float = 0.99,
    weight_simple: float = 0.1,
    remove_linear: Sequence[int] = (),
    output: int = 0,
    snap_tol: float = 0.03,
    max_denominator: int = 4,
    dead_edge: float = 1e-3,
    exact_only: bool = True,
    min_span: float = 0.2,
    max_samples: int = 512,
    linear_fallback: bool = True,
) -> list[list[Candidate]]:
    """Ranked candidate terms for every edge of a one-layer KAN.

    Parameters
    ----------
    model : KAN
        A one-layer model (``model.depth == 1``).
    x : Tensor (batch, n_in)
        Inputs on which the edges are traced.
    variables : list of str or sympy.Symbol
        Names of the inputs.
    functions : library specification
        Functions ``g(a x + b)`` tried on every edge.
    composites : library specification or None
        Functions tried as ``g(a x^2 + b)`` (None: none).
    topk : int
        Candidates kept per edge (those with ``r2 >= r2_min``).
    r2_min : float
    weight_simple : float
        Ranking weight of complexity (see :func:`kanscience.symbolic.symbolic_score`).
    remove_linear : sequence of int
        Inputs whose edges' least-squares linear part is removed before fitting (for
        velocities in a Lagrangian, where a linear term is a total derivative).
    output : int
        Output node whose edges are read.
    snap_tol, max_denominator : float, int
        Snapping of the inner constants (see :func:`kanscience.physics.snap_number`).
    dead_edge : float
        Edges whose standard deviation is below this fraction of the largest edge's get
        no candidate.
    exact_only : bool
        Keep only candidates whose inner constants all snapped.
    min_span : float
        Non-polynomial candidates whose argument ``a x + b`` spans less than this on the
        data are dropped (over so small a range ``g`` is a Taylor stand-in for a
        polynomial, and the fit of ``a`` is meaningless).
    max_samples : int
        Quantile-spaced samples per edge used for the fits (all edges in one
        :func:`~kanscience.symbolic.fit_affine` call per library).
    linear_fallback : bool
        Also offer the input itself for every live edge (the simplest guess, and the one
        an under-trained spline most often hides).

    Returns
    -------
    list of list of Candidate
        One ranked list per input (empty for a dead edge); the linear fallback, if added,
        comes last with ``r2 = nan``.
    """
    if not isinstance(model, KAN):
        raise TypeError(f"model must be a kanscience.KAN, got {type(model).__name__}")
    if model.depth != 1:
        raise ValueError(f"edge_candidates needs a one-layer KAN, got depth {model.depth}")
    symbols = as_symbols(variables)
    if len(symbols) != model.n_in:
        raise ValueError(f"variables must name {model.n_in} inputs, got {len(symbols)}")
    if not 0 <= output < model.n_out:
        raise ValueError(f"output must be in [0, {model.n_out}), got {output!r}")
    library = resolve_library(functions)
    composite_library = resolve_library(composites) if composites is not None else None
    x = x.detach().to(torch.float64)
    with torch.no_grad():
        layer = trace(model.copy().to(torch.float64), x)[0]
    activations = layer.activations[:, :, output]
    if model.width_out[1] != model.n_out:
        raise ValueError("edge_candidates needs a model without multiplication nodes")
    std = activations.std(0)
    live = [i for i in range(len(symbols)) if float(std[i]) > dead_edge * float(std.max())]
    if x.shape[0] > max_samples:  # quantile-spaced subsample of each edge keeps the shape
        pick = torch.linspace(0, x.shape[0] - 1, max_samples).round().long()
        order = torch.argsort(x, dim=0)[pick]
        xs = torch.gather(x, 0, order)
        ys = torch.gather(activations, 0, order)
    else:
        xs, ys = x, activations
    inputs, outputs = xs[:, live].T.contiguous(), ys[:, live].T.contiguous()
    for row, i in enumerate(live):
        if i in remove_linear:
            design = torch.stack([inputs[row], torch.ones_like(inputs[row])], 1)
            slope = torch.linalg.lstsq(design, outputs[row][:, None]).solution[0, 0]
            outputs[row] = outputs[row] - slope * inputs[row]
    options = [(library, inputs, 0)]
    if composite_library is not None:
        options.append((composite_library, inputs**2, 1))
    ranked: dict[int, list] = {i: [] for i in live}
    for lib, edge_inputs, extra in options:
        if not live:
            break
        fit = fit_affine(edge_inputs, outputs, lib)
        complexity = torch.tensor(
            [lib[n].complexity + extra for n in lib.names], dtype=torch.float64
        )
        for row, i in enumerate(live):
            symbol = symbols[i]
            u = symbol**2 if extra else symbol
            span = float(edge_inputs[row].max() - edge_inputs[row].min())
            scale = float(edge_inputs[row].abs().max())
            scores = symbolic_score(fit.r2[:, row], complexity, weight_simple)
            for k, name in enumerate(lib.names):
                r2 = float(fit.r2[k, row])
                if not math.isfinite(r2) or name == "0":
                    continue
                a, b = (float(v) for v in fit.params[k, row, :2])
                terms, exact = _terms(
                    lib[name],
                    name,
                    a,
                    b,
                    u,
                    symbol,
                    scale,
                    snap_tol,
                    max_denominator,
                    span,
                    min_span,
                )
                if (
                    not terms
                    or (exact_only and not exact)
                    or not _finite_on(terms, symbol, x[:, i])
                ):
                    continue
                label = name if not extra else f"{name}(x^2)"
                ranked[i].append(
                    (float(scores[k]), Candidate(terms, label, i, r2, int(complexity[k]), exact))
                )
    result: list[list[Candidate]] = []
    for i in range(len(symbols)):
        kept, seen = [], set()
        for _, candidate in sorted(ranked.get(i, []), key=lambda item: item[0]):
            if candidate.terms in seen or candidate.r2 < r2_min:
                continue
            seen.add(candidate.terms)
            kept.append(candidate)
            if len(kept) >= topk:
                break
        if i in live and (symbols[i],) not in seen and linear_fallback:
            kept.append(Candidate((symbols[i],), "x", i, float("nan"), 1, True))
        result.append(kept)
    return result
