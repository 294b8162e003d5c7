"""Learned-versus-true plots: kanscience.physics._plot and the physics examples' figures.

The figures are checked through their data: the curves, markers and contour lines read
back from the Figure must show the learned law on top of the true one after the gauge.
"""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
import sympy

from kanscience.physics import (
    LawContours,
    LawCurves,
    LawParity,
    affine_gauge,
    plot_law_comparison,
)
from physics_examples import CaseResult, harmonic_oscillator, pendulum, run_as_script, schwarzschild

PNG = b"\x89PNG\r\n\x1a\n"


def _lines(ax):
    return {line.get_label(): line for line in ax.get_lines()}


def _run_in(tmp_path_factory, main, **options):
    """Run a case in an empty folder, once per module, and check it wrote nothing."""
    folder = tmp_path_factory.mktemp("case")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        result = main(**options)
        result.plot()
    assert os.listdir(folder) == []
    return result


@pytest.fixture(scope="module")
def schwarzschild_result(tmp_path_factory):
    return _run_in(tmp_path_factory, schwarzschild.main, steps=60, n=500, seed=0)


@pytest.fixture(scope="module")
def oscillator_result(tmp_path_factory):
    return _run_in(tmp_path_factory, harmonic_oscillator.main, steps=30, n=500, seed=0)


