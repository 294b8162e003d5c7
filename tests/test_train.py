"""Training: accuracy on the KAN 2.0 example, determinism, no files, divergence, options."""

from __future__ import annotations

import math

import pytest
import torch

from kanscience import (
    KAN,
    Dataset,
    GridSchedule,
    Penalty,
    StepState,
    TrainingDivergedError,
    create_dataset,
    fit,
)


def target(x):
    return torch.exp(torch.sin(torch.pi * x[:, [0]]) + x[:, [1]] ** 2)


@pytest.fixture(scope="module")
def data():
    return create_dataset(target, n_var=2, train_num=1000, test_num=1000, seed=0)


@pytest.mark.slow
def test_fifty_lbfgs_steps_reach_rmse_below_2e_3(data, no_files_written):
    model = KAN([2, 5, 1], grid=5, k=3, seed=0)
    history = fit(model, data, opt="LBFGS", steps=50, progress=False)
    assert history.test_loss[-1] < 2e-3
    assert len(history.train_loss) == 50 and history.n_evaluations > 50


@pytest.mark.parametrize("opt", ["LBFGS", "LM"])
def test_same_seed_same_result(data, opt):
    results = []
    for _ in range(2):
        model = KAN([2, 3, 1], grid=5, seed=1)
        history = fit(model, data, opt=opt, steps=4, progress=False, batch=300, seed=5)
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
        penalty=Penalty(lamb=1e-3, metric="edge_backward"),
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
        penalty_options = Penalty(lamb=lamb, metric=metric)
        fit(
            model,
            data,
            opt="LBFGS",
            steps=6,
            penalty=penalty_options,
            grid_schedule=None,
            progress=False,
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
            grid_schedule=None,
        )
    assert len(info.value.history.train_loss) == 3
    # the parameters are those after the last good step, all finite
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert any(not torch.equal(p, g) for p, g in zip(model.parameters(), good))


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"opt": "SGD"}, ValueError, "opt must be"),
        ({"steps": -1}, ValueError, "steps must be >= 0"),
        ({"steps": 2.5}, TypeError, "steps must be an int"),
        ({"steps": True}, TypeError, "steps must be an int"),
        ({"batch": 0}, ValueError, "batch must be -1"),
        ({"batch": -2}, ValueError, "batch must be >= -1"),
        ({"lr": 0.0}, ValueError, "lr must be a finite number > 0"),
        ({"lr": float("nan")}, ValueError, "lr must be"),
        ({"max_iter": 0}, ValueError, "max_iter must be >= 1"),
        ({"tolerance_change": -1e-3}, ValueError, "tolerance_change"),
        ({"penalty": 0.01}, TypeError, "penalty must be a Penalty"),
        ({"grid_schedule": True}, TypeError, "grid_schedule must be a GridSchedule"),
        ({"lamb": 0.01}, TypeError, "unexpected keyword argument 'lamb'"),
    ],
)
def test_bad_options_raise(data, kwargs, error, message):
    with pytest.raises(error, match=message):
        fit(KAN([2, 2, 1]), data, progress=False, **kwargs)


