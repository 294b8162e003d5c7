"""The KAN itself: B-spline bases and compiled kernels, the contraction, the symbolic
function library, KANLayer and KAN, statistics of a forward pass, datasets."""

from ._contraction import (
    contraction_weight,
    spline_contract,
)
from ._data import (
    Dataset,
    as_tensor,
    create_dataset,
)
from ._describe import (
    describe,
    node_values,
    place_grids_,
)
from ._functions import (
    DEFAULT_LIBRARY,
    FunctionLibrary,
    SymbolicFunction,
    get_function,
    resolve_library,
    torch_function_table,
)
from ._layer import (
    ZERO_FUNCTION,
    KANLayer,
)
from ._network import (
    KAN,
    parse_mult_arity,
    parse_width,
)
from ._splines import (
    adaptive_grid,
    basis_matrix,
    evaluate_splines,
    extend_grid,
    fit_coefficients,
    local_bases,
    refine_grid,
    spline_features,
    spline_table,
    uniform_grid,
    update_grid,
)
from ._trace import (
    LayerStatistics,
    LayerTrace,
    forward_with_statistics,
    propagate_scores,
    trace,
)

__all__ = [
    "DEFAULT_LIBRARY",
    "Dataset",
    "FunctionLibrary",
    "KAN",
    "KANLayer",
    "LayerStatistics",
    "LayerTrace",
    "SymbolicFunction",
    "ZERO_FUNCTION",
    "adaptive_grid",
    "as_tensor",
    "basis_matrix",
    "contraction_weight",
    "create_dataset",
    "describe",
    "evaluate_splines",
    "extend_grid",
    "fit_coefficients",
    "forward_with_statistics",
    "get_function",
    "local_bases",
    "node_values",
    "parse_mult_arity",
    "parse_width",
    "place_grids_",
    "propagate_scores",
    "refine_grid",
    "resolve_library",
    "spline_contract",
    "spline_features",
    "spline_table",
    "torch_function_table",
    "trace",
    "uniform_grid",
    "update_grid",
]
