"""The KAN itself: B-spline bases and compiled kernels, the contraction, the symbolic
function library, KANLayer and KAN, statistics of a forward pass, datasets.

Importing it loads torch and sympy only; the compiled spline loops are a C extension built
when the package is installed (no compilation at run time).
"""

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
from ._digest import json_digest, tampered_part, tensor_digest
from ._functions import (
    DEFAULT_LIBRARY,
    FunctionLibrary,
    SymbolicFunction,
    get_function,
    resolve_library,
    torch_function_table,
)
from ._indices import check_index
from ._layer import (
    ZERO_FUNCTION,
    KANLayer,
)
from ._least_squares import (
    Damping,
    LeastSquaresResult,
    NormalEquations,
    least_squares,
    normal_equations,
)
from ._network import KAN
from ._parse import CONSTANTS, FUNCTIONS, parse_formula
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
from ._width import (
    parse_mult_arity,
    parse_width,
)

__all__ = [
    "json_digest",
    "tampered_part",
    "tensor_digest",
    "CONSTANTS",
    "FUNCTIONS",
    "parse_formula",
    "DEFAULT_LIBRARY",
    "Damping",
    "Dataset",
    "FunctionLibrary",
    "KAN",
    "KANLayer",
    "LayerStatistics",
    "LayerTrace",
    "LeastSquaresResult",
    "NormalEquations",
    "SymbolicFunction",
    "ZERO_FUNCTION",
    "adaptive_grid",
    "as_tensor",
    "basis_matrix",
    "check_index",
    "contraction_weight",
    "create_dataset",
    "describe",
    "evaluate_splines",
    "extend_grid",
    "fit_coefficients",
    "forward_with_statistics",
    "get_function",
    "least_squares",
    "local_bases",
    "node_values",
    "normal_equations",
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
