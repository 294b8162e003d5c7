"""Importing kanscience stays light: each check runs in a fresh interpreter and lists the
heavy modules that the import statement loaded."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("torch", "sympy", "matplotlib", "networkx", "pandas", "numba")


def loaded_after(statement: str) -> set[str]:
    """The modules of ``HEAVY`` in ``sys.modules`` after ``statement`` in a new interpreter."""
    code = (
        "import json, sys\n"
        f"{statement}\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True
    )
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize(
    "statement, forbidden",
    [
        ("import kanscience", HEAVY),
        (
            "from kanscience import KAN, fit, create_dataset",
            ("matplotlib", "networkx", "pandas", "numba"),
        ),
        (
            "import kanscience.analysis, kanscience.symbolic, kanscience.structure, "
            "kanscience.discover",
            ("matplotlib", "pandas"),
        ),
        ("import kanscience.analysis", ("matplotlib", "networkx", "pandas", "numba")),
    ],
)
def test_import_loads_no_heavy_module(statement, forbidden):
    assert loaded_after(statement) & set(forbidden) == set()


def test_the_compiled_loops_import_numba_on_first_use():
    pytest.importorskip("numba")
    statement = (
        "import torch\n"
        "from kanscience import KAN\n"
        "model = KAN([2, 3, 1], seed=0)\n"
        "assert 'numba' not in sys.modules\n"
        "with torch.no_grad():\n"
        "    model(torch.zeros(4, 2))"
    )
    assert "numba" in loaded_after(statement)
