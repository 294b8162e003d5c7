"""Sweeps: many small fits (or discoveries) in parallel, one table row per job.

A job is plain data (:class:`~kanscience.apps.Job`, in :mod:`._jobs`: a dataset, a
seed, a settings dict); a job function (:func:`fit_job`, :func:`discover_job`, here, or
any picklable top-level callable) turns one job into a dict of results; :func:`sweep`
runs the function on every job through an engine (:mod:`._engines`: local processes,
serial, Dask, Ray) and returns a ``pandas.DataFrame``. A failed job keeps its row, with
its error, and the others go on; each job can have a time limit.

Every job runs with one torch thread; results depend only on the job, so the same sweep
gives the same numbers on any engine.

On a cluster (each worker needs kanscience installed, and one thread per worker)::

    $ dask scheduler                                  # on one machine
    $ dask worker tcp://HOST:8786 --nthreads 1 --nworkers 16   # on each machine
    >>> sweep(jobs, engine="dask", address="tcp://HOST:8786")  # doctest: +SKIP

    $ ray start --head                                # then `ray start --address HOST:6379`
    >>> sweep(jobs, engine="ray", address="auto")             # doctest: +SKIP

Examples
--------
>>> from kanscience.apps import job_grid, sweep
>>> jobs = job_grid(["I.12.1"], seeds=[0], settings=[{"steps": 2, "train_num": 50, "test_num": 50}])
>>> table = sweep(jobs, engine="serial", progress=False)
>>> table.loc[0, "status"], bool(table.loc[0, "test_rmse"] > 0)
('ok', True)
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import torch
from tqdm import tqdm

from ._engines import Engine, make_engine
from ._jobs import Job, check_top_level, run_job

if TYPE_CHECKING:
    import pandas

__all__ = ["discover_job", "fit_job", "sweep"]

DATA_OPTIONS = ("train_num", "test_num")


# ---------------------------------------------------------------- job functions
def _dtype(value: str | torch.dtype | None) -> torch.dtype | None:
    """A torch dtype from its name ('float64') or itself."""
    if value is None or isinstance(value, torch.dtype):
        return value
    dtype = getattr(torch, str(value), None)
    if isinstance(dtype, torch.dtype):
        return dtype
    raise ValueError(f"settings['dtype'] must name a torch dtype, got {value!r}")


def _split_settings(job: Job) -> tuple[dict, dict, dict, torch.dtype | None, list[int] | None]:
    from ..compat.pykan import PYKAN_FIT_OPTIONS
    from ..core import KAN
    from ..train import fit

    settings = dict(job.settings)
    if "seed" in settings:
        raise ValueError("settings must not contain 'seed': the job's seed seeds everything")
    dtype = _dtype(settings.pop("dtype", None))
    hidden = settings.pop("hidden", None)
    if hidden is not None and "width" in settings:
        raise ValueError("give settings 'hidden' or 'width', not both")
    model_names = set(inspect.signature(KAN).parameters) - {"seed", "dtype"}
    fit_names = (set(inspect.signature(fit).parameters) | set(PYKAN_FIT_OPTIONS)) - {
        "model",
        "data",
        "seed",
        "progress",
        "metrics",
        "distributed",
    }
    data = {k: settings.pop(k) for k in DATA_OPTIONS if k in settings}
    model = {k: settings.pop(k) for k in list(settings) if k in model_names}
    training = {k: settings.pop(k) for k in list(settings) if k in fit_names}
    if settings:
        raise ValueError(
            f"unknown settings {sorted(settings)}; expected KAN or fit arguments, "
            f"'hidden', 'dtype' or {list(DATA_OPTIONS)}"
        )
    return data, model, training, dtype, hidden


def _load_dataset(job: Job, options: Mapping[str, Any], dtype: torch.dtype | None):
    from ..core import Dataset
    from ..io import load_feynman

    if isinstance(job.dataset, str):
        (equation,) = load_feynman([job.dataset])
        data = equation.dataset(seed=job.seed, dtype=dtype, **options)
    else:
        data = Dataset.coerce(job.dataset(seed=job.seed, **options))
    return data if dtype is None else data.to(dtype=dtype)


def _r2(prediction: torch.Tensor, target: torch.Tensor) -> float:
    """Coefficient of determination, averaged over the outputs."""
    residual = ((prediction - target) ** 2).sum(0)
    total = ((target - target.mean(0)) ** 2).sum(0)
    return float((1 - residual / total).mean())


def fit_job(job: Job) -> dict[str, Any]:
    """Train a KAN on the job's dataset and report its accuracy.

    Settings: KAN arguments (``width``, or ``hidden`` widths between the data's inputs
    and outputs, default ``[5]``; ``grid``, ``k``...), fit arguments (``steps``, ``lamb``,
    ``opt``...), ``train_num``/``test_num`` for the data and ``dtype`` (e.g.
    ``'float64'``). A fit that diverges reports the last good parameters and
    ``diverged=True``.

    Returns
    -------
    dict
        ``train_rmse``, ``test_rmse``, ``r2`` (test), ``n_evaluations``, ``n_parameters``,
        ``fit_seconds``, ``diverged``.
    """
    from ..compat.pykan import options_from_pykan
    from ..core import KAN
    from ..train import TrainingDivergedError, fit

    data_options, model_options, fit_options, dtype, hidden = _split_settings(job)
    data = _load_dataset(job, data_options, dtype)
    if "width" not in model_options:
        model_options["width"] = [data.n_in, *(hidden if hidden is not None else [5]), data.n_out]
    model = KAN(**model_options, seed=job.seed, dtype=dtype)
    diverged = False
    try:
        options = options_from_pykan(fit_options)  # settings may use pykan's flat names
        history = fit(model, data, seed=job.seed, progress=False, **options)
    except TrainingDivergedError as error:
        history, diverged = error.history, True
    with torch.no_grad():
        prediction = model(data.test_input)
        test_rmse = float(torch.mean((prediction - data.test_label) ** 2).sqrt())
        train_rmse = float(torch.mean((model(data.train_input) - data.train_label) ** 2).sqrt())
    return {
        "train_rmse": train_rmse,
        "test_rmse": test_rmse,
        "r2": _r2(prediction, data.test_label),
        "n_evaluations": history.n_evaluations,
        "n_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "fit_seconds": history.seconds,
        "diverged": diverged,
    }


def discover_job(job: Job) -> dict[str, Any]:
    """Run :func:`kanscience.discover` on the job's dataset; report the best formula.

    Settings go to ``discover`` (``steps``, ``time_budget``, ``hidden``...), except
    ``train_num``/``test_num``/``dtype`` for the data. A Feynman equation's variables name
    the formula's symbols.

    Returns
    -------
    dict
        ``formula`` (the best candidate, as a string), ``complexity``, ``test_rmse``,
        ``r2`` (test), ``val_rmse``, ``n_candidates``, ``discover_seconds``.
    """
    from ..discover import discover
    from ..io import load_feynman

    settings = dict(job.settings)
    if "seed" in settings:
        raise ValueError("settings must not contain 'seed': the job's seed seeds everything")
    dtype = _dtype(settings.pop("dtype", None))
    data = _load_dataset(job, {k: settings.pop(k) for k in DATA_OPTIONS if k in settings}, dtype)
    names = list(load_feynman([job.dataset])[0].variables) if isinstance(job.dataset, str) else None
    result = discover(data, names, seed=job.seed, **settings)
    best = result.best
    return {
        "formula": str(best.expr),
        "complexity": best.complexity,
        "test_rmse": best.test_rmse,
        "r2": best.test_r2,
        "val_rmse": best.val_rmse,
        "n_candidates": len(result.candidates),
        "discover_seconds": result.seconds,
    }


# ---------------------------------------------------------------- the sweep
def sweep(
    jobs: Iterable[Job | Mapping[str, Any]],
    function: Callable[[Job], Mapping[str, Any]] = fit_job,
    engine: str | Engine | Any = None,
    workers: int | None = None,
    time_limit: float | None = None,
    progress: bool = True,
    address: str | None = None,
) -> pandas.DataFrame:
    """Run ``function`` on every job in parallel; one row per job, in the jobs' order.

    Parameters
    ----------
    jobs : iterable of Job (or dicts with keys dataset, seed, settings)
        See :func:`job_grid` for dataset x seed x settings products.
    function : callable
        ``function(job) -> dict`` of results; a picklable top-level callable.
    engine : None, 'local', 'serial', 'dask', 'ray', a dask ``Client`` or an Engine
        ``None``/``'local'``: a pool of ``workers`` spawned processes.
    workers : int, optional
        Processes of the local pool or of the Dask ``LocalCluster`` (default: CPU count).
    time_limit : float, optional
        Seconds per job; a job past it is stopped and reported as ``'timeout'``. The
        limit is enforced inside the worker between Python bytecodes, so a job blocked
        in one long C call (a huge matmul) stops only when that call returns.
    progress : bool
        Show a tqdm progress bar.
    address : str, optional
        The Dask scheduler (``'tcp://host:8786'``) or Ray cluster (``'ray://host:10001'``,
        ``'auto'``) for ``engine='dask'``/``'ray'``.

    Returns
    -------
    pandas.DataFrame
        Columns ``dataset``, ``seed``, one per settings key, ``status`` ('ok', 'error',
        'timeout'), ``error``, ``traceback``, ``wall_time``, then the function's results
        (NaN where a job failed).
    """
    import pandas as pd

    check_top_level(function, "function")
    if time_limit is not None and not time_limit > 0:
        raise ValueError(f"time_limit must be a positive number of seconds, got {time_limit}")
    jobs = [job if isinstance(job, Job) else Job(**job) for job in jobs]
    rows: list[dict[str, Any]] = [{} for _ in jobs]
    if jobs:
        runner, owned = make_engine(engine, workers, address)
        try:
            handles = [runner.submit(run_job, function, job, time_limit) for job in jobs]
            with tqdm(total=len(jobs), disable=not progress, ncols=100, desc="sweep") as bar:
                failed = 0
                for index, result in runner.gather(handles):
                    if isinstance(result, BaseException):
                        result = {
                            "status": "error",
                            "error": f"{type(result).__name__}: {result}",
                            "traceback": "",
                            "wall_time": math.nan,
                        }
                    rows[index] = result
                    failed += result["status"] != "ok"
                    bar.update()
                    bar.set_postfix(failed=failed)
        finally:
            if owned:
                runner.close()
    described = [
        {"dataset": job.name, "seed": job.seed, **job.settings, **row}
        for job, row in zip(jobs, rows)
    ]
    columns = ["dataset", "seed", "status", "error", "traceback", "wall_time"]
    return pd.DataFrame.from_records(
        described,
        columns=list(
            dict.fromkeys(
                [
                    *columns[:2],
                    *(k for job in jobs for k in job.settings),
                    *columns[2:],
                    *(k for row in rows for k in row),
                ]
            )
        ),
    )
