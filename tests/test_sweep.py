"""Sweeps: the same numbers on every engine, failures and time limits as rows, bad input."""

from __future__ import annotations

import math
import threading
import time

import numpy as np
import pandas as pd
import pytest
import torch

from kanscience import KAN, create_dataset, fit, load_feynman
from kanscience.apps import (
    Job,
    LocalEngine,
    SerialEngine,
    discover_job,
    fit_job,
    job_grid,
    make_engine,
    run_job,
    sweep,
)

TINY = {"hidden": [2], "grid": 3, "steps": 2, "max_iter": 5, "train_num": 40, "test_num": 40}
METRICS = ["train_rmse", "test_rmse", "r2", "n_evaluations", "n_parameters", "diverged"]


def quadratic(x):
    return x[:, [0]] ** 2 + x[:, [1]]


def quadratic_dataset(seed, train_num=40, test_num=40):
    """A dataset callable, picklable by reference."""
    return create_dataset(quadratic, n_var=2, train_num=train_num, test_num=test_num, seed=seed)


def slow_job(job):
    """Sleeps in short Python steps: a job that only a time limit stops."""
    for _ in range(2000):
        time.sleep(0.005)
    return {"finished": 1.0}


def _sequential(jobs):
    return pd.DataFrame([fit_job(job) for job in jobs])[METRICS]


def test_fit_job_reports_the_fit_it_runs():
    job = Job("I.12.1", seed=3, settings={**TINY, "dtype": "float64"})
    row = fit_job(job)
    (equation,) = load_feynman(["I.12.1"])
    data = equation.dataset(train_num=40, test_num=40, seed=3, dtype=torch.float64)
    model = KAN([2, 2, 1], grid=3, seed=3, dtype=torch.float64)
    history = fit(model, data, steps=2, max_iter=5, seed=3, progress=False)
    with torch.no_grad():
        prediction = model(data.test_input).numpy()[:, 0]
    label = data.test_label.numpy()[:, 0]
    assert row["test_rmse"] == pytest.approx(history.test_loss[-1], rel=1e-12)
    assert row["train_rmse"] == pytest.approx(history.train_loss[-1], rel=1e-12)
    r2 = 1 - np.sum((prediction - label) ** 2) / np.sum((label - label.mean()) ** 2)
    assert row["r2"] == pytest.approx(r2, rel=1e-12)
    assert row["n_evaluations"] == history.n_evaluations
    assert row["n_parameters"] == sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert row["diverged"] is False


def test_dask_cluster_gives_the_sequential_numbers_and_keeps_a_failed_job(no_files_written):
    distributed = pytest.importorskip("distributed")
    jobs = job_grid(["I.12.1", "I.6.2a", "II.38.14"], seeds=[0, 1], settings=TINY)
    jobs.insert(3, Job("I.99.99", seed=0, settings=TINY))  # no such equation
    with distributed.LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, host="127.0.0.1", dashboard_address=None
    ) as cluster:
        table = sweep(
            jobs, engine="dask", address=cluster.scheduler_address, time_limit=120, progress=False
        )
    assert list(table["dataset"]) == [job.name for job in jobs]
    assert list(table["seed"]) == [job.seed for job in jobs]
    failed = table.loc[3]
    assert failed["status"] == "error"
    assert failed["error"].startswith("ValueError: unknown Feynman equation id(s) ['I.99.99']")
    assert "Traceback" in failed["traceback"]
    assert math.isnan(failed["test_rmse"])
    ok = table.drop(index=3).reset_index(drop=True)
    assert (ok["status"] == "ok").all() and (ok["error"] == "").all()
    expected = _sequential([job for i, job in enumerate(jobs) if i != 3])
    pd.testing.assert_frame_equal(ok[METRICS], expected, check_dtype=False, rtol=0, atol=0)
    assert (ok["test_rmse"] > 0).all() and (ok["wall_time"] > 0).all()
    assert ok["hidden"].tolist() == [[2]] * 6 and (ok["steps"] == 2).all()


def test_local_processes_give_the_serial_numbers(no_files_written):
    jobs = job_grid(
        [quadratic_dataset, "I.12.1"], seeds=[5], settings=[TINY, {**TINY, "lamb": 0.01}]
    )
    local = sweep(jobs, engine=LocalEngine(workers=2), progress=False)
    serial = sweep(jobs, engine="serial", progress=False)
    assert (local["status"] == "ok").all()
    assert list(local["dataset"]) == ["quadratic_dataset"] * 2 + ["I.12.1"] * 2
    pd.testing.assert_frame_equal(local[METRICS], serial[METRICS], rtol=0, atol=0)
    pd.testing.assert_frame_equal(
        serial[METRICS], _sequential(jobs), check_dtype=False, rtol=0, atol=0
    )
    # a penalty changes the fit
    assert local.loc[0, "test_rmse"] != local.loc[1, "test_rmse"]


