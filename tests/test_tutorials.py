"""Tutorials are tested code: each .py runs in a temporary folder, each .ipynb is the same
text (jupytext pairing, no outputs committed) and runs through a real Jupyter kernel."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TUTORIALS = Path(__file__).resolve().parents[1] / "tutorials"
SOURCES = sorted(TUTORIALS.glob("[0-9]*.py"))
ENV = {**os.environ, "MPLBACKEND": "Agg", "PYTHONWARNINGS": "ignore"}

jupytext = pytest.importorskip("jupytext")
nbformat = pytest.importorskip("nbformat")


def test_there_are_tutorials():
    assert len(SOURCES) >= 3


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_notebook_is_in_sync_and_stripped(source):
    notebook_path = source.with_suffix(".ipynb")
    assert notebook_path.exists(), (
        f"{notebook_path.name} is missing: run jupytext --sync {source.name}"
    )
    notebook = nbformat.read(notebook_path, as_version=4)
    paired = jupytext.read(source)
    ours = [(c.cell_type, c.source.strip()) for c in notebook.cells]
    theirs = [(c.cell_type, c.source.strip()) for c in paired.cells]
    assert ours == theirs, f"{notebook_path.name} differs from {source.name}: run jupytext --sync"
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert not cell.get("outputs"), f"{notebook_path.name} has outputs committed"


@pytest.mark.slow
@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_tutorial_script_runs_and_asserts_its_claim(source, tmp_path):
    result = subprocess.run(
        [sys.executable, str(source)],
        cwd=tmp_path,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    written = [p.name for p in tmp_path.iterdir()]
    assert written == [], f"{source.name} wrote files: {written}"


@pytest.mark.slow
@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_notebook_executes_in_a_jupyter_kernel(source, tmp_path):
    nbclient = pytest.importorskip("nbclient")
    notebook = nbformat.read(source.with_suffix(".ipynb"), as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute(env=ENV)
    errors = [
        o for c in notebook.cells for o in c.get("outputs", []) if o.get("output_type") == "error"
    ]
    assert not errors, errors
