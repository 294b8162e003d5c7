"""Layers for the nodes of a layout: scheduling and hoisting.

A node must sit at least one layer above every node it reads; a value needed more than one
layer later is carried by identity nodes, one per layer. :func:`schedule` places nodes as
early as possible, then moves them one at a time to the layer that needs the fewest
carries. :func:`hoist` then tries to compute a group of early terms of a sum (or early
factors of a product) in a node of its own, keeping each change that saves nodes.

Examples
--------
>>> items = [Item("input"), Item("input"), Item("sum", [Sum((Term(0, "x"), Term(1, "sin")))])]
>>> s = schedule(items, roots=[2])
>>> s.layer, s.depth, s.carries
([0, 0, 1], 1, 0)
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

__all__ = [
    "Item",
    "Schedule",
    "Sum",
    "Term",
    "candidates",
    "hoist",
    "schedule",
    "size",
    "topological",
]


@dataclass(frozen=True)
class Term:
    """One edge: ``c * fn(a * source + b)``; ``source`` indexes the previous layer."""

    source: int
    fn: str
    a: float = 1.0
    b: float = 0.0
    c: float = 1.0


@dataclass(frozen=True)
class Sum:
    """One subnode: the sum of its edges plus ``bias``."""

    terms: tuple[Term, ...]
    bias: float = 0.0


@dataclass
class Item:
    """A node before scheduling: a sum, a product (one Sum per factor) or an input;
    term sources are item indices."""

    kind: str
    sums: list[Sum] = field(default_factory=list)
    scale: float = 1.0
    bias: float = 0.0
    label: str = ""

    def sources(self) -> set[int]:
        return {t.source for s in self.sums for t in s.terms}


@dataclass
class Schedule:
    layer: list[int]
    depth: int
    need: list[int]  # last layer where each item's value is needed (-1: never)

    @property
    def carries(self) -> int:
        return sum(max(0, n - l) for n, l in zip(self.need, self.layer))


def topological(sources: list[list[int]]) -> list[int]:
    order, state = [], [0] * len(sources)
    for start in range(len(sources)):
        stack = [(start, iter(sources[start]))]
        if state[start]:
            continue
        state[start] = 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                order.append(node)
            elif not state[child]:
                state[child] = 1
                stack.append((child, iter(sources[child])))
    return order


def schedule(items: list[Item], roots: list[int]) -> Schedule:
    """Layers for all items: as early as possible, then greedy moves that cut carries."""
    n = len(items)
    sources = [sorted(item.sources()) for item in items]
    consumers: list[list[int]] = [[] for _ in range(n)]
    for i, src in enumerate(sources):
        for s in src:
            consumers[s].append(i)
    is_root = set(roots)
    order = [i for i in topological(sources) if items[i].kind != "input"]
    layer = [0] * n
    for i in order:
        layer[i] = 1 + max((layer[s] for s in sources[i]), default=0)
    depth = max([1] + [layer[r] for r in roots])

    def need(i: int) -> int:
        return max([layer[c] - 1 for c in consumers[i]] + ([depth] if i in is_root else [-1]))

    def cost() -> int:
        return sum(max(0, need(i) - layer[i]) for i in range(n))

    current = cost()
    for _ in range(20):
        changed = False
        for sweep in (order[::-1], order):
            for i in sweep:
                lo = 1 + max((layer[s] for s in sources[i]), default=0)
                hi = min([layer[c] - 1 for c in consumers[i]] + [depth])
                best, start = current, layer[i]
                for candidate in range(lo, hi + 1):
                    layer[i] = candidate
                    value = cost()
                    if value < best:
                        best, start, changed = value, candidate, True
                layer[i], current = start, best
        if not changed:
            break
    return Schedule(layer, depth, [need(i) for i in range(n)])


def size(items: list[Item], roots: list[int]) -> tuple[int, int]:
    """(non-input nodes after carrying, depth) of a schedule of ``items``."""
    placed = schedule(items, roots)
    computed = sum(item.kind != "input" for item in items)
    return computed + placed.carries, placed.depth


def candidates(items: list[Item], layer: list[int]):
    """Items lists with one group of early terms (or factors) computed in a new node."""
    new = len(items)
    for p, item in enumerate(items):
        for position, s in enumerate(item.sums):  # partial sums
            for level in sorted({layer[t.source] for t in s.terms})[:-1] + [None]:
                group = [t for t in s.terms if level is None or layer[t.source] <= level]
                rest = [t for t in s.terms if t not in group]
                if len(group) < 2 or (not rest and item.kind == "sum"):
                    continue
                sums = list(item.sums)
                sums[position] = Sum((*rest, Term(new, "x")), s.bias)
                yield [
                    *items[:p],
                    replace(item, sums=sums),
                    *items[p + 1 :],
                    Item("sum", [Sum(tuple(group))], label=f"partial sum of {item.label}"),
                ]
        if item.kind != "prod" or len(item.sums) < 3:
            continue
        levels = [max((layer[t.source] for t in s.terms), default=0) for s in item.sums]
        for level in sorted(set(levels))[:-1]:  # partial products
            group = [s for s, v in zip(item.sums, levels) if v <= level]
            rest = [s for s, v in zip(item.sums, levels) if v > level]
            if len(group) < 2:
                continue
            yield [
                *items[:p],
                replace(item, sums=[*rest, Sum((Term(new, "x"),))]),
                *items[p + 1 :],
                Item("prod", group, label=f"partial product of {item.label}"),
            ]


def hoist(items: list[Item], roots: list[int]) -> list[Item]:
    """Pre-compute groups of early terms of a sum (or early factors of a product) in a
    node of their own where that needs fewer nodes than carrying each source (greedy,
    best move first, until no move helps)."""
    best = size(items, roots)
    while True:
        layer = schedule(items, roots).layer
        found = None
        for candidate in candidates(items, layer):
            candidate_size = size(candidate, roots)
            if candidate_size < best:
                best, found = candidate_size, candidate
        if found is None:
            return items
        items = found
