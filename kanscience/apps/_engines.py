"""Where the jobs of a sweep run: one small interface, :class:`Engine`, and four engines.

- ``'local'`` (default): a ``ProcessPoolExecutor`` of spawned processes, no setup;
- ``'serial'``: in this process, one job after the other (debugging, reference runs);
- ``'dask'``: a Dask ``Client`` (``address=`` a scheduler, or a ``Client`` passed as
  ``engine``; with neither, a ``LocalCluster``), extra ``kanscience[dask]``;
- ``'ray'``: ``ray.init(address=...)``, extra ``kanscience[ray]``.

An engine's ``submit`` returns a handle, ``gather`` yields ``(position, result)`` as jobs
finish (an engine-level failure as the exception), ``close`` releases what it started.

Examples
--------
>>> engine, owned = make_engine("serial")
>>> handles = [engine.submit(pow, 2, n) for n in range(4)]
>>> sorted(engine.gather(handles)), owned
([(0, 1), (1, 2), (2, 4), (3, 8)], True)
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "DaskEngine",
    "Engine",
    "LocalEngine",
    "RayEngine",
    "SerialEngine",
    "make_engine",
]


@runtime_checkable
class Engine(Protocol):
    """Where jobs run: ``submit`` returns a handle, ``gather`` yields results as they finish."""

    workers: int

    def submit(self, function: Callable[..., Any], *args: Any) -> Any:
        """Start ``function(*args)``; return a handle."""
        ...

    def gather(self, handles: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        """Yield ``(position in handles, result)`` as each finishes; an engine-level failure
        (a lost worker, say) is yielded as the exception instead of the result."""
        ...

    def close(self) -> None:
        """Release what the engine started (not what it was given)."""
        ...


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
                    # None turns the dashboard off (documented; the stub says str only)
                    dashboard_address=None,  # pyright: ignore[reportArgumentType]
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
            import ray  # pyright: ignore[reportMissingImports] - the optional extra
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
