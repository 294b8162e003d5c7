"""detect_separability on trained (and pruned) KAN surrogates of a few Feynman equations.

The surrogate is built exactly as in ``benchmarks/separability_trained.py`` (which runs
all 50 dev equations), with fewer samples and steps to stay fast.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from kanscience import load_feynman
from kanscience.hypothesis import detect_separability

BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "separability_trained.py"
THRESHOLD = 0.05  # the benchmark's default for surrogates (exact formulas: 5e-3)


def _benchmark():
    spec = importlib.util.spec_from_file_location("separability_trained", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench():
    return _benchmark()


@pytest.mark.parametrize("eq_id, candidate, label, groups", [
    ("I.12.1", "log", "multiplicative", ((0,), (1,))),          # mu * Nn
    ("II.38.14", "log", "multiplicative", ((0,), (1,))),        # Y / (2 (1 + sigma))
    ("I.10.7", "log", "multiplicative", ((0,), (1, 2))),        # m_0 / sqrt(1 - v^2 / c^2)
    ("I.18.12", "product", "multiplicative", ((0,), (1,), (2,))),  # r F sin(theta): y <> 0
    ("I.6.2", "log", "none", ((0, 1),)),                        # gaussian in theta / sigma
    ("I.26.2", "identity", "none", ((0, 1),)),                  # asin(n sin(theta_2))
])
def test_trained_surrogate_has_the_formula_separability(bench, eq_id, candidate, label, groups,
                                                        no_files_written):
    """One candidate each (the benchmark also fits a plain KAN and compares)."""
    (eq,) = load_feynman([eq_id])
    assert bench.truth(eq) == (label, frozenset(frozenset(g) for g in groups))
    f, x, info = bench.train_surrogate(eq, steps=15, finetune=10, train_num=300, grid=3,
                                       lamb=1e-3, candidates=(candidate,))
    assert info["relative_error"] < 0.05
    report = detect_separability(f, x, threshold=THRESHOLD)
    assert (report.label, report.groups) == (label, groups)
    if label == "multiplicative":  # the pruned surrogate is separable almost exactly
        assert report.multiplicative_score < THRESHOLD / 2
    else:
        assert min(report.additive_score, report.multiplicative_score) > 2 * THRESHOLD


def test_candidates_and_selection(bench):
    positive, mixed = load_feynman(["I.12.1", "I.26.2"])  # y > 0; y changes sign
    for eq, expected in ((positive, ["log", "identity"]), (mixed, ["product", "identity"])):
        info = bench.train_surrogate(eq, steps=1, finetune=0, train_num=50)[2]
        assert list(info["candidates"]) == expected
        errors = [info["candidates"][k]["error"] for k in expected]
        first_accurate = next(k for k, e in zip(expected, errors) if e <= 3.0 * min(errors))
        assert info["transform"] == first_accurate


def test_surrogate_is_float64_and_differentiable_twice(bench):
    (eq,) = load_feynman(["I.12.1"])
    f, x, _ = bench.train_surrogate(eq, steps=1, finetune=0, train_num=50, candidates=("log",))
    z = x[:5].clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(f(z).sum(), z, create_graph=True)
    (hess,) = torch.autograd.grad(grad[:, 0].sum(), z)
    assert f(z).dtype == torch.float64 and torch.isfinite(hess).all()
