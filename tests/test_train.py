"""Training: accuracy on the KAN 2.0 example, determinism, no files, divergence, options."""

from __future__ import annotations

import math

import pytest
import torch

from kanscience import KAN, TrainingDivergedError, create_dataset, fit


def target(x):
    return torch.exp(torch.sin(torch.pi * x[:, [0]]) + x[:, [1]] ** 2)


@pytest.fixture(scope="module")
def data():
    return create_dataset(target, n_var=2, train_num=1000, test_num=1000, seed=0)


@pytest.mark.slow
def test_fifty_lbfgs_steps_reach_rmse_below_2e_3(data, no_files_written):
    model = KAN([2, 5, 1], grid=5, k=3, seed=0)
    history = fit(model, data, steps=50, progress=False)
    assert history.test_loss[-1] < 2e-3
    assert len(history.train_loss) == 50 and history.n_evaluations > 50


def test_same_seed_same_result(data):
    results = []
    for _ in range(2):
        model = KAN([2, 3, 1], grid=5, seed=1)
        history = fit(model, data, steps=4, progress=False, batch=300, seed=5)
        results.append((history.test_loss, [p.detach().clone() for p in model.parameters()]))
    assert results[0][0] == results[1][0]
    for a, b in zip(results[0][1], results[1][1]):
        assert torch.equal(a, b)


def test_adam_with_batches_and_regularization_decreases_the_loss(data):
    model = KAN([2, 3, 1], grid=5, seed=0)
    history = fit(
        model,
        data,
        opt="Adam",
        steps=60,
        lr=0.02,
        batch=256,
        lamb=1e-3,
        reg_metric="edge_backward",
        progress=False,
    )
    assert history.train_loss[-1] < 0.5 * history.train_loss[0]
    assert all(r > 0 for r in history.reg)


@pytest.mark.parametrize(
    "metric",
    [
        "edge_forward_spline_n",
        "edge_forward_sum",
        "edge_forward_spline_u",
        "edge_backward",
        "node_backward",
    ],
)
def test_sparsity_penalty_shrinks_with_lamb(data, metric):
    penalties = []
    for lamb in (0.0, 1e-2):
        model = KAN([2, 4, 1], grid=5, seed=0)
        history = fit(
            model, data, steps=6, lamb=lamb, reg_metric=metric, progress=False, update_grid=False
        )
        from kanscience.core._trace import forward_with_statistics
        from kanscience.train._penalty import penalty

        _, stats = forward_with_statistics(model, data.train_input)
        penalties.append(penalty(model, stats, metric).item())
    assert penalties[1] < penalties[0]


def test_custom_loss_and_metrics(data):
    model = KAN([2, 3, 1], grid=5, seed=0)
    calls = []

    def count() -> float:
        calls.append(1)
        return float(len(calls))

    history = fit(
        model,
        data,
        steps=3,
        loss_fn=lambda p, y: torch.mean(torch.abs(p - y)),
        metrics=[count],
        progress=False,
    )
    assert history.metrics["count"] == [1.0, 2.0, 3.0]
    with torch.no_grad():
        mae = torch.mean(torch.abs(model(data.test_input) - data.test_label)).item()
    assert history.test_loss[-1] == pytest.approx(math.sqrt(mae), rel=1e-5)


def test_divergence_restores_the_last_good_parameters(data):
    model = KAN([2, 3, 1], grid=5, seed=0)
    steps = []

    def exploding_loss(prediction, label):
        if torch.is_grad_enabled():  # count training evaluations only, not test losses
            steps.append(1)
        scale = 1.0 if len(steps) < 4 else float("nan")
        return torch.mean((prediction - label) ** 2) * scale

    fit(
        model,
        data,
        opt="Adam",
        steps=2,
        lr=0.01,
        loss_fn=lambda p, y: torch.mean((p - y) ** 2),
        progress=False,
    )
    good = [p.detach().clone() for p in model.parameters()]
    steps.clear()
    with pytest.raises(TrainingDivergedError, match="NaN or Inf at step") as info:
        fit(
            model,
            data,
            opt="Adam",
            steps=10,
            lr=0.01,
            loss_fn=exploding_loss,
            progress=False,
            update_grid=False,
        )
    assert len(info.value.history.train_loss) == 3
    # the parameters are those after the last good step, all finite
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert any(not torch.equal(p, g) for p, g in zip(model.parameters(), good))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"opt": "SGD"}, "opt must be"),
        ({"reg_metric": "l2"}, "reg_metric must be"),
        ({"steps": -1}, "steps"),
    ],
)
def test_bad_options_raise(data, kwargs, message):
    with pytest.raises(ValueError, match=message):
        fit(KAN([2, 2, 1]), data, progress=False, **kwargs)


def test_mismatched_dataset_raises(data):
    with pytest.raises(ValueError, match="dataset has 2 inputs"):
        fit(KAN([3, 2, 1]), data, progress=False)


def test_pykan_dict_is_accepted(data):
    model = KAN([2, 2, 1], seed=0)
    history = fit(model, data.as_dict(), steps=2, progress=False)
    assert history.test_loss[-1] < history.test_loss[0] or history.test_loss[-1] < 0.5
