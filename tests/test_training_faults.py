"""Training faults: a failed step restores the model exactly; checkpointed fits resume exactly.

Issue 18, item 6. A diverged (or interrupted) step leaves every tensor of the state dict
bit-identical to the last good state, grids included after a grid update. A fit killed
mid-run and resumed from its last checkpoint ends with the parameters of the uninterrupted
fit (float64, 1e-12) for L-BFGS, Levenberg-Marquardt and Adam, with grid updates and
mini-batches. Edited or foreign checkpoints are refused; nothing is written unless asked.
"""

from __future__ import annotations

import json
import os

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from kanscience import KAN, Dataset, GridSchedule, TrainingDivergedError, create_dataset, fit
from kanscience.train import TrainingCheckpointError

STEPS = 6
SCHEDULE = GridSchedule(updates=3, stop=STEPS)  # grid updates before steps 0, 2 and 4
TOLERANCE = 1e-12


class Killed(Exception):
    """Stands for the process being killed."""


@pytest.fixture(scope="module")
def data():
    def target(x):
        return torch.sin(torch.pi * x[:, [0]]) + x[:, [1]] ** 2

    dataset = create_dataset(target, n_var=2, train_num=120, test_num=60, seed=0)
    return dataset.to(dtype=torch.float64)


def model(seed: int = 0) -> KAN:
    return KAN([2, 3, 1], grid=5, seed=seed, dtype=torch.float64)


def snapshot(net: KAN) -> dict[str, torch.Tensor]:
    return {name: tensor.detach().clone() for name, tensor in net.state_dict().items()}


def kill_after(step: int):
    def kill(state):
        if state.step == step:
            raise Killed

    return kill


def fit_options(opt: str, batch: int) -> dict:
    return dict(opt=opt, steps=STEPS, batch=batch, seed=3, grid_schedule=SCHEDULE, progress=False)


@pytest.mark.parametrize("opt", ["LBFGS", "LM", "Adam"])
@pytest.mark.parametrize("batch", [-1, 48])
def test_a_killed_fit_resumed_from_its_checkpoint_ends_as_the_uninterrupted_one(
    data, tmp_path, opt, batch
):
    options = fit_options(opt, batch)
    if opt == "Adam":
        options["lr"] = 0.02
    whole = model()
    expected = fit(whole, data, **options)

    path = tmp_path / "fit.safetensors"
    killed = model()
    with pytest.raises(Killed):  # killed after step 4: the last checkpoint is after step 3
        fit(
            killed,
            data,
            checkpoint_every=2,
            checkpoint_path=path,
            callbacks=[kill_after(4)],
            **options,
        )
    resumed = model(seed=7)  # its initial values are replaced by the checkpoint's
    history = fit(resumed, data, resume_from=path, **options)

    for name, tensor in whole.state_dict().items():
        difference = (resumed.state_dict()[name] - tensor).abs().max().item()
        assert difference <= TOLERANCE, f"{name} differs by {difference}"
    assert len(history.train_loss) == STEPS
    for got, want in zip(
        history.train_loss + history.test_loss, expected.train_loss + expected.test_loss
    ):
        assert got == pytest.approx(want, rel=TOLERANCE, abs=TOLERANCE)
    assert history.n_evaluations == expected.n_evaluations
    assert history.optimizer == expected.optimizer == opt


def test_a_fit_killed_inside_a_step_resumes_exactly(data, tmp_path):
    """The interruption comes inside an L-BFGS line search, after a grid update."""
    evaluations = []

    def interrupted_loss(prediction, label):
        if torch.is_grad_enabled():
            evaluations.append(1)
            if len(evaluations) == kill_at:
                raise KeyboardInterrupt
        return torch.mean((prediction - label) ** 2)

    options = {**fit_options("LBFGS", 48), "loss_fn": interrupted_loss}
    kill_at = -1
    whole = model()
    fit(whole, data, **options)
    per_step = len(evaluations) // STEPS
    evaluations.clear()
    kill_at = 4 * per_step + 2  # during step 4 or so, after the checkpoint of 4 steps
    path = tmp_path / "fit.safetensors"
    killed = model()
    seen = []
    with pytest.raises(KeyboardInterrupt):
        fit(
            killed,
            data,
            checkpoint_every=2,
            checkpoint_path=path,
            callbacks=[lambda state: seen.append(snapshot(state.model))],
            **options,
        )
    # the interrupted step left the model exactly as after the last completed one
    for name, tensor in killed.state_dict().items():
        assert torch.equal(tensor, seen[-1][name]), name
    kill_at = -1
    resumed = model(seed=5)
    fit(resumed, data, resume_from=path, **options)
    for name, tensor in whole.state_dict().items():
        assert torch.allclose(resumed.state_dict()[name], tensor, rtol=0, atol=TOLERANCE), name


