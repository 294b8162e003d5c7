"""Sweeps: many small fits (or discoveries) in parallel, one table row per job.

A job is plain data (:class:`Job`: a dataset, a seed, a settings dict); a job function
(:func:`fit_job`, :func:`discover_job` or any picklable top-level callable) turns one job
into a dict of results; :func:`sweep` runs the function on every job through an
:class:`Engine` and returns a ``pandas.DataFrame``. A failed job keeps its row, with its
error, and the others go on; each job can have a time limit.

Engines (one small interface, :class:`Engine`: ``submit`` / ``gather`` / ``close``):

- ``'local'`` (default): a ``ProcessPoolExecutor`` of spawned processes, no setup;
- ``'serial'``: in this process, one job after the other (debugging, reference runs);
- ``'dask'``: a Dask ``Client`` (``address=`` a scheduler, or a ``Client`` passed as
  ``engine``; with neither, a ``LocalCluster``), extra ``kanscience[dask]``;
- ``'ray'``: ``ray.init(address=...)``, extra ``kanscience[ray]``.

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
>>> from kanscience.apps._sweep import job_grid, sweep
>>> jobs = job_grid(["I.12.1"], seeds=[0], settings=[{"steps": 2, "train_num": 50, "test_num": 50}])
>>> table = sweep(jobs, engine="serial", progress=False)
>>> table.loc[0, "status"], bool(table.loc[0, "test_rmse"] > 0)
('ok', True)
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import inspect
import itertools
import math
import numbers
import os
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import torch
from tqdm import tqdm

if TYPE_CHECKING:
    import pandas

__all__ = [
    "DaskEngine",
    "Engine",
    "Job",
    "JobTimeoutError",
    "LocalEngine",
    "RayEngine",
    "SerialEngine",
    "discover_job",
    "fit_job",
    "job_grid",
    "make_engine",
    "run_job",
    "sweep",
]

DATA_OPTIONS = ("train_num", "test_num")


@dataclass(frozen=True)
class Job:
    """One unit of a sweep, as plain data.

    Attributes
    ----------
    dataset : str or callable
        A Feynman equation id (see :func:`kanscience.load_feynman`), or a picklable
        top-level callable ``dataset(seed=..., **data_options) -> Dataset``.
    seed : int
        Seeds the data, the model and the mini-batches.
    settings : dict
        Options for the job function (for :func:`fit_job`: KAN and fit arguments).
    """

    dataset: str | Callable[..., Any]
    seed: int = 0
    settings: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.dataset, str):
            _check_top_level(self.dataset, "dataset")
        if isinstance(self.seed, bool) or not isinstance(self.seed, numbers.Integral):
            raise TypeError(f"seed must be an int, got {self.seed!r}")
        object.__setattr__(self, "seed", int(self.seed))
        if not isinstance(self.settings, Mapping):
            raise TypeError(f"settings must be a dict, got {type(self.settings).__name__}")

    @property
    def name(self) -> str:
        """The dataset's id, or its callable's qualified name."""
        if isinstance(self.dataset, str):
            return self.dataset
        func = self.dataset.func if isinstance(self.dataset, functools.partial) else self.dataset
        return getattr(func, "__qualname__", repr(func))


class JobTimeoutError(TimeoutError):
    """A job ran past the sweep's ``time_limit``."""


def _check_top_level(function: Any, name: str) -> None:
    """TypeError unless ``function`` can be pickled by reference (a module-level callable)."""
    inner = function.func if isinstance(function, functools.partial) else function
    qualname = getattr(inner, "__qualname__", "")
    if not callable(inner) or "<lambda>" in qualname or "<locals>" in qualname:
        raise TypeError(
            f"{name} must be a picklable top-level callable (a function defined "
            f"at module level), got {function!r}"
        )


