"""Importing kanscience stays light: each check runs in a fresh interpreter and lists the
heavy modules that the import statement loaded."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("torch", "sympy", "matplotlib", "networkx", "pandas")


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
            ("matplotlib", "networkx", "pandas"),
        ),
        (
            "import kanscience.analysis, kanscience.symbolic, kanscience.structure, "
            "kanscience.discover",
            ("matplotlib", "pandas"),
        ),
        ("import kanscience.analysis", ("matplotlib", "networkx", "pandas")),
    ],
)
def test_import_loads_no_heavy_module(statement, forbidden):
    assert loaded_after(statement) & set(forbidden) == set()
