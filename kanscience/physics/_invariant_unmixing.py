"""Separable combinations of learned invariants: undoing the mixing that conservation allows.

Any combination of conserved quantities is conserved, so the networks of a deflation
(:mod:`kanscience.physics._invariant_learning`) span the invariants but each may be a mix
(``H + 0.007 L``): a mix couples coordinates that neither invariant couples, the
additive split of the network (:func:`kanscience.structure.separability`) fails, and the
symbolic search gets one module of every coordinate instead of small ones. So before the
search, the ``k`` networks are replaced by the ``k`` independent combinations
``sum_j c_j N_j`` that interact in the fewest pairs of coordinates (the simplest law
uses the fewest inputs per module).

The mixed difference of a pair ``(a, b)``,
``D_ab = N(x^{ab}) - N(x^{a}) - N(x^{b}) + N(x)`` (``x^{S}``: ``x`` with the coordinates in
``S`` taken from a partner sample), is linear in ``c``: the interaction of a pair is the
quadratic form ``c^T M_ab c`` and the variation ``c^T S c`` (``S`` from the single
differences ``D_a``). A pair is *free* in a combination when its normalized score (as in
:func:`kanscience.structure.difference_interactions`) is below
:data:`kanscience.structure.SEPARABILITY_THRESHOLD`, or below what the combination's own
error leaves (a mixed difference adds four values: twice their relative error, the
networks' errors added with the combination's coefficients). Candidates: each network as it is,
and, from each pair, the combination freeing it (the smallest generalized eigenvector of
``(M_ab, S)``) grown greedily by the pairs that can be freed with it. The ``k`` combinations
kept are the ones with the most free pairs that are independent; a network ties with any
combination and is kept as it is then.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import combinations

import torch
from torch import Tensor

from ..structure import SEPARABILITY_THRESHOLD

__all__ = ["Unmixed", "separable_combinations"]

Network = Callable[[Tensor], Tensor]
Unmixed = tuple[list[Network], list[float], Tensor]  # networks, accuracies, coefficients

# combinations whose (metric-normalized) coefficient vectors have a smallest singular
# value below this are dependent (the rank test's default tolerance)
_INDEPENDENT = 0.1


@dataclass(frozen=True)
class _Differences:
    """Single (d, n, k) and mixed (P, n, k) differences of the ``k`` networks at ``n``
    samples, the ``pairs`` of coordinates, and each network's value spread and accuracy."""

    single: Tensor
    mixed: Tensor
    pairs: list[tuple[int, int]]
    spread: Tensor
    accuracy: Tensor

    @property
    def variation(self) -> Tensor:
        return torch.einsum("anj,anl->jl", self.single, self.single) / self.single.shape[1]

    @property
    def forms(self) -> Tensor:
        return torch.einsum("pnj,pnl->pjl", self.mixed, self.mixed) / self.mixed.shape[1]

    def error(self, c: Tensor, values: Tensor) -> float:
        """Relative error of ``sum c_j N_j``: the networks' errors added."""
        spread = float((values @ c).std())
        absolute = float((c.abs() * self.accuracy * self.spread).sum())
        return absolute / spread if spread > 0 else float("inf")

    def free(self, c: Tensor, values: Tensor) -> frozenset[int]:
        """Indices of the pairs with no interaction in ``sum c_j N_j`` (see the module
        docstring)."""
        threshold = max(SEPARABILITY_THRESHOLD, 2 * self.error(c, values))
        scale = (self.single @ c).pow(2).mean(1).sqrt()
        cross = (self.mixed @ c).pow(2).mean(1).sqrt()
        found = set()
        for m, (i, j) in enumerate(self.pairs):
            denominator = float((scale[i] * scale[j]).sqrt())
            if denominator > 0 and float(cross[m]) / denominator < threshold:
                found.add(m)
        return frozenset(found)


def _differences(
    networks: list[Network], x: Tensor, accuracies: list[float], generator: torch.Generator
) -> tuple[_Differences, Tensor]:
    """The differences of each network at ``x``, and their values there (n, k)."""
    n, d = x.shape
    order = torch.randperm(n, generator=generator)
    partner = torch.empty_like(order)
    partner[order] = order.roll(-1)  # every point paired with another one
    pairs = list(combinations(range(d), 2))
    corners = [x]
    for columns in [[i] for i in range(d)] + [list(p) for p in pairs]:
        z = x.clone()
        z[:, columns] = x[partner][:, columns]
        corners.append(z)
    stacked = torch.cat(corners)
    with torch.no_grad():
        values = torch.stack([net(stacked).reshape(-1) for net in networks], 1)
    g = values.to(torch.float64).reshape(len(corners), n, len(networks))
    mixed = [g[d + 1 + m] - g[1 + i] - g[1 + j] + g[0] for m, (i, j) in enumerate(pairs)]
    accuracy = torch.tensor(accuracies, dtype=torch.float64)
    found = _Differences(g[1 : d + 1] - g[0], torch.stack(mixed), pairs, g[0].std(0), accuracy)
    return found, g[0]


