"""Benchmark scripts reject bad arguments before any work, naming the argument."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _script(name: str):
    spec = importlib.util.spec_from_file_location(f"benchmark_{name}", BENCHMARKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("edges", ["0", "-2"])
def test_auto_symbolic_rejects_timing_no_pykan_edges(edges, capsys):
    """Timing pykan on no edge would extrapolate its time from nothing (a division by
    zero once): the parser refuses, naming the option."""
    with pytest.raises(SystemExit) as exit_info:
        _script("auto_symbolic").main(["--pykan-edges", edges])
    assert exit_info.value.code == 2
    assert f"--pykan-edges must be at least 1 (or left out for all), got {edges}" in (
        capsys.readouterr().err
    )
