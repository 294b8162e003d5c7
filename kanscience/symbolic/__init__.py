"""Symbolic regression of edges and formulas: affine fits, edge suggestion, sympy formulas,
constant snapping and refitting, auxiliary variables."""

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
from ._formula import (
    UnsupportedExpressionError,
    ex_round,
    expression_complexity,
    fit_constants,
    formula_to_torch,
    simplify_formula,
    snap_constants,
    symbolic_formula,
)

__all__ = [
    "AffineFit",
    "AutoSymbolicResult",
    "EdgeChoice",
    "Suggestion",
    "UnsupportedExpressionError",
    "auto_symbolic",
    "auto_symbolic_",
    "auxiliary_columns",
    "ex_round",
    "expression_complexity",
    "fit_affine",
    "fit_constants",
    "fix_symbolic",
    "fix_symbolic_",
    "formula_to_torch",
    "parse_auxiliary",
    "simplify_formula",
    "snap_constants",
    "suggest_symbolic",
    "symbolic_formula",
    "symbolic_score",
    "unfix_symbolic",
    "unfix_symbolic_",
    "with_auxiliary",
]
