"""Closed forms of the conserved quantities that :func:`find_conserved_quantities` learned.

The edges of the accepted KANs give candidate terms
(:func:`kanscience.physics.edge_candidates`, monomials for polynomial edges);
with the coordinates' monomials up to ``degree`` they form a term library, and every
*minimal* combination ``sum w_k phi_k`` with ``sum w_k grad phi_k . f = 0`` is found by
:func:`kanscience.physics.sparse_null_vectors` (the coefficients come from the flow,
not from the KAN). Snapped and scaled, a maximal functionally independent set of them
(simplest first) is returned and checked on fresh states.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import sympy
import torch
from torch import Tensor

from ._candidates import edge_candidates
from ._conservation import FlowLike, _flow_values, conservation_residual, gradient_rank
from ._expressions import combine_terms, expression_gradient, term_matrix
from ._snap import normalize_scale, snap_expression
from ._sparse import sparse_null_vectors
from ._term_library import independent_terms, polynomial_terms, unique_terms

if TYPE_CHECKING:  # the result type only: the workflow module imports this one
    from ._conserved import ConservedQuantities


def _term_gradients(terms: list[sympy.Expr], symbols: list[sympy.Symbol], x: Tensor) -> Tensor:
    """(n, n_terms, d) gradients of the terms."""
    return torch.stack([expression_gradient(t, symbols, x) for t in terms], 1)


def _library(
    result: ConservedQuantities,
    x: Tensor,
    symbols: list[sympy.Symbol],
    degree: int,
    extra: Sequence[sympy.Expr],
) -> list[sympy.Expr]:
    terms: list[sympy.Expr] = polynomial_terms(symbols, degree) if degree else []
    for model, inputs in zip(result.models, result.feature_terms):
        u = term_matrix(inputs, symbols, x)
        names = [sympy.Symbol(f"_u{k}", real=True) for k in range(len(inputs))]
        per_edge = edge_candidates(model, u, names)
        substitution = dict(zip(names, inputs))
        for candidates in per_edge:
            for candidate in candidates:
                terms.extend(sympy.expand(t.xreplace(substitution)) for t in candidate.terms)
    terms.extend(sympy.sympify(t) for t in extra)
    return independent_terms(unique_terms(terms, symbols), symbols, x)


def _formulas(
    result: ConservedQuantities,
    flow: FlowLike,
    x: Tensor,
    f: Tensor,
    test: Tensor,
    symbols: list[sympy.Symbol],
    degree: int,
    extra: Sequence[sympy.Expr],
    formula_tol: float,
    check_tol: float,
    rank_tol: float,
    n_verify: int,
    verify_ranges: Sequence[tuple[float, float]] | None,
    generator: torch.Generator,
) -> None:
    terms = _library(result, x, symbols, degree, extra)
    if not terms:
        return
    grads = _term_gradients(terms, symbols, x)  # (n, m, d)
    operator = torch.einsum("nmd,nd->nm", grads, f)
    complexity = [sympy.count_ops(t) + len(t.free_symbols) for t in terms]
    found = sparse_null_vectors(operator, tol=formula_tol, complexity=complexity)
    expressions, fitted = [], []
    for vector, support in zip(found.vectors, found.supports):
        expr = combine_terms([(sympy.Float(float(vector[k]), 15), terms[k]) for k in support])
        fitted.append(normalize_scale(expr, symbols))
        expressions.append(snap_expression(fitted[-1])[0])
    result.all_expressions = expressions

    # fresh states for the check
    if callable(flow) and n_verify:
        lo, hi = (
            (x.min(0).values, x.max(0).values)
            if verify_ranges is None
            else (
                torch.tensor([r[0] for r in verify_ranges], dtype=torch.float64),
                torch.tensor([r[1] for r in verify_ranges], dtype=torch.float64),
            )
        )
        fresh = lo + (hi - lo) * torch.rand(
            n_verify, x.shape[1], generator=generator, dtype=torch.float64
        )
        fresh_f = _flow_values(flow, fresh)
    else:
        fresh, fresh_f = x[test], f[test]
    order = sorted(
        range(len(expressions)),
        key=lambda k: (sympy.count_ops(expressions[k]), sympy.default_sort_key(expressions[k])),
    )
    chosen, chosen_fitted, chosen_grads, residuals = [], [], [], []
    for k in order:
        if len(chosen) >= result.count:
            break
        grad = _term_gradients([expressions[k]], symbols, fresh)[:, 0]
        residual = conservation_residual(grad, fresh_f)
        if not residual < check_tol:
            continue
        rank, _ = gradient_rank(torch.stack(chosen_grads + [grad], 1), rank_tol)
        if rank == len(chosen) + 1:
            chosen.append(expressions[k])
            chosen_fitted.append(fitted[k])
            chosen_grads.append(grad)
            residuals.append(residual)
    result.expressions, result.fitted, result.residuals = chosen, chosen_fitted, residuals
    result.rank = gradient_rank(torch.stack(chosen_grads, 1), rank_tol)[0] if chosen_grads else 0
