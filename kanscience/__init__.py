"""kanscience: symbolic-modular scientific discovery with Kolmogorov-Arnold Networks."""

from . import physics
from .attribution import Attribution, attribute, feature_interaction
from .auxiliary import with_auxiliary
from .discover import Candidate, DiscoveryResult
from .formula import formula_to_torch, snap_constants, symbolic_formula
from .data import Dataset, FeynmanEquation, create_dataset, load_feynman
from .functions import DEFAULT_LIBRARY, FunctionLibrary, SymbolicFunction, get_function
from .interop import from_pykan, to_pykan
from .layers import KANLayer
from .modularity import find_communities, importance_graph, input_modules
from .network import KAN
from .plot import plot
from .prune import PruneResult, important_nodes, prune, prune_edges, prune_inputs, prune_nodes
from .symbolic import auto_symbolic, fit_affine, fix_symbolic, suggest_symbolic, unfix_symbolic
from .surgery import (
    auto_swap,
    connection_cost,
    module,
    remove_edge,
    remove_node,
    select_nodes,
    set_mode,
    subnodes_of,
    swap,
)
from .trace import forward_with_statistics, trace
from .train import History, TrainingDivergedError, fit

__version__ = "0.1.0"

MultKAN = KAN

__all__ = [
    "physics",
    "Candidate",
    "DiscoveryResult",
    "auto_symbolic",
    "fit_affine",
    "fix_symbolic",
    "formula_to_torch",
    "snap_constants",
    "suggest_symbolic",
    "symbolic_formula",
    "unfix_symbolic",
    "with_auxiliary",
    "PruneResult",
    "auto_swap",
    "connection_cost",
    "find_communities",
    "importance_graph",
    "important_nodes",
    "input_modules",
    "module",
    "plot",
    "prune",
    "prune_edges",
    "prune_inputs",
    "prune_nodes",
    "remove_edge",
    "remove_node",
    "select_nodes",
    "set_mode",
    "subnodes_of",
    "swap",
    "Attribution",
    "DEFAULT_LIBRARY",
    "Dataset",
    "FeynmanEquation",
    "FunctionLibrary",
    "History",
    "KAN",
    "KANLayer",
    "MultKAN",
    "SymbolicFunction",
    "TrainingDivergedError",
    "attribute",
    "create_dataset",
    "feature_interaction",
    "fit",
    "forward_with_statistics",
    "from_pykan",
    "get_function",
    "load_feynman",
    "to_pykan",
    "trace",
]
