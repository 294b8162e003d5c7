"""The one Levenberg-Marquardt (kanscience.core._least_squares): convergence, batches,
Gauss-Newton limit, degenerate Jacobians, resuming, bad input."""

from __future__ import annotations

import math

import pytest
import torch

from kanscience.core._least_squares import (
    NormalEquations,
    least_squares,
    normal_equations,
)

F64 = torch.float64


def rosenbrock(params: torch.Tensor, rows: torch.Tensor | None = None) -> NormalEquations:
    """``(1 - u)^2 + 100 (v - u^2)^2`` as the residuals ``(1 - u, 10 (v - u^2))``."""
    u, v = params.unbind(-1)
    residual = torch.stack([1 - u, 10 * (v - u * u)], -1)
    zero, one = torch.zeros_like(u), torch.ones_like(u)
    jacobian = torch.stack(
        [torch.stack([-one, zero], -1), torch.stack([-20 * u, 10 * one], -1)], -2
    )
    return normal_equations(residual, jacobian)


def test_rosenbrock_converges_to_one_one():
    start = torch.tensor([[-1.2, 1.0], [-1.5, 2.0], [0.0, -1.0], [3.0, 3.0]], dtype=F64)
    params, result = least_squares(rosenbrock, start, max_steps=200)
    torch.testing.assert_close(params, torch.ones_like(params), rtol=0, atol=1e-10)
    assert bool(result.converged.all())
    assert float(result.cost.max()) < 1e-20
    assert int(result.iterations.max()) < 200


def decay_problems(n_problems: int = 6):
    """``y = A exp(-k t)`` sampled on [0, 2], one (A, k) per problem."""
    gen = torch.Generator().manual_seed(0)
    truth = torch.stack(
        [
            torch.rand(n_problems, generator=gen, dtype=F64) * 4 + 0.5,
            torch.rand(n_problems, generator=gen, dtype=F64) * 3 + 0.2,
        ],
        -1,
    )
    t = torch.linspace(0, 2, 40, dtype=F64)
    y = truth[:, :1] * torch.exp(-truth[:, 1:] * t)

    def evaluate(params: torch.Tensor, rows: torch.Tensor | None) -> NormalEquations:
        amplitude, rate = params[:, :1], params[:, 1:]
        decay = torch.exp(-rate * t)
        jacobian = torch.stack([decay, -amplitude * t * decay], -1)
        return normal_equations(amplitude * decay - (y if rows is None else y[rows]), jacobian)

    return truth, evaluate


def test_a_batch_of_exponential_decays_recovers_each_problem():
    truth, evaluate = decay_problems()
    start = torch.tensor([[1.0, 1.0]], dtype=F64).expand_as(truth)
    sizes = []

    def counted(params: torch.Tensor, rows: torch.Tensor | None) -> NormalEquations:
        sizes.append(params.shape[0])
        return evaluate(params, rows)

    params, result = least_squares(counted, start)
    torch.testing.assert_close(params, truth, rtol=0, atol=1e-10)
    assert bool(result.converged.all())
    assert min(sizes) < truth.shape[0]  # problems still trying are evaluated alone
    # the problems are independent: the batch gives what each alone gives
    for k in range(truth.shape[0]):

        def alone(p: torch.Tensor, rows: torch.Tensor | None, k: int = k) -> NormalEquations:
            return evaluate(p, torch.tensor([k]))

        single, _ = least_squares(alone, start[k : k + 1])
        torch.testing.assert_close(single[0], params[k], rtol=0, atol=1e-12)


