"""How the physics results show themselves in notebooks: HTML (laws in MathML, numbers,
a figure as inline SVG), LaTeX, and a figure of how the search went.

One function per result class (:class:`ConservedQuantities`, :class:`LagrangianResult`,
:class:`TimeShiftResult`, :class:`ConstitutiveResult`), each taking plain fields so this
module imports none of them; the classes' ``_repr_html_``, ``_repr_latex_`` and ``plot``
call these. The strings come from :mod:`kanscience.core._html`; matplotlib is imported
only when a figure is drawn.

Figures (returned, never shown or written):

* conserved quantities: the held-out conservation residual of each deflation stage (log
  scale), accepted stages filled, rejected ones hollow;
* Lagrangian and time shift: the held-out loss after each training step (log scale);
* constitutive law: the fraction of the stress variance left unexplained (``1 - R^2``,
  log scale) by the linear-elastic prior and by the law found.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import sympy

from ..core._html import figure_svg, key_value_table, mathml, number, result_block

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "history_figure",
    "laws_latex",
    "r2_figure",
    "stages_figure",
    "summary_html",
]

_BLUE = "#2b5d8a"
# 1 - R^2 of an exact law is zero, which a log axis cannot show
_FLOOR = 1e-16


def _axes(width: float = 4.5, height: float = 3.0) -> Axes:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained").add_subplot()


def _figure(ax: Axes) -> Figure:
    from matplotlib.figure import Figure

    figure = ax.figure
    while not isinstance(figure, Figure):  # a SubFigure: the Figure holding it
        figure = figure.figure
    return figure


def stages_figure(residuals: Sequence[float], accepted: Sequence[bool]) -> Figure:
    """Held-out conservation residual per deflation stage; the first line holds every
    stage, accepted ones are filled. Returns the Figure."""
    ax = _axes()
    index = list(range(1, len(residuals) + 1))
    ax.plot(index, residuals, "o-", color=_BLUE, markerfacecolor="white", label="stage")
    kept = [(i, r) for i, r, a in zip(index, residuals, accepted) if a]
    if kept:
        ax.plot(*zip(*kept), "o", color=_BLUE, label="accepted")
    if any(r > 0 for r in residuals):
        ax.set_yscale("log")
    ax.set_xlabel("deflation stage")
    ax.set_ylabel("held-out conservation residual")
    ax.legend(frameon=False, fontsize="small")
    return _figure(ax)


def history_figure(history: Sequence[float], label: str) -> Figure:
    """``label`` (a held-out loss) after each training step, log scale; one point per
    step on the first line. Returns the Figure."""
    ax = _axes()
    ax.plot(range(1, len(history) + 1), history, "-", color=_BLUE)
    if any(h > 0 for h in history):
        ax.set_yscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel(label)
    return _figure(ax)


def r2_figure(names: Sequence[str], r2: Sequence[float]) -> Figure:
    """Bars of ``1 - R^2`` (log scale), one per name. Returns the Figure."""
    ax = _axes()
    unexplained = [max(1.0 - value, _FLOOR) for value in r2]
    ax.bar(list(names), unexplained, color=_BLUE)
    ax.set_yscale("log")
    ax.set_ylabel("1 - R² (held out)")
    return _figure(ax)


def laws_latex(laws: Sequence[tuple[str, sympy.Expr | None]]) -> str | None:
    r"""``$name = law, \quad ...$`` (``name`` in LaTeX, each law by ``sympy.latex``) for
    the laws found; ``None`` when there is none.

    Examples
    --------
    >>> x = sympy.Symbol("x")
    >>> laws_latex([("L", x**2 / 2), ("H", None)])
    '$L = \\frac{x^{2}}{2}$'
    """
    parts = [f"{name} = {sympy.latex(expr)}" for name, expr in laws if expr is not None]
    return "$" + ", \\quad ".join(parts) + "$" if parts else None


def summary_html(
    title: str,
    laws: Sequence[tuple[str, sympy.Expr | None]],
    numbers: Sequence[tuple[str, float | int | None]],
    figure: Figure | None,
) -> str:
    """A block: each law (label, expression or ``None`` for not found) in MathML, the
    numbers, and the figure as inline SVG."""
    rows = [(label, mathml(e) if e is not None else "not found") for label, e in laws]
    rows += [(label, number(value)) for label, value in numbers]
    parts = [key_value_table(rows)]
    if figure is not None:
        parts.append(figure_svg(figure))
    return result_block(title, *parts)
