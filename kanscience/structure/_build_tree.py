"""Tree converter: how a function combines its variables, from hypothesis tests.

:func:`build_tree` splits the variables of any torch callable recursively, holding
the variables outside a block at their median while it looks inside the block:

1. additive split ``f = sum f_k(x_Gk)`` -> ``'add'`` node;
2. multiplicative split ``f = prod f_k(x_Gk)`` -> ``'mul'`` node;
3. general split ``f = h(sum p_k(x_Gk))`` -> ``'general'`` node (the unknown ``h``)
   with one ``'add'`` child over the blocks; the blocks are the finest partition
   whose every block-versus-rest split passes :func:`general_separability`;
4. otherwise, blocks through which ``f`` sees its variables as one combination
   (largest symmetric blocks first, :func:`symmetry`) -> ``'general'`` node over
   the block subtrees and the remaining variables;
5. otherwise a ``'general'`` node directly over its variables (no structure found).

So a ``'general'`` node is an unknown function of its children's values, ``'add'`` and
``'mul'`` combine them, and ``'var'`` leaves are (functions of) single inputs.  Inside a
``'general'`` node each block is only known up to a monotone reparametrization.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ._hypothesis import SEPARABILITY_THRESHOLD, separability
from ._interactions import _derangement, _evaluate
from ._sampling import Ranges, Seed, _as_callable, _generator, _inputs
from ._symmetry import GENERAL_THRESHOLD, SYMMETRY_THRESHOLD, general_separability, symmetry
from ._tree import Tree, TreeNode

__all__ = ["build_tree"]


@dataclass(frozen=True)
class _Config:
    f: Callable
    x: torch.Tensor
    base: torch.Tensor
    separability_threshold: float
    symmetry_threshold: float
    general_threshold: float
    max_exhaustive: int
    seed: int


def _restricted(f: Callable, base: torch.Tensor, block: tuple[int, ...]) -> Callable:
    """f as a function of x[:, block], the other variables held at ``base``."""
    cols = list(block)

    def sub(z: torch.Tensor) -> torch.Tensor:
        full = base.expand(z.shape[0], -1).clone()
        full[:, cols] = z
        return _evaluate(f, full)

    return sub


def _subsets(block: tuple[int, ...], limit: int) -> list[tuple[int, ...]]:
    """Proper subsets with 1 <= size < len(block); all of them up to ``limit`` variables,
    else the singletons and pairs."""
    top = len(block) if len(block) <= limit else 3
    return [s for k in range(1, top) for s in itertools.combinations(block, k)]


def _general_blocks(sub: Callable, xb: torch.Tensor, cfg: _Config):
    """Finest blocks A_k with sub = h(sum p_k(A_k)), and the best split score."""
    d = xb.shape[1]
    everything = tuple(range(d))
    passed, best = [], 1.0
    exhaustive = d <= cfg.max_exhaustive
    for a in _subsets(everything, cfg.max_exhaustive):
        if exhaustive and 0 not in a:  # each bipartition once
            continue
        rest = tuple(i for i in everything if i not in a)
        res = general_separability(
            sub, xb, (a, rest), threshold=cfg.general_threshold, seed=cfg.seed
        )
        best = min(best, res.score)
        if res.separable:
            passed.append((set(a), res.score))
    # atoms: variables that no passing split separates
    signature = {i: tuple(i in a for a, _ in passed) for i in everything}
    atoms: dict[tuple[bool, ...], list[int]] = {}
    for i in everything:
        atoms.setdefault(signature[i], []).append(i)
    blocks = sorted(tuple(v) for v in atoms.values())
    worst = max((s for a, s in passed), default=best)
    return blocks, (worst if len(blocks) > 1 else best)


def _offset_product(sub: Callable, xb: torch.Tensor, blocks: list[tuple[int, ...]], cfg: _Config):
    """Multiplicative split of ``sub - c`` (a product plus a constant), or None.

    For ``g = u(a) v(b) + c`` and points ``(a,b), (a,b'), (a',b), (a',b')``:
    ``c = (g1 g4 - g2 g3) / (g1 + g4 - g2 - g3)``; the median over points is tested.
    """
    n = xb.shape[0]
    perm = _derangement(n, torch.Generator().manual_seed(cfg.seed))
    first = list(blocks[0])
    rest = [i for i in range(xb.shape[1]) if i not in blocks[0]]
    x_b, x_a = xb.clone(), xb.clone()
    x_b[:, rest] = xb[perm][:, rest]
    x_a[:, first] = xb[perm][:, first]
    with torch.no_grad():
        g1, g2, g3 = sub(xb), sub(x_b), sub(x_a)
    g4 = g1[perm]
    den = g1 + g4 - g2 - g3
    ok = den.abs() > 1e-6 * g1.abs().max()
    if int(ok.sum()) < n // 4:
        return None
    c = ((g1 * g4 - g2 * g3)[ok] / den[ok]).median()

    def shifted(z: torch.Tensor) -> torch.Tensor:
        return sub(z) - c

    with torch.no_grad():
        if not bool(torch.isfinite(c)) or bool((shifted(xb) == 0).any()):
            return None
    res = separability(shifted, xb, mode="mul", threshold=cfg.separability_threshold)
    return res if res.separable else None


def _symmetric_blocks(sub: Callable, xb: torch.Tensor, cfg: _Config):
    d = xb.shape[1]
    candidates = [s for s in _subsets(tuple(range(d)), cfg.max_exhaustive) if len(s) >= 2]
    chosen: list[tuple[int, ...]] = []
    scores: list[float] = []
    for s in sorted(candidates, key=lambda s: -len(s)):  # largest blocks first
        if any(set(s) & set(c) for c in chosen):
            continue
        res = symmetry(sub, xb, s, threshold=cfg.symmetry_threshold, seed=cfg.seed)
        if res.symmetric:
            chosen.append(s)
            scores.append(res.score)
    return chosen, max(scores, default=0.0)


def _build(block: tuple[int, ...], cfg: _Config) -> TreeNode:
    if len(block) == 1:
        return TreeNode("var", block)
    sub = _restricted(cfg.f, cfg.base, block)
    xb = cfg.x[:, list(block)]

    def child(local: Sequence[int]) -> TreeNode:
        return _build(tuple(block[i] for i in local), cfg)

    add = separability(sub, xb, mode="add", threshold=cfg.separability_threshold)
    if add.separable:
        return TreeNode("add", block, tuple(child(g) for g in add.groups), add.score)
    if not bool((sub(xb) == 0).any()):
        mul = separability(sub, xb, mode="mul", threshold=cfg.separability_threshold)
        if mul.separable:
            return TreeNode("mul", block, tuple(child(g) for g in mul.groups), mul.score)
    blocks, score = _general_blocks(sub, xb, cfg)
    if len(blocks) > 1:
        shifted = _offset_product(sub, xb, blocks, cfg)
        if shifted is not None:
            return TreeNode("mul", block, tuple(child(g) for g in shifted.groups), shifted.score)
        inner = TreeNode("add", block, tuple(child(g) for g in blocks), score)
        return TreeNode("general", block, (inner,), score)
    groups, sym_score = _symmetric_blocks(sub, xb, cfg)
    if groups:
        grouped = {i for g in groups for i in g}
        parts = [child(g) for g in groups] + [
            child((i,)) for i in range(len(block)) if i not in grouped
        ]
        return TreeNode("general", block, tuple(parts), sym_score)
    return TreeNode("general", block, tuple(child((i,)) for i in range(len(block))), score)


def build_tree(
    f: Callable,
    x: torch.Tensor | np.ndarray | None = None,
    var_names: Sequence[str] | None = None,
    *,
    separability_threshold: float = SEPARABILITY_THRESHOLD,
    symmetry_threshold: float = SYMMETRY_THRESHOLD,
    general_threshold: float = GENERAL_THRESHOLD,
    max_exhaustive: int = 8,
    ranges: Ranges | None = None,
    n_samples: int = 300,
    seed: Seed = 0,
) -> Tree:
    """Tree of how ``f`` combines its inputs (see the module docstring for the rules).

    Parameters
    ----------
    f : callable
        ``(n, d)`` float64 tensor -> ``(n,)`` or ``(n, 1)``, twice differentiable.
    x : array of shape (n, d), optional
        Sample points; else ``n_samples`` points drawn from ``ranges``.
    var_names : sequence of str, optional
        Leaf names; default ``x1 .. xd``.
    separability_threshold, symmetry_threshold, general_threshold : float in (0, 1)
        Thresholds of :func:`separability`, :func:`symmetry`, :func:`general_separability`.
    max_exhaustive : int
        Blocks up to this many variables try every subset in the general and symmetry
        searches; larger blocks try single variables and pairs only.
    ranges, n_samples, seed
        Sampling (when ``x`` is omitted) and the pairings of the tests.

    Returns
    -------
    Tree

    Examples
    --------
    >>> f = lambda x: (x[:, 0] + x[:, 1]) * (x[:, 2] + x[:, 3])
    >>> build_tree(f, ranges=[(1, 2)] * 4).shape()
    'mul(add(x1,x2),add(x3,x4))'
    """
    f = _as_callable(f)
    gen = _generator(seed)
    x = _inputs(x, ranges, n_samples, gen)
    d = x.shape[1]
    names = tuple(f"x{i + 1}" for i in range(d)) if var_names is None else tuple(var_names)
    if len(names) != d or len(set(names)) != d or not all(isinstance(n, str) for n in names):
        raise ValueError(f"var_names must be {d} distinct strings, got {var_names!r}")
    if (
        isinstance(max_exhaustive, bool)
        or not isinstance(max_exhaustive, int)
        or max_exhaustive < 2
    ):
        raise ValueError(f"max_exhaustive must be an int >= 2, got {max_exhaustive!r}")
    _evaluate(f, x)
    cfg = _Config(
        f=f,
        x=x,
        base=x.median(dim=0).values,
        separability_threshold=separability_threshold,
        symmetry_threshold=symmetry_threshold,
        general_threshold=general_threshold,
        max_exhaustive=max_exhaustive,
        seed=int(torch.randint(0, 2**31 - 1, (1,), generator=gen)),
    )
    return Tree(_build(tuple(range(d)), cfg), names)
