"""From the learned invariant networks to verified laws, one per network or a reason.

For each accepted network: candidate formulas from the symbolic search on the network
(:func:`candidate_terms`; a short search that stops at the network's own accuracy first,
the full one only when no law from its terms is the network), each refitted under the
conservation loss and split into its conserved combinations
(:func:`~kanscience.physics._invariant_refit.conserved_combinations`); every law whose conservation
residual on the verification states is below the tolerance joins a pool. Then each
network in turn gets the simplest law of the pool (its own first) whose gradient is
independent of the laws already assigned (the rank test on the verification states), or
``law = None`` with the reason. Each :class:`Invariant` carries its checks: the law's
conservation residual, the ``R^2`` of ``a * law + b`` against its network on fresh
samples, and the gauge ``(a, b)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import sympy
import torch
from torch import Tensor

from ..core import KAN
from ..symbolic import formula_to_torch
from ._conservation import gradient_rank
from ._expressions import expression_gradient
from ._invariant_formula import candidate_terms
from ._invariant_refit import RefitLaw, conserved_combinations, law_residual

__all__ = ["Invariant", "extract_laws"]

# share of ``budget`` of the first, short search on a network, which stops once a formula
# is as close to the network as the network is to an invariant (its residual); the full
# search (the whole budget, no such stop) runs only when no conserved law from the short
# one's terms is the network
_SHORT_SHARE = 0.25


@dataclass
class Invariant:
    """One independent conserved quantity: the network and, when one passed its checks,
    the law.

    Attributes
    ----------
    index : int
    model : KAN
        The learned network (inputs: ``features``); the law is sought on the combination
        of all of them in row ``index`` of ``ConservedQuantities.mixing`` (this network
        unless a combination is more separable).
    features : list of sympy.Expr
    network_residual : float
        Conservation residual of the network on held-out states (for a combination of
        the networks, :func:`~kanscience.physics._invariant_unmixing.separable_combinations`,
        their residuals added).
    law : sympy.Expr or None
        The verified formula, normalized (first term's coefficient 1, no constant) and
        snapped; None when no formula passed (see ``reason``).
    fitted : sympy.Expr or None
        The law before snapping.
    reason : str
        Why ``law`` is None (empty otherwise).
    residual : float
        Conservation residual of the law on the verification states (NaN without a law).
    r2 : float
        ``R^2`` of ``a * law + b`` against the network on fresh samples.
    gauge : (float, float)
        ``(a, b)``: the network is about ``a * law + b``.
    groups : tuple of tuple of int
        The network's additive modules (coordinate indices) given to the search.
    candidates : list of sympy.Expr
        The formulas the search proposed.
    """

    index: int
    model: KAN
    features: list[sympy.Expr]
    network_residual: float
    law: sympy.Expr | None = None
    fitted: sympy.Expr | None = None
    reason: str = ""
    residual: float = float("nan")
    r2: float = float("nan")
    gauge: tuple[float, float] = (float("nan"), float("nan"))
    groups: tuple[tuple[int, ...], ...] = ()
    candidates: list[sympy.Expr] = field(default_factory=list)

    @property
    def checks(self) -> dict[str, float]:
        """The numbers behind the verdict."""
        return {
            "network_residual": self.network_residual,
            "law_residual": self.residual,
            "r2_law_vs_network": self.r2,
            "gauge_scale": self.gauge[0],
            "gauge_offset": self.gauge[1],
        }


def _affine_r2(law: sympy.Expr, symbols: list[sympy.Symbol], x: Tensor, target: Tensor):
    values = formula_to_torch(law, symbols)(x).reshape(-1).to(torch.float64)
    values = values.expand(x.shape[0]) if values.numel() == 1 else values
    design = torch.stack([values, torch.ones_like(values)], 1)
    solution = torch.linalg.lstsq(design, target[:, None]).solution[:, 0]
    error = target - design @ solution
    total = (target - target.mean()).pow(2).sum().clamp_min(1e-300)
    return 1 - float(error.pow(2).sum() / total), (float(solution[0]), float(solution[1]))


def _ranked(laws: list[RefitLaw]) -> list[RefitLaw]:
    """Laws within a factor 2 of the smallest residual (the ones the data cannot tell
    apart) first, simplest first; then the rest by residual."""
    if not laws:
        return []
    best = min(law.residual for law in laws)
    return sorted(
        laws,
        key=lambda law: (
            law.residual > 2 * best + 1e-12,
            sympy.count_ops(law.law) if law.residual <= 2 * best + 1e-12 else law.residual,
        ),
    )


def _conserved(
    terms: list[sympy.Expr],
    symbols: list[sympy.Symbol],
    refit: tuple[Tensor, Tensor],
    verify: tuple[Tensor, Tensor],
    tol: float,
) -> list[RefitLaw]:
    laws: list[RefitLaw] = []
    for law in conserved_combinations(terms, symbols, *refit, tol):
        residual = law_residual(law.law, symbols, *verify)
        if residual < tol:
            laws.append(RefitLaw(law.law, law.fitted, residual))
    return laws


def _explains(
    laws: list[RefitLaw],
    network: Callable[[Tensor], Tensor],
    symbols: list[sympy.Symbol],
    fresh: Tensor,
    accuracy: float,
) -> bool:
    """Whether one of ``laws`` is the network itself up to ``a law + b``, to the network's
    own accuracy (``1 - R^2 <= accuracy``); a network that is a function of several
    invariants is explained by none, and gets the full search."""
    with torch.no_grad():
        target = network(fresh).reshape(-1)
    return any(1 - _affine_r2(law.law, symbols, fresh, target)[0] <= accuracy for law in laws)


def _pool(
    network: Callable[[Tensor], Tensor],
    symbols: list[sympy.Symbol],
    fresh: Tensor,
    refit: tuple[Tensor, Tensor],
    verify: tuple[Tensor, Tensor],
    options: tuple[float, float, int, float],
    derived: list[sympy.Expr],
) -> tuple[list[RefitLaw], tuple[tuple[int, ...], ...], list[sympy.Expr]]:
    """The conserved laws from the terms of the search on ``network``: a short search
    first (:data:`_SHORT_SHARE`); the full one, as if alone, only when no conserved law
    from the short one's terms is the network (the physics check, not the fit to smooth
    network values, says when the search has found enough)."""
    tol, budget, seed, accuracy = options
    candidates: list[sympy.Expr] = []
    laws: list[RefitLaw] = []
    groups: tuple[tuple[int, ...], ...] = ()
    for share, target in ((_SHORT_SHARE, accuracy), (1.0, None)):
        found, formulas, groups = candidate_terms(
            network,
            fresh,
            symbols,
            share * budget,
            seed,
            accuracy=target,
            derived=derived,
            network_accuracy=accuracy,
        )
        candidates += [e for e in formulas if e not in candidates]
        laws = _conserved(found, symbols, refit, verify, tol)
        if target is not None and _explains(laws, network, symbols, fresh, target):
            break
    return laws, groups, candidates


def extract_laws(
    models: list[KAN],
    networks: list[Callable[[Tensor], Tensor]],
    features: list[list[sympy.Expr]],
    network_residuals: list[float],
    symbols: list[sympy.Symbol],
    fresh: Tensor,
    refit: tuple[Tensor, Tensor],
    verify: tuple[Tensor, Tensor],
    *,
    tol: float,
    rank_tol: float,
    budget: float,
    seed: int,
) -> list[Invariant]:
    """One :class:`Invariant` per network (see the module docstring)."""
    pools, found = [], []
    derived = [u for terms in features for u in terms if len(u.free_symbols) >= 2]
    derived = [u for k, u in enumerate(derived) if u not in derived[:k]]
    for k, network in enumerate(networks):
        options = (tol, budget, seed + k, network_residuals[k])
        laws, groups, candidates = _pool(network, symbols, fresh, refit, verify, options, derived)
        pools.append(laws)
        found.append(
            Invariant(
                k,
                models[k],
                features[k],
                network_residuals[k],
                groups=groups,
                candidates=candidates,
            )
        )
    chosen: list[Tensor] = []
    for k, invariant in enumerate(found):
        order = _ranked(pools[k]) + _ranked(
            [law for j, pool in enumerate(pools) if j != k for law in pool]
        )
        if not order:
            invariant.reason = (
                f"no combination of the terms of the {len(invariant.candidates)} formulas of "
                f"the symbolic search is conserved to the tolerance {tol:.1e}"
            )
            continue
        for law in order:
            gradient = expression_gradient(law.law, symbols, verify[0])
            if gradient_rank(torch.stack(chosen + [gradient], 1), rank_tol)[0] == len(chosen) + 1:
                chosen.append(gradient)
                invariant.law, invariant.fitted, invariant.residual = (
                    law.law,
                    law.fitted,
                    law.residual,
                )
                with torch.no_grad():
                    target = networks[k](fresh).reshape(-1)
                invariant.r2, invariant.gauge = _affine_r2(law.law, symbols, fresh, target)
                break
        else:
            invariant.reason = (
                "every conserved formula found depends on the laws already assigned (rank test)"
            )
    return found