def test_options_after_data_are_keyword_only(data):
    with pytest.raises(TypeError, match="positional"):
        fit(KAN([2, 2, 1]), data, "LBFGS")  # type: ignore[misc]


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: Penalty(lamb=-1.0), "Penalty.lamb must be a finite number >= 0"),
        (lambda: Penalty(lamb=float("nan")), "Penalty.lamb must be"),
        (lambda: Penalty(lamb=1e-2, entropy=float("inf")), "Penalty.entropy must be"),
        (lambda: Penalty(lamb=1e-2, metric="l2"), "Penalty.metric must be one of"),
        (lambda: GridSchedule(updates=-1), "GridSchedule.updates must be >= 0"),
        (lambda: GridSchedule(stop=-3), "GridSchedule.stop must be >= 0"),
    ],
)
def test_bad_option_groups_raise_naming_the_field(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_grid_schedule_is_pykans():
    # pykan: update when step % int(stop / num) == 0 and start <= step < stop
    for updates, start, stop in ((10, -1, 50), (3, 2, 20), (4, -1, 3), (1, 0, 7)):
        schedule = GridSchedule(updates=updates, start=start, stop=stop)
        every = max(int(stop / updates), 1)
        expected = [s for s in range(60) if s % every == 0 and start <= s < stop]
        assert [s for s in range(60) if schedule.due(s)] == expected
    assert not any(GridSchedule(updates=0).due(s) for s in range(60))


def test_mismatched_dataset_raises(data):
    with pytest.raises(ValueError, match="dataset has 2 inputs"):
        fit(KAN([3, 2, 1]), data, progress=False)


def test_pykan_dict_gives_the_same_fit_as_the_dataset(data):
    runs = []
    for dataset in (data.as_dict(), data):
        model = KAN([2, 2, 1], seed=0)
        history = fit(model, dataset, opt="LBFGS", steps=2, progress=False)
        runs.append((history.test_loss, [p.detach().clone() for p in model.parameters()]))
    assert runs[0][0] == runs[1][0]
    assert all(torch.equal(a, b) for a, b in zip(runs[0][1], runs[1][1]))


# ------------------------------------------------------------------ opt='auto'
def test_auto_is_levenberg_marquardt_for_plain_least_squares(data):
    histories, parameters = [], []
    for opt in ("auto", "LM"):
        model = KAN([2, 3, 1], grid=5, seed=0)
        histories.append(fit(model, data, opt=opt, steps=3, progress=False))
        parameters.append([p.detach().clone() for p in model.parameters()])
    assert histories[0].optimizer == histories[1].optimizer == "LM"
    assert histories[0].test_loss == histories[1].test_loss
    assert all(torch.equal(a, b) for a, b in zip(*parameters))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"penalty": Penalty(lamb=1e-3)},
        {"loss_fn": lambda p, y: torch.mean(torch.abs(p - y))},
        {"objective": lambda m, batch: torch.mean((m(batch.inputs) - batch.labels) ** 2)},
        {"singularity_avoiding": True},
    ],
)
def test_auto_is_lbfgs_beyond_least_squares(data, kwargs):
    histories = []
    for opt in ("auto", "LBFGS"):
        model = KAN([2, 3, 1], grid=5, seed=0)
        histories.append(fit(model, data, opt=opt, steps=2, progress=False, **kwargs))
    assert histories[0].optimizer == histories[1].optimizer == "LBFGS"
    assert histories[0].test_loss == histories[1].test_loss


def test_auto_is_lbfgs_where_lm_refuses_the_model(data):
    affine = KAN([2, 2, 1], seed=0, affine_trainable=True)  # LM trains splines only
    assert fit(affine, data, steps=1, progress=False).optimizer == "LBFGS"
    large = KAN([2, 64, 64, 1], grid=5, seed=0)  # over MAX_PARAMETERS
    assert fit(large, data, steps=1, progress=False).optimizer == "LBFGS"


def test_a_zero_penalty_is_no_penalty(data):
    histories = []
    for penalty in (None, Penalty(lamb=0.0)):
        model = KAN([2, 3, 1], grid=5, seed=0)
        histories.append(fit(model, data, steps=2, penalty=penalty, progress=False))
    assert histories[0].optimizer == histories[1].optimizer == "LM"
    assert histories[0].test_loss == histories[1].test_loss


# ------------------------------------------------------------------ callbacks
def test_a_callback_stops_the_fit_after_its_step(data):
    seen: list[StepState] = []

    def after_third_step(state: StepState) -> bool:
        seen.append(state)
        return state.step == 2

    stopped = KAN([2, 3, 1], grid=5, seed=0)
    history = fit(
        stopped, data, opt="LBFGS", steps=10, callbacks=[after_third_step], progress=False
    )
    assert len(history.train_loss) == 3 and [s.step for s in seen] == [0, 1, 2]
    assert history.stopped_early
    assert history.stop_reason == "callback after_third_step returned True after step 2"
    assert [s.test_loss for s in seen] == history.test_loss
    assert seen[-1].model is stopped and seen[-1].history is history
    # the same parameters as a fit of exactly three steps
    three = KAN([2, 3, 1], grid=5, seed=0)
    full = fit(three, data, opt="LBFGS", steps=3, progress=False)
    assert not full.stopped_early and full.stop_reason == ""
    assert all(torch.equal(a, b) for a, b in zip(stopped.parameters(), three.parameters()))