def test_a_linear_problem_is_solved_by_one_undamped_step():
    gen = torch.Generator().manual_seed(1)
    matrix = torch.randn(30, 5, generator=gen, dtype=F64)
    target = torch.randn(30, generator=gen, dtype=F64)

    def evaluate(params: torch.Tensor, rows: torch.Tensor | None) -> NormalEquations:
        residual = params @ matrix.T - target
        return normal_equations(residual, matrix.expand(params.shape[0], -1, -1))

    params, result = least_squares(evaluate, torch.zeros(1, 5, dtype=F64), max_steps=1, damping=0)
    expected = torch.linalg.lstsq(matrix, target[:, None]).solution[:, 0]
    torch.testing.assert_close(params[0], expected, rtol=1e-13, atol=1e-13)
    best = float(((matrix @ expected - target) ** 2).sum())
    assert abs(float(result.cost[0]) - best) <= 1e-13 * best
    assert int(result.iterations[0]) == 1
    # nothing is left to gain: the next step stops the problem
    _, again = least_squares(evaluate, params, max_steps=5, damping=0)
    assert int(again.iterations[0]) == 1 and bool(again.converged[0])


def test_a_singular_jacobian_column_gives_no_nan():
    t = torch.linspace(-1, 1, 25, dtype=F64)
    y = 1.5 * t

    def evaluate(params: torch.Tensor, rows: torch.Tensor | None) -> NormalEquations:
        # the residuals ignore the second parameter; the second problem ignores both
        uses = torch.tensor([1.0, 0.0], dtype=F64)[rows if rows is not None else slice(None)]
        slope = params[:, :1] * uses[:, None]
        jacobian = torch.stack(
            [t * uses[:, None], torch.zeros(len(uses), t.numel(), dtype=F64)], -1
        )
        return normal_equations(slope * t - y, jacobian)

    start = torch.tensor([[0.0, 5.0], [0.3, -2.0]], dtype=F64)
    params, result = least_squares(evaluate, start)
    assert bool(torch.isfinite(params).all()) and bool(torch.isfinite(result.cost).all())
    assert abs(float(params[0, 0]) - 1.5) < 1e-12 and float(params[0, 1]) == 5.0
    assert params[1].tolist() == [0.3, -2.0]  # nothing to gain: left where it was
    assert bool(result.converged.all())


def test_steps_into_nan_are_rejected():
    # r = log(p) - log(4): the Gauss-Newton step from p = 100 lands at p = -222 (NaN)
    def evaluate(params: torch.Tensor, rows: torch.Tensor | None) -> NormalEquations:
        residual = torch.log(params) - math.log(4.0)
        return normal_equations(residual, (1 / params)[..., None])

    params, result = least_squares(evaluate, torch.tensor([[100.0]], dtype=F64))
    assert abs(float(params[0, 0]) - 4.0) < 1e-12
    assert bool(result.converged[0])


def test_resuming_from_the_result_continues_the_same_iteration():
    start = torch.tensor([[-1.2, 1.0], [2.5, -1.0]], dtype=F64)
    whole, _ = least_squares(rosenbrock, start, max_steps=8, tol=0.0)
    first, partial = least_squares(rosenbrock, start, max_steps=3, tol=0.0)
    second, _ = least_squares(
        rosenbrock,
        first,
        max_steps=5,
        tol=0.0,
        damping=partial.damping,
        equations=partial.equations,
    )
    assert torch.equal(second, whole)


def test_float32_parameters_take_float64_steps():
    truth, evaluate = decay_problems(3)
    start = torch.ones(3, 2, dtype=torch.float32)
    params, _ = least_squares(evaluate, start)
    assert params.dtype == torch.float32
    torch.testing.assert_close(params.double(), truth, rtol=0, atol=1e-5)


def test_bad_input_is_named():
    equations = rosenbrock
    with pytest.raises(ValueError, match=r"params must be a tensor of shape \(batch, P\)"):
        least_squares(equations, torch.zeros(2, dtype=F64))
    with pytest.raises(ValueError, match="max_trials must be an int >= 1"):
        least_squares(equations, torch.zeros(1, 2, dtype=F64), max_trials=0)
    with pytest.raises(ValueError, match="tol must be >= 0"):
        least_squares(equations, torch.zeros(1, 2, dtype=F64), tol=-1.0)
    with pytest.raises(ValueError, match="damping must be a float >= 0"):
        least_squares(equations, torch.zeros(1, 2, dtype=F64), damping=float("nan"))
    with pytest.raises(ValueError, match=r"residual must be \(batch, N\)"):
        normal_equations(torch.zeros(1, 3), torch.zeros(1, 4, 2))
