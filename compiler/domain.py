"""Is a formula finite on a box of inputs? Poles between samples count.

Examples
--------
>>> import sympy
>>> from compiler.graph import build_graph
>>> x = sympy.Symbol("x")
>>> check_finite(build_graph(1 / x, ["x"]), [(-1.0, 1.0)])  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
ValueError: the formula is not finite on the requested ranges (x in [-1, 1]): in 1/x, ...
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from .nodes import FormulaGraph, Pow, Unary

__all__ = ["ZERO_POLES", "box_points", "check_finite"]

#: Functions singular where their argument is 0 (a sign change inside a range is a pole).
ZERO_POLES = frozenset({"1/x", "1/x^2", "1/x^3", "1/x^4", "1/x^5", "1/sqrt(x)", "1/x^0.5", "log"})


def box_points(bounds: Tensor, n_samples: int, seed: int) -> Tensor:
    """The corners of the box ``bounds`` (n, 2) (all of them up to 12 inputs, else 1024)
    and ``n_samples`` uniform random points, float64, shape (samples, n)."""
    n = bounds.shape[0]
    generator = torch.Generator().manual_seed(seed)
    u = torch.rand(n_samples, n, generator=generator, dtype=torch.float64)
    if n <= 12:  # all corners
        corners = torch.cartesian_prod(*[torch.tensor([0.0, 1.0], dtype=torch.float64)] * n)
    else:  # random corners, and the lowest and highest one
        corners = torch.rand(1022, n, generator=generator, dtype=torch.float64).round()
        corners = torch.cat([torch.zeros(1, n), torch.ones(1, n), corners.to(torch.float32)])
    u = torch.cat([corners.reshape(-1, n).to(torch.float64), u])
    return bounds[:, 0] + u * (bounds[:, 1] - bounds[:, 0])


def check_finite(
    graph: FormulaGraph,
    ranges: Sequence[tuple[float, float]],
    n_samples: int = 2048,
    seed: int = 0,
) -> Tensor:
    """Raise ValueError if the formulas are not finite on the box ``ranges``.

    The formulas are evaluated (float64) on the box's corners and ``n_samples`` random
    points; every node must be finite there, and the argument of a function with a pole
    at zero (``1/x``, ``log``, ...) or of ``tan`` must not cross a pole between samples.

    Returns
    -------
    Tensor, shape (samples, n_variables)
        The points checked.
    """
    bounds = torch.as_tensor([[float(lo), float(hi)] for lo, hi in ranges], dtype=torch.float64)
    x = box_points(bounds, n_samples, seed)
    values = graph.evaluate(x)
    box = ", ".join(f"{n} in [{lo:g}, {hi:g}]" for n, (lo, hi) in zip(graph.variables, ranges))
    for index, (node, value) in enumerate(zip(graph.nodes, values)):
        problem = None
        if isinstance(node, (Unary, Pow)):
            z = node.a * values[node.child] + node.b
            if node.fn in ZERO_POLES and (z.min() <= 0 <= z.max()):
                problem = f"the argument of {node.fn} reaches 0 (a pole or log singularity)"
            elif node.fn == "tan":
                branch = torch.floor((z - math.pi / 2) / math.pi)
                if branch.min() != branch.max():
                    problem = "the argument of tan crosses a pole at pi/2 + k*pi"
        if problem is None and not bool(torch.isfinite(value).all()):
            problem = "it is not finite (NaN or inf) there"
        if problem is not None:
            raise ValueError(
                f"the formula is not finite on the requested ranges ({box}): in "
                f"{graph.sources[index]}, {problem}"
            )
    return x