@pytest.mark.parametrize("opt", ["LBFGS", "Adam"])
def test_a_diverged_step_after_a_grid_update_restores_every_tensor_bit_for_bit(data, opt):
    good_states = []
    diverged_grid = []
    fail_at = 4  # a step that begins with a grid update
    assert SCHEDULE.due(fail_at)

    def exploding_loss(prediction, label):
        if len(good_states) < fail_at:
            return torch.mean((prediction - label) ** 2)
        diverged_grid.append(net.layers[-1].grid.detach().clone())
        return torch.mean((prediction - label) ** 2) * float("nan")

    net = model()
    with pytest.raises(TrainingDivergedError, match=f"NaN or Inf at step {fail_at}") as info:
        fit(
            net,
            data,
            opt=opt,
            lr=0.02 if opt == "Adam" else 1.0,
            steps=STEPS,
            grid_schedule=SCHEDULE,
            loss_fn=exploding_loss,
            callbacks=[lambda state: good_states.append(snapshot(state.model))],
            progress=False,
        )
    assert len(info.value.history.train_loss) == fail_at
    # the failing step had moved the grid: a restore of the parameters alone would not do
    # (the first layer's grid stays: its inputs, the full batch, are the same)
    assert not torch.equal(diverged_grid[0], good_states[-1]["layers.1.grid"])
    last_good = good_states[-1]
    assert set(net.state_dict()) == set(last_good)
    for name, tensor in net.state_dict().items():
        assert torch.equal(tensor, last_good[name]), name


def test_no_file_is_written_without_checkpointing(data, no_files_written):
    fit(model(), data, **fit_options("LBFGS", 48))
    fit(model(), data, **fit_options("LM", -1))


def test_checkpointing_writes_only_the_named_file(data, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "run" / "fit.safetensors"
    path.parent.mkdir()
    fit(model(), data, checkpoint_every=4, checkpoint_path=str(path), **fit_options("LM", -1))
    assert os.listdir(tmp_path) == ["run"] and os.listdir(path.parent) == ["fit.safetensors"]
    # written after 4 steps (6 is not a multiple of 4): it holds 4 steps of History
    with safe_open(str(path), framework="pt") as handle:
        config = json.loads((handle.metadata() or {})["kanscience_fit"])
    assert config["completed_steps"] == 4 and len(config["history"]["train_loss"]) == 4


@pytest.fixture
def checkpoint(data, tmp_path):
    path = tmp_path / "fit.safetensors"
    fit(
        model(),
        data,
        checkpoint_every=2,
        checkpoint_path=path,
        **{**fit_options("LM", -1), "steps": 2},
    )
    return path


def rewrite(path, edit_tensors=None, edit_config=None):
    tensors = load_file(str(path))
    with safe_open(str(path), framework="pt") as handle:
        metadata = dict(handle.metadata() or {})
    config = json.loads(metadata["kanscience_fit"])
    if edit_tensors:
        edit_tensors(tensors)
    if edit_config:
        edit_config(config)
    metadata["kanscience_fit"] = json.dumps(config)
    save_file(tensors, str(path), metadata=metadata)


def _shift_a_coefficient(tensors):
    tensors["model.layers.0.coef"][0, 0, 0] += 1e-3


def _skip_a_step(config):
    config["completed_steps"] = 3
    config["history"]["train_loss"].append(0.0)


def _change_the_damping_scalar(config):
    config["optimizer"]["scalars"]["n_evaluations"] += 1


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda p: rewrite(p, edit_tensors=_shift_a_coefficient), "its tensors were edited"),
        (lambda p: rewrite(p, edit_config=_skip_a_step), "header .* was edited"),
        (lambda p: rewrite(p, edit_config=_change_the_damping_scalar), "header .* was edited"),
        (lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]), "not readable"),
        (lambda p: p.write_bytes(b"not a checkpoint"), "not readable"),
        (lambda p: p.unlink(), "does not exist"),
        (lambda p: save_file({"x": torch.zeros(2)}, str(p)), "not a training checkpoint"),
    ],
)
def test_a_corrupt_or_edited_checkpoint_is_refused(data, checkpoint, edit, message):
    edit(checkpoint)
    net = model(seed=4)
    before = snapshot(net)
    with pytest.raises(TrainingCheckpointError, match=message):
        fit(net, data, resume_from=checkpoint, **fit_options("LM", -1))
    for name, tensor in net.state_dict().items():
        assert torch.equal(tensor, before[name]), name


