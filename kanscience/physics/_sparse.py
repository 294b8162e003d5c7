"""Sparse linear algebra for laws that are linear in their coefficients.

Once a skeleton (a list of candidate terms) is known, most physics criteria are linear in
the terms' coefficients ``w``: a conserved quantity ``H = sum w_k phi_k`` needs
``sum w_k (grad phi_k . f) = 0`` at every state, a Lagrangian needs its Euler-Lagrange
residual to vanish, a constitutive law is a regression. Two solvers:

* :func:`sparse_null_vectors`: every *minimal-support* null vector of ``A`` (columns =
  terms), found by searching supports of growing size and keeping a vector only when it
  adds a new direction to the null space; stops when the whole numerical null space is
  spanned. Columns that vanish identically (e.g. total derivatives in a Lagrangian) are
  reported, not used.
* :func:`sparse_regression`: forward stepwise selection then backward elimination, both on
  normalized columns, to the fewest terms that reach a target ``R^2``.

Examples
--------
>>> import torch
>>> x = torch.linspace(-1, 1, 50, dtype=torch.float64)
>>> a = torch.stack([x, 2 * x, x ** 2], 1)  # 2 * col0 - col1 = 0
>>> found = sparse_null_vectors(a)
>>> found.supports, [round(v, 6) + 0.0 for v in found.vectors[0].tolist()]
([(0, 1)], [1.0, -0.5, 0.0])
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

__all__ = ["NullVectors", "Regression", "sparse_null_vectors", "sparse_regression"]


def _check_matrix(a: object, name: str) -> Tensor:
    if not isinstance(a, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(a).__name__}")
    if a.ndim != 2 or a.shape[0] < 1 or a.shape[1] < 1:
        raise ValueError(f"{name} must have shape (rows, terms), got {tuple(a.shape)}")
    a = a.detach().to(torch.float64)
    if not bool(torch.isfinite(a).all()):
        raise ValueError(f"{name} contains NaN or Inf")
    return a


@dataclass
class NullVectors:
    """Result of :func:`sparse_null_vectors`.

    Attributes
    ----------
    vectors : list of Tensor (n_terms,)
        Null vectors in the raw column units, scaled so the largest coefficient is 1.
    supports : list of tuple of int
    residuals : list of float
        ``||A w|| / ||A|| ||w||`` in normalized units (0 for an exact null vector).
    null_dim : int
        Dimension of the numerical null space of the non-trivial columns.
    trivial : tuple of int
        Columns that vanish (to ``zero_tol``) and were left out.
    """

    vectors: list[Tensor] = field(default_factory=list)
    supports: list[tuple[int, ...]] = field(default_factory=list)
    residuals: list[float] = field(default_factory=list)
    null_dim: int = 0
    trivial: tuple[int, ...] = ()


def _smallest(a: Tensor) -> tuple[Tensor, Tensor]:
    """Singular values (ascending, relative to sqrt(rows)) and right vectors, smallest first."""
    _, s, vh = torch.linalg.svd(a, full_matrices=False)
    return s.flip(0) / math.sqrt(a.shape[0]), vh.flip(0)


def sparse_null_vectors(
    a: Tensor,
    tol: float = 1e-6,
    max_support: int = 4,
    complexity: Sequence[float] | None = None,
    zero_tol: float = 1e-9,
    max_subsets: int = 50_000,
) -> NullVectors:
    """Minimal-support null vectors of ``a`` spanning its numerical null space.

    Parameters
    ----------
    a : Tensor (rows, terms)
    tol : float
        A singular value (of the column-normalized matrix, divided by sqrt(rows)) below
        ``tol`` counts as zero.
    max_support : int
        Largest support searched.
    complexity : sequence of float, optional
        Per-term cost: among supports of one size, cheaper ones are tried first.
    zero_tol : float
        Columns with RMS below ``zero_tol`` times the largest are trivial.
    max_subsets : int
        Supports of a size are skipped when there are more than this many.

    Returns
    -------
    NullVectors
    """
    a = _check_matrix(a, "a")
    if tol <= 0 or max_support < 1:
        raise ValueError(f"tol must be > 0 and max_support >= 1, got {tol!r}, {max_support!r}")
    n_terms = a.shape[1]
    cost = [0.0] * n_terms if complexity is None else [float(c) for c in complexity]
    if len(cost) != n_terms:
        raise ValueError(f"complexity must have {n_terms} entries, got {len(cost)}")
    rms = a.pow(2).mean(0).sqrt()
    trivial = tuple(int(i) for i in (rms <= zero_tol * rms.max().clamp_min(1e-300)).nonzero())
    active = [i for i in range(n_terms) if i not in trivial]
    result = NullVectors(trivial=trivial)
    if not active:
        return result
    normalized = a[:, active] / rms[active]
    s, _ = _smallest(normalized)
    result.null_dim = int((s < tol).sum()) + max(0, len(active) - normalized.shape[0])
    found: list[Tensor] = []  # in normalized units, over the active columns
    for size in range(1, min(max_support, len(active)) + 1):
        if len(found) >= result.null_dim:
            break
        if math.comb(len(active), size) > max_subsets:
            break
        subsets = sorted(
            itertools.combinations(range(len(active)), size),
            key=lambda sub: (sum(cost[active[i]] for i in sub), sub),
        )
        for sub in subsets:
            if len(found) >= result.null_dim:
                break
            values, vectors = _smallest(normalized[:, list(sub)])
            n_null = int((values < tol).sum())
            if n_null == 0:
                continue
            outside = [i for i in range(len(active)) if i not in sub]
            inside = [v for v in found if not bool(v[outside].abs().gt(0).any())]
            if n_null <= len(inside):
                continue
            basis = torch.zeros(len(active), n_null, dtype=torch.float64)
            basis[list(sub)] = vectors[:n_null].T
            if inside:  # keep only the part of the null space that is new
                q, _ = torch.linalg.qr(torch.stack(inside, 1))
                basis = basis - q @ (q.T @ basis)
            candidate = basis[:, int(basis.norm(dim=0).argmax())]
            candidate = (
                candidate / candidate.abs().max() * torch.sign(candidate[candidate.abs().argmax()])
            )
            found.append(candidate)
            raw = torch.zeros(n_terms, dtype=torch.float64)
            raw[active] = candidate / rms[active]
            raw = raw / raw[raw.abs().argmax()]
            result.vectors.append(raw)
            result.supports.append(tuple(active[i] for i in sub))
            result.residuals.append(
                float(
                    (normalized @ candidate).norm()
                    / candidate.norm()
                    / math.sqrt(normalized.shape[0])
                )
            )
    return result


@dataclass
class Regression:
    """Result of :func:`sparse_regression`: ``coefficients`` (n_terms,) with zeros off the
    ``support``, ``intercept`` handled as an ordinary column by the caller, and ``r2`` of
    the fit."""

    coefficients: Tensor
    support: tuple[int, ...]
    r2: float


def _lstsq(x: Tensor, y: Tensor) -> tuple[Tensor, float]:
    solution = torch.linalg.lstsq(x, y[:, None]).solution[:, 0]
    residual = y - x @ solution
    return solution, float(residual.pow(2).sum())


def _exhaustive(
    normalized: Tensor, y: Tensor, total: float, r2_target: float, limit: int
) -> list[int] | None:
    """Best subset of the smallest size that reaches the target (None if none does)."""
    for size in range(1, limit + 1):
        best = None
        for subset in itertools.combinations(range(normalized.shape[1]), size):
            _, sse = _lstsq(normalized[:, list(subset)], y)
            if best is None or sse < best[0]:
                best = (sse, list(subset))
        if best is not None and 1 - best[0] / total >= r2_target:
            return best[1]
    return None


def _stepwise(
    normalized: Tensor, y: Tensor, total: float, r2_target: float, limit: int
) -> list[int]:
    chosen: list[int] = []
    sse = total
    while len(chosen) < limit and 1 - sse / total < r2_target:
        best, best_sse = None, sse
        for j in range(normalized.shape[1]):
            if j in chosen:
                continue
            _, trial = _lstsq(normalized[:, chosen + [j]], y)
            if trial < best_sse * (1 - 1e-12):
                best, best_sse = j, trial
        if best is None:
            break
        chosen.append(best)
        sse = best_sse
    chosen, sse = _swap(normalized, y, chosen, sse)
    target_sse = max(sse, (1 - r2_target) * total)
    changed = True
    while changed and len(chosen) > 1:
        changed = False
        trials = []
        for j in chosen:
            rest = [i for i in chosen if i != j]
            trials.append((_lstsq(normalized[:, rest], y)[1], j))
        trial_sse, j = min(trials)
        if trial_sse <= target_sse * (1 + 1e-6):
            chosen.remove(j)
            changed = True
    return _swap(normalized, y, chosen, _lstsq(normalized[:, chosen], y)[1])[0]


def _swap(
    normalized: Tensor, y: Tensor, chosen: list[int], sse: float, max_passes: int = 10
) -> tuple[list[int], float]:
    """Replace chosen columns by unchosen ones while that lowers the residual (a greedy
    path can pick a look-alike, e.g. cosh(1.5 x) for x^2 on a small range)."""
    chosen = list(chosen)
    for _ in range(max_passes):
        best = None
        for position in range(len(chosen)):
            for k in range(normalized.shape[1]):
                if k in chosen:
                    continue
                trial = chosen[:position] + [k] + chosen[position + 1 :]
                trial_sse = _lstsq(normalized[:, trial], y)[1]
                if trial_sse < sse * (1 - 1e-9) and (best is None or trial_sse < best[0]):
                    best = (trial_sse, trial)
        if best is None:
            break
        sse, chosen = best
    return chosen, sse


def sparse_regression(
    theta: Tensor,
    y: Tensor,
    r2_target: float = 1 - 1e-8,
    max_terms: int | None = None,
    max_subsets: int = 5000,
) -> Regression:
    """Fewest columns of ``theta`` whose least-squares fit of ``y`` reaches ``r2_target``.

    When there are at most ``max_subsets`` supports of up to ``max_terms`` columns, the
    search is exhaustive (best subset of each size, smallest size first); otherwise
    forward stepwise selection adds the column that lowers the residual most until the
    target is reached, single-column swaps then lower the residual further where they
    can, and backward elimination drops every column whose removal keeps the target.
    ``R^2`` is measured about zero (a constant is an ordinary column). Coefficients are
    refitted by least squares.

    Parameters
    ----------
    theta : Tensor (samples, terms)
    y : Tensor (samples,)
    r2_target : float
    max_terms : int, optional
    max_subsets : int

    Returns
    -------
    Regression
    """
    theta = _check_matrix(theta, "theta")
    y = _check_matrix(y.reshape(-1, 1) if isinstance(y, Tensor) else y, "y")[:, 0]
    if y.shape[0] != theta.shape[0]:
        raise ValueError(f"y has {y.shape[0]} samples, theta {theta.shape[0]}")
    scale = theta.pow(2).mean(0).sqrt().clamp_min(1e-300)
    normalized = theta / scale
    total = float(y.pow(2).sum())
    if total == 0:
        return Regression(torch.zeros(theta.shape[1], dtype=torch.float64), (), 1.0)
    limit = theta.shape[1] if max_terms is None else min(int(max_terms), theta.shape[1])
    count = sum(math.comb(theta.shape[1], k) for k in range(1, limit + 1))
    chosen = _exhaustive(normalized, y, total, r2_target, limit) if count <= max_subsets else None
    if chosen is None:
        chosen = _stepwise(normalized, y, total, r2_target, limit)
    chosen.sort()
    solution, sse = _lstsq(normalized[:, chosen], y) if chosen else (torch.zeros(0), total)
    coefficients = torch.zeros(theta.shape[1], dtype=torch.float64)
    if chosen:
        coefficients[chosen] = solution / scale[chosen]
    return Regression(coefficients, tuple(chosen), 1 - sse / total)
