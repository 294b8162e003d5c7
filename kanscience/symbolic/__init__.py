"""Symbolic regression of edges and formulas: affine fits, edge suggestion, sympy formulas,
constant snapping and refitting, sympy -> torch, auxiliary variables, units and
dimensional analysis."""

from ._affine import (
    AffineFit,
    fit_affine,
    symbolic_score,
)
from ._auxiliary import (
    auxiliary_columns,
    parse_auxiliary,
    with_auxiliary,
)
from ._constants import (
    SIMPLE_CONSTANTS,
    ex_round,
    fit_constants,
    float_constants,
    merge_constants,
    simplest_number,
    snap_constants,
)
from ._dimensions import (
    SI_BASE,
    DimensionError,
    Dimensions,
    parse_units,
    units_from_spec,
)
from ._edges import (
    AutoSymbolicResult,
    EdgeChoice,
    Suggestion,
    auto_symbolic,
    auto_symbolic_,
    fix_symbolic,
    fix_symbolic_,
    suggest_symbolic,
    unfix_symbolic,
    unfix_symbolic_,
)
from ._formula import symbolic_formula
from ._formula_module import FormulaModule
from ._formula_object import CODE_PRINTERS, Formula
from ._pi_groups import (
    DimensionlessProblem,
    buckingham_pi,
    dimension_of,
    is_dimensionally_consistent,
)
from ._simplify import (
    expression_complexity,
    simplify_formula,
)
from ._sparse import (
    SparseSumFit,
    sparse_sum_fit,
)
from ._to_torch import (
    UnsupportedExpressionError,
    formula_to_torch,
)
from ._uncertainty import (
    ConstantEstimate,
    ConstantUncertainty,
    constant_uncertainty,
)

__all__ = [
    "CODE_PRINTERS",
    "ConstantEstimate",
    "ConstantUncertainty",
    "Formula",
    "FormulaModule",
    "constant_uncertainty",
    "SIMPLE_CONSTANTS",
    "SI_BASE",
    "AffineFit",
    "DimensionError",
    "DimensionlessProblem",
    "Dimensions",
    "buckingham_pi",
    "dimension_of",
    "is_dimensionally_consistent",
    "parse_units",
    "units_from_spec",
    "AutoSymbolicResult",
    "EdgeChoice",
    "SparseSumFit",
    "Suggestion",
    "UnsupportedExpressionError",
    "auto_symbolic",
    "auto_symbolic_",
    "auxiliary_columns",
    "ex_round",
    "expression_complexity",
    "fit_affine",
    "fit_constants",
    "float_constants",
    "merge_constants",
    "fix_symbolic",
    "fix_symbolic_",
    "formula_to_torch",
    "parse_auxiliary",
    "simplify_formula",
    "simplest_number",
    "snap_constants",
    "sparse_sum_fit",
    "suggest_symbolic",
    "symbolic_formula",
    "symbolic_score",
    "unfix_symbolic",
    "unfix_symbolic_",
    "with_auxiliary",
]
