"""Candidate formulas of a learned invariant, by the symbolic search used for data.

The network ``Q(x)`` is a surrogate: it is sampled on fresh states inside the data's
domain, split into additive modules (:func:`kanscience.structure.separability` on the
network itself; a KAN learned on the conservation loss is often a sum of functions of
few coordinates), and each module ``Q(x_G, x_rest = reference) - const`` goes to
:func:`kanscience.discover.discover` with its share of the time budget. The candidates are
the terms of every formula on the modules' Pareto fronts (a network fitted to a tolerance
lets the search prefer a formula that follows its wiggles; the conservation loss, not the
fit to the network, decides afterwards which terms combine into an invariant:
:mod:`kanscience.physics._invariant_refit`), with the monomials of each small module.
Network values are smooth and never look like noise, so given the network's accuracy
the search on a module stops once a formula is that close to it
(:func:`module_target`). A module of several coordinates that is a function of one of
the network's derived inputs (``qx^2 + qy^2``) is searched in that one variable
(:mod:`kanscience.physics._invariant_derived`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import cast

import sympy
import torch
from torch import Tensor

from ..discover import discover
from ..structure import separability
from ._invariant_derived import derived_variable
from ._term_library import independent_terms, polynomial_terms, unique_terms

__all__ = ["candidate_terms", "domain_samples"]

# the monomials of a module of at most this many coordinates, up to this degree, join the
# terms: the generic basis of a smooth module (the search ranks formulas by their fit to
# the network and may prefer a curve following its wiggles to a sum of powers)
_POLYNOMIAL_MODULE = 2
_POLYNOMIAL_DEGREE = 4


def domain_samples(
    x: Tensor,
    n: int,
    generator: torch.Generator,
    domain: Callable[[Tensor], Tensor] | None = None,
) -> Tensor:
    """``n`` fresh states inside the data's domain: data states moved by a random step of
    about half their typical spacing (``span * n_data^(-1/d) / 2`` per coordinate), kept in
    the data's bounding box and, when given, where ``domain(states)`` is True.

    Raises
    ------
    ValueError
        If ``domain`` rejects every sample, or does not return one boolean per state.
    """
    lo, hi = x.min(0).values, x.max(0).values
    step = (hi - lo) * x.shape[0] ** (-1.0 / x.shape[1]) / 2
    kept: list[Tensor] = []
    total = 0
    for _ in range(20):
        rows = torch.randint(0, x.shape[0], (2 * n,), generator=generator)
        noise = torch.randn(2 * n, x.shape[1], generator=generator, dtype=x.dtype)
        trial = torch.minimum(torch.maximum(x[rows] + step * noise, lo), hi)
        if domain is not None:
            inside = domain(trial)
            if (
                not isinstance(inside, Tensor)
                or inside.dtype != torch.bool
                or tuple(inside.shape) != (trial.shape[0],)
            ):
                raise ValueError(
                    "domain must map states (n, d) to a boolean tensor (n,), got "
                    f"{type(inside).__name__} {getattr(inside, 'dtype', '')} "
                    f"{tuple(getattr(inside, 'shape', ()))}"
                )
            trial = trial[inside]
        kept.append(trial)
        total += trial.shape[0]
        if total >= n:
            break
    if total == 0:
        raise ValueError(
            "domain rejects every sample drawn near the data: it must be True on the "
            "states where the flow is defined"
        )
    return torch.cat(kept)[:n]


def _module_inputs(fresh: Tensor, group: Sequence[int], reference: Tensor) -> Tensor:
    inputs = reference.expand(fresh.shape[0], -1).clone()
    inputs[:, list(group)] = fresh[:, list(group)]
    return inputs


def _module_values(
    network: Callable[[Tensor], Tensor], fresh: Tensor, group: Sequence[int], reference: Tensor
) -> Tensor:
    with torch.no_grad():
        return network(_module_inputs(fresh, group, reference)).reshape(-1)


def _front(
    values: Tensor,
    inputs: Tensor,
    names: list[str],
    budget: float,
    target: float | None,
    seed: int,
) -> list[sympy.Expr]:
    result = discover((inputs, values), names, time_budget=budget, target_error=target, seed=seed)
    return [c.expr for c in result.candidates]


def module_target(accuracy: float | None, network_spread: float, module: Tensor) -> float | None:
    """The ``target_error`` of the search on one module: the network's own relative
    accuracy (its conservation residual: a formula closer to the network than the network
    is to an invariant follows its errors) in units of the module's spread, since the
    network's error is absolute and shared by its modules. None without an accuracy."""
    if accuracy is None or not accuracy > 0:
        return None
    spread = float(module.std())
    return accuracy * network_spread / spread if spread > 0 else None


