"""The residual-structure test that lets a search on noisy data stop when a formula
explains everything the data can tell (kanscience.discover._noise)."""

import math
import time

import pytest
import sympy
import torch
from search_support import make_search

from kanscience.discover import discover
from kanscience.discover._noise import STRUCTURE_Z, neighbour_graph, residual_structure
from kanscience.discover._search import add


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("dimension", [1, 4])
def test_z_score_is_standard_under_independent_noise(dimension):
    """Under independent residuals the statistic has mean 0 and variance 1 (the closed
    form 2 sigma^4 ||A||_F^2), whatever their distribution."""
    x = torch.rand(1500, dimension, generator=_generator(0), dtype=torch.float64)
    graph = neighbour_graph(x)
    gen = _generator(1)
    gaussian = torch.tensor(
        [
            residual_structure(torch.randn(1500, generator=gen, dtype=torch.float64), graph)
            for _ in range(200)
        ]
    )
    uniform = torch.tensor(
        [
            residual_structure(torch.rand(1500, generator=gen, dtype=torch.float64) - 0.5, graph)
            for _ in range(200)
        ]
    )
    for sample in (gaussian, uniform):
        # mean within 4 standard errors of 0, variance within 25% of 1
        assert abs(float(sample.mean())) < 4 / math.sqrt(200)
        assert abs(float(sample.var()) - 1) < 0.25


def test_neighbour_graph_norm_matches_dense_matrix():
    x = torch.rand(60, 2, generator=_generator(2), dtype=torch.float64)
    graph = neighbour_graph(x, k=4)
    w = torch.zeros(60, 60, dtype=torch.float64)
    w[torch.arange(60).repeat_interleave(4), graph.indices.reshape(-1)] = 0.25
    a = (w + w.T) / 2
    assert graph.frobenius == pytest.approx(float(a.norm()), rel=1e-12)
    r = torch.randn(60, generator=_generator(3), dtype=torch.float64)
    expected = float(r @ a @ r) / (float(r.pow(2).mean()) * math.sqrt(2) * float(a.norm()))
    assert residual_structure(r, graph) == pytest.approx(expected, rel=1e-10)


def test_a_misfit_of_a_fifth_of_the_noise_is_detected():
    x = torch.rand(2000, 2, generator=_generator(4), dtype=torch.float64)
    graph = neighbour_graph(x)
    misfit = torch.sin(4 * x[:, 0]) * x[:, 1]
    misfit = 0.25 * misfit / misfit.std()
    detected = [
        residual_structure(
            torch.randn(2000, generator=_generator(10 + s), dtype=torch.float64) + misfit, graph
        )
        > STRUCTURE_Z
        for s in range(20)
    ]
    assert sum(detected) >= 18


def test_residual_structure_of_bad_residuals():
    graph = neighbour_graph(torch.arange(20.0)[:, None], k=2)
    assert residual_structure(torch.zeros(20), graph) == 0.0
    assert residual_structure(torch.full((20,), math.nan), graph) == math.inf
    with pytest.raises(ValueError, match="more than k=8 rows"):
        neighbour_graph(torch.zeros(8, 1))


def _noisy(law, n: int = 2000, noise: float = 0.01, seed: int = 0):
    gen = _generator(seed)
    x = 1 + 2 * torch.rand(n, 2, generator=gen, dtype=torch.float64)
    y = law(x)
    return x, y + noise * float(y.pow(2).mean().sqrt()) * torch.randn(
        n, generator=gen, dtype=torch.float64
    )


def test_law_is_consistent_and_truncated_series_is_not():
    """On noisy exp(a) b, the law's residuals are noise; a quadratic Taylor series in a,
    fitted by least squares, still leaves a structured misfit (about half the noise)."""
    x, y = _noisy(lambda x: torch.exp(x[:, 0]) * x[:, 1])
    search = make_search(x, y, ["a", "b"])
    a, b = search.symbols
    add(search, sympy.exp(a) * b, "law")
    basis = torch.stack([x[:, 1], x[:, 0] * x[:, 1], x[:, 0] ** 2 * x[:, 1]], 1)
    c = torch.linalg.lstsq(basis, y[:, None]).solution[:, 0].tolist()
    add(search, c[0] * b + c[1] * a * b + c[2] * a**2 * b, "series")
    consistent = search.consistent()
    assert [c.source for c in consistent] == ["law"]
    assert not search.exact()
    # explained: a grace period as long as the search took (here 50 ms), then solved
    search.started = time.perf_counter() - 0.05
    assert not search.solved() and search.stop_at is not None
    assert 0 < search.time_left() <= 0.1
    time.sleep(search.time_left() + 0.01)
    assert search.solved() and search.time_left() < 0
    assert search.ranked()[0].source == "law"


def test_noise_free_approximation_is_not_consistent():
    x, y = _noisy(lambda x: torch.exp(x[:, 0]) * x[:, 1], noise=0.0)
    search = make_search(x, y, ["a", "b"])
    a, b = search.symbols
    basis = torch.stack(
        [x[:, 1], x[:, 0] * x[:, 1], x[:, 0] ** 2 * x[:, 1], x[:, 0] ** 3 * x[:, 1]], 1
    )
    c = torch.linalg.lstsq(basis, y[:, None]).solution[:, 0].tolist()
    add(search, c[0] * b + c[1] * a * b + c[2] * a**2 * b + c[3] * a**3 * b, "series")
    assert search.consistent() == ()
    assert not search.solved()


def test_discover_on_noisy_data_stops_early_with_the_law():
    """1% noise: no formula is exact, but the search stops once the law explains the data
    up to noise instead of running to its deadline."""
    x, y = _noisy(lambda x: x[:, 0] ** 2 * torch.sin(x[:, 1]), seed=5)
    result = discover((x, y), ["a", "b"], time_budget=120, seed=0)
    a, b = sympy.symbols("a b", real=True)
    ratio = sympy.simplify(result.best.expr / (a**2 * sympy.sin(b)))
    assert ratio.is_number and abs(float(ratio) - 1) < 0.01
    assert result.seconds < 0.6 * 120  # stopped long before its deadline
