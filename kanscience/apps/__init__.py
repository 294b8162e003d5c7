"""Applications: the command line, sweeps of jobs, the scikit-learn estimator."""

from ._engines import (
    DaskEngine,
    Engine,
    LocalEngine,
    RayEngine,
    SerialEngine,
    make_engine,
)
from ._estimator import (
    KANRegressor,
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
