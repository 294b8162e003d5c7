"""The B-spline toolbox in one namespace (pure tensor math, no modules).

Three concepts, one module each:

- :mod:`kanscience.core._bases`: the per-interval polynomial table, local and dense bases,
  spline values;
- :mod:`kanscience.core._features`: a layer's input features ``[base(x), B_0(x), ...]`` as
  one autograd function (compiled loops on the CPU where they apply);
- :mod:`kanscience.core._grids`: uniform and data-adaptive grids, least-squares
  coefficients, grid updates and refinements.

Examples
--------
>>> import torch
>>> grid = uniform_grid(1, num=5, k=3)
>>> x = torch.linspace(-1, 0.99, 7)[:, None]
>>> bool(torch.allclose(basis_matrix(x, grid, 3).sum(-1), torch.ones(7, 1)))
True
"""

from __future__ import annotations

from ._bases import basis_matrix, evaluate_splines, local_bases, spline_table
from ._features import (
    BASE_FUNCTION_NAMES,
    base_function,
    dense_features,
    features_and_slopes,
    features_backward,
    spline_features,
)
from ._grids import (
    adaptive_grid,
    extend_grid,
    fit_coefficients,
    refine_grid,
    uniform_grid,
    update_grid,
)

__all__ = [
    "BASE_FUNCTION_NAMES",
    "adaptive_grid",
    "base_function",
    "basis_matrix",
    "dense_features",
    "evaluate_splines",
    "extend_grid",
    "features_and_slopes",
    "features_backward",
    "fit_coefficients",
    "local_bases",
    "refine_grid",
    "spline_features",
    "spline_table",
    "uniform_grid",
    "update_grid",
]
