"""Structure of a function: separability, interactions, symmetry tests and the tree converter."""

from ._hypothesis import (
    GENERAL_THRESHOLD,
    SEPARABILITY_THRESHOLD,
    SYMMETRY_THRESHOLD,
    GeneralSeparabilityResult,
    SeparabilityReport,
    SeparabilityResult,
    SymmetryResult,
    detect_separability,
    general_separability,
    sample_inputs,
    separability,
    symmetry,
)
from ._interactions import (
    difference_interactions,
    hessian_interactions,
)
from ._tree import (
    Tree,
    TreeNode,
    build_tree,
)

__all__ = [
    "GENERAL_THRESHOLD",
    "GeneralSeparabilityResult",
    "SEPARABILITY_THRESHOLD",
    "SYMMETRY_THRESHOLD",
    "SeparabilityReport",
    "SeparabilityResult",
    "SymmetryResult",
    "Tree",
    "TreeNode",
    "build_tree",
    "detect_separability",
    "difference_interactions",
    "general_separability",
    "hessian_interactions",
    "sample_inputs",
    "separability",
    "symmetry",
]
