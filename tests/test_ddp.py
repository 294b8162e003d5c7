"""Data-parallel fit: 2 gloo processes on CPU take the steps of one process on the union.

Every rank trains on its shard (unequal shards, so the batch weighting matters); the
parameters and losses after a few steps must equal those of one process trained on the
concatenated data to 1e-6 in float64 (they agree to ~1e-13 in practice), for L-BFGS with
grid updates and the sparsity penalty under ``DistributedDataParallel``, for L-BFGS on
global mini-batches with a symbolic edge and the ``edge_backward`` penalty through
``distributed=True``, for Adam on one-row batches (one rank holds no row each step), for
an objective reading per-row side data through ``batch.index`` and for a fit stopped by
a callback.
"""

from __future__ import annotations

import os
import socket
import sys

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from kanscience import KAN, Dataset, GridSchedule, Penalty, create_dataset, fit
from kanscience.core._trace import forward_with_statistics
from kanscience.train._distributed import DataParallel, shard, unwrap
from kanscience.train._penalty import REG_METRICS, penalty

WORLD_SIZE = 2
# rank 0 holds 70 training rows and rank 1 holds 50; 40 and 30 test rows
TRAIN_SPLIT, TEST_SPLIT = (70, 50), (40, 30)


def _stop_after_second_step(state) -> bool:
    return state.step == 1


SCENARIOS = {
    "ddp_lbfgs_grid_penalty": {
        "wrap": True,
        "fit": {
            "opt": "LBFGS",
            "steps": 4,
            "penalty": Penalty(lamb=1e-3),
            "grid_schedule": GridSchedule(updates=2, stop=4),
            "max_iter": 5,
        },
    },
    "minibatch_symbolic_edge_backward": {
        "wrap": False,
        "symbolic": True,
        "fit": {
            "steps": 3,
            "batch": 48,
            "penalty": Penalty(lamb=1e-3, metric="edge_backward"),
            "grid_schedule": GridSchedule(updates=3, stop=3),
            "max_iter": 5,
            "seed": 3,
        },
    },
    "adam_one_row_batches": {
        "wrap": False,
        "fit": {
            "opt": "Adam",
            "lr": 0.01,
            "steps": 6,
            "batch": 1,
            "grid_schedule": None,
            "seed": 7,
        },
    },
    "adam_two_row_batches_penalty": {
        "wrap": False,
        "fit": {
            "opt": "Adam",
            "lr": 0.01,
            "steps": 6,
            "batch": 2,
            "penalty": Penalty(lamb=1e-3),
            "grid_schedule": None,
            "seed": 1,
        },
    },
    "objective_with_input_gradient": {
        "wrap": True,
        "fit": {"steps": 2, "penalty": Penalty(lamb=1e-3), "max_iter": 5, "grid_schedule": None},
    },
    "lbfgs_stopped_by_callback": {
        "wrap": False,
        "fit": {
            "opt": "LBFGS",
            "steps": 5,
            "max_iter": 3,
            "grid_schedule": None,
            "callbacks": [_stop_after_second_step],
        },
    },
    "objective_with_row_index": {
        "wrap": False,
        "row_weights": True,
        "fit": {"steps": 3, "batch": 40, "max_iter": 5, "grid_schedule": None, "seed": 2},
    },
}


def _smoothness_objective(model, batch):
    """A physics-style loss on the input gradient (a mean over rows)."""
    x = batch.inputs.clone().requires_grad_(True)
    prediction = model(x)
    (gradient,) = torch.autograd.grad(prediction.sum(), x, create_graph=True)
    return torch.mean((prediction - batch.labels) ** 2) + 0.01 * torch.mean(gradient**2)


