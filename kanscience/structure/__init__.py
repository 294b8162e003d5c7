"""Structure of a function: separability, interactions, symmetry tests and the tree converter."""

from ._build_tree import (
    build_tree,
)
from ._hypothesis import (
    SEPARABILITY_THRESHOLD,
    SeparabilityReport,
    SeparabilityResult,
    detect_separability,
    separability,
)
from ._interactions import (
    difference_interactions,
    hessian_interactions,
)
from ._pairs import (
    PAIR_KINDS,
    PairSymmetry,
    pair_scalings,
    pair_symmetries,
)
from ._sampling import (
    sample_inputs,
)
from ._symmetry import (
    GENERAL_THRESHOLD,
    SYMMETRY_THRESHOLD,
    GeneralSeparabilityResult,
    SymmetryResult,
    general_separability,
    symmetry,
)
from ._tree import (
    Tree,
    TreeNode,
)

__all__ = [
    "GENERAL_THRESHOLD",
    "GeneralSeparabilityResult",
    "PAIR_KINDS",
    "PairSymmetry",
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
    "pair_scalings",
    "pair_symmetries",
    "sample_inputs",
    "separability",
    "symmetry",
]
