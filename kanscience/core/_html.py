"""Pure string builders for results shown as HTML: notebooks and the report page.

Every result class of the package (discovery results, formulas, trees, physics results)
builds its ``_repr_html_`` from these, so notebooks and ``kanscience discover --out``
look alike. Formulas become MathML by sympy's presentation printer, LaTeX by
``sympy.latex``; text is escaped by :func:`html.escape`; a matplotlib figure becomes an
inline SVG string (:func:`figure_svg`), never a file. Nothing here refers to a URL: a page
built from these needs no network.
"""

from __future__ import annotations

import html
import io
import math
from collections.abc import Iterable, Sequence
from typing import Any

import sympy
from sympy.printing.mathml import mathml as _sympy_mathml

__all__ = [
    "STYLE",
    "details",
    "escape",
    "figure_svg",
    "html_page",
    "html_table",
    "key_value_table",
    "latex_math",
    "mathml",
    "number",
    "result_block",
    "row",
]

STYLE = """
.kanscience { font-family: system-ui, sans-serif; font-size: 14px; color: #222; }
.kanscience h3 { font-size: 15px; margin: 1em 0 0.4em; }
.kanscience table { border-collapse: collapse; margin: 0.4em 0; }
.kanscience th, .kanscience td { border-bottom: 1px solid #ddd; padding: 3px 10px;
  text-align: right; vertical-align: middle; }
.kanscience th { background: #f3f6f9; }
.kanscience td.formula, .kanscience th.formula { text-align: left; }
.kanscience tr.best td { background: #eef6ee; }
.kanscience math { font-size: 1.1em; }
.kanscience math[display="block"] { font-size: 1.5em; margin: 0.3em 0; }
.kanscience .row { display: flex; flex-wrap: wrap; gap: 24px; align-items: flex-start; }
.kanscience svg { max-width: 100%; height: auto; }
.kanscience pre { font-size: 12px; background: #f7f7f7; padding: 6px; }
"""
"""CSS of the blocks (class ``kanscience``); :func:`html_page` puts it in ``<style>``."""


def escape(text: object) -> str:
    """``str(text)`` escaped for HTML text and attribute values."""
    return html.escape(str(text), quote=True)


def mathml(expr: sympy.Basic | float | int, display: str = "inline") -> str:
    """The expression as a ``<math>`` element (sympy's presentation MathML printer).

    Examples
    --------
    >>> mathml(sympy.Symbol("x") ** 2)
    '<math display="inline"><msup><mi>x</mi><mn>2</mn></msup></math>'
    """
    if display not in ("inline", "block"):
        raise ValueError(f"display must be 'inline' or 'block', got {display!r}")
    body = _sympy_mathml(sympy.sympify(expr), printer="presentation")
    return f'<math display="{display}">{body}</math>'


def latex_math(expr: sympy.Basic | float | int) -> str:
    """``$...$`` around ``sympy.latex(expr)``: the inline LaTeX of notebooks.

    Examples
    --------
    >>> latex_math(sympy.Symbol("x") ** 2)
    '$x^{2}$'
    """
    return f"${sympy.latex(sympy.sympify(expr))}$"


def number(value: float | int | None, digits: int = 3) -> str:
    """A number for a table: integers as they are, floats in ``digits`` significant
    digits (scientific where that is shorter), missing or NaN as an en dash.

    Examples
    --------
    >>> number(7), number(0.000123456), number(float("nan")), number(0.98765, 4)
    ('7', '0.000123', '\u2013', '0.9877')
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "\u2013"
    if isinstance(value, int):
        return str(value)
    return f"{value:.{digits}g}"


def html_table(
    headers: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    left: Iterable[int] = (),
    highlight: Iterable[int] = (),
) -> str:
    """A ``<table>``: ``headers`` are plain text (escaped), cells of ``rows`` are HTML
    already (escape plain text with :func:`escape`); columns ``left`` are left-aligned
    (formulas) and rows ``highlight`` marked (the best one)."""
    left, highlight = set(left), set(highlight)

    def cls(column: int) -> str:
        return ' class="formula"' if column in left else ""

    head = "".join(f"<th{cls(j)}>{escape(h)}</th>" for j, h in enumerate(headers))
    body = []
    for i, row in enumerate(rows):
        if len(row) != len(headers):
            raise ValueError(f"row {i} has {len(row)} cells for {len(headers)} headers")
        cells = "".join(f"<td{cls(j)}>{cell}</td>" for j, cell in enumerate(row))
        mark = ' class="best"' if i in highlight else ""
        body.append(f"<tr{mark}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def key_value_table(pairs: Iterable[tuple[str, str]]) -> str:
    """A two-column table of (plain-text label, HTML value) pairs."""
    rows = "".join(f'<tr><th>{escape(k)}</th><td class="formula">{v}</td></tr>' for k, v in pairs)
    return f"<table><tbody>{rows}</tbody></table>"


def details(summary: str, lines: Iterable[str]) -> str:
    """A collapsed ``<details>`` block of plain-text ``lines`` (escaped)."""
    text = escape("\n".join(lines))
    return f"<details><summary>{escape(summary)}</summary><pre>{text}</pre></details>"


def figure_svg(figure: Any) -> str:
    """A matplotlib Figure as an inline ``<svg>`` element (a string; nothing written).

    The XML prolog, the DOCTYPE and the metadata block (which name URLs) are left out;
    text is drawn as paths, so the picture needs no font; the same figure gives the same
    string. The figure is not closed.
    """
    import matplotlib  # loaded already: the figure is matplotlib's

    buffer = io.StringIO()
    metadata = {"Creator": None, "Date": None, "Format": None, "Type": None}
    with matplotlib.rc_context({"svg.hashsalt": "kanscience", "svg.fonttype": "path"}):
        figure.savefig(buffer, format="svg", metadata=metadata)
    text = buffer.getvalue()
    start = text.find("<svg")
    if start < 0:
        raise ValueError("the figure did not render to SVG")
    return text[start:].strip()


def row(*parts: str) -> str:
    """HTML ``parts`` side by side (wrapping on a narrow page)."""
    return f'<div class="row">{"".join(f"<div>{part}</div>" for part in parts)}</div>'


def result_block(title: str, *parts: str) -> str:
    """A ``<div class="kanscience">`` with a heading (plain text) and HTML ``parts``,
    its CSS inside (so a notebook cell shows it styled)."""
    inner = "".join(parts)
    return f'<div class="kanscience"><style>{STYLE}</style><h3>{escape(title)}</h3>{inner}</div>'


def html_page(title: str, *blocks: str) -> str:
    """A self-contained HTML document of ``blocks``: no script, stylesheet, font or
    image is loaded from anywhere."""
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{escape(title)}</title>\n<style>{STYLE}\nbody {{ margin: 2em; }}</style>\n"
        f'</head>\n<body class="kanscience">\n<h2>{escape(title)}</h2>\n'
        + "\n".join(blocks)
        + "\n</body>\n</html>\n"
    )
