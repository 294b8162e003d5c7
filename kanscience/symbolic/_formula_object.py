"""A formula as a product: one sympy expression and its ordered variables, exported.

:class:`Formula` holds the one source of truth, a sympy expression, with the variables in
the column order of the data. Every export is derived from it by a library: LaTeX and code
in other languages by sympy's printers, numpy and JAX functions by ``sympy.lambdify``, a
trainable torch module by the project's sympy -> torch dispatch table
(:class:`~kanscience.symbolic.FormulaModule`). No printer is written here.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import sympy
from sympy import printing

from ..core import parse_formula
from ..core._functions import LibraryLike
from ..core._html import escape, latex_math, mathml, result_block
from ._formula_module import FormulaModule

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["CODE_PRINTERS", "Formula"]

CODE_PRINTERS: Mapping[str, tuple[Callable[..., Any], Mapping[str, Any]]] = {
    "c": (printing.ccode, {"standard": "c99"}),
    "c++": (printing.cxxcode, {}),
    "fortran": (printing.fcode, {"standard": 95, "source_format": "free"}),
    "javascript": (printing.jscode, {}),
    "julia": (printing.julia_code, {}),
    "mathematica": (printing.mathematica_code, {}),
    "octave": (printing.octave_code, {}),
    "python": (printing.pycode, {}),
    "r": (printing.rcode, {}),
    "rust": (printing.rust_code, {}),
}
"""Languages of :meth:`Formula.to_code`: sympy's printer and its default settings."""


def _symbols(
    variables: Sequence[sympy.Symbol | str], expr: sympy.Expr | None
) -> tuple[sympy.Symbol, ...]:
    """The variables as symbols; a name matches the expression's symbol of that name (so
    ``"x"`` is the formula's ``x`` whatever its assumptions), else becomes a real symbol."""
    if isinstance(variables, (str, sympy.Basic)) or not isinstance(variables, Sequence):
        raise TypeError(
            f"variables must be a sequence of sympy symbols or names, got {variables!r}"
        )
    free = set() if expr is None else cast("set[sympy.Symbol]", expr.free_symbols)
    by_name = {s.name: s for s in free}
    symbols = []
    for v in variables:
        if isinstance(v, str):
            symbols.append(by_name.get(v, sympy.Symbol(v, real=True)))
        elif isinstance(v, sympy.Symbol):
            symbols.append(v)
        else:
            raise TypeError(f"variables must be sympy symbols or names, got {v!r}")
    names = [s.name for s in symbols]
    if len(set(names)) != len(names):
        raise ValueError(f"variables must have distinct names, got {names}")
    return tuple(symbols)


