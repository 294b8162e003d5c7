"""Applications: the command line, sweeps of jobs, the scikit-learn estimator."""

from ._estimator import (
    KANRegressor,
)
from ._sweep import (
    DaskEngine,
    Engine,
    Job,
    JobTimeoutError,
    LocalEngine,
    RayEngine,
    SerialEngine,
    discover_job,
    fit_job,
    job_grid,
    make_engine,
    run_job,
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