def test_callbacks_returning_none_or_false_let_the_fit_run(data):
    calls = []
    history = fit(
        KAN([2, 2, 1], seed=0),
        data,
        steps=4,
        callbacks=[lambda state: calls.append(state.step), lambda state: False],
        progress=False,
    )
    assert calls == [0, 1, 2, 3] and len(history.test_loss) == 4 and not history.stopped_early


# ------------------------------------------------------------------ batches with indices
@pytest.mark.parametrize("batch", [-1, 100])
def test_objective_batches_carry_their_row_indices(data, batch):
    seen = []

    def objective(model, b):
        seen.append(b)
        return torch.mean((model(b.inputs) - b.labels) ** 2)

    fit(KAN([2, 2, 1], seed=0), data, steps=2, batch=batch, objective=objective, progress=False)
    assert {b.split for b in seen} == {"train", "test"}
    for b in seen:
        inputs = data.train_input if b.split == "train" else data.test_input
        labels = data.train_label if b.split == "train" else data.test_label
        assert b.index.dtype == torch.int64
        assert torch.equal(b.inputs, inputs[b.index]) and torch.equal(b.labels, labels[b.index])
        expected = inputs.shape[0] if batch == -1 else batch
        assert b.index.shape == (expected,) and len(set(b.index.tolist())) == expected


def test_side_data_through_the_index_replaces_labels(data):
    """A label-free dataset: the objective reads its targets by row index."""
    targets = {"train": data.train_label, "test": data.test_label}
    free = Dataset(
        data.train_input, data.train_input[:, :0], data.test_input, data.test_input[:, :0]
    )

    def objective(model, b):
        return torch.mean((model(b.inputs) - targets[b.split][b.index]) ** 2)

    histories, models = [], []
    for dataset, options in ((free, {"objective": objective}), (data, {})):
        model = KAN([2, 2, 1], seed=0)
        histories.append(fit(model, dataset, opt="LBFGS", steps=3, progress=False, **options))
        models.append(model)
    assert histories[0].test_loss == pytest.approx(histories[1].test_loss, rel=1e-12)
    for a, b in zip(models[0].parameters(), models[1].parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


# ------------------------------------------------------------------ failures
@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"loss_fn": lambda p, y: (p - y) ** 2}, ValueError, "loss_fn must return a scalar"),
        ({"loss_fn": lambda p, y: 1.0}, TypeError, "loss_fn must return a scalar tensor"),
        ({"objective": lambda m, b: m(b.inputs)}, ValueError, "objective must return a scalar"),
    ],
)
def test_a_bad_loss_leaves_the_model_as_it_was(data, kwargs, error, message):
    model = KAN([2, 3, 1], grid=5, seed=0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(error, match=message):  # fails after the step-0 grid update
        fit(model, data, opt="LBFGS", steps=3, progress=False, **kwargs)
    for name, value in model.state_dict().items():
        assert torch.equal(value, before[name]), name


def test_an_exception_in_a_callback_keeps_the_completed_steps(data):
    model = KAN([2, 3, 1], grid=5, seed=0)

    def fail_after_second_step(state: StepState) -> None:
        if state.step == 1:
            raise KeyError("stop")

    with pytest.raises(KeyError):
        fit(model, data, opt="LBFGS", steps=5, callbacks=[fail_after_second_step], progress=False)
    two = KAN([2, 3, 1], grid=5, seed=0)
    fit(two, data, opt="LBFGS", steps=2, progress=False)
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), two.parameters()))
