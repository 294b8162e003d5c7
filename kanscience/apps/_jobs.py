"""A job of a sweep as plain data, and how one job runs in a worker.

A :class:`Job` is a dataset (a Feynman id or a picklable top-level callable), a seed and a
settings dict; :func:`job_grid` builds their products. :func:`run_job` runs a job
function on one job with one torch thread and an optional time limit, and turns any
failure into a row of results instead of an exception.

Examples
--------
>>> from kanscience.apps import Job, run_job
>>> def double_seed(job):
...     return {"value": 2 * job.seed}
>>> row = run_job(double_seed, Job("I.12.1", seed=3))
>>> row["status"], row["value"]
('ok', 6)
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import itertools
import numbers
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import torch

__all__ = ["Job", "JobTimeoutError", "check_top_level", "job_grid", "run_job"]


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
            check_top_level(self.dataset, "dataset")
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


def check_top_level(function: Any, name: str) -> None:
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

    Examples
    --------
    >>> [(j.dataset, j.seed, j.settings) for j in job_grid(["I.12.1"], [0, 1], {"steps": 5})]
    [('I.12.1', 0, {'steps': 5}), ('I.12.1', 1, {'steps': 5})]
    """
    # a Mapping is also an Iterable (of its keys): the check, not the types, tells them apart
    options = (
        [cast(Mapping[str, Any], settings)]
        if isinstance(settings, Mapping)
        else list(cast(Iterable[Mapping[str, Any]], settings))
    )
    return [Job(d, s, dict(o)) for d, s, o in itertools.product(datasets, seeds, options)]


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
