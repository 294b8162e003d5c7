"""A module of a learned invariant that is a function of one derived variable.

A network on derived inputs (pairwise products, squared norms of pairs:
:mod:`kanscience.physics._invariant_learning`) may use several coordinates through one of
them only: a module ``M(qx, qy)`` that is ``g(qx^2 + qy^2)``. Its symbolic search is then
one-dimensional, in ``u = qx^2 + qy^2`` (a search in the coordinates looks for a
composition it may not reach, and prefers products of functions of one coordinate that
follow the network's values). ``M`` is a function of ``u`` exactly when its gradient is
parallel to ``grad u`` at every state: the test is the RMS share of ``grad M``
perpendicular to ``grad u``, judged against the network's accuracy (its conservation
residual is the same kind of number: the share of its gradient along the flow, which it
should not have), in units of the module's share of the network's gradient.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import sympy
import torch
from torch import Tensor

from ..symbolic import formula_to_torch

__all__ = ["DerivedVariable", "derived_variable"]

# a module is a function of a derived variable when the share of its gradient
# perpendicular to the variable's is below this many times the network's accuracy (a
# gradient-direction error); a module of several variables has a share of order one
_ACCURACY_FACTOR = 10.0

DerivedVariable = tuple[sympy.Expr, Tensor, float]  # the variable, its values, the score


def _gradient(function: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    inputs = x.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        values = function(inputs).reshape(-1)
        (gradient,) = torch.autograd.grad(values.sum(), inputs, allow_unused=True)
    return torch.zeros_like(x) if gradient is None else gradient


def perpendicular_share(module_gradient: Tensor, variable_gradient: Tensor) -> float:
    """RMS of the part of ``module_gradient`` (n, g) perpendicular to ``variable_gradient``
    (n, g), over the RMS of ``module_gradient``: 0 when the module is a function of the
    variable.

    >>> q = torch.rand(50, 2, dtype=torch.float64) + 0.1
    >>> s = 2 * q  # gradient of qx^2 + qy^2
    >>> perpendicular_share(-3 * s / (q.pow(2).sum(1, keepdim=True) + 1), s) < 1e-12
    True
    """
    unit = variable_gradient / variable_gradient.norm(dim=1, keepdim=True).clamp_min(1e-300)
    along = (module_gradient * unit).sum(1, keepdim=True) * unit
    total = float(module_gradient.pow(2).sum(1).mean().sqrt())
    if total == 0:
        return float("inf")
    return float((module_gradient - along).pow(2).sum(1).mean().sqrt()) / total


def derived_variable(
    network: Callable[[Tensor], Tensor],
    inputs: Tensor,
    group: Sequence[int],
    candidates: Sequence[sympy.Expr],
    symbols: list[sympy.Symbol],
    accuracy: float | None,
) -> DerivedVariable | None:
    """The derived variable among ``candidates`` (expressions of exactly the coordinates
    in ``group``, two or more) that the module of ``network`` on ``group`` is a function
    of, with its values at ``inputs`` and its score (:func:`perpendicular_share`); None
    when there is none (see the module docstring).

    Parameters
    ----------
    network : callable
        States (n, d) -> values, differentiable.
    inputs : Tensor (n, d)
        States where the module varies the coordinates of ``group`` only.
    group : sequence of int
        The module's coordinates.
    candidates : sequence of sympy.Expr
        Derived variables (for instance the network's inputs).
    symbols : list of sympy.Symbol
    accuracy : float or None
        Relative accuracy of the network (its conservation residual); None: no test.
    """
    names = {symbols[i] for i in group}
    usable = [u for u in candidates if len(names) >= 2 and u.free_symbols == names]
    if not usable or accuracy is None or not accuracy > 0:
        return None
    gradient = _gradient(network, inputs)
    module = gradient[:, list(group)]
    share = float(module.pow(2).sum(1).mean().sqrt() / gradient.pow(2).sum(1).mean().sqrt())
    threshold = _ACCURACY_FACTOR * accuracy / max(share, 1e-12)
    best: DerivedVariable | None = None
    for u in usable:
        function = formula_to_torch(u, symbols)
        variable = _gradient(function, inputs)[:, list(group)]
        score = perpendicular_share(module, variable)
        if score < threshold and (best is None or score < best[2]):
            with torch.no_grad():
                values = function(inputs).reshape(-1).to(inputs.dtype)
            best = (u, values, score)
    return best
