"""Training: ``fit`` and its parts (L-BFGS, Levenberg-Marquardt, penalties, data parallel)."""

from ._distributed import (
    DataParallel,
    shard,
    unwrap,
)
from ._fit import (
    History,
    TrainingDivergedError,
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
from ._penalty import (
    REG_METRICS,
    coefficient_penalty,
    l1_entropy,
    penalty,
    sparsity_scores,
)

__all__ = [
    "DataParallel",
    "FlatLBFGS",
    "History",
    "LevenbergMarquardt",
    "MAX_PARAMETERS",
    "REG_METRICS",
    "TrainingDivergedError",
    "coefficient_penalty",
    "fit",
    "free_coordinates",
    "l1_entropy",
    "output_jacobian",
    "penalty",
    "shard",
    "sparsity_scores",
    "unwrap",
]
