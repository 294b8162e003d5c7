"""How a :class:`~kanscience.discover.DiscoveryResult` shows itself: the Pareto front
as a matplotlib figure and as an HTML block (a table of rendered formulas and errors, the
front as inline SVG, the search log), for notebooks and the report page.

The strings come from :mod:`kanscience.core._html`; matplotlib is imported only when a
figure is drawn.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import sympy

from ..core._html import (
    details,
    escape,
    figure_svg,
    html_table,
    mathml,
    number,
    result_block,
    row,
)
from ._ranking import Candidate

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["front_figure", "front_html", "front_points"]

# an exact fit has a validation RMSE of zero, which a log axis cannot show: errors are
# drawn at least this fraction of the largest one
_FLOOR = 1e-16


def front_points(candidates: Sequence[Candidate]) -> tuple[list[int], list[float]]:
    """(complexity, validation RMSE) of the candidates whose validation RMSE is finite,
    errors raised to ``1e-16`` of the largest (zero cannot be drawn on a log axis).

    Examples
    --------
    >>> x = sympy.Symbol("x")
    >>> front_points([Candidate(x, 1, 0.0, 1.0, val_rmse=0.0), Candidate(x + 1, 3, 1.0, 0.5, 2.0)])
    ([1, 3], [2e-16, 2.0])
    """
    kept = [c for c in candidates if math.isfinite(c.val_rmse)]
    top = max((c.val_rmse for c in kept), default=1.0) or 1.0
    return [c.complexity for c in kept], [max(c.val_rmse, _FLOOR * top) for c in kept]


def front_figure(candidates: Sequence[Candidate], ax: Axes | None = None) -> Figure:
    """Complexity against validation RMSE (log scale) of the candidates, the best (the
    first) marked: one point per candidate with a finite validation RMSE, by complexity,
    on the first line of the axes. Drawn on ``ax`` when given; returns its Figure,
    writes nothing."""
    from matplotlib.figure import Figure

    if ax is None:
        figure = Figure(figsize=(4.5, 3.0), layout="constrained")
        ax = figure.add_subplot()
    complexity, error = front_points(candidates)
    order = sorted(range(len(complexity)), key=lambda i: (complexity[i], error[i]))
    ax.plot(
        [complexity[i] for i in order],
        [error[i] for i in order],
        "o-",
        color="#2b5d8a",
        label="Pareto front",
    )
    if candidates and math.isfinite(candidates[0].val_rmse):  # the first point
        ax.plot(complexity[:1], error[:1], "*", color="#c0392b", markersize=14, label="best")
    if error:
        ax.set_yscale("log")
    ax.set_xlabel("complexity")
    ax.set_ylabel("validation RMSE")
    ax.legend(frameon=False, fontsize="small")
    figure = ax.figure
    while not isinstance(figure, Figure):  # a SubFigure: the Figure holding it
        figure = figure.figure
    return figure


def front_html(
    candidates: Sequence[Candidate],
    variables: Sequence[sympy.Symbol],
    seconds: float,
    log: Sequence[str],
) -> str:
    """The Pareto table (MathML formulas, complexity, validation and test RMSE, test
    R^2, source; the best row marked), the front as inline SVG and the search log."""
    if not candidates:
        return result_block(
            f"No formula found ({seconds:.1f} s)", details("search log", log) if log else ""
        )
    rows = [
        [
            str(rank),
            mathml(c.expr),
            number(c.complexity),
            number(c.val_rmse),
            number(c.test_rmse),
            number(c.test_r2, 6),
            escape(c.source),
        ]
        for rank, c in enumerate(candidates, 1)
    ]
    headers = ["#", "formula", "complexity", "validation RMSE", "test RMSE", "test R²", "source"]
    table = html_table(headers, rows, left=(1, 6), highlight=(0,))
    names = ", ".join(escape(v) for v in variables)
    intro = f"<p>y = f({names}); best: {mathml(candidates[0].expr)}</p>"
    figure = front_figure(candidates)
    parts = [intro, row(table, figure_svg(figure))]
    if log:
        parts.append(details("search log", log))
    count = f"{len(candidates)} formula{'s' if len(candidates) > 1 else ''}"
    title = f"Discovery: {count} on the Pareto front ({seconds:.1f} s)"
    return result_block(title, *parts)
