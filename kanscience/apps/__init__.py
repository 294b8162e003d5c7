"""Applications: the command line, sweeps of jobs, the scikit-learn estimator."""

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover - the static name for type checkers
    from ._estimator import KANRegressor as KANRegressor

from ._engines import (
    DaskEngine,
    Engine,
    LocalEngine,
    RayEngine,
    SerialEngine,
    make_engine,
)
from ._jobs import (
    Job,
    JobTimeoutError,
    job_grid,
    run_job,
)
from ._sweep import (
    discover_job,
    fit_job,
    sweep,
)

__all__ = [
    "DaskEngine",
    "Engine",
    "Job",
    "JobTimeoutError",
    "KANRegressor",
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


def __getattr__(name: str):
    # the estimator loads scikit-learn (and pandas, scipy): only when it is asked for, so
    # the command line starts without them
    if name == "KANRegressor":
        from ._estimator import KANRegressor

        return KANRegressor
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