def job_grid(
    datasets: Iterable[str | Callable[..., Any]],
    seeds: Iterable[int] = (0,),
    settings: Mapping[str, Any] | Iterable[Mapping[str, Any]] = ({},),
) -> list[Job]:
    """Every combination of dataset x seed x settings, datasets outermost.

    >>> [(j.dataset, j.seed, j.settings) for j in job_grid(["I.12.1"], [0, 1], {"steps": 5})]
    [('I.12.1', 0, {'steps': 5}), ('I.12.1', 1, {'steps': 5})]
    """
    options = [settings] if isinstance(settings, Mapping) else list(settings)
    return [Job(d, s, dict(o)) for d, s, o in itertools.product(datasets, seeds, options)]


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
    fit_names = set(inspect.signature(fit).parameters) - {
        "model",
        "dataset",
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
    from ..core import KAN
    from ..train import TrainingDivergedError, fit

    data_options, model_options, fit_options, dtype, hidden = _split_settings(job)
    data = _load_dataset(job, data_options, dtype)
    if "width" not in model_options:
        model_options["width"] = [data.n_in, *(hidden if hidden is not None else [5]), data.n_out]
    model = KAN(**model_options, seed=job.seed, dtype=dtype)
    diverged = False
    try:
        history = fit(model, data, seed=job.seed, progress=False, **fit_options)
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
    """Run :func:`kanscience.discover._discover.discover` on the job's dataset; report the best formula.

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


# ---------------------------------------------------------------- one job, in a worker
@contextlib.contextmanager
def _time_limit(seconds: float | None) -> Iterator[None]:
    """Raise JobTimeoutError in this thread after ``seconds`` (between Python bytecodes).

    Works in any thread (Dask runs tasks in worker threads, where signals cannot be
    used); a call stuck in one long C function is interrupted when it returns.
    """
    if seconds is None:
        yield
        return
    target = ctypes.c_ulong(threading.get_ident())
    lock = threading.Lock()
    state = {"running": True, "fired": False}

    def expire() -> None:
        with lock:
            if state["running"]:
                state["fired"] = True
                ctypes.pythonapi.PyThreadState_SetAsyncExc(
                    target, ctypes.py_object(JobTimeoutError)
                )

    timer = threading.Timer(seconds, expire)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        with lock:
            state["running"] = False
            if state["fired"]:  # drop an exception set but not yet raised
                ctypes.pythonapi.PyThreadState_SetAsyncExc(target, None)


def run_job(
    function: Callable[[Job], Mapping[str, Any]], job: Job, time_limit: float | None = None
) -> dict[str, Any]:
    """Run ``function(job)`` with one torch thread; never raises.

    Returns ``{'status': 'ok' | 'error' | 'timeout', 'error': message, 'traceback': text,
    'wall_time': seconds, **function's results}``.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    start = time.perf_counter()
    row: dict[str, Any] = {"status": "ok", "error": "", "traceback": ""}
    try:
        try:
            with _time_limit(time_limit):
                results = dict(function(job))
        except JobTimeoutError:
            raise JobTimeoutError(f"the job ran past time_limit={time_limit} s") from None
        row.update(results)
    except Exception as error:  # noqa: BLE001 - a failed job is a row of the table
        row["status"] = "timeout" if isinstance(error, JobTimeoutError) else "error"
        row["error"] = f"{type(error).__name__}: {error}"
        row["traceback"] = traceback.format_exc()
    finally:
        torch.set_num_threads(threads)
    row["wall_time"] = time.perf_counter() - start
    return row


# ---------------------------------------------------------------- engines
@runtime_checkable
class Engine(Protocol):
    """Where jobs run: ``submit`` returns a handle, ``gather`` yields results as they finish."""

    workers: int

    def submit(self, function: Callable[..., Any], *args: Any) -> Any:
        """Start ``function(*args)``; return a handle."""

    def gather(self, handles: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        """Yield ``(position in handles, result)`` as each finishes; an engine-level failure
        (a lost worker, say) is yielded as the exception instead of the result."""

    def close(self) -> None:
        """Release what the engine started (not what it was given)."""


class SerialEngine:
    """Runs each job in this process when gathered, one after the other."""

    workers = 1

    def submit(self, function: Callable[..., Any], *args: Any) -> Any:
        return functools.partial(function, *args)

    def gather(self, handles: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        for index, handle in enumerate(handles):
            try:
                yield index, handle()
            except Exception as error:  # noqa: BLE001
                yield index, error

    def close(self) -> None:
        pass


class LocalEngine:
    """A pool of ``workers`` spawned processes on this machine (no setup needed)."""

    def __init__(self, workers: int | None = None) -> None:
        import multiprocessing

        self.workers = _worker_count(workers)
        self._pool = ProcessPoolExecutor(
            self.workers, mp_context=multiprocessing.get_context("spawn")
        )

    def submit(self, function: Callable[..., Any], *args: Any) -> Any:
        return self._pool.submit(function, *args)

    def gather(self, handles: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        yield from _as_completed(handles, as_completed, lambda handle: handle)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def _worker_count(workers: int | None) -> int:
    """``workers``, or the CPU count for None; ValueError below 1."""
    count = (os.cpu_count() or 1) if workers is None else int(workers)
    if count < 1:
        raise ValueError(f"workers must be >= 1, got {workers!r}")
    return count


def _as_completed(
    handles: Sequence[Any],
    completed: Callable[[Sequence[Any]], Iterable[Any]],
    key: Callable[[Any], Any],
) -> Iterator[tuple[int, Any]]:
    """Results of futures (concurrent.futures or Dask) in the order they finish."""
    position = {key(handle): i for i, handle in enumerate(handles)}
    for handle in completed(handles):
        try:
            yield position[key(handle)], handle.result()
        except Exception as error:  # noqa: BLE001 - a lost worker, an unpicklable job...
            yield position[key(handle)], error


class DaskEngine:
    """Jobs as tasks of a Dask cluster: ``DaskEngine(client)`` or ``DaskEngine(address=...)``.

    With neither, starts a ``LocalCluster`` of ``workers`` single-threaded processes
    (closed by :meth:`close`).
    """

    def __init__(
        self, client: Any = None, address: str | None = None, workers: int | None = None
    ) -> None:
        try:
            import distributed
        except ImportError as error:
            raise ImportError(
                "engine='dask' needs Dask distributed: pip install 'kanscience[dask]'"
            ) from error
        self._owned: list[Any] = []
        if client is None:
            if address is not None:
                client = distributed.Client(address)
            else:
                cluster = distributed.LocalCluster(
                    n_workers=_worker_count(workers),
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                )
                client = distributed.Client(cluster)
                self._owned.append(cluster)
            self._owned.insert(0, client)
        self.client = client
        self.workers = sum(client.nthreads().values()) or 1
        self._as_completed = distributed.as_completed

    def submit(self, function: Callable[..., Any], *args: Any) -> Any:
        return self.client.submit(function, *args, pure=False)

    def gather(self, handles: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        yield from _as_completed(handles, self._as_completed, lambda handle: handle.key)

    def close(self) -> None:
        for owned in self._owned:
            owned.close()


class RayEngine:
    """Jobs as Ray tasks (one CPU each): ``ray.init(address=address)`` unless Ray is running."""

    def __init__(self, address: str | None = None) -> None:
        try:
            import ray
        except ImportError as error:
            raise ImportError("engine='ray' needs Ray: pip install 'kanscience[ray]'") from error
        self._ray = ray
        self._owned = not ray.is_initialized()
        if self._owned:
            ray.init(address=address)
        self.workers = int(ray.cluster_resources().get("CPU", 1))
        self._remote = ray.remote(num_cpus=1)(_call)

    def submit(self, function: Callable[..., Any], *args: Any) -> Any:
        return self._remote.remote(function, *args)

    def gather(self, handles: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        position = {handle: i for i, handle in enumerate(handles)}
        pending = list(handles)
        while pending:
            (done,), pending = self._ray.wait(pending, num_returns=1)
            try:
                yield position[done], self._ray.get(done)
            except Exception as error:  # noqa: BLE001 - a lost worker, say
                yield position[done], error

    def close(self) -> None:
        if self._owned:
            self._ray.shutdown()


def _call(function: Callable[..., Any], *args: Any) -> Any:
    return function(*args)


def make_engine(
    engine: str | Engine | Any = None, workers: int | None = None, address: str | None = None
) -> tuple[Engine, bool]:
    """The engine for ``sweep``'s arguments, and whether the sweep owns (must close) it."""
    if engine is None or engine == "local":
        return LocalEngine(workers), True
    if engine == "serial":
        return SerialEngine(), True
    if engine == "dask":
        return DaskEngine(address=address, workers=workers), True
    if engine == "ray":
        return RayEngine(address), True
    if type(engine).__module__.split(".")[0] == "distributed" and hasattr(engine, "submit"):
        return DaskEngine(engine), False
    if isinstance(engine, Engine):
        return engine, False
    raise ValueError(
        f"engine must be None, 'local', 'serial', 'dask', 'ray', a Dask Client or "
        f"an Engine, got {engine!r}"
    )


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

    _check_top_level(function, "function")
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