@dataclass(frozen=True, init=False)
class Formula:
    """One formula ``y = f(x_1, ..., x_d)``: a sympy expression and its ordered variables.

    Parameters
    ----------
    expr : sympy.Expr or str
        A string is read by :func:`kanscience.core.parse_formula` (math only, never run).
    variables : sequence of sympy.Symbol or str
        The inputs in the column order of the data; every symbol of ``expr`` must be
        among them (a variable the formula does not use is allowed).

    Notes
    -----
    To continue training from the formula as a network, compile it into a KAN whose
    forward pass equals it with the top-level compiler (which kanscience does not import)::

        from compiler import compile_formula
        model = compile_formula(formula.sympy, list(formula.variables))

    Examples
    --------
    >>> f = Formula("2.5*m*v**2 + 1", ["m", "v"])
    >>> f.latex()
    '2.5 m v^{2} + 1'
    >>> f.to_numpy()(np.array([[2.0, 3.0]])).tolist()
    [46.0]
    >>> f.to_code("c")
    '2.5*m*pow(v, 2) + 1'
    >>> import torch
    >>> f.to_torch()(torch.tensor([[2.0, 3.0]], dtype=torch.float64)).tolist()
    [46.0]
    """

    expr: sympy.Expr
    variables: tuple[sympy.Symbol, ...]

    def __init__(self, expr: sympy.Expr | str, variables: Sequence[sympy.Symbol | str]) -> None:
        if isinstance(expr, str):
            symbols = _symbols(variables, None)
            expr = parse_formula(expr, {s.name: s for s in symbols})
        elif isinstance(expr, sympy.Expr):
            symbols = _symbols(variables, expr)
        else:
            raise TypeError(f"expr must be a sympy expression or a string, got {expr!r}")
        missing = sorted(str(s) for s in expr.free_symbols - set(symbols))
        if missing:
            raise ValueError(
                f"variables {[s.name for s in symbols]} miss the formula's symbols {missing}"
            )
        object.__setattr__(self, "expr", expr)
        object.__setattr__(self, "variables", symbols)

    def __str__(self) -> str:
        return str(self.expr)

    def latex(self, **settings: Any) -> str:
        """The formula in LaTeX (``sympy.latex``; ``settings`` are its options)."""
        return sympy.latex(self.expr, **settings)

    def to_numpy(self) -> Callable[[np.ndarray], np.ndarray]:
        """A numpy function ``f(x) -> (n,)`` of ``x`` (n, len(variables)), by
        ``sympy.lambdify``."""
        function = sympy.lambdify(self.variables, self.expr, modules="numpy")
        d = len(self.variables)

        def evaluate(x: np.ndarray) -> np.ndarray:
            x = np.asarray(x)
            if x.ndim != 2 or x.shape[1] != d:
                raise ValueError(f"x must be an array of shape (n, {d}), got {x.shape}")
            values = np.asarray(function(*(x[:, k] for k in range(d))))
            return np.broadcast_to(values, (x.shape[0],)).copy()

        return evaluate

    def to_torch(self, library: LibraryLike = None) -> FormulaModule:
        """An ``nn.Module`` computing the formula, its float constants trainable
        parameters (:class:`~kanscience.symbolic.FormulaModule`); ``library`` adds
        function heads beyond the default table."""
        return FormulaModule(self.expr, self.variables, library=library)

    def to_jax(self) -> Callable[[Any], Any]:
        """A JAX function ``f(x) -> (n,)`` of ``x`` (n, len(variables)), by
        ``sympy.lambdify`` (jit-able and differentiable by JAX).

        Raises
        ------
        ImportError
            When JAX is not installed (``pip install jax``).
        """
        try:
            jnp = importlib.import_module("jax.numpy")  # optional: not a dependency
        except ImportError as error:
            raise ImportError(
                "Formula.to_jax needs JAX, which is not installed: pip install jax"
            ) from error
        function = sympy.lambdify(self.variables, self.expr, modules="jax")
        d = len(self.variables)

        def evaluate(x: Any) -> Any:
            x = jnp.asarray(x)
            if x.ndim != 2 or x.shape[1] != d:
                raise ValueError(f"x must be an array of shape (n, {d}), got {x.shape}")
            values = jnp.asarray(function(*(x[:, k] for k in range(d))))
            return jnp.broadcast_to(values, (x.shape[0],))

        return evaluate

    def to_code(self, language: str, **settings: Any) -> str:
        """The formula as an expression in ``language`` by sympy's code printer.

        Parameters
        ----------
        language : str
            One of :data:`CODE_PRINTERS` (case-insensitive): ``"c"``, ``"c++"``,
            ``"fortran"`` (free-form Fortran 95), ``"javascript"``, ``"julia"``,
            ``"mathematica"``, ``"octave"``, ``"python"``, ``"r"``, ``"rust"``.
        **settings
            Options of the printer, over the defaults of :data:`CODE_PRINTERS`
            (e.g. ``assign_to="y"``).
        """
        key = language.lower() if isinstance(language, str) else language
        if key not in CODE_PRINTERS:
            raise ValueError(f"language must be one of {sorted(CODE_PRINTERS)}, got {language!r}")
        printer, defaults = CODE_PRINTERS[key]
        return cast(str, printer(self.expr, **{**defaults, **settings}))

    @property
    def sympy(self) -> sympy.Expr:
        """The sympy expression (the one source of every export)."""
        return cast(sympy.Expr, self.expr)

    def _repr_latex_(self) -> str:
        """Inline LaTeX (``$...$``) for notebooks."""
        return latex_math(self.expr)

    def _repr_html_(self) -> str:
        """The formula in MathML, with its variables in column order."""
        names = ", ".join(escape(v.name) for v in self.variables)
        return result_block(f"Formula of ({names})", mathml(self.expr, display="block"))

    def plot(self, x: Any, y: Any = None) -> Figure:
        """The formula on the rows of ``x`` (n, len(variables)): with data ``y`` (n,),
        the formula's values against the data with the identity line (one point per
        row); without, its values against each variable, one panel each. Returns the
        Figure (shows and writes nothing).

        Examples
        --------
        >>> fig = Formula("a*b", ["a", "b"]).plot(np.array([[1.0, 2.0], [2.0, 3.0]]))
        >>> [len(ax.lines[0].get_xdata()) for ax in fig.axes]
        [2, 2]
        """
        from matplotlib.figure import Figure

        x = np.asarray(x, dtype=np.float64)
        values = self.to_numpy()(x)
        if y is None:
            d = len(self.variables)
            figure = Figure(figsize=(3.2 * d, 2.8), layout="constrained")
            for k, ax in enumerate(figure.subplots(1, d, squeeze=False)[0]):
                ax.plot(x[:, k], values, "o", markersize=3, color="#2b5d8a")
                ax.set_xlabel(f"${sympy.latex(self.variables[k])}$")
                ax.set_ylabel("formula")
            return figure
        y = np.asarray(y, dtype=np.float64).reshape(-1)
        if y.shape[0] != x.shape[0]:
            raise ValueError(f"y must have one value per row of x ({x.shape[0]}), got {y.shape}")
        figure = Figure(figsize=(3.6, 3.4), layout="constrained")
        ax = figure.add_subplot()
        ax.plot(y, values, "o", markersize=3, color="#2b5d8a")
        span = [float(np.nanmin(y)), float(np.nanmax(y))]
        ax.plot(span, span, "-", color="#999999", linewidth=1)
        ax.set_xlabel("data")
        ax.set_ylabel("formula")
        return figure
