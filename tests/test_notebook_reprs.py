"""Results in notebooks: ``_repr_html_`` (MathML formulas, inline SVG figures),
``_repr_latex_`` and ``plot()`` of discovery results, formulas, trees and physics results.

The HTML is checked for the exact MathML that sympy's printer gives each formula and for
an inline ``<svg>``; the figures through the data read back from them. Nothing is written.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import sympy
import torch
from matplotlib.figure import Figure
from sympy.printing.mathml import mathml as sympy_mathml

from kanscience.core import KAN
from kanscience.core._html import figure_svg, html_page, html_table, latex_math, mathml, number
from kanscience.discover import Candidate, DiscoveryResult, formula_stability
from kanscience.discover._stability import FrontUncertainty, front_uncertainty
from kanscience.physics import (
    ConservedQuantities,
    ConservedStage,
    ConstitutiveResult,
    LagrangianResult,
    TimeShiftResult,
)
from kanscience.structure import Tree, TreeNode
from kanscience.symbolic import Formula

a, b, c, d = sympy.symbols("a b c d", real=True)
XMLNS = re.compile(r'xmlns(?::\w+)?="[^"]*"')


def presentation(expr: sympy.Basic) -> str:
    return sympy_mathml(expr, printer="presentation")


@pytest.fixture
def result() -> DiscoveryResult:
    candidates = (
        Candidate(a * sympy.sin(b), 4, 0.0, 1.0, val_rmse=0.0, source="log|y|~KAN<2>"),
        Candidate(a * b, 3, 0.2, 0.9, val_rmse=0.25, source="y~KAN"),
        Candidate(a, 1, 0.9, 0.1, val_rmse=1.0, source="constant"),
    )
    log = ("sparse-sum: 0.1s", "symmetry(a-b) (score 1e-3): 0.2s")
    return DiscoveryResult(candidates, candidates, (a, b), 1.5, log)


# ------------------------------------------------------------------ the string builders
def test_mathml_and_latex_are_sympys():
    expr = sympy.exp(-((a - b) ** 2) / 2) / sympy.sqrt(2 * sympy.pi)
    assert mathml(expr) == f'<math display="inline">{presentation(expr)}</math>'
    assert latex_math(expr) == f"${sympy.latex(expr)}$"
    with pytest.raises(ValueError, match="display must be"):
        mathml(expr, display="wide")


def test_numbers_and_tables_escape_and_check_their_shape():
    assert number(3) == "3" and number(float("nan")) == "\u2013" and number(None) == "\u2013"
    assert number(1 / 3) == "0.333" and number(123456.0) == "1.23e+05"
    table = html_table(["x<y"], [["<b>cell</b>"]])
    assert "<th>x&lt;y</th>" in table and "<td><b>cell</b></td>" in table
    with pytest.raises(ValueError, match="row 0 has 2 cells for 1 headers"):
        html_table(["x"], [["1", "2"]])


def test_inline_svg_names_no_url_but_its_namespaces_and_is_reproducible():
    figure = Figure(figsize=(3, 2))
    figure.add_subplot().plot([1, 2, 3], [3, 1, 2], "o-")
    svg = figure_svg(figure)
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    assert "http" not in XMLNS.sub("", svg)
    assert figure_svg(figure) == svg
    page = html_page("t & u", "<p>x</p>")
    assert "<title>t &amp; u</title>" in page and "http" not in page


# ------------------------------------------------------------------ discovery results
def test_discovery_result_html_has_the_pareto_table_and_the_front(result, no_files_written):
    html = result._repr_html_()
    for candidate in result.candidates:
        assert presentation(candidate.expr) in html
    assert html.count("<tr") == 1 + len(result.candidates)  # header and one row each
    assert "log|y|~KAN&lt;2&gt;" in html and "<2>" not in html  # text is escaped
    assert "<td>0.25</td>" in html and "<td>0.9</td>" in html  # val and test RMSE
    assert "<svg" in html and "symmetry(a-b)" in html
    assert "http" not in XMLNS.sub("", html)


def test_discovery_result_latex_is_the_best_formula(result):
    assert result._repr_latex_() == "$" + sympy.latex(a * sympy.sin(b)) + "$"
    assert DiscoveryResult(())._repr_latex_() is None


def test_discovery_result_plot_has_one_point_per_candidate(result, no_files_written):
    figure = result.plot()
    assert isinstance(figure, Figure)
    front, best = figure.axes[0].get_lines()[:2]
    np.testing.assert_array_equal(front.get_xdata(), [1, 3, 4])  # by complexity
    # an exact fit is drawn at 1e-16 of the largest error (a log axis has no zero)
    np.testing.assert_allclose(front.get_ydata(), [1.0, 0.25, 1e-16], rtol=1e-15, atol=0)
    np.testing.assert_array_equal(best.get_xdata(), [4])
    assert figure.axes[0].get_yscale() == "log"


def test_an_empty_result_shows_that_nothing_was_found():
    empty = DiscoveryResult((), seconds=2.0, log=("sparse-sum: 1s",))
    assert "No formula found" in empty._repr_html_()
    assert len(empty.plot().axes[0].get_lines()[0].get_xdata()) == 0


# ------------------------------------------------------------------ stability and constants
@pytest.fixture(scope="module")
def noisy_line() -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """y = 2 + 3 t + noise (sigma 0.05), and the least-squares (intercept, slope)."""
    generator = torch.Generator().manual_seed(3)
    x = torch.rand(200, 1, generator=generator, dtype=torch.float64) * 2
    y = 2 + 3 * x[:, 0] + 0.05 * torch.randn(200, generator=generator, dtype=torch.float64)
    design = np.column_stack([np.ones(200), x[:, 0].numpy()])
    return x, y, np.linalg.lstsq(design, y.numpy(), rcond=None)[0]


@pytest.fixture(scope="module")
def line_front(noisy_line) -> FrontUncertainty:
    x, y, (intercept, slope) = noisy_line
    t = sympy.Symbol("t", real=True)
    candidates = (
        Candidate(sympy.Float(intercept) + sympy.Float(slope) * t, 5, 0.05, 0.99, 0.05),
        Candidate(1.2 * sympy.sqrt(t) + 2.5, 6, 0.3, 0.9, 0.3),  # a worse curve
        Candidate(sympy.Rational(5) + 0 * t, 1, 1.7, 0.0, 1.7),  # a constant, nothing to fit
    )
    return front_uncertainty(candidates, [t], x, y, n_resamples=20, seed=1)


def test_front_uncertainty_standard_errors_are_those_of_least_squares(noisy_line, line_front):
    x, y, coefficients = noisy_line
    design = np.column_stack([np.ones(200), x[:, 0].numpy()])
    residual = y.numpy() - design @ coefficients
    sigma2 = residual @ residual / (200 - 2)
    expected = np.sqrt(np.diag(sigma2 * np.linalg.inv(design.T @ design)))
    fit = line_front.constants[0]
    assert fit is not None
    # constant_uncertainty lists constants by value: the intercept (~2) before the slope (~3)
    np.testing.assert_allclose([c.value for c in fit.constants], coefficients, rtol=1e-12)
    np.testing.assert_allclose([c.standard_error for c in fit.constants], expected, rtol=1e-8)
    # the law wins every resample against a worse curve; the stability is formula_stability's
    assert line_front.stability.wins[0] == 1.0 and line_front.stability.wins[1] == 0.0
    again = formula_stability(
        line_front.candidates, [sympy.Symbol("t", real=True)], x, y, n_resamples=20, seed=1
    )
    assert again.wins == line_front.stability.wins
    constant = line_front.constants[2]
    assert constant is not None and constant.constants == ()


def _shown_constants(cell: str) -> list[tuple[float, float]]:
    return [(float(v), float(e)) for v, e in re.findall(r"(\S+) (?:\+-|±) (\S+?)(?:,|$)", cell)]


def test_pareto_table_shows_the_stability_and_constants_computed(line_front, no_files_written):
    html = line_front._repr_html_()
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", html)[1:]
    text_rows = str(line_front).splitlines()[1:]
    assert len(rows) == 3 and len(text_rows) == 6  # one line of constants below each row
    for k, (cells_html, candidate) in enumerate(zip(rows, line_front.candidates)):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", cells_html)
        assert presentation(candidate.expr) in cells[1]
        wins = line_front.stability.wins[k]
        assert cells[7] == f"{100 * wins:.0f}%"
        assert text_rows[2 * k].split()[4] == f"{100 * wins:.0f}%"
        fit = line_front.constants[k]
        assert fit is not None
        computed = [(c.value, c.standard_error) for c in fit.constants]
        constants_line = text_rows[2 * k + 1].split("constants: ")[1]
        for shown in (_shown_constants(cells[8]), _shown_constants(constants_line)):
            assert len(shown) == len(computed)
            for (value, error), (true_value, true_error) in zip(shown, computed):
                assert value == pytest.approx(true_value, rel=1e-5)  # six digits shown
                assert error == pytest.approx(true_error, rel=0.05)  # two digits shown
    assert ">none<" in rows[2] and text_rows[5].endswith("constants: none")
    assert "20 bootstrap resamples" in html and "http" not in XMLNS.sub("", html)


# ------------------------------------------------------------------ formulas
def test_formula_reprs_are_sympys_printers():
    formula = Formula(a**2 * sympy.sin(b) / 3, [a, b])
    assert formula._repr_latex_() == f"${sympy.latex(formula.sympy)}$"
    html = formula._repr_html_()
    assert presentation(formula.sympy) in html and "Formula of (a, b)" in html


def test_formula_plot_against_data_and_against_each_variable(no_files_written):
    formula = Formula("a*b + 1", ["a", "b"])
    x = np.random.default_rng(0).uniform(1, 2, (25, 2))
    y = x[:, 0] * x[:, 1] + 1 + 0.01
    parity = formula.plot(x, y).axes[0].get_lines()[0]
    np.testing.assert_allclose(parity.get_xdata(), y, rtol=0, atol=0)
    np.testing.assert_allclose(parity.get_ydata(), y - 0.01, rtol=0, atol=1e-12)
    panels = formula.plot(x).axes
    assert len(panels) == 2
    for k, ax in enumerate(panels):
        np.testing.assert_allclose(ax.get_lines()[0].get_xdata(), x[:, k], rtol=0, atol=0)
    with pytest.raises(ValueError, match="one value per row"):
        formula.plot(x, y[:3])


# ------------------------------------------------------------------ trees
def _leaf(i: int) -> TreeNode:
    return TreeNode("var", (i,))


def test_tree_expression_latex_and_html(no_files_written):
    add = lambda i, j: TreeNode("add", (i, j), (_leaf(i), _leaf(j)))  # noqa: E731
    tree = Tree(TreeNode("mul", (0, 1, 2, 3), (add(0, 1), add(2, 3))), ("a", "b", "c", "d"))
    expr = tree.expression()
    assert sympy.simplify(expr - (a + b) * (c + d)) == 0
    assert tree._repr_latex_() == f"${sympy.latex(expr)}$"
    html = tree._repr_html_()
    assert presentation(expr) in html and "<svg" in html and "mul(add(a,b),add(c,d))" in html
    nodes = len(list(tree.root.walk()))
    assert len(tree.plot().axes[0].texts) == nodes  # one label per node


def test_tree_general_nodes_are_numbered_functions():
    h = TreeNode("general", (0, 1), (_leaf(0), _leaf(1)))
    g = TreeNode("general", (2, 3), (_leaf(2), _leaf(3)))
    tree = Tree(TreeNode("add", (0, 1, 2, 3), (h, g)), ("a", "b", "c", "d"))
    h1, h2 = sympy.Function("h_1"), sympy.Function("h_2")
    assert sympy.simplify(tree.expression() - (h1(a, b) + h2(c, d))) == 0
    single = Tree(h, ("a", "b")).expression()
    assert single == sympy.Function("h")(a, b)


# ------------------------------------------------------------------ physics results
def _kan() -> KAN:
    return KAN([2, 1], seed=0)


def test_conserved_quantities_show_their_laws_and_stages(no_files_written):
    q, p = sympy.symbols("q p", real=True)
    energy = p**2 / 2 + q**2 / 2
    stages = [
        ConservedStage(0, "raw", _kan(), 1e-4, 1.0, True),
        ConservedStage(1, "raw", _kan(), 0.3, 1e-3, False),
    ]
    found = ConservedQuantities(
        1, [_kan()], [[q, p]], stages, [energy], [energy], [energy], [2e-5], 1, [q, p]
    )
    html = found._repr_html_()
    assert presentation(energy) in html and "<svg" in html and "2e-05" in html
    assert found._repr_latex_() == "$Q_{1} = " + sympy.latex(energy) + "$"
    every, accepted = found.plot().axes[0].get_lines()[:2]
    np.testing.assert_allclose(every.get_ydata(), [1e-4, 0.3], rtol=0, atol=0)
    np.testing.assert_array_equal(accepted.get_xdata(), [1])


def test_lagrangian_result_shows_its_law_and_history(no_files_written):
    q, v = sympy.symbols("q v", real=True)
    law = v**2 / 2 + sympy.cos(q)
    history = [1.0, 0.1, 0.01, 0.001]
    found = LagrangianResult(_kan(), 0.01, law, law, [], [], 1e-6, ([q], [v]), history, 1)
    assert presentation(law) in found._repr_html_() and "<svg" in found._repr_html_()
    assert found._repr_latex_() == "$L = " + sympy.latex(law) + "$"
    np.testing.assert_allclose(found.plot().axes[0].get_lines()[0].get_ydata(), history)
    missing = LagrangianResult(_kan(), 0.5, None, None, [], [], float("nan"), ([q], [v]))
    assert missing._repr_latex_() is None and "not found" in missing._repr_html_()


def test_time_shift_result_shows_its_law(no_files_written):
    r, u = sympy.symbols("r u", positive=True)
    law = u + sympy.log(u - 1)
    found = TimeShiftResult(_kan(), 1e-3, None, law, 1e-4, sympy.sqrt(r), u, [0.5, 0.05])
    html = found._repr_html_()
    assert presentation(law) in html and presentation(sympy.sqrt(r)) in html
    assert found._repr_latex_() == "$f(u) = " + sympy.latex(law) + "$"
    assert len(found.plot().axes[0].get_lines()[0].get_xdata()) == 2


def test_constitutive_result_shows_its_law_and_prior(no_files_written):
    f11, j = sympy.symbols("F11 J", real=True)
    law, prior = f11 - 1 / f11 + sympy.log(j), 2 * (f11 - 1)
    found = ConstitutiveResult(
        law, law, 0.999999, prior, 0.9, _kan(), [f11], 0.99, [f11], {j: f11**2}
    )
    html = found._repr_html_()
    assert presentation(law) in html and presentation(prior) in html and "<svg" in html
    assert found._repr_latex_() == "$P = " + sympy.latex(law) + "$"
    bars = found.plot().axes[0].patches
    heights = [bar.get_height() for bar in bars]  # pyright: ignore[reportAttributeAccessIssue]
    np.testing.assert_allclose(heights, [0.1, 1e-6], rtol=1e-9)