def _row_weighted_objective(data: Dataset):
    """A weighted MSE whose per-row weights are side data looked up by ``batch.index``.

    The weights are sharded like the rows (computed from this process's data), so the
    ranks equal the union only if each batch's index points into the rank's own split.
    """
    weights = {s: 1 + getattr(data, f"{s}_input")[:, :1] ** 2 for s in ("train", "test")}

    def objective(model, batch):
        weight = weights[batch.split][batch.index]
        return torch.mean(weight * (model(batch.inputs) - batch.labels) ** 2)

    return objective


SCENARIOS["objective_with_input_gradient"]["fit"]["objective"] = _smoothness_objective


def _target(x):
    return torch.sin(torch.pi * x[:, [0]]) + x[:, [1]] ** 2


def _union() -> Dataset:
    return create_dataset(
        _target,
        n_var=2,
        train_num=sum(TRAIN_SPLIT),
        test_num=sum(TEST_SPLIT),
        seed=0,
        dtype=torch.float64,
    )


def _shard_of(data: Dataset, rank: int) -> Dataset:
    train = slice(sum(TRAIN_SPLIT[:rank]), sum(TRAIN_SPLIT[: rank + 1]))
    test = slice(sum(TEST_SPLIT[:rank]), sum(TEST_SPLIT[: rank + 1]))
    return Dataset(
        data.train_input[train],
        data.train_label[train],
        data.test_input[test],
        data.test_label[test],
    )


def _model(symbolic: bool = False) -> KAN:
    model = KAN([2, 3, 1], grid=4, seed=0, dtype=torch.float64)
    if symbolic:
        model.set_symbolic_(0, 0, 1, "sin", affine=(3.0, 0.0, 1.0, 0.0), mode="ns")
    return model


def _train(name: str, data: Dataset, distributed: bool = False):
    scenario = SCENARIOS[name]
    model = _model(scenario.get("symbolic", False))
    trained = model
    if distributed and scenario["wrap"]:
        trained = torch.nn.parallel.DistributedDataParallel(model)
    options = dict(scenario["fit"])
    if scenario.get("row_weights"):
        options["objective"] = _row_weighted_objective(data)
    history = fit(
        trained,
        data,
        progress=False,
        distributed=distributed and not scenario["wrap"],
        **options,
    )
    parameters = [p.detach().clone() for p in model.parameters()]
    buffers = [b.detach().clone() for b in model.buffers()]
    return parameters, buffers, history.train_loss, history.test_loss, history.reg


def _objective_gradient(data: Dataset, metric: str, comm: DataParallel | None = None):
    """Value and gradient of MSE + 0.1 * penalty (a model with a symbolic edge)."""
    model = _model(symbolic=True)
    statistics_of = forward_with_statistics if comm is None else comm.forward_with_statistics
    prediction, statistics = statistics_of(model, data.train_input)
    loss = torch.mean((prediction - data.train_label) ** 2)
    value = loss + 0.1 * penalty(model, statistics, metric, lamb_coef=0.5, lamb_coefdiff=0.5)
    params = [p for p in model.parameters() if p.requires_grad]
    if comm is None:
        value.backward()
    else:
        value = comm.backward(value, params, {"loss": loss.detach()})
    return float(value.detach()), [
        (torch.zeros_like(p) if p.grad is None else p.grad).tolist() for p in params
    ]