def _freeing(forms: Tensor, variation: Tensor, chosen: list[int]) -> Tensor:
    """The combination with the least interaction in the ``chosen`` pairs relative to its
    variation (smallest generalized eigenvector)."""
    energy, vectors = torch.linalg.eigh(variation)
    whiten = vectors / energy.clamp_min(1e-300 + 1e-12 * float(energy.max())).sqrt()
    target = whiten.T @ forms[chosen].sum(0) @ whiten
    return whiten @ torch.linalg.eigh(target)[1][:, 0]


def _candidates(differences: _Differences, values: Tensor) -> list[Tensor]:
    """The networks, and from each pair the combination freeing it, grown greedily."""
    forms, variation = differences.forms, differences.variation
    found = list(torch.eye(values.shape[1], dtype=values.dtype))
    for start in range(len(differences.pairs)):
        c = _freeing(forms, variation, [start])
        free = differences.free(c, values)
        if start not in free:
            continue
        while True:  # grow by the pair whose addition frees the most pairs
            best: tuple[Tensor, frozenset[int]] | None = None
            for extra in range(len(differences.pairs)):
                if extra in free:
                    continue
                trial = _freeing(forms, variation, sorted(free | {extra}))
                trial_free = differences.free(trial, values)
                if free | {extra} <= trial_free and (
                    best is None or len(trial_free) > len(best[1])
                ):
                    best = (trial, trial_free)
            if best is None:
                break
            c, free = best
        found.append(c)
    return found


def separable_combinations(
    networks: list[Network],
    accuracies: list[float],
    x: Tensor,
    seed: int = 0,
) -> Unmixed:
    """The ``k`` independent combinations of ``networks`` with the fewest interacting
    pairs of coordinates (see the module docstring).

    Parameters
    ----------
    networks : list of callable
        States (n, d) -> values (n,) or (n, 1): invariants (any combination is one).
    accuracies : list of float
        Relative accuracy of each network (its conservation residual).
    x : Tensor (n, d)
        Samples of the domain.
    seed : int
        Pairing of the samples.

    Returns
    -------
    (networks, accuracies, coefficients)
        The combinations, each one's accuracy (``sum_j |c_j| a_j std(N_j) / std(sum c_j
        N_j)``: the networks' errors added), and the (k, k) coefficients, row ``i`` giving
        the ``i``-th combination; the networks themselves, in their order, with the
        identity, when no combination is more separable than they are.

    Examples
    --------
    >>> x = torch.rand(300, 3, dtype=torch.float64)
    >>> a = lambda s: s[:, 0] * s[:, 1] + s[:, 2] ** 2
    >>> b = lambda s: torch.sin(s[:, 2]) * s[:, 0]
    >>> mixed = [lambda s: a(s) + 0.1 * b(s), lambda s: a(s) - b(s)]
    >>> _, _, c = separable_combinations(mixed, [1e-6, 1e-6], x)
    >>> ratios = sorted(round(float(row[1] / row[0]), 6) for row in c)
    >>> ratios  # a: 10/11 N1 + 1/11 N2;  b: (N1 - N2) / 1.1
    [-1.0, 0.1]
    """
    k = len(networks)
    if len(accuracies) != k:
        raise ValueError(f"accuracies must have one value per network ({k}), got {len(accuracies)}")
    identity = torch.eye(k, dtype=torch.float64)
    if k < 2 or x.shape[1] < 2:
        return list(networks), list(accuracies), identity
    generator = torch.Generator().manual_seed(int(seed))
    differences, values = _differences(networks, x.to(torch.float64), accuracies, generator)
    candidates = _candidates(differences, values)
    variation = differences.variation
    ranked = sorted(
        range(len(candidates)), key=lambda i: (-len(differences.free(candidates[i], values)), i)
    )
    chosen: list[Tensor] = []
    for i in ranked:
        c = candidates[i] / float(candidates[i] @ variation @ candidates[i]) ** 0.5
        trial = torch.stack(chosen + [c])
        if float(torch.linalg.eigvalsh(trial @ variation @ trial.T)[0]) > _INDEPENDENT**2:
            chosen.append(c)
        if len(chosen) == k:
            break
    coefficients = torch.stack(chosen) if len(chosen) == k else identity
    supports = coefficients.abs() > 1e-12 * coefficients.abs().amax(1, keepdim=True)
    if bool((supports.sum(1) == 1).all()):  # the networks themselves, in their order
        return list(networks), list(accuracies), identity

    def combination(states: Tensor, c: Tensor) -> Tensor:
        outputs = [net(states).reshape(-1) for net in networks]  # differentiable
        return torch.stack(outputs, 1).to(c.dtype) @ c

    unmixed: list[Network] = [(lambda s, c=c: combination(s, c)) for c in coefficients]
    return unmixed, [differences.error(c, values) for c in coefficients], coefficients