# ------------------------------------------------------------------ the library
def test_affine_gauge_recovers_scale_and_offset_and_skips_non_finite():
    rng = np.random.default_rng(0)
    true = rng.uniform(-1, 1, 50)
    learned = (true - 0.3) / -2.5  # true = -2.5 * learned + 0.3
    learned[7] = np.nan
    a, b = affine_gauge(learned, true)
    assert a == pytest.approx(-2.5, abs=1e-12) and b == pytest.approx(0.3, abs=1e-12)
    # a constant learned law has no scale: a = 0 and b = mean(true)
    assert affine_gauge(np.full(5, 2.0), [1.0, 2.0, 3.0, 4.0, 5.0]) == (0.0, 3.0)
    with pytest.raises(ValueError, match="same number of values"):
        affine_gauge([1.0, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="at least 2 finite pairs"):
        affine_gauge([1.0, np.nan], [1.0, 2.0])


def test_curves_and_parity_panels_hold_exactly_the_plotted_numbers(no_files_written):
    x = np.linspace(0, 2, 9)
    curves = LawCurves(x, np.sin(x), {"a": np.sin(x) + 1e-3, "b": np.cos(x)}, title="t")
    parity = LawParity(np.sin(x), {"a": 2 * np.sin(x)}, quantity="y")
    fig = plot_law_comparison([curves, parity], title="demo")
    assert [ax.get_label() for ax in fig.axes] == ["panel 0", "panel 1"]
    lines = _lines(fig.axes[0])
    assert list(lines) == ["true", "a", "b"]
    np.testing.assert_array_equal(lines["true"].get_ydata(), np.sin(x))
    np.testing.assert_array_equal(lines["b"].get_ydata(), np.cos(x))
    lines = _lines(fig.axes[1])
    np.testing.assert_array_equal(lines["a"].get_xdata(), np.sin(x))
    np.testing.assert_array_equal(lines["a"].get_ydata(), 2 * np.sin(x))
    low, high = lines["identity"].get_xdata()
    assert (low, high) == (0.0, pytest.approx(2 * np.sin(x).max()))
    np.testing.assert_array_equal(lines["identity"].get_xdata(), lines["identity"].get_ydata())
    # the relative RMS deviation is written on the panel: sqrt(mean(s^2)/mean(s^2)) = 1
    assert any("a: rel. RMS 1.0e+00" in t.get_text() for t in fig.axes[1].texts)
    # the arrays are frozen copies
    with pytest.raises(ValueError, match="read-only"):
        curves.x[0] = 5.0


def test_contour_panel_draws_learned_level_sets_on_the_true_ones(no_files_written):
    x = np.linspace(-1, 1, 81)
    gx, gy = np.meshgrid(x, x)
    true = (gx**2 + gy**2) / 2
    panel = LawContours(x, x, true, {"learned": 2 * true + 1e-3 * gx, "flat": 0 * true}, n_levels=3)
    np.testing.assert_allclose(panel.levels, [0.25, 0.5, 0.75])
    fig = plot_law_comparison([panel])
    true_set, learned_set = fig.axes[0].collections  # the constant law has no level sets
    np.testing.assert_array_equal(true_set.levels, panel.levels)
    for level, segments in zip(learned_set.levels, learned_set.allsegs):
        assert segments, f"no contour at level {level}"
        points = np.concatenate(segments)
        # the learned 2H + 0.001 x = c lies on the true level set c/2 up to 1e-3 / 2
        np.testing.assert_allclose((points**2).sum(1) / 2, level / 2, atol=8e-4)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["true", "learned", "flat"]


def test_plot_law_comparison_writes_only_when_given_a_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    x = np.linspace(0, 1, 5)
    panels = [LawCurves(x, x, {"l": x})] * 4
    fig = plot_law_comparison(panels)
    assert os.listdir(tmp_path) == []
    assert [ax.get_subplotspec().get_geometry()[:2] for ax in fig.axes] == [(2, 2)] * 4
    plot_law_comparison(panels, ncols=3, path="out.png")
    assert os.listdir(tmp_path) == ["out.png"]
    data = (tmp_path / "out.png").read_bytes()
    assert data.startswith(PNG) and len(data) > 1000


def test_plot_law_comparison_rejects_bad_input():
    x = np.linspace(0, 1, 5)
    with pytest.raises(ValueError, match="panels is empty"):
        plot_law_comparison([])
    with pytest.raises(TypeError, match=r"panels\[0\] must be LawCurves"):
        plot_law_comparison([x])
    with pytest.raises(TypeError, match="panels must be a list"):
        plot_law_comparison(LawCurves(x, x, {}))
    with pytest.raises(ValueError, match="ncols must be an int >= 1"):
        plot_law_comparison([LawCurves(x, x, {})], ncols=0)
    with pytest.raises(ValueError, match=r"learned\['l'\] must have shape \(5,\)"):
        LawCurves(x, x, {"l": x[:3]})
    with pytest.raises(ValueError, match="true must have the shape of x"):
        LawCurves(x, x[:2], {})
    with pytest.raises(TypeError, match="learned must be a mapping"):
        LawParity(x, [x])
    with pytest.raises(ValueError, match="levels must be finite and increasing"):
        LawContours(x, x, np.add.outer(x, x), {}, levels=[0.5, 0.2])
    with pytest.raises(ValueError, match="true must vary"):
        LawContours(x, x, np.zeros((5, 5)), {})


def test_case_result_plot_needs_panels():
    with pytest.raises(ValueError, match="no plot data"):
        CaseResult("empty", None, None).plot()


# ------------------------------------------------------------------ the examples
def test_schwarzschild_plot_shows_f_and_its_derivative_on_the_true_ones(schwarzschild_result):
    result = schwarzschild_result
    assert result.passed, result.report()
    fig = result.plot()
    f_axes, df_axes = fig.axes
    r = sympy.Symbol("r", positive=True)
    exact = sympy.lambdify(r, schwarzschild.REFERENCE)
    for ax, tolerance in ((f_axes, 1e-3), (df_axes, 2e-2)):
        lines = _lines(ax)
        assert list(lines) == ["true", "formula", "KAN"]
        true = lines["true"].get_ydata()
        np.testing.assert_allclose(lines["formula"].get_ydata(), true, atol=1e-9)
        scale = np.abs(true).max()
        assert np.abs(lines["KAN"].get_ydata() - true).max() < tolerance * scale
    radii = _lines(f_axes)["true"].get_xdata()
    assert (radii.min(), radii.max()) == schwarzschild.R_RANGE
    np.testing.assert_allclose(_lines(f_axes)["true"].get_ydata(), exact(radii), rtol=1e-12)
    # the fitted gauge is f -> +-f + C for the formula and the KAN
    note = f_axes.texts[0].get_text()
    for label in ("formula", "KAN"):
        a = float(note.split(f"{label}: a = ")[1].split()[0])
        assert abs(a) == pytest.approx(1.0, abs=1e-3)


def test_oscillator_plot_shows_the_orbits_and_the_energy(oscillator_result):
    result = oscillator_result
    assert result.passed, result.report()
    fig = result.plot()
    contours, parity = fig.axes
    true_set, formula_set, kan_set = contours.collections
    assert len(true_set.levels) == 6
    for level, segments in zip(true_set.levels, true_set.allsegs):
        # H on the drawn level sets (linear interpolation on the grid: error ~ h^2 / 8)
        assert np.abs((np.concatenate(segments) ** 2).sum(1) / 2 - level).max() < 2e-4
    # the formula (x^2 + p^2 = 2 H after its gauge) draws the very same orbits
    np.testing.assert_array_equal(formula_set.levels, true_set.levels)
    for mine, theirs in zip(formula_set.allsegs, true_set.allsegs):
        np.testing.assert_allclose(np.concatenate(mine), np.concatenate(theirs), atol=1e-9)
    # the KAN's orbits lie on the true ones to 1e-3 in H
    np.testing.assert_array_equal(kan_set.levels, true_set.levels)
    for level, segments in zip(kan_set.levels, kan_set.allsegs):
        assert np.abs((np.concatenate(segments) ** 2).sum(1) / 2 - level).max() < 1e-3
    lines = _lines(parity)
    true = lines["formula"].get_xdata()
    np.testing.assert_allclose(lines["formula"].get_ydata(), true, atol=1e-12)
    rms = math.sqrt(np.mean((lines["KAN"].get_ydata() - true) ** 2) / np.mean(true**2))
    assert rms < 1e-3


def test_pendulum_plot_shows_lagrangian_slices_and_accelerations(no_files_written):
    result = pendulum.main(steps=30, n=500, seed=0)
    assert result.passed, result.report()
    fig = result.plot()
    along_q, along_qdot, accelerations = fig.axes
    q = _lines(along_q)["true"].get_xdata()
    np.testing.assert_allclose(_lines(along_q)["true"].get_ydata(), np.cos(q), atol=1e-12)
    v = _lines(along_qdot)["true"].get_xdata()
    np.testing.assert_allclose(_lines(along_qdot)["true"].get_ydata(), v**2 / 2 + 1, atol=1e-12)
    for ax in (along_q, along_qdot):
        lines = _lines(ax)
        np.testing.assert_allclose(
            lines["formula"].get_ydata(), lines["true"].get_ydata(), atol=1e-9
        )
    lines = _lines(accelerations)
    true = lines["KAN"].get_xdata()
    np.testing.assert_allclose(lines["formula"].get_ydata(), true, atol=1e-9)
    kan = lines["KAN"].get_ydata()
    assert np.sqrt(np.nanmean((kan - true) ** 2) / np.mean(true**2)) < 1e-2
    fig.savefig(os.devnull)  # draws without a warning (warnings are errors here)


def test_run_as_script_writes_the_plot_only_with_the_flag(
    schwarzschild_result, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)

    def main(**options):  # the case ran once, in the fixture
        return schwarzschild_result

    assert run_as_script(main, "schwarzschild", ["--steps", "1"]) == 0
    assert os.listdir(tmp_path) == []
    assert "plot written" not in capsys.readouterr().out
    assert run_as_script(main, "schwarzschild", ["--plot", "figure.png"]) == 0
    assert os.listdir(tmp_path) == ["figure.png"]
    data = (tmp_path / "figure.png").read_bytes()
    assert data.startswith(PNG) and len(data) > 10_000
    assert "plot written to figure.png" in capsys.readouterr().out
