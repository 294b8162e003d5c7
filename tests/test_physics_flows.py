"""Flow estimation from trajectories: accuracy on a known trajectory with and without
noise, the window chosen from the data, stacked input, and bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kanscience.physics import estimate_flow


def circle(n: int = 200, t_end: float = 10.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    t = torch.linspace(0, t_end, n, dtype=torch.float64)
    x = torch.stack([torch.sin(t), torch.cos(t)], 1)
    v = torch.stack([torch.cos(t), -torch.sin(t)], 1)
    return t, x, v


def relative_rms(estimate: torch.Tensor, truth: torch.Tensor) -> float:
    return float(((estimate - truth).norm(dim=1) / truth.norm(dim=1)).pow(2).mean().sqrt())


def test_exact_samples_give_the_derivative_to_high_accuracy():
    t, x, v = circle()
    estimate = estimate_flow([(t, x), (t[:150], 2 * x[:150])])
    assert estimate.states.shape == (350, 2) and estimate.trajectory.tolist().count(1) == 150
    assert relative_rms(estimate.velocities[:200], v) < 1e-5
    assert relative_rms(estimate.velocities[200:], 2 * v[:150]) < 1e-5
    assert estimate.relative_error < 1e-4
    assert estimate.half_width <= 6  # no noise: the narrowest windows


def test_noise_of_1e_3_is_smoothed_and_estimated():
    t, x, v = circle()
    generator = torch.Generator().manual_seed(0)
    runs = []
    for k in range(10):
        shift = 0.3 * k
        xs = torch.stack([torch.sin(t + shift), torch.cos(t + shift)], 1)
        noise = 1e-3 * torch.randn(xs.shape, generator=generator, dtype=torch.float64)
        runs.append((t, xs * (1 + noise)))
    estimate = estimate_flow(runs)
    truth = torch.cat(
        [torch.stack([torch.cos(t + 0.3 * k), -torch.sin(t + 0.3 * k)], 1) for k in range(10)]
    )
    error = relative_rms(estimate.velocities, truth)
    assert error < 5e-3  # a plain central difference gives about 2e-2 here
    assert estimate.half_width > 6  # a wide window, chosen from the data
    assert float(estimate.noise.max()) == pytest.approx(1e-3 * 0.7, rel=0.3)  # |x_i| rms ~ 0.7
    assert error < 3 * estimate.relative_error


def test_uneven_times_and_stacked_arrays():
    t, x, v = circle()
    uneven = t + 0.02 * torch.sin(3 * t)
    xs = torch.stack([torch.sin(uneven), torch.cos(uneven)], 1)
    vs = torch.stack([torch.cos(uneven), -torch.sin(uneven)], 1)
    assert relative_rms(estimate_flow([(uneven, xs)]).velocities, vs) < 1e-5
    stacked = estimate_flow((t.numpy(), np.stack([x.numpy(), x.numpy()])))
    assert relative_rms(stacked.velocities, torch.cat([v, v])) < 1e-5


def test_bad_trajectories_are_rejected():
    t, x, _ = circle(50)
    bad = x.clone()
    bad[7, 0] = float("nan")
    with pytest.raises(ValueError, match=r"trajectories\[1\] contains NaN or Inf"):
        estimate_flow([(t, x), (t, bad)])
    with pytest.raises(ValueError, match="strictly increasing"):
        estimate_flow([(t.flip(0), x)])
    with pytest.raises(ValueError, match="at least 9 are needed"):
        estimate_flow([(t[:5], x[:5])])
    with pytest.raises(ValueError, match="same m"):
        estimate_flow([(t[:-1], x)])
    with pytest.raises(ValueError, match="same dimension"):
        estimate_flow([(t, x), (t, x[:, :1])])
    with pytest.raises(TypeError, match="pairs"):
        estimate_flow("trajectories")
    with pytest.raises(ValueError, match="order"):
        estimate_flow([(t, x)], order=1)
