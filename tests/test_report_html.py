"""``kanscience discover --out report/`` writes a self-contained ``index.html``.

The page holds the formulas as sympy's presentation MathML and the figures as inline SVG,
and names no URL but the XML namespaces of its SVG; where Debian's ``chromium`` is
installed, a headless screenshot of the page shows its text and its figures' colours.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import sympy
from sympy.printing.mathml import mathml as sympy_mathml

from kanscience.core import parse_formula

ROOT = Path(__file__).resolve().parents[1]
XMLNS = re.compile(r'\sxmlns(?::\w+)?="[^"]*"')
FIGURE_BLUE = np.array([0x2B, 0x5D, 0x8A]) / 255  # the colour of the plotted points


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    """The report of ``y = a * b`` from a tiny CSV (found within a second)."""
    folder = tmp_path_factory.mktemp("report")
    rng = np.random.default_rng(0)
    a, b = rng.uniform(1, 2, 300), rng.uniform(1, 2, 300)
    rows = "\n".join(f"{p:.17g},{q:.17g},{p * q:.17g}" for p, q in zip(a, b))
    (folder / "data.csv").write_text("a,b,y\n" + rows + "\n")
    command = [sys.executable, "-m", "kanscience", "discover", "data.csv", "--target", "y"]
    command += ["--time-budget", "30", "--out", "report"]
    done = subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return folder / "report"


def test_the_report_page_holds_the_formulas_as_mathml_and_the_figures_as_svg(report):
    page = (report / "index.html").read_text("utf-8")
    front = json.loads((report / "front.json").read_text())
    assert front["variables"] == ["a", "b"]
    a, b = symbols = {name: sympy.Symbol(name, real=True) for name in "ab"}.values()
    for row in front["candidates"]:
        expr = parse_formula(row["formula"], {s.name: s for s in symbols})
        assert sympy_mathml(expr, printer="presentation") in page
    best = parse_formula(front["candidates"][0]["formula"], {"a": a, "b": b})
    assert float(best.subs({a: 1.3, b: 1.7})) == pytest.approx(1.3 * 1.7, rel=1e-9)
    assert page.count("<svg") >= 3  # the best formula against the data, the front, the tree
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")


def test_the_report_page_loads_nothing_from_anywhere(report):
    page = (report / "index.html").read_text("utf-8")
    namespaces = set(re.findall(r'xmlns(?::\w+)?="([^"]*)"', page))
    assert namespaces <= {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}
    rest = XMLNS.sub("", page)
    assert "http://" not in rest and "https://" not in rest and "//cdn" not in rest
    assert not re.search(r"<script|<link|<img|<iframe|\ssrc=|@import|url\((?!#)", rest)


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed")
def test_the_report_renders_in_headless_chromium(report, tmp_path):
    from matplotlib.image import imread

    shot = tmp_path / "page.png"
    command = [
        "chromium",
        "--headless",
        "--disable-gpu",
        "--no-sandbox",
        "--hide-scrollbars",
        f"--user-data-dir={tmp_path / 'profile'}",
        f"--screenshot={shot}",
        "--window-size=1200,900",
        (report / "index.html").as_uri(),
    ]
    subprocess.run(command, capture_output=True, timeout=180, check=True)
    pixels = imread(shot)[:, :, :3]  # floats in [0, 1]
    assert pixels.shape[:2] == (900, 1200)
    ink = (pixels < 0.9).any(axis=2).mean()  # text, rules, formulas and figures
    assert 0.01 < ink < 0.6, f"{ink:.1%} of the page is not white"
    figure = (np.abs(pixels - FIGURE_BLUE) < 0.08).all(axis=2).sum()
    assert figure > 200, f"only {figure} pixels in the figures' colour: no figure drawn"