def _rank_main(rank: int, port: int, queue) -> None:
    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), GLOO_SOCKET_IFNAME="lo")
    dist.init_process_group("gloo", rank=rank, world_size=WORLD_SIZE)
    try:
        data = _shard_of(_union(), rank)
        results = {}
        for name in SCENARIOS:
            parameters, buffers, *losses = _train(name, data, distributed=True)
            results[name] = (
                [t.tolist() for t in parameters],
                [t.tolist() for t in buffers],
                *losses,
            )
        comm = DataParallel(
            dist.group.WORLD, TRAIN_SPLIT[rank], TEST_SPLIT[rank], torch.device("cpu")
        )
        comm.select("train")
        results["gradients"] = {m: _objective_gradient(data, m, comm) for m in REG_METRICS}
        queue.put((rank, results))
    finally:
        dist.destroy_process_group()
    # The results are sent. Leave without the interpreter's shutdown: torch's gloo
    # threads can still be joinable when their destructors run there, which aborts the
    # process ("terminate called without an active exception") in about one run in five.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ranks():
    """Each rank's results, from one 2-process gloo group running every scenario."""
    context = mp.get_context("spawn")
    queue = context.SimpleQueue()
    mp.start_processes(
        _rank_main, args=(_free_port(), queue), nprocs=WORLD_SIZE, start_method="spawn"
    )
    results = dict(queue.get() for _ in range(WORLD_SIZE))
    return [results[r] for r in range(WORLD_SIZE)]


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_two_ranks_equal_one_process_on_the_union(ranks, name):
    parameters, buffers, train_loss, test_loss, reg = _train(name, _union())
    for rank_result in ranks:
        rank_parameters, rank_buffers, rank_train, rank_test, rank_reg = rank_result[name]
        for expected, got in zip(parameters + buffers, rank_parameters + rank_buffers):
            got = torch.tensor(got, dtype=torch.float64).reshape(expected.shape)
            torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)
        assert rank_train == pytest.approx(train_loss, rel=1e-9, abs=1e-12)
        assert rank_test == pytest.approx(test_loss, rel=1e-9, abs=1e-12)
        assert rank_reg == pytest.approx(reg, rel=1e-9, abs=1e-12)
    # the ranks hold bitwise identical parameters (same reduced gradients, same decisions)
    assert ranks[0][name][0] == ranks[1][name][0]
    # and training moved them
    untrained = _model(SCENARIOS[name].get("symbolic", False))
    moved = max(
        float((p - q.detach()).abs().max()) for p, q in zip(parameters, untrained.parameters())
    )
    assert moved > 1e-3


@pytest.mark.parametrize("metric", REG_METRICS)
def test_objective_and_gradient_equal_those_on_the_union(ranks, metric):
    value, gradient = _objective_gradient(_union(), metric)
    for rank_result in ranks:
        rank_value, rank_gradient = rank_result["gradients"][metric]
        assert rank_value == pytest.approx(value, rel=1e-13)
        for expected, got in zip(gradient, rank_gradient):
            torch.testing.assert_close(
                torch.tensor(got), torch.tensor(expected), rtol=1e-11, atol=1e-13
            )


def test_some_mini_batches_leave_a_rank_without_rows():
    """The batch=1 and batch=2 scenarios exercise ranks that join the step with no row."""
    for name in ("adam_one_row_batches", "adam_two_row_batches_penalty"):
        options = SCENARIOS[name]["fit"]
        generator = torch.Generator().manual_seed(options["seed"])
        empty = 0
        for _ in range(options["steps"]):
            for rows in (sum(TRAIN_SPLIT), sum(TEST_SPLIT)):
                first = TRAIN_SPLIT[0] if rows == sum(TRAIN_SPLIT) else TEST_SPLIT[0]
                chosen = torch.randperm(rows, generator=generator)[: options["batch"]]
                empty += bool((chosen < first).all() or (chosen >= first).all())
        assert empty >= 2


def test_shard_covers_the_rows_once():
    slices = [shard(11, r, 4) for r in range(4)]
    assert [s.stop - s.start for s in slices] == [3, 3, 3, 2]
    assert [i for s in slices for i in range(s.start, s.stop)] == list(range(11))
    with pytest.raises(ValueError, match="rank must be in"):
        shard(11, 4, 4)


def test_unwrap_rejects_bad_input():
    with pytest.raises(TypeError, match="model must be a KAN"):
        unwrap(torch.nn.Linear(2, 1))
    with pytest.raises(ValueError, match="initialized process group"):
        fit(_model(), _union(), steps=1, progress=False, distributed=True)
    model = _model()
    assert unwrap(model) == (model, None)
