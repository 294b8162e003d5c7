"""Invariants as combinations of candidate terms, fitted under the conservation loss.

The formulas from the symbolic search fit the *network*; conservation is a property of
the *flow*. So from their terms:

1. the minimal-support near-null vectors of the matrix ``grad t_k . f``
   (:func:`sparse_null_vectors`, cheapest terms first) give the combinations that may be
   conserved; a sum of several invariants (``a H1 + b H2``, whose ratio conservation
   cannot fix) splits into them; a combination that fails the check below is a pair of
   near-collinear terms (``exp(0.46 x)`` and ``exp(4 x / 9)``), and the costlier of its
   terms leaves the library before the search is repeated;
2. the numbers inside a combination's terms (``a`` in ``sqrt(x^2 + a)``) are refitted
   jointly with its coefficients by L-BFGS on the scale-free :func:`conservation_loss` (a
   Rayleigh quotient: the overall scale is its null direction and a constant drops out);
3. the scale inside each power of a sum is moved outside (:func:`unit_inner_scales`), the
   gauge ``a Q + b`` is fixed by normalization (first term's coefficient 1, no
   constant), the constants are snapped to simple numbers (within 1%), and the law is
   kept when its conservation residual is below the tolerance: the snapped form when its
   residual is no worse than twice the fitted one's, else the fitted form.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import sympy
import torch
from torch import Tensor

from ..symbolic import formula_to_torch
from ._conservation import conservation_loss, conservation_residual
from ._expressions import combine_terms, expression_gradient
from ._snap import normalize_scale, snap_expression
from ._sparse import sparse_null_vectors

__all__ = ["RefitLaw", "conserved_combinations", "law_residual", "unit_inner_scales"]

_NULL_TOL = 1e-2  # candidates for the refit: near-null below this (normalized)


@dataclass(frozen=True)
class RefitLaw:
    """One conserved combination: the ``law`` (normalized and snapped), the ``fitted`` form
    before snapping, and the conservation ``residual`` of the law on the refit states."""

    law: sympy.Expr
    fitted: sympy.Expr
    residual: float


def _inner_constants(terms: list[sympy.Expr]) -> list[sympy.Float]:
    found: list[sympy.Float] = []
    for term in terms:
        for number in sorted(term.atoms(sympy.Float), key=sympy.default_sort_key):
            if number not in found:
                found.append(number)
    return found


def _term_gradients(
    terms: list[sympy.Expr],
    symbols: list[sympy.Symbol],
    constants: list[sympy.Symbol],
    x: Tensor,
    values: Tensor,
) -> Tensor:
    """(n, n_terms, d) gradients of the terms in ``x``, differentiable in ``values``."""
    inputs = x.detach().clone().requires_grad_(True)
    columns = torch.cat([inputs, values.expand(x.shape[0], -1)], 1)
    gradients = []
    with torch.enable_grad():
        for term in terms:
            out = formula_to_torch(term, [*symbols, *constants])(columns)
            if not out.requires_grad:
                gradients.append(torch.zeros_like(x))
                continue
            (gradient,) = torch.autograd.grad(
                out.sum(), inputs, create_graph=values.requires_grad, allow_unused=True
            )
            gradients.append(torch.zeros_like(x) if gradient is None else gradient)
    return torch.stack(gradients, 1)


def _refit_inner(
    terms: list[sympy.Expr],
    weights: Tensor,
    symbols: list[sympy.Symbol],
    x: Tensor,
    f: Tensor,
    steps: int,
) -> tuple[list[sympy.Expr], Tensor]:
    """Refit the numbers inside ``terms`` and the ``weights`` jointly (L-BFGS)."""
    numbers = _inner_constants(terms)
    if not numbers:
        return terms, weights
    names = [sympy.Symbol(f"_c{k}", real=True) for k in range(len(numbers))]
    templates = [cast(sympy.Expr, t.xreplace(dict(zip(numbers, names)))) for t in terms]
    values = torch.tensor([float(c) for c in numbers], dtype=torch.float64)[None, :]
    values.requires_grad_(True)
    w = weights.clone().requires_grad_(True)
    optimizer = torch.optim.LBFGS(
        [values, w],
        max_iter=steps,
        tolerance_grad=1e-15,
        tolerance_change=1e-20,
        line_search_fn="strong_wolfe",
    )

    def closure() -> Tensor:
        optimizer.zero_grad()
        grads = _term_gradients(templates, symbols, names, x, values)
        loss = conservation_loss(torch.einsum("nkd,k->nd", grads, w), f)
        loss.backward()
        return loss

    before = float(closure().detach())
    try:
        optimizer.step(closure)
    except RuntimeError:  # a refit that leaves the terms' domain: keep the original
        return terms, weights
    after = float(closure().detach())
    if not (after < before and torch.isfinite(values).all()):
        return terms, weights
    fitted = {name: sympy.Float(float(v), 15) for name, v in zip(names, values[0].detach())}
    return [cast(sympy.Expr, t.xreplace(fitted)) for t in templates], w.detach()


def unit_inner_scales(expr: sympy.Expr) -> sympy.Expr:
    """``expr`` with the base of each power that is a sum with a positive numerical
    coefficient on its first variable term divided by that coefficient, the factor moved
    outside: ``c / sqrt(a x^2 + a b)`` becomes ``c a^(-1/2) / sqrt(x^2 + b)``. The same law;
    its constants become the ones that snap (a fit leaves the scale inside the power
    undetermined against the coefficient outside).

    >>> x = sympy.Symbol("x")
    >>> unit_inner_scales(0.5 / sympy.sqrt(0.04 * x**2 + 0.04))
    2.5/sqrt(1.0*x**2 + 1.0)
    """

    def rescaled(power: sympy.Expr) -> sympy.Expr:
        base, exponent = power.as_base_exp()
        terms = [t for t in sympy.Add.make_args(base) if t.free_symbols]
        if not isinstance(base, sympy.Add) or not terms or exponent.is_Integer:
            return power
        scale = terms[0].as_coeff_Mul()[0]
        if not (scale.is_Float and scale > 0) or scale == 1:
            return power
        inner = sympy.Add(*[t / scale for t in sympy.Add.make_args(base)])
        return cast(sympy.Expr, scale**exponent * inner**exponent)

    return cast(sympy.Expr, expr.replace(lambda e: e.is_Pow, rescaled))


def law_residual(expr: sympy.Expr, symbols: list[sympy.Symbol], x: Tensor, f: Tensor) -> float:
    """Conservation residual (:func:`conservation_residual`) of the formula ``expr`` of
    ``symbols`` on states ``x`` (n, d) with the flow ``f`` there."""
    return conservation_residual(expression_gradient(expr, symbols, x), f)


def _law(
    terms: list[sympy.Expr],
    weights: Tensor,
    symbols: list[sympy.Symbol],
    x: Tensor,
    f: Tensor,
    tol: float,
    steps: int,
) -> RefitLaw | None:
    terms, weights = _refit_inner(terms, weights, symbols, x, f, steps)
    combination = combine_terms([(sympy.Float(float(w), 15), t) for w, t in zip(weights, terms)])
    # numbers as floats (the search writes constants as sums such as 446.8 - 1400.6/pi,
    # which the snap cannot merge), then the scales inside powers moved outside
    fitted = normalize_scale(unit_inner_scales(sympy.N(combination, 15)), symbols)
    residual = law_residual(fitted, symbols, x, f)
    snapped, _ = snap_expression(fitted, rel_tol=1e-2)
    snapped_residual = law_residual(snapped, symbols, x, f)
    if snapped_residual < tol and snapped_residual <= 2 * residual + 1e-12:  # no worse
        return RefitLaw(snapped, fitted, snapped_residual)
    if residual < tol:
        return RefitLaw(fitted, fitted, residual)
    return None


def conserved_combinations(
    terms: list[sympy.Expr],
    symbols: list[sympy.Symbol],
    x: Tensor,
    f: Tensor,
    tol: float,
    steps: int = 50,
    max_support: int = 4,
) -> list[RefitLaw]:
    """The minimal conserved combinations of ``terms``, refitted on the flow ``f`` at
    states ``x`` (see the module docstring).

    Parameters
    ----------
    terms : list of sympy.Expr
        A term library (e.g. the terms of the formulas the symbolic search found for a
        network).
    symbols : list of sympy.Symbol
    x, f : Tensor (n, d)
        States and the flow there.
    tol : float
        Largest conservation residual of a law that counts (and of its snapped form).
    steps : int
        L-BFGS iterations for the numbers inside the terms.
    max_support : int
        Most terms in one combination.

    Returns
    -------
    list of RefitLaw
        Simplest first; empty when no combination of the terms is conserved.
    """
    if not terms:
        return []
    symbols = list(symbols)
    grads = _term_gradients(terms, symbols, [], x, x.new_zeros(1, 0))
    operator = torch.einsum("nkd,nd->nk", grads, f)
    usable = [k for k in range(len(terms)) if bool(torch.isfinite(operator[:, k]).all())]
    if not usable:
        return []
    terms, operator = [terms[k] for k in usable], operator[:, usable]
    if operator.shape[0] > operator.shape[1]:
        # the triangular factor has the operator's column norms and, for every subset of
        # columns, its singular values and right vectors: the same null vectors from
        # (terms x terms) matrices instead of (states x terms) ones
        operator = torch.linalg.qr(operator, mode="r")[1]
    complexity = [float(sympy.count_ops(t)) for t in terms]
    laws: list[RefitLaw] = []
    active = list(range(len(terms)))
    while active:
        found = sparse_null_vectors(
            operator[:, active],
            tol=_NULL_TOL,
            max_support=max_support,
            complexity=[complexity[k] for k in active],
        )
        rejected: set[int] = set()
        for vector, support in zip(found.vectors, found.supports):
            columns = [active[k] for k in support]
            law = _law(
                [terms[k] for k in columns], vector[list(support)], symbols, x, f, tol, steps
            )
            if law is None:  # near-collinear terms, not an invariant: drop the costliest
                rejected.add(max(columns, key=lambda k: (complexity[k], len(str(terms[k])), k)))
            elif all(law.law != other.law for other in laws):
                laws.append(law)
        if not rejected:
            break
        active = [k for k in active if k not in rejected]
    return sorted(laws, key=lambda law: (sympy.count_ops(law.law), sympy.default_sort_key(law.law)))
