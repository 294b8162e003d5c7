"""Discovery: from data to ranked closed-form formulas."""

from ._catalogue import default_structures
from ._discover import (
    DISCOVERY_LIBRARY,
    Candidate,
    DiscoveryResult,
    discover,
)
from ._noise import STRUCTURE_Z, NeighbourGraph, neighbour_graph, residual_structure
from ._options import DiscoverOptions
from ._stability import FormulaStability, FrontUncertainty, formula_stability, front_uncertainty
from ._structure import Context, Structure

__all__ = [
    "Candidate",
    "Context",
    "DISCOVERY_LIBRARY",
    "DiscoverOptions",
    "DiscoveryResult",
    "FormulaStability",
    "FrontUncertainty",
    "NeighbourGraph",
    "STRUCTURE_Z",
    "Structure",
    "default_structures",
    "discover",
    "formula_stability",
    "front_uncertainty",
    "neighbour_graph",
    "residual_structure",
]