def _rename(expr: sympy.Expr, by_name: dict[str, sympy.Expr]) -> sympy.Expr:
    """``expr`` in the caller's symbols (discover's carry its own assumptions)."""
    symbols = [s for s in expr.free_symbols if isinstance(s, sympy.Symbol)]
    return cast(
        sympy.Expr, expr.xreplace({s: by_name[s.name] for s in symbols if s.name in by_name})
    )


def candidate_terms(
    network: Callable[[Tensor], Tensor],
    fresh: Tensor,
    symbols: list[sympy.Symbol],
    budget: float,
    seed: int,
    accuracy: float | None = None,
    derived: Sequence[sympy.Expr] = (),
    network_accuracy: float | None = None,
) -> tuple[list[sympy.Expr], list[sympy.Expr], tuple[tuple[int, ...], ...]]:
    """The terms of the formulas the search finds for ``network`` (see the module
    docstring), the formulas themselves (each module's Pareto front), and the additive
    groups of coordinates.

    Parameters
    ----------
    network : callable
        States (n, d) -> values (n,) or (n, 1), twice differentiable.
    fresh : Tensor (n, d)
        Samples inside the data's domain.
    symbols : list of sympy.Symbol
    budget : float
        Seconds for the symbolic search, shared among the modules.
    seed : int
    accuracy : float, optional
        Relative accuracy of the network (its held-out conservation residual): the search
        on a module stops once a formula is that close to the network
        (:func:`module_target`); without it, it runs to its budget on smooth values.
    derived : sequence of sympy.Expr
        Derived variables (the network's inputs): a module of several coordinates that
        is a function of one of them is searched in that one variable
        (:func:`~kanscience.physics._invariant_derived.derived_variable`, which judges
        it by ``network_accuracy``, default ``accuracy``).
    network_accuracy : float, optional
        The network's relative accuracy when ``accuracy`` is None (a search that runs to
        its budget).
    """
    split = separability(network, fresh[: min(400, fresh.shape[0])], method="difference")
    groups = split.groups if split.separable else (tuple(range(fresh.shape[1])),)
    reference = fresh.median(0).values[None, :]
    with torch.no_grad():
        network_spread = float(network(fresh).reshape(-1).std())
    formulas: list[sympy.Expr] = []
    for k, group in enumerate(groups):
        values = _module_values(network, fresh, group, reference)
        if float(values.std()) <= 1e-12 * (1 + float(values.abs().max())):
            continue  # a module the network does not use
        names = [str(symbols[i]) for i in group]
        share = budget * len(group) / fresh.shape[1]
        target = module_target(accuracy, network_spread, values)
        inputs = _module_inputs(fresh, group, reference)
        variable = derived_variable(
            network,
            inputs,
            group,
            derived,
            symbols,
            accuracy if network_accuracy is None else network_accuracy,
        )
        by_name: dict[str, sympy.Expr] = {n: symbols[i] for n, i in zip(names, group)}
        if variable is None:
            front = _front(values, fresh[:, list(group)], names, share, target, seed + k)
        else:  # one derived variable, under a name no coordinate has
            name = "u" + "_" * max(len(str(s)) for s in symbols)
            by_name = {name: variable[0]}
            front = _front(values, variable[1][:, None], [name], share, target, seed + k)
        formulas.extend(_rename(sympy.sympify(e), by_name) for e in front)
    terms = unique_terms(formulas, symbols)
    for group in groups:
        if len(group) <= _POLYNOMIAL_MODULE:
            terms += polynomial_terms([symbols[i] for i in group], _POLYNOMIAL_DEGREE)
    return independent_terms(unique_terms(terms, symbols), symbols, fresh), formulas, groups
