"""Analysis of trained networks: attribution, pruning, function-preserving surgery, layout,
modules. networkx is imported by the graph functions when they are called."""

from ._attribution import (
    Attribution,
    attribute,
    feature_interaction,
)
from ._layout import (
    auto_swap,
    connection_cost,
)
from ._modularity import (
    COMMUNITY_METHODS,
    find_communities,
    importance_graph,
    input_modules,
)
from ._prune import (
    PruneResult,
    important_nodes,
    prune,
    prune_edges,
    prune_inputs,
    prune_nodes,
)
from ._surgery import (
    module,
    remove_edge,
    remove_node,
    select_nodes,
    set_mode,
    subnodes_of,
    swap,
)

__all__ = [
    "Attribution",
    "COMMUNITY_METHODS",
    "PruneResult",
    "attribute",
    "auto_swap",
    "connection_cost",
    "feature_interaction",
    "find_communities",
    "importance_graph",
    "important_nodes",
    "input_modules",
    "module",
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
]
