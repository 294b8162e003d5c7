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


def _fake_checkout(root, checkout, inside, module, cls):
    package = root / checkout / inside / module
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(f"from .impl import {cls}\n")
    (package / "impl.py").write_text(
        f"class {cls}:\n    def __init__(self, *args, **kwargs):\n"
        "        self.args, self.kwargs = args, kwargs\n"
    )


def test_the_peers_are_loaded_from_their_checkouts_with_matching_bases(tmp_path):
    """efficient-kan gets the grid and order as they are; fast-kan as many Gaussian bases
    per edge as the B-spline has (grid + k)."""
    speed = load_benchmark("speed", "benchmark_speed")
    _fake_checkout(tmp_path, "efficient-kan", "src", "efficient_kan", "KAN")
    _fake_checkout(tmp_path, "fast-kan", ".", "fastkan", "FastKAN")
    makers = speed.load_peers(str(tmp_path))
    efficient = makers["efficient-kan"]([2, 5, 1], 7, 3)
    fast = makers["fast-kan"]([2, 5, 1], 7, 3)
    assert efficient.args == ([2, 5, 1],) and efficient.kwargs == {
        "grid_size": 7,
        "spline_order": 3,
    }
    assert fast.args == ([2, 5, 1],) and fast.kwargs == {"num_grids": 10}


def test_a_missing_peer_checkout_is_named(tmp_path):
    speed = load_benchmark("speed", "benchmark_speed")
    _fake_checkout(tmp_path, "efficient-kan", "src", "efficient_kan", "KAN")
    with pytest.raises(SystemExit, match="--peers: no fastkan package at .*a checkout of fast-kan"):
        speed.load_peers(str(tmp_path))
