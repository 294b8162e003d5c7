"""How a :class:`~kanscience.discover.DiscoveryResult` shows itself: the Pareto front
as a matplotlib figure, as a text table and as an HTML block (a table of rendered
formulas and errors, the front as inline SVG, the search log), for notebooks and the
report page. Given a :class:`~kanscience.discover._stability.FrontUncertainty`, both
tables add each formula's stability and its constants with standard errors.

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

    from ._stability import FrontUncertainty

__all__ = ["constants_text", "front_figure", "front_html", "front_points", "front_text"]

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


def constants_text(uncertainty: FrontUncertainty, index: int, plus_minus: str = "+-") -> str:
    """The constants of candidate ``index`` as ``value +- standard error`` (six and two
    significant digits), comma-separated; ``none`` for a formula without fitted
    constants, an en dash where the fit failed."""
    fit = uncertainty.constants[index]
    if fit is None:
        return "\u2013"
    if not fit.constants:
        return "none"
    return ", ".join(
        f"{number(c.value, 6)} {plus_minus} {number(c.standard_error, 2)}" for c in fit.constants
    )


def _stability_text(uncertainty: FrontUncertainty, index: int) -> str:
    return f"{100 * uncertainty.stability.wins[index]:.0f}%"


def front_text(candidates: Sequence[Candidate], uncertainty: FrontUncertainty | None = None) -> str:
    """The Pareto table as text: rank, complexity, test RMSE, test R^2 and formula, and
    with ``uncertainty``, each formula's stability (the percentage of resamples it wins)
    and its constants ``value +- standard error``, one formula per line below its row.

    Examples
    --------
    >>> x = sympy.Symbol("x")
    >>> print(front_text([Candidate(x + 1, 3, 0.5, 0.75)]))
    rank  complexity   test RMSE    test R^2  formula
       1           3   5.000e-01    0.750000  x + 1
    """
    header = f"{'rank':>4}  {'complexity':>10}  {'test RMSE':>10}  {'test R^2':>10}  "
    header += f"{'stability':>9}  formula" if uncertainty is not None else "formula"
    lines = [header]
    for k, c in enumerate(candidates):
        line = f"{k + 1:>4}  {c.complexity:>10d}  {c.test_rmse:>10.3e}  {c.test_r2:>10.6f}  "
        if uncertainty is None:
            lines.append(f"{line}{c.expr}")
            continue
        lines.append(f"{line}{_stability_text(uncertainty, k):>9}  {c.expr}")
        lines.append(f"{'':>50}constants: {constants_text(uncertainty, k)}")
    return "\n".join(lines)


def front_html(
    candidates: Sequence[Candidate],
    variables: Sequence[sympy.Symbol],
    seconds: float | None,
    log: Sequence[str],
    uncertainty: FrontUncertainty | None = None,
) -> str:
    """The Pareto table (MathML formulas, complexity, validation and test RMSE, test
    R^2, source; the best row marked), the front as inline SVG and the search log.
    With ``uncertainty``, two more columns: each formula's stability (the percentage of
    resamples it wins) and its constants with standard errors. ``seconds`` ``None``:
    the title names no search time."""
    took = "" if seconds is None else f" ({seconds:.1f} s)"
    if not candidates:
        return result_block(f"No formula found{took}", details("search log", log) if log else "")
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
    left = (1, 6)
    if uncertainty is not None:
        headers += ["stability", "constants ± SE"]
        left = (1, 6, 8)
        for k, cells in enumerate(rows):
            cells += [_stability_text(uncertainty, k), escape(constants_text(uncertainty, k, "±"))]
    table = html_table(headers, rows, left=left, highlight=(0,))
    names = ", ".join(escape(v) for v in variables)
    intro = f"<p>y = f({names}); best: {mathml(candidates[0].expr)}</p>"
    if uncertainty is not None:
        n = uncertainty.stability.n_resamples
        intro += (
            f"<p>stability: the share of {n} bootstrap resamples in which the formula ranks "
            "first when the constants of all are refitted; constants: value ± one "
            "standard error on the data given.</p>"
        )
    figure = front_figure(candidates)
    parts = [intro, row(table, figure_svg(figure))]
    if log:
        parts.append(details("search log", log))
    count = f"{len(candidates)} formula{'s' if len(candidates) > 1 else ''}"
    title = f"Discovery: {count} on the Pareto front{took}"
    return result_block(title, *parts)