def test_a_job_past_its_time_limit_is_stopped_and_reported():
    start = time.perf_counter()
    table = sweep(
        [Job("I.12.1", 0), Job("I.6.2a", 1)],
        function=slow_job,
        engine="serial",
        time_limit=0.3,
        progress=False,
    )
    assert time.perf_counter() - start < 5  # each job alone would sleep 10 s
    assert list(table["status"]) == ["timeout", "timeout"]
    assert table.loc[0, "error"] == "JobTimeoutError: the job ran past time_limit=0.3 s"
    assert (table["wall_time"] < 2).all()
    assert torch.get_num_threads() == 1


def test_time_limit_stops_a_job_in_a_worker_thread():
    """Dask runs tasks in threads, where signals cannot be used."""
    rows = []
    thread = threading.Thread(target=lambda: rows.append(run_job(slow_job, Job("x"), 0.2)))
    thread.start()
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert rows[0]["status"] == "timeout" and rows[0]["wall_time"] < 2


def test_finished_jobs_are_not_interrupted_later():
    row = run_job(fit_job, Job("I.12.1", 0, TINY), time_limit=60)
    time.sleep(0.05)
    assert row["status"] == "ok" and row["error"] == ""


def test_discover_job_reports_the_best_candidate(monkeypatch):
    """The adapter: data, variable names and seed in; the best formula and its scores out."""
    import sympy

    from kanscience import discover as discovery

    calls = []
    mu, nn = sympy.symbols("mu Nn", real=True)

    def fake_discover(data, var_names, seed, **options):
        calls.append((data, var_names, seed, options))
        best = discovery.Candidate(
            expr=mu * nn,
            complexity=3,
            test_rmse=1e-9,
            test_r2=1.0,
            val_rmse=2e-9,
            source="log|y| [2, 1]",
        )
        worse = discovery.Candidate(expr=mu + nn, complexity=3, test_rmse=0.5, test_r2=0.9)
        return discovery.DiscoveryResult((best, worse), seconds=1.5)

    monkeypatch.setattr(discovery, "discover", fake_discover)
    row = discover_job(
        Job("I.12.1", seed=4, settings={"steps": 7, "train_num": 30, "test_num": 20})
    )
    assert row == {
        "formula": "Nn*mu",
        "complexity": 3,
        "test_rmse": 1e-9,
        "r2": 1.0,
        "val_rmse": 2e-9,
        "n_candidates": 2,
        "discover_seconds": 1.5,
    }
    ((data, names, seed, options),) = calls
    assert names == ["mu", "Nn"] and seed == 4 and options == {"steps": 7}
    expected = load_feynman(["I.12.1"])[0].dataset(train_num=30, test_num=20, seed=4)
    assert torch.equal(data.train_input, expected.train_input)
    assert torch.equal(data.test_label, expected.test_label)


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"colour": 1}, "ValueError: unknown settings ['colour']"),
        ({"seed": 1}, "ValueError: settings must not contain 'seed'"),
        ({"hidden": [2], "width": [2, 2, 1]}, "ValueError: give settings 'hidden' or 'width'"),
        ({"dtype": "float77"}, "ValueError: settings['dtype'] must name a torch dtype"),
        ({"width": [3, 2, 1], "steps": 1}, "ValueError: dataset has 2 inputs"),
    ],
)
def test_bad_settings_are_reported_in_the_row(settings, message):
    table = sweep([Job("I.12.1", 0, settings)], engine="serial", progress=False)
    assert table.loc[0, "status"] == "error"
    assert table.loc[0, "error"].startswith(message), table.loc[0, "error"]


def test_grid_orders_datasets_then_seeds_then_settings():
    jobs = job_grid(["a", "b"], seeds=[0, 1], settings=[{"steps": 1}, {"steps": 2}])
    assert [(j.dataset, j.seed, j.settings["steps"]) for j in jobs] == [
        (d, s, n) for d in "ab" for s in (0, 1) for n in (1, 2)
    ]
    table = sweep([], progress=False)
    assert list(table.columns) == ["dataset", "seed", "status", "error", "traceback", "wall_time"]
    assert len(table) == 0


def test_bad_input_is_rejected():
    with pytest.raises(TypeError, match="function must be a picklable top-level callable"):
        sweep([Job("I.12.1")], function=lambda job: {}, engine="serial")
    with pytest.raises(TypeError, match="dataset must be a picklable top-level callable"):
        Job(lambda seed: None)
    with pytest.raises(TypeError, match="seed must be an int"):
        Job("I.12.1", seed=1.5)
    with pytest.raises(TypeError, match="settings must be a dict"):
        Job("I.12.1", settings=[("steps", 1)])
    with pytest.raises(ValueError, match="time_limit must be a positive"):
        sweep([Job("I.12.1")], engine="serial", time_limit=0)
    with pytest.raises(ValueError, match="engine must be None, 'local', 'serial', 'dask'"):
        make_engine("spark")
    with pytest.raises(ValueError, match="workers must be >= 1, got 0"):
        LocalEngine(workers=0)
    engine, owned = make_engine(SerialEngine())
    assert isinstance(engine, SerialEngine) and not owned


def test_ray_is_optional():
    try:
        import ray  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match=r"pip install 'kanscience\[ray\]'"):
            make_engine("ray")
    else:
        pytest.skip("ray is installed")
