"""Training: ``fit``, ``fit_stream`` (data larger than one batch) and their parts (L-BFGS,
Levenberg-Marquardt, penalties, data parallel)."""

from ._checkpointing import (
    TrainingCheckpointError,
)
from ._distributed import (
    DataParallel,
    shard,
    unwrap,
)
from ._fit import (
    fit,
)
from ._lbfgs import (
    FlatLBFGS,
)
from ._levenberg import (
    MAX_PARAMETERS,
    LevenbergMarquardt,
    free_coordinates,
    output_jacobian,
)
from ._options import (
    GridSchedule,
    Penalty,
)
from ._penalty import (
    REG_METRICS,
    coefficient_penalty,
    l1_entropy,
    penalty,
    sparsity_scores,
)
from ._records import (
    Batch,
    History,
    StepState,
    TrainingDivergedError,
)
from ._stream import (
    GRID_SAMPLE,
    StreamHistory,
    StreamState,
    fit_stream,
)

__all__ = [
    "Batch",
    "DataParallel",
    "FlatLBFGS",
    "GRID_SAMPLE",
    "GridSchedule",
    "History",
    "LevenbergMarquardt",
    "MAX_PARAMETERS",
    "Penalty",
    "REG_METRICS",
    "StepState",
    "StreamHistory",
    "StreamState",
    "TrainingCheckpointError",
    "TrainingDivergedError",
    "coefficient_penalty",
    "fit",
    "fit_stream",
    "free_coordinates",
    "l1_entropy",
    "output_jacobian",
    "penalty",
    "shard",
    "sparsity_scores",
    "unwrap",
]
