"""kanscience: symbolic-modular scientific discovery with Kolmogorov-Arnold Networks.

The package is layered (see ARCHITECTURE.md): :mod:`kanscience.core` (the KAN),
:mod:`kanscience.train`, :mod:`kanscience.analysis`, :mod:`kanscience.symbolic`,
:mod:`kanscience.structure`, :mod:`kanscience.discover`, :mod:`kanscience.physics`,
:mod:`kanscience.io`, :mod:`kanscience.plot` and :mod:`kanscience.apps`. The names below
are a short curated API; each is imported on first use, so ``import kanscience`` loads
nothing heavy (not even torch).

Examples
--------
>>> import kanscience
>>> model = kanscience.KAN([2, 3, 1], seed=0)
>>> model.width
[[2, 0], [3, 0], [1, 0]]
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> the subpackage that defines it
_LAZY = {
    # core
    "KAN": "core",
    "KANLayer": "core",
    "Dataset": "core",
    "create_dataset": "core",
    "DEFAULT_LIBRARY": "core",
    "FunctionLibrary": "core",
    "SymbolicFunction": "core",
    "get_function": "core",
    "trace": "core",
    "forward_with_statistics": "core",
    "describe": "core",
    "parse_formula": "core",
    # train
    "fit": "train",
    "fit_stream": "train",
    "StreamHistory": "train",
    "History": "train",
    "TrainingDivergedError": "train",
    "TrainingCheckpointError": "train",
    "Penalty": "train",
    "GridSchedule": "train",
    "StepState": "train",
    "Batch": "train",
    # analysis
    "Attribution": "analysis",
    "attribute": "analysis",
    "feature_interaction": "analysis",
    "PruneResult": "analysis",
    "prune": "analysis",
    "prune_edges": "analysis",
    "prune_inputs": "analysis",
    "prune_nodes": "analysis",
    "important_nodes": "analysis",
    "auto_swap": "analysis",
    "connection_cost": "analysis",
    "module": "analysis",
    "remove_edge": "analysis",
    "remove_node": "analysis",
    "select_nodes": "analysis",
    "set_mode": "analysis",
    "subnodes_of": "analysis",
    "swap": "analysis",
    "find_communities": "analysis",
    "importance_graph": "analysis",
    "input_modules": "analysis",
    # symbolic
    "auto_symbolic": "symbolic",
    "fit_affine": "symbolic",
    "fix_symbolic": "symbolic",
    "suggest_symbolic": "symbolic",
    "unfix_symbolic": "symbolic",
    "formula_to_torch": "symbolic",
    "snap_constants": "symbolic",
    "symbolic_formula": "symbolic",
    "with_auxiliary": "symbolic",
    "Formula": "symbolic",
    "constant_uncertainty": "symbolic",
    "sparse_sum_fit": "symbolic",
    # structure
    "detect_separability": "structure",
    "build_tree": "structure",
    "pair_symmetries": "structure",
    "pair_scalings": "structure",
    # discover
    "Candidate": "discover",
    "DiscoveryResult": "discover",
    "DiscoverOptions": "discover",
    "Structure": "discover",
    # io
    "save": "io",
    "load": "io",
    "from_pykan": "io",
    "to_pykan": "io",
    "FeynmanEquation": "io",
    "load_feynman": "io",
}
_SUBPACKAGES = (
    "core",
    "train",
    "analysis",
    "symbolic",
    "structure",
    "discover",
    "physics",
    "io",
    "plot",
    "apps",
)

__all__ = sorted([*_LAZY, "MultKAN", *_SUBPACKAGES])

if TYPE_CHECKING:  # pragma: no cover - static names for type checkers and IDEs
    from .analysis import *  # noqa: F403
    from .core import *  # noqa: F403
    from .discover import Candidate as Candidate
    from .discover import DiscoverOptions as DiscoverOptions
    from .discover import DiscoveryResult as DiscoveryResult
    from .discover import Structure as Structure
    from .io import *  # noqa: F403
    from .structure import build_tree as build_tree
    from .structure import detect_separability as detect_separability
    from .structure import pair_scalings as pair_scalings
    from .structure import pair_symmetries as pair_symmetries
    from .symbolic import *  # noqa: F403
    from .train import *  # noqa: F403


def __getattr__(name: str) -> Any:
    if name in _SUBPACKAGES:
        return importlib.import_module(f".{name}", __name__)
    source = "KAN" if name == "MultKAN" else name  # pykan's name for a KAN with product nodes
    if source in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[source]}", __name__), source)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'kanscience' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
