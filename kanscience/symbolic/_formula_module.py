"""A formula as a trainable torch module: its fitted constants are parameters.

:class:`FormulaModule` compiles a sympy expression once (through the dispatch table of
:func:`kanscience.symbolic.formula_to_torch`) with every float of the expression replaced
by an entry of one ``nn.Parameter``; equal floats are one parameter, integers and
rationals (snapped constants) stay fixed, as in :func:`kanscience.symbolic.fit_constants`.
Any torch optimizer then refits the constants, and :meth:`FormulaModule.to_sympy` reads
the trained formula back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import sympy
import torch
from torch import Tensor, nn

from ..core import torch_function_table
from ..core._functions import LibraryLike
from ._constants import constant_template
from ._to_torch import compile_expression

__all__ = ["FormulaModule"]


class FormulaModule(nn.Module):
    """``y = f(x; constants)`` for ``x`` (batch, len(variables)), the constants trainable.

    Parameters
    ----------
    expr : sympy.Expr
    variables : sequence of sympy.Symbol, in the column order of ``x``
    library : library specification, optional
        Extra function heads (see :func:`kanscience.symbolic.formula_to_torch`).
    dtype : torch.dtype
        Of the constants (float64 by default; ``.to()`` changes it like any module's).

    Attributes
    ----------
    constants : nn.Parameter, shape (n_constants,)
        The distinct floats of ``expr``, ordered by their starting value.

    Examples
    --------
    >>> t = sympy.Symbol("t")
    >>> module = FormulaModule(2.0 * sympy.exp(-0.5 * t) + 1, [t])
    >>> module.constants.tolist()
    [-0.5, 2.0]
    >>> module(torch.zeros(1, 1, dtype=torch.float64)).tolist()
    [3.0]
    >>> with torch.no_grad():
    ...     _ = module.constants.copy_(torch.tensor([-1.0, 4.0]))
    >>> module.to_sympy()
    1 + 4.0*exp(-1.0*t)
    """

    constants: nn.Parameter

    def __init__(
        self,
        expr: sympy.Expr,
        variables: Sequence[sympy.Symbol],
        library: LibraryLike = None,
        dtype: torch.dtype = torch.float64,
    ) -> None:
        super().__init__()
        self.variables = tuple(variables)
        self._template, self._constant_symbols, start = constant_template(expr)
        index = {s: k for k, s in enumerate([*self.variables, *self._constant_symbols])}
        self._compiled = compile_expression(self._template, index, torch_function_table(library))
        self.constants = nn.Parameter(torch.tensor(start, dtype=dtype))

    def forward(self, x: Tensor) -> Tensor:
        """The formula at the rows of ``x`` (batch, len(variables)) -> (batch,)."""
        n = len(self.variables)
        if not isinstance(x, Tensor) or x.ndim != 2 or x.shape[1] != n:
            raise ValueError(
                f"x must be a tensor of shape (batch, {n}), got "
                f"{getattr(x, 'shape', type(x).__name__)}"
            )
        rows = self.constants.to(x.dtype).expand(x.shape[0], -1)
        return self._compiled(torch.cat([x, rows], dim=1))

    def to_sympy(self) -> sympy.Expr:
        """The formula with the current values of the constants (as floats)."""
        values = self.constants.detach().to(torch.float64).tolist()
        fitted = {p: sympy.Float(v) for p, v in zip(self._constant_symbols, values)}
        return cast(sympy.Expr, self._template.xreplace(fitted))
