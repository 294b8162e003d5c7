"""Benchmark scripts reject bad arguments before any work, naming the argument."""

from __future__ import annotations

import pytest
from benchmark_support import load_benchmark


@pytest.mark.parametrize("edges", ["0", "-2"])
def test_auto_symbolic_rejects_timing_no_pykan_edges(edges, capsys):
    """Timing pykan on no edge would extrapolate its time from nothing (a division by
    zero once): the parser refuses, naming the option."""
    with pytest.raises(SystemExit) as exit_info:
        load_benchmark("auto_symbolic", "benchmark_auto_symbolic").main(["--pykan-edges", edges])
    assert exit_info.value.code == 2
    assert f"--pykan-edges must be at least 1 (or left out for all), got {edges}" in (
        capsys.readouterr().err
    )
