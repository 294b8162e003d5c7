"""Sparse sums of library functions: ``y ~ c0 + sum_k c_k f_k(x_{i_k})``.

:func:`sparse_sum_fit` explains a target as an intercept plus a few terms, each one
function of the library applied to one input column (unit inner affine: ``f(x)`` itself),
with coefficients from linear least squares (float64):

1. every (column, function) pair is a candidate feature; features that are not finite on
   the data (``log`` of a negative number), constant on it, or an affine copy of a simpler
   one (``sqrt`` and ``x^0.5``; ``abs(x)`` and ``x`` for positive ``x``) are left out;
2. when more than ``max_candidates`` features remain (by default as many as keep the
   subsets of ``max_terms`` of them under :data:`MAX_SUBSETS`) they are screened: orthogonal
   matching pursuit and the correlation with the target each rank them, and the pool
   takes from both rankings in turn; the members of the pairs that explain the most
   (all pairs ranked by their 2 x 2 normal equations) join it;
3. every subset of the pool of ``1 .. max_terms`` features is scored through the Gram
   matrix of the standardized features (subsets whose columns are collinear beyond half
   the float64 digits are skipped); the best subsets of each size are solved again by a
   QR factorization for residuals exact to rounding;
4. the extended Bayesian information criterion picks the size, ``N log(RSS / N) + k log N
   + 2 log C(p, k)`` for ``k`` terms out of ``p`` features (Chen and Chen, 2008), with the
   residual sum of squares floored at the rounding level of the data (or at a known
   ``noise``) so that exact fits tie; subsets within :data:`BIC_TIE` of the best criterion
   also tie (the data cannot tell them apart), and the simplest (least library
   complexity) wins, the others coming back as ``ties`` on request (for a caller that
   can tell them apart on other data), then those within :data:`ALTERNATIVE_BAND` (on
   noisy data the best of many near-equivalent subsets owes a few units to the noise
   it fits); sizes stop growing once a subset fits exactly.

Examples
--------
>>> import torch
>>> x = torch.linspace(1.0, 5.0, 200, dtype=torch.float64)
>>> fit = sparse_sum_fit(x, 2 * x + 3 * torch.log(x) + 1, ["x", "x^2", "log", "exp"])
>>> fit.terms
((('x', 0),), (('log', 0),))
>>> fit.expression(["x"]).evalf(6)
2.0*x + 3.0*log(x) + 1.0
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import sympy
import torch
from torch import Tensor

from ..core import FunctionLibrary, resolve_library
from ..core._functions import LibraryLike
from ._constants import checked_weights

__all__ = [
    "ALTERNATIVE_BAND",
    "BIC_TIE",
    "MAX_PRODUCTS",
    "MAX_SUBSETS",
    "SparseSumFit",
    "sparse_sum_fit",
]

_EPS = torch.finfo(torch.float64).eps
_TINY = torch.finfo(torch.float64).tiny
# a feature whose correlation with a kept one is within this of +-1 is its affine copy
_DUPLICATE = 1e-12
# subsets whose standardized Gram matrix has a smaller eigenvalue ratio lose more than
# half the float64 digits in the normal equations: collinear, their coefficients arbitrary
_MIN_EIGEN_RATIO = math.sqrt(_EPS)
# exact fits: residual RMS at most this fraction of the target's spread
_EXACT = 1e-12
# subsets of each size solved exactly by QR after the Gram screening
_KEEP_PER_SIZE = 8
# features that the best pairs bring into a screened pool, and the rows and work
# (multiply-adds) of the Gram matrix of all features that ranks the pairs
_PAIR_MEMBERS = 12
_PAIR_ROWS = 200
_PAIR_FLOPS = 100_000_000
# criterion differences below this are "not worth more than a bare mention" (Kass and
# Raftery, 1995): such subsets tie, and the simplest wins (1 - x^2 over 1 - a cosh x on
# noisy data)
BIC_TIE = 2.0
ALTERNATIVE_BAND = 10.0
"""Subsets within this criterion of the best are returned as ties (alternatives) too,
after those within :data:`BIC_TIE`: "strong" evidence begins here (Kass and Raftery), and
the best of thousands of near-equivalent subsets on noisy data owes a few units to the
noise it fits (a caller with held-out data tells them apart)."""


_Term = tuple[tuple[str, int], ...]
"""A term: its factors, each (library function name, input column)."""


class _Entry(NamedTuple):
    """One scored subset of features."""

    criterion: float  # extended BIC
    complexity: int  # library complexity of its terms
    chosen: tuple[int, ...]  # feature indices
    beta: Tensor | tuple  # coefficients of the standardized features
    variance: Tensor | tuple  # unscaled covariance diagonal
    rss: float


MAX_PRODUCTS = 1000
"""Products of two features are searched only when there are at most this many."""
MAX_SUBSETS = 20_000
"""Subsets of the largest size scored exhaustively by default (``max_candidates``)."""


@dataclass(frozen=True)
class SparseSumFit:
    """Result of :func:`sparse_sum_fit`: ``y ~ intercept + sum_k coefficients[k] *
    prod_f f(x[:, column_f])`` over the factors ``(function name, column)`` of ``terms[k]``
    (one factor, or two of different columns with ``interactions``).

    Attributes
    ----------
    terms : tuple of tuples of (str, int)
        The chosen terms: for each, its factors (library function, input column).
    coefficients : tuple of float
        One per term.
    intercept : float
    standard_errors : tuple of float
        Of the coefficients, from the residual variance (NaN without residual degrees of
        freedom).
    rss : float
        Residual sum of squares on the data.
    r2 : float
        ``1 - RSS / SST`` (1 for a constant target fitted exactly).
    criterion : float
        The extended BIC of the chosen subset (lower is better).
    n_columns : int
        Number of input columns of the data.
    complexity : int
        Library complexity of the terms, as the fit ranks them: the sum of their
        functions' complexities, plus one per product.
    ties : tuple of SparseSumFit
        Other subsets as good or nearly: first those the data cannot tell apart from the
        chosen one (criterion within :data:`BIC_TIE` of the best), then those within
        :data:`ALTERNATIVE_BAND`, simplest first in each; at most ``ties`` of them (an
        argument of :func:`sparse_sum_fit`); each with no ties of its own.
    """

    terms: tuple[_Term, ...]
    coefficients: tuple[float, ...]
    intercept: float
    standard_errors: tuple[float, ...]
    rss: float
    r2: float
    criterion: float
    n_columns: int
    complexity: int
    library: FunctionLibrary = field(repr=False, compare=False)
    ties: tuple[SparseSumFit, ...] = ()

    def expression(self, symbols: Sequence[sympy.Symbol | str]) -> sympy.Expr:
        """The sum as a sympy expression of ``symbols`` (one per input column), built from
        the library's sympy forms; coefficients enter as floats.

        Raises
        ------
        ValueError
            If ``symbols`` does not give one symbol per input column.
        """
        if isinstance(symbols, str) or len(symbols) != self.n_columns:
            raise ValueError(f"symbols must list {self.n_columns} symbols, got {symbols!r}")
        variables = [sympy.Symbol(s, real=True) if isinstance(s, str) else s for s in symbols]
        expr: sympy.Expr = sympy.Float(self.intercept)
        for factors, coefficient in zip(self.terms, self.coefficients, strict=True):
            term = sympy.Mul(*(self.library[f].sympy_fn(variables[c]) for f, c in factors))
            expr += sympy.Float(coefficient) * term
        return expr


@dataclass(frozen=True)
class _Features:
    """Standardized candidate features: ``z[:, j] = (f_j - mean_j) / scale_j``."""

    z: Tensor
    mean: Tensor
    scale: Tensor
    terms: list[_Term]
    complexity: list[int]


def _check_inputs(x: object, y: object) -> tuple[Tensor, Tensor]:
    xt = torch.as_tensor(x).detach().to(torch.float64)
    yt = torch.as_tensor(y).detach().to(torch.float64)
    if xt.ndim == 1:
        xt = xt[:, None]
    if xt.ndim != 2 or xt.shape[0] < 3 or xt.shape[1] < 1:
        raise ValueError(
            "x must have shape (n_samples,) or (n_samples, n_columns) with n_samples >= 3, "
            f"got {tuple(xt.shape)}"
        )
    if yt.ndim == 2 and yt.shape[1] == 1:
        yt = yt[:, 0]
    if yt.shape != (xt.shape[0],):
        raise ValueError(f"y must have shape ({xt.shape[0]},) like x's rows, got {tuple(yt.shape)}")
    if not bool(torch.isfinite(xt).all()):
        raise ValueError("x contains NaN or Inf")
    if not bool(torch.isfinite(yt).all()):
        raise ValueError("y contains NaN or Inf")
    return xt, yt


def _check_count(value: object, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    return value


def _features(
    x: Tensor,
    library: FunctionLibrary,
    interactions: bool,
    cache: dict | None = None,
    key: tuple = (),
) -> _Features:
    """Every finite, non-constant feature, affine copies dropped (the simplest copy, then
    the first in column and library order, is kept): one library function of one column,
    and with ``interactions`` the products of two of those of different columns (at most
    :data:`MAX_PRODUCTS`, of the simplest functions: :func:`_product_pairs`). With a
    ``cache``, those of the objects ``key`` (the caller's ``x`` and library) are kept in
    it and computed once."""
    slot = (*map(id, key), interactions)
    if cache is not None and slot in cache:
        owners, features = cache[slot]
        if all(a is b for a, b in zip(owners, key, strict=True)):  # not a reused id
            return features
    if interactions:
        features = _with_products(_features(x, library, False, cache, key))
    else:
        features = _single_features(x, library)
    if cache is not None:
        cache[slot] = (key, features)
    return features


def _single_features(x: Tensor, library: FunctionLibrary) -> _Features:
    """One library function of one column: the finite, non-constant, distinct ones."""
    values, terms, complexity = [], [], []
    for name, fn in library.items():
        with torch.no_grad():
            table = torch.as_tensor(fn.torch_fn(x)).to(torch.float64)  # elementwise
        if table.shape != x.shape:
            continue
        for column in torch.isfinite(table).all(0).nonzero()[:, 0].tolist():
            values.append(table[:, column])
            terms.append(((name, column),))
            complexity.append(fn.complexity)
    return _distinct(x.shape[0], values, terms, complexity)


def _with_products(singles: _Features) -> _Features:
    """``singles`` and the products of two of them of different columns."""
    if singles.z.shape[1] < 2:
        return singles
    raw = singles.z * singles.scale + singles.mean
    pairs = _product_pairs(singles)
    if not pairs:
        return singles
    left, right = torch.tensor(pairs).T
    products = raw[:, left] * raw[:, right]
    # products of distinct functions of different columns are not affine copies of each
    # other or of a single function: only constant ones are dropped
    mean = products.mean(0)
    norm = (products - mean).norm(dim=0)
    varying = norm > 1e-12 * products.abs().amax(0) * math.sqrt(raw.shape[0])
    keep = (varying & torch.isfinite(norm)).nonzero()[:, 0]  # overflowing products: none
    return _Features(
        z=torch.cat([singles.z, (products[:, keep] - mean[keep]) / norm[keep]], 1),
        mean=torch.cat([singles.mean, mean[keep]]),
        scale=torch.cat([singles.scale, norm[keep]]),
        terms=singles.terms
        + [singles.terms[pairs[k][0]] + singles.terms[pairs[k][1]] for k in keep.tolist()],
        complexity=singles.complexity
        + [
            singles.complexity[pairs[k][0]] + singles.complexity[pairs[k][1]] + 1
            for k in keep.tolist()
        ],
    )


def _exhaustive_pool(size: int) -> int:
    """The most features whose subsets of ``size`` number at most :data:`MAX_SUBSETS`
    (at least 20)."""
    pool = max(20, size)
    while math.comb(pool + 1, size) <= MAX_SUBSETS:
        pool += 1
    return pool


def _check_weights(weights: object, n: int) -> tuple[Tensor, float]:
    """The weights scaled to mean 1 (all ones when not given), and their mean before."""
    if weights is None:
        return torch.ones(n, dtype=torch.float64), 1.0
    w = checked_weights(weights, n)
    return w / w.mean(), float(w.mean())


def _reweighted(features: _Features, weight: Tensor) -> _Features:
    """The features standardized for a weighted fit: centred at their weighted means,
    times the square root of the weights, scaled to unit norm (``mean`` and ``scale`` are
    then the weighted mean and the norm, as the coefficients need them)."""
    if bool((weight == 1).all()) or features.z.shape[1] == 0:
        return features
    raw = features.z * features.scale + features.mean
    mean = (weight[:, None] * raw).mean(0)
    centered = weight.sqrt()[:, None] * (raw - mean)
    norm = centered.norm(dim=0)
    norm = torch.where(norm > 0, norm, torch.ones_like(norm))
    return dataclasses.replace(features, z=centered / norm, mean=mean, scale=norm)


def _distinct(n: int, values: list[Tensor], terms: list[_Term], complexity: list[int]) -> _Features:
    """The features that vary, standardized, without affine copies."""
    if not values:
        empty = torch.empty(0, dtype=torch.float64)
        return _Features(torch.empty(n, 0, dtype=torch.float64), empty, empty, [], [])
    table = torch.stack(values, 1)
    mean = table.mean(0)
    centered = table - mean
    norm = centered.norm(dim=0)
    # constant on the data up to rounding: no term
    varying = norm > 1e-12 * table.abs().amax(0) * math.sqrt(n)
    z = centered / torch.where(varying, norm, 1.0)
    correlation = (z.T @ z).abs()
    kept: list[int] = []
    order = sorted(range(len(terms)), key=lambda i: (complexity[i], terms[i][0][1]))
    for index in order:  # the simplest copy first; a stable sort keeps library order
        if bool(varying[index]) and (
            not kept or float(correlation[index, kept].max()) < 1 - _DUPLICATE
        ):
            kept.append(index)
    kept.sort(key=lambda i: (len(terms[i]), terms[i][0][1], i))  # column, then library order
    return _Features(
        z=z[:, kept],
        mean=mean[kept],
        scale=norm[kept],
        terms=[terms[i] for i in kept],
        complexity=[complexity[i] for i in kept],
    )


def _product_pairs(singles: _Features) -> list[tuple[int, int]]:
    """Pairs of single features of different columns to multiply: those of the simplest
    features (by complexity, then in order), as many as keep the products at most
    :data:`MAX_PRODUCTS` (with many columns, products of the powers and the commonest
    functions rather than none)."""
    column = [term[0][1] for term in singles.terms]
    order = sorted(range(len(singles.terms)), key=lambda i: singles.complexity[i])
    chosen: list[int] = []
    count = 0
    for i in order:
        new = sum(column[j] != column[i] for j in chosen)
        if count + new > MAX_PRODUCTS:
            break
        chosen.append(i)
        count += new
    chosen.sort()
    return [(i, j) for a, i in enumerate(chosen) for j in chosen[a + 1 :] if column[i] != column[j]]


def _screen(z: Tensor, yc: Tensor, count: int) -> list[int]:
    """``count`` column indices of the standardized features ``z``: orthogonal matching
    pursuit's order and the order of absolute correlation with the centred target ``yc``,
    taken in turn. The pursuit works on the columns, not their Gram matrix: with a thousand
    products that costs ``count`` matrix-vector products instead of a matrix product."""
    moment = z.T @ yc
    correlation = torch.argsort(moment.abs(), descending=True).tolist()
    norms2 = (z * z).sum(0)  # of each column's part outside the chosen columns' span
    basis: list[Tensor] = []
    pursuit: list[int] = []
    for _ in range(min(count, z.shape[1])):
        gain = moment**2 / norms2.clamp_min(1e-300)
        gain[norms2 < _MIN_EIGEN_RATIO] = -1.0  # spanned by the features chosen
        if pursuit:
            gain[pursuit] = -1.0
        best = int(gain.argmax())
        if float(gain[best]) < 0:
            break
        pursuit.append(best)
        direction = z[:, best].clone()
        for _ in range(2):  # Gram-Schmidt, twice for orthogonality to rounding
            for q in basis:
                direction -= q * float(q @ direction)
        direction /= direction.norm()
        basis.append(direction)
        along = z.T @ direction
        norms2 = norms2 - along**2
        moment = moment - along * float(direction @ yc)  # z^T of the new residual
    pool: list[int] = []
    for pair in zip(pursuit + correlation[len(pursuit) :], correlation, strict=False):
        for index in pair:
            if index not in pool and len(pool) < count:
                pool.append(index)
    return pool


def _pair_screen(z: Tensor, yc: Tensor, count: int) -> list[int]:
    """The members of the pairs of standardized features ``z`` that explain the most of
    the centred target ``yc`` (all pairs, by their 2 x 2 normal equations; collinear pairs
    skipped), best pair first, ``count`` distinct indices at most. With many rows the
    Gram matrix is formed on an evenly spaced subset of them (a screen, not a fit)."""
    n, p = z.shape
    rows = max(_PAIR_ROWS, _PAIR_FLOPS // max(p * p, 1))
    if n > rows:
        step = -(-n // rows)
        z, yc = z[::step], yc[::step]
    gram, moment = z.T @ z, z.T @ yc
    diagonal = gram.diagonal()
    outer = diagonal[:, None] * diagonal[None, :]
    determinant = outer - gram**2
    explained = (
        moment[:, None] ** 2 * diagonal[None, :]
        - 2 * gram * moment[:, None] * moment[None, :]
        + moment[None, :] ** 2 * diagonal[:, None]
    ) / determinant.clamp_min(_TINY)
    usable = torch.triu(determinant > _MIN_EIGEN_RATIO * outer, diagonal=1)
    explained = torch.where(usable & torch.isfinite(explained), explained, -1.0)
    flat_explained = explained.reshape(-1)
    # each pair brings at most two new members; count^2 pairs bring count of them
    best = torch.topk(flat_explained, min(count * count, flat_explained.numel()))
    members: list[int] = []
    for value, flat in zip(best.values.tolist(), best.indices.tolist(), strict=True):
        if value < 0 or len(members) >= count:
            break
        for index in divmod(flat, p):
            if index not in members and len(members) < count:
                members.append(index)
    return members


def _well_conditioned(g: Tensor) -> Tensor:
    """Which of a batch of Gram matrices are finite with an eigenvalue ratio of at least
    :data:`_MIN_EIGEN_RATIO` (the solver may fail to converge on a nearly singular one:
    then each is tried alone, and the failures are not usable)."""
    finite = torch.isfinite(g).flatten(1).all(1)
    g = torch.where(finite[:, None, None], g, torch.eye(g.shape[1], dtype=g.dtype))
    try:
        eigen = torch.linalg.eigvalsh(g)
        return finite & (eigen[:, 0] >= _MIN_EIGEN_RATIO * eigen[:, -1])
    except RuntimeError:  # torch.linalg.LinAlgError
        usable = torch.zeros(g.shape[0], dtype=torch.bool)
        for i in torch.nonzero(finite)[:, 0].tolist():
            try:
                eigen = torch.linalg.eigvalsh(g[i])
            except RuntimeError:  # torch.linalg.LinAlgError
                continue
            usable[i] = bool(eigen[0] >= _MIN_EIGEN_RATIO * eigen[-1])
        return usable


@functools.cache
def _combinations(count: int, size: int) -> Tensor:
    """The subsets of ``size`` out of ``range(count)``, one per row (shared: not to be
    modified)."""
    # itertools builds the index table a hundred times faster than torch.combinations
    return torch.tensor(list(itertools.combinations(range(count), size)), dtype=torch.long).reshape(
        -1, size
    )


def _gram_best(gram: Tensor, moment: Tensor, total: float, size: int, first_new: int = 0) -> Tensor:
    """The subsets of ``size`` pool features with the smallest residual sum of squares by
    the normal equations (at most ``_KEEP_PER_SIZE``, collinear subsets skipped); only
    those with a member at or after ``first_new`` (the others were scored before)."""
    subsets = _combinations(gram.shape[0], size)
    if first_new:
        subsets = subsets[subsets[:, -1] >= first_new]  # rows are increasing
    g = gram[subsets[:, :, None], subsets[:, None, :]]
    b = moment[subsets]
    usable = _well_conditioned(g)
    if not bool(usable.any()):
        return subsets[:0]
    subsets, g, b = subsets[usable], g[usable], b[usable]
    solution, info = torch.linalg.solve_ex(g, b[:, :, None])
    solved = info == 0  # singular in the factorization despite the eigenvalue test
    subsets, b, beta = subsets[solved], b[solved], solution[solved][:, :, 0]
    rss = total - (b * beta).sum(1)
    order = torch.argsort(rss)[:_KEEP_PER_SIZE]
    return subsets[order]


def _solve(z: Tensor, yc: Tensor) -> tuple[Tensor, Tensor, float]:
    """Least squares by QR: coefficients, their unscaled covariance diagonal, RSS."""
    q, r = torch.linalg.qr(z)
    beta = torch.linalg.solve_triangular(r, (q.T @ yc)[:, None], upper=True)[:, 0]
    residual = yc - z @ beta
    r_inv = torch.linalg.solve_triangular(r, torch.eye(r.shape[0], dtype=r.dtype), upper=True)
    return beta, (r_inv**2).sum(1), float(residual @ residual)


def _pool_subsets(
    features: _Features,
    yc: Tensor,
    total: float,
    floor: float,
    max_terms: int,
    pool: list[int],
    criterion: Callable[[float, int], float],
    previous: Sequence[_Entry] = (),
    first_new: int = 0,
) -> tuple[list[_Entry], bool]:
    """The entries of :func:`_best_subsets` for the subsets of ``pool`` (the best of each
    size, sizes growing until one fits exactly), and whether one does. ``previous``: the
    entries of an earlier call on ``pool[:first_new]`` (none of them exact): only the
    subsets with a later member are scored, and the best of each size over both kept."""
    z = features.z[:, pool]
    gram, moment = z.T @ z, z.T @ yc
    entries: list[_Entry] = []
    exact = False
    for size in range(1, min(max_terms, len(pool), z.shape[0] - 2) + 1):
        found: list[_Entry] = []
        for subset in _gram_best(gram, moment, total, size, first_new).tolist():
            beta, variance, rss = _solve(z[:, subset], yc)
            chosen = tuple(pool[i] for i in subset)
            cost = sum(features.complexity[i] for i in chosen)
            found.append(_Entry(criterion(rss, size), cost, chosen, beta, variance, rss))
            exact = exact or rss <= floor
        found += [entry for entry in previous if len(entry.chosen) == size]
        entries += sorted(found, key=lambda entry: entry.rss)[:_KEEP_PER_SIZE]
        if exact:
            break
    return entries, exact


def _best_subsets(
    features: _Features,
    yc: Tensor,
    total: float,
    floor: float,
    max_terms: int,
    max_candidates: int,
) -> list[_Entry]:
    """The scored subsets of ``features`` for the centred target ``yc`` that tie with the best,
    best first (see the module docstring)."""
    n, p = features.z.shape

    def criterion(rss: float, k: int) -> float:
        return n * math.log(max(rss, floor) / n) + k * math.log(n) + 2 * math.log(math.comb(p, k))

    entries: list[_Entry] = [_Entry(criterion(total, 0), 0, (), (), (), total)]
    if total <= floor or p == 0:
        return entries
    pool = _screen(features.z, yc, max_candidates) if p > max_candidates else list(range(p))
    singles = [j for j, term in enumerate(features.terms) if len(term) == 1]
    if len(pool) < p and len(singles) < p:
        # among many products the screen can miss a single function that a weighted
        # target needs (its weights favour a few rows); the singles' own pursuit keeps
        # the best sums of single functions in the pool
        pool += [singles[j] for j in _screen(features.z[:, singles], yc, max_terms)]
        pool = list(dict.fromkeys(pool))
    found, exact = _pool_subsets(features, yc, total, floor, max_terms, pool, criterion)
    if not exact and len(pool) < p and max_terms >= 2:
        # the greedy screen takes near-copies of the best single feature; the members of
        # the best pairs (over all features) join it: on noisy data many pairs fit about
        # equally, and the simplest may pair two features that are each poor alone
        extra = [j for j in _pair_screen(features.z, yc, _PAIR_MEMBERS) if j not in pool]
        if extra:
            found, _ = _pool_subsets(
                features, yc, total, floor, max_terms, pool + extra, criterion, found, len(pool)
            )
    entries += found
    # subsets the data cannot tell apart (criterion within BIC_TIE of the best): the
    # simplest (least library complexity, which counts terms too) wins; then the
    # alternatives within ALTERNATIVE_BAND, simplest first
    lowest = min(e.criterion for e in entries)
    return sorted(
        (e for e in entries if e.criterion <= lowest + ALTERNATIVE_BAND),
        key=lambda e: (e.criterion > lowest + BIC_TIE, e.complexity, e.criterion),
    )


def sparse_sum_fit(
    x: Tensor,
    y: Tensor,
    library: LibraryLike,
    *,
    max_terms: int = 3,
    max_candidates: int | None = None,
    interactions: bool = False,
    weights: Tensor | None = None,
    noise: float = 0.0,
    ties: int = 0,
    cache: dict | None = None,
) -> SparseSumFit:
    """Fit ``y ~ c0 + sum_k c_k f_k(x[:, i_k])`` with a few library functions (float64).

    See the module docstring for the method.

    Parameters
    ----------
    x : Tensor of shape (n_samples,) or (n_samples, n_columns)
        Inputs, finite.
    y : Tensor of shape (n_samples,)
        Target, finite.
    library : library specification
        Functions the terms may use (anything
        :func:`kanscience.core.resolve_library` accepts: names, a ``FunctionLibrary``).
    max_terms : int
        Largest number of terms.
    max_candidates : int, optional
        Features searched exhaustively; more are screened down to this many first. Default:
        the most whose subsets of ``max_terms`` number at most :data:`MAX_SUBSETS`, and at
        least 20 (a screening by correlation can drop a term that is collinear with another
        on the data, as ``log x`` beside ``x``).
    interactions : bool
        Also products of two functions of different columns (``sqrt(r) cos(d)``), when
        there are at most :data:`MAX_PRODUCTS` such products.
    weights : Tensor of shape (n_samples,), optional
        Positive weights of a weighted least-squares fit (the inverse variances of the
        target's errors: for a transformed target ``g(y)`` with errors of equal size on
        ``y``, ``1 / g'(y)^2``).
    noise : float
        RMS of the target's errors where it is known (data from a surrogate model of
        known accuracy), on the scale of the errors the weights equalize: subsets whose
        residuals are within it count as exact fits, so the fewest terms that reach it
        win (no term is added to fit the surrogate's own error).
    ties : int
        Keep up to this many of the other subsets that tie with the chosen one
        (:attr:`SparseSumFit.ties`), for a caller that can tell them apart on other data.
    cache : dict, optional
        A dict the caller keeps across fits on the same ``x`` and ``library`` objects
        (unchanged in between: several targets or weights on the same inputs): their
        library features are computed once and kept in it.

    Returns
    -------
    SparseSumFit
        The chosen terms, coefficients, intercept, residual and ``R^2``; no terms when no
        feature improves the criterion over the mean (or none is usable).

    Raises
    ------
    ValueError
        For inputs of the wrong shape, non-finite ``x`` or ``y``, an unknown function in
        ``library``, ``max_terms < 1``, ``max_candidates < max_terms``, or weights of
        another shape or not finite and positive, ``ties < 0``.

    Examples
    --------
    >>> x = torch.linspace(0.0, 3.0, 100, dtype=torch.float64)[:, None].repeat(1, 2)
    >>> x[:, 1] = x[:, 1].flip(0)
    >>> fit = sparse_sum_fit(x, 2 * torch.sin(x[:, 0]) + 3 * x[:, 1] ** 2, ["x^2", "sin"])
    >>> [(term, round(c, 9)) for term, c in zip(fit.terms, fit.coefficients)]
    [((('sin', 0),), 2.0), ((('x^2', 1),), 3.0)]
    """
    xt, yt = _check_inputs(x, y)
    max_terms = _check_count(max_terms, "max_terms", 1)
    if max_candidates is None:
        max_candidates = _exhaustive_pool(max_terms)
    max_candidates = _check_count(max_candidates, "max_candidates", max_terms)
    ties = _check_count(ties, "ties", 0)
    try:
        lib = resolve_library(library)
    except (ValueError, TypeError) as error:
        raise ValueError(f"library: {error}") from None
    n = xt.shape[0]
    if not (isinstance(noise, (int, float)) and math.isfinite(noise) and noise >= 0):
        raise ValueError(f"noise must be a finite number >= 0, got {noise!r}")
    weight, weight_scale = _check_weights(weights, n)
    mean_y = float((weight * yt).mean())
    yc = (yt - mean_y) * weight.sqrt()
    total = float(yc @ yc)
    # rounding level: the target's spread to 1e-12, and at least a few ulps of its values
    rounding = max(_EXACT * math.sqrt(total / n), 16 * _EPS * float(yt.abs().max()))
    # positive, for the logarithm of an exact fit; the weights were scaled to mean 1
    floor = max(n * rounding**2, n * noise**2 / weight_scale, _TINY)
    # sums of single functions first; products only where those do not fit exactly (a
    # larger pool dilutes the screening of the single terms)
    best: tuple | None = None
    for with_products in (False, True) if interactions else (False,):
        features = _features(xt, lib, with_products, cache, (x, library))
        features = _reweighted(features, weight)
        entries = _best_subsets(features, yc, total, floor, max_terms, max_candidates)
        first = entries[0]
        if best is None or (first.criterion, first.complexity) < (
            best[0][0].criterion,
            best[0][0].complexity,
        ):
            best = (entries, features)
        if best[0][0].rss <= floor:
            break
    assert best is not None
    entries, features = best
    fits = [
        _fit_of(entry, features, mean_y, total, n, xt.shape[1], lib)
        for entry in entries[: ties + 1]
    ]
    return dataclasses.replace(fits[0], ties=tuple(fits[1:]))


def _fit_of(
    entry: _Entry,
    features: _Features,
    mean_y: float,
    total: float,
    n: int,
    n_columns: int,
    lib: FunctionLibrary,
) -> SparseSumFit:
    """The :class:`SparseSumFit` of one subset entry of :func:`_best_subsets`, its
    coefficients on the scale of the unstandardized features."""
    criterion, cost, chosen, beta, variance, rss = entry
    order = sorted(range(len(chosen)), key=lambda i: chosen[i])  # by column, library order
    chosen = [chosen[i] for i in order]
    beta, variance = [beta[i] for i in order], [variance[i] for i in order]
    k = len(chosen)
    sigma2 = rss / (n - k - 1) if n > k + 1 else math.nan
    scale = features.scale[chosen]
    coefficients = [float(b) / float(s) for b, s in zip(beta, scale, strict=True)]
    errors = [math.sqrt(sigma2 * float(v)) / float(s) for v, s in zip(variance, scale, strict=True)]
    means = [float(features.mean[i]) for i in chosen]
    intercept = mean_y - sum(c * m for c, m in zip(coefficients, means, strict=True))
    return SparseSumFit(
        terms=tuple(features.terms[i] for i in chosen),
        coefficients=tuple(coefficients),
        intercept=intercept,
        standard_errors=tuple(errors),
        rss=rss,
        r2=1.0 - rss / total if total > 0 else 1.0,
        criterion=criterion,
        n_columns=n_columns,
        complexity=cost,
        library=lib,
    )