@pytest.mark.parametrize(
    "change, message",
    [
        ({"seed": 4}, r"other settings \(seed=3 there, 4 here\)"),
        ({"batch": 30}, r"other settings \(batch=-1 there, 30 here\)"),
        ({"opt": "LBFGS"}, "opt='LM' there, 'LBFGS' here"),
        ({"grid_schedule": None}, "grid_schedule="),
        ({"steps": 1}, "it has taken 2 steps, more than steps=1"),
        ({"model": KAN([2, 4, 1], grid=5, dtype=torch.float64)}, "another architecture"),
        ({"data": "other"}, "other data"),
    ],
)
def test_a_checkpoint_of_another_fit_is_refused_and_the_model_kept(
    data, checkpoint, change, message
):
    options = {**fit_options("LM", -1), **change}
    net = options.pop("model", model(seed=4))
    dataset = options.pop("data", data)
    if isinstance(dataset, str):  # the same shapes, other inputs
        dataset = Dataset(
            data.train_input * 0.5, data.train_label, data.test_input, data.test_label
        )
    before = snapshot(net)
    with pytest.raises(TrainingCheckpointError, match=message):
        fit(net, dataset, resume_from=checkpoint, **options)
    for name, tensor in net.state_dict().items():
        assert torch.equal(tensor, before[name]), name


def test_resuming_can_extend_a_fit(data, checkpoint):
    whole = model()
    fit(whole, data, **fit_options("LM", -1))
    resumed = model(seed=2)
    history = fit(resumed, data, resume_from=checkpoint, **fit_options("LM", -1))
    assert len(history.train_loss) == STEPS
    for name, tensor in whole.state_dict().items():
        assert torch.allclose(resumed.state_dict()[name], tensor, rtol=0, atol=TOLERANCE), name


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (
            {"checkpoint_every": 0, "checkpoint_path": "a.safetensors"},
            ValueError,
            "checkpoint_every must be >= 1",
        ),
        (
            {"checkpoint_every": 2.5, "checkpoint_path": "a.safetensors"},
            TypeError,
            "checkpoint_every must be an int",
        ),
        ({"checkpoint_every": 2}, ValueError, "checkpoint_every and checkpoint_path go together"),
        ({"checkpoint_path": "a.safetensors"}, ValueError, "go together"),
        (
            {"checkpoint_every": 2, "checkpoint_path": 3},
            TypeError,
            "checkpoint_path must be a path",
        ),
        ({"resume_from": 3}, TypeError, "resume_from must be a path"),
        (
            {"checkpoint_every": 2, "checkpoint_path": "missing/a.safetensors"},
            FileNotFoundError,
            "does not exist",
        ),
        ({"checkpoint_every": 2, "checkpoint_path": "."}, IsADirectoryError, "is a folder"),
    ],
)
def test_bad_checkpoint_options_raise_before_training(
    data, no_files_written, kwargs, error, message
):
    net = model()
    before = snapshot(net)
    with pytest.raises(error, match=message):
        fit(net, data, steps=2, progress=False, **kwargs)
    for name, tensor in net.state_dict().items():
        assert torch.equal(tensor, before[name]), name
