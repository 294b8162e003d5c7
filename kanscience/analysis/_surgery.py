"""Structural edits of a KAN that return a new model: select, swap, mask, modules.

Every function here validates its arguments first and works on a copy, so a failed call
leaves the model untouched. Node indices follow the model's layout: layer ``l`` has
``width_in[l]`` nodes, the sum nodes first, then the multiplication nodes; layer ``l``'s
edges end on the ``width_out[l + 1]`` subnodes of layer ``l + 1`` (a sum node is one
subnode, a multiplication node of arity ``a`` owns ``a`` consecutive subnodes after the
sum nodes). Negative indices count from the end, as for Python sequences and everywhere
in kanscience (:func:`kanscience.core.check_index`).

- :func:`select_nodes` keeps (and may reorder) a subset of each layer's nodes; every
  tensor, affine parameter and symbolic name is sliced along, and a multiplication node
  always travels with all of its subnodes. :func:`~kanscience.analysis.prune` builds on it.
- :func:`swap` permutes hidden nodes without changing the function (pykan's ``swap`` loses
  symbolic functions, affine parameters and mult-node subnodes);
  :func:`~kanscience.analysis.auto_swap` searches for a tidy order with it.
- :func:`remove_edge`, :func:`remove_node`, :func:`set_mode` and :func:`module` switch
  edges off (or change their mode) and keep every index stable.

Examples
--------
>>> import torch
>>> from kanscience import KAN
>>> model = KAN([2, [1, 1], 1], seed=0)
>>> x = torch.rand(8, 2)
>>> swapped = swap(model, 1, 0, 0)
>>> bool(torch.allclose(swapped(x), model(x)))
True
>>> edited = remove_edge(model, 0, 1, 0)
>>> float(edited.layers[0].mask[1, 0]), float(model.layers[0].mask[1, 0])
(0.0, 1.0)
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import torch
from torch import Tensor

from ..core import KAN, check_index

__all__ = [
    "module",
    "remove_edge",
    "remove_node",
    "select_nodes",
    "set_mode",
    "subnodes_of",
    "swap",
]

_LAYER_TENSORS = ("coef", "scale_base", "scale_sp", "mask", "symbolic_mask", "symbolic_affine")
_MODES = ("n", "s", "ns", "sn", "off")


# ----------------------------------------------------------------------------- checks
def _check_model(model: KAN) -> None:
    if not isinstance(model, KAN):
        raise TypeError(f"model must be a kanscience KAN, got {type(model).__name__}")


def _node_layer(model: KAN, layer: object, name: str = "layer") -> int:
    return check_index(layer, model.depth + 1, name)


def _edge_layer(model: KAN, layer: object, name: str = "l") -> int:
    return check_index(layer, model.depth, name)


# ----------------------------------------------------------------------------- layout
def subnodes_of(model: KAN, layer: int, node: int) -> list[int]:
    """The subnodes of node ``node`` in layer ``layer`` (``[node]`` for a sum node).

    >>> from kanscience import KAN
    >>> subnodes_of(KAN([2, [1, 2], 1], seed=0), 1, 2)
    [3, 4]
    """
    _check_model(model)
    layer = _node_layer(model, layer)
    node = check_index(node, model.width_in[layer], "node")
    n_sum = model.width[layer][0]
    if node < n_sum:
        return [node]
    arities = model.mult_arity[layer]
    start = n_sum + sum(arities[: node - n_sum])
    return list(range(start, start + arities[node - n_sum]))


def _is_mult(model: KAN, layer: int, node: int) -> bool:
    return node >= model.width[layer][0]


def _check_selection(model: KAN, nodes: Sequence[Sequence[int] | None]) -> list[list[int]]:
    if isinstance(nodes, (str, bytes)) or not isinstance(nodes, Sequence):
        raise TypeError(f"nodes must be a list of {model.depth + 1} index lists, got {nodes!r}")
    if len(nodes) != model.depth + 1:
        raise ValueError(
            f"nodes must give one index list per layer ({model.depth + 1}), got {len(nodes)}"
        )
    selection = []
    for layer, chosen in enumerate(nodes):
        size = model.width_in[layer]
        if chosen is None:
            selection.append(list(range(size)))
            continue
        if isinstance(chosen, Tensor):
            chosen = chosen.tolist()
        if isinstance(chosen, (str, bytes)) or not isinstance(chosen, Sequence):
            raise TypeError(f"nodes[{layer}] must be a list of ints, got {chosen!r}")
        picked = [check_index(i, size, f"nodes[{layer}] entry") for i in chosen]
        if not picked:
            raise ValueError(f"nodes[{layer}] is empty: every layer needs at least one node")
        if len(set(picked)) != len(picked):
            raise ValueError(f"nodes[{layer}] repeats a node: {list(chosen)!r}")
        kinds = [_is_mult(model, layer, i) for i in picked]
        if kinds != sorted(kinds):
            raise ValueError(
                f"nodes[{layer}] must list sum nodes (< {model.width[layer][0]}) before "
                f"multiplication nodes, got {list(chosen)!r}"
            )
        selection.append(picked)
    return selection


# ----------------------------------------------------------------------------- select
@torch.no_grad()
def select_nodes(model: KAN, nodes: Sequence[Sequence[int] | None]) -> KAN:
    """A new model made of the listed nodes of every layer, in the listed order.

    Parameters
    ----------
    model : KAN
    nodes : list of (list of int or None)
        One entry per node layer (``depth + 1`` of them, inputs first); ``None`` keeps a
        layer as it is. Sum nodes must come before multiplication nodes. A multiplication
        node is kept with all of its subnodes, and every edge between kept nodes keeps its
        spline, masks, symbolic function and affine parameters.

    Returns
    -------
    KAN
        Same dtype, device, grids and library. Selecting inputs or outputs changes the
        model's interface: the new inputs are ``x[:, nodes[0]]``.

    Examples
    --------
    >>> import torch
    >>> from kanscience import KAN
    >>> model = KAN([3, 4, 1], seed=0)
    >>> small = select_nodes(model, [None, [0, 2], None])
    >>> small.width
    [[3, 0], [2, 0], [1, 0]]
    """
    _check_model(model)
    selection = _check_selection(model, nodes)
    subnodes: list[list[int]] = [[]] + [  # the input layer has no subnodes
        [s for node in selection[layer] for s in subnodes_of(model, layer, node)]
        for layer in range(1, model.depth + 1)
    ]
    width, arity = [], []
    for layer, chosen in enumerate(selection):
        n_sum = model.width[layer][0]
        mults = [i - n_sum for i in chosen if i >= n_sum]
        width.append([len(chosen) - len(mults), len(mults)])
        arity.append([model.mult_arity[layer][m] for m in mults])
    reference = model.layers[0].coef
    config = model.config()
    config.update(width=width, mult_arity=arity, library=model.library)
    new = KAN(**config, dtype=reference.dtype)

    old_state = model.state_dict()
    state = {}
    for layer in range(model.depth):
        rows = torch.tensor(selection[layer], dtype=torch.long, device=reference.device)
        cols = torch.tensor(subnodes[layer + 1], dtype=torch.long, device=reference.device)
        prefix = f"layers.{layer}."
        state[prefix + "grid"] = old_state[prefix + "grid"][rows]
        for name in _LAYER_TENSORS:
            state[prefix + name] = old_state[prefix + name][rows][:, cols]
        node_rows = torch.tensor(selection[layer + 1], dtype=torch.long, device=reference.device)
        for name in ("node_scale", "node_bias"):
            state[f"{name}.{layer}"] = old_state[f"{name}.{layer}"][node_rows]
        for name in ("subnode_scale", "subnode_bias"):
            state[f"{name}.{layer}"] = old_state[f"{name}.{layer}"][cols]
    new.load_state_dict(state, strict=True)
    new = new.to(reference.device)
    for layer, kan_layer in enumerate(new.layers):
        names = model.layers[layer].symbolic_names
        kan_layer.symbolic_names = [
            [names[i][j] for j in subnodes[layer + 1]] for i in selection[layer]
        ]
        kan_layer.invalidate_symbolic_cache()
    old_params = dict(model.named_parameters())
    for name, param in new.named_parameters():
        param.requires_grad_(old_params[name].requires_grad)
    new.train(model.training)
    return new


def _permuted(model: KAN, layer: int, order: list[int]) -> KAN:
    nodes: list[Sequence[int] | None] = [None] * (model.depth + 1)
    nodes[layer] = order
    return select_nodes(model, nodes)


def swap(model: KAN, layer: int, i1: int, i2: int) -> KAN:
    """A copy with hidden nodes ``i1`` and ``i2`` of ``layer`` exchanged; same function.

    Both nodes must be sum nodes or both multiplication nodes (of any arities); their
    incoming edges (to all of their subnodes), outgoing edges, node and subnode affine
    parameters and symbolic functions move with them.

    Examples
    --------
    >>> import torch
    >>> from kanscience import KAN
    >>> model = KAN([2, 3, 1], seed=0)
    >>> x = torch.rand(5, 2)
    >>> bool(torch.allclose(swap(model, 1, 0, 2)(x), model(x)))
    True
    """
    _check_model(model)
    layer = _node_layer(model, layer)
    if not 0 < layer < model.depth:
        raise ValueError(
            f"layer must be a hidden layer in [1, {model.depth - 1}], got {layer}: swapping "
            "input or output nodes would change the model's interface"
        )
    n = model.width_in[layer]
    i1, i2 = check_index(i1, n, "i1"), check_index(i2, n, "i2")
    if _is_mult(model, layer, i1) != _is_mult(model, layer, i2):
        raise ValueError(
            f"cannot swap a sum node with a multiplication node (layer {layer} has "
            f"{model.width[layer][0]} sum nodes), got i1={i1}, i2={i2}"
        )
    order = list(range(n))
    order[i1], order[i2] = order[i2], order[i1]
    return _permuted(model, layer, order)


# ----------------------------------------------------------------------------- masks
def set_mode(model: KAN, l: int, i: int, j: int, mode: str, numeric_mask: float = 1.0) -> KAN:
    """A copy in which edge (l, i -> j) computes ``mode``: 'n', 's', 'ns' or 'off'.

    As :meth:`KAN.set_mode_`; ``numeric_mask`` weights the spline part in mode 'ns'.
    """
    _check_model(model)
    l, i, j = model.edge_index(l, i, j)
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
    new = model.copy()
    new.set_mode_(l, i, j, mode, numeric_mask=float(numeric_mask))
    return new


def remove_edge(model: KAN, l: int, i: int, j: int) -> KAN:
    """A copy with edge (l, i -> j) switched off, numeric and symbolic parts both.

    (pykan's ``remove_edge`` leaves a symbolic edge on.)
    """
    return set_mode(model, l, i, j, "off")


@torch.no_grad()
def _mask_block(model: KAN, layer: int, rows: Sequence[int], cols: Sequence[int]) -> None:
    if not rows or not cols:
        return
    kan_layer = model.layers[layer]
    r = torch.tensor(list(rows), dtype=torch.long, device=kan_layer.mask.device)
    c = torch.tensor(list(cols), dtype=torch.long, device=kan_layer.mask.device)
    kan_layer.mask[r[:, None], c[None, :]] = 0.0
    kan_layer.symbolic_mask[r[:, None], c[None, :]] = 0.0
    kan_layer.invalidate_symbolic_cache()


def remove_node(model: KAN, l: int, i: int) -> KAN:
    """A copy with every edge into and out of node (l, i) switched off.

    Edges into all subnodes of a multiplication node are switched off. Indices stay as
    they are; :func:`select_nodes` or :func:`~kanscience.analysis.prune_nodes` drop nodes.
    """
    _check_model(model)
    l = _node_layer(model, l, "l")
    i = check_index(i, model.width_in[l], "i")
    new = model.copy()
    if l > 0:
        _mask_block(new, l - 1, range(model.width_in[l - 1]), subnodes_of(model, l, i))
    if l < model.depth:
        _mask_block(new, l, [i], range(model.width_out[l + 1]))
    return new


_GROUP = re.compile(r"^\[\s*(-?\d+(\s*,\s*-?\d+)*)?\s*,?\s*\]$")


def _parse_chain(chain: str | Sequence[Sequence[int]]) -> list[list[int]]:
    if isinstance(chain, str):
        parts = [p.strip() for p in chain.split("->")]
        groups = []
        for part in parts:
            if not _GROUP.match(part):
                raise ValueError(
                    f"chain must look like '[0,1]->[0,1]->[0]' (lists of ints joined by '->'), "
                    f"got {chain!r} (bad group {part!r})"
                )
            inner = part[1:-1].strip().rstrip(",")
            groups.append([int(v) for v in inner.split(",")] if inner else [])
        return groups
    if not isinstance(chain, Sequence) or isinstance(chain, bytes):
        raise TypeError(f"chain must be a string or a list of index lists, got {chain!r}")
    groups = []
    for group in chain:
        if isinstance(group, (str, bytes)) or not isinstance(group, Sequence):
            raise TypeError(f"chain entries must be lists of ints, got {group!r}")
        groups.append(list(group))
    return groups


def module(model: KAN, start_layer: int, chain: str | Sequence[Sequence[int]]) -> KAN:
    """A copy in which the chain of node groups only talks to itself (pykan's ``module``).

    ``chain`` alternates node groups of layer ``start_layer + t`` and subnode groups of
    the next layer, as in pykan: ``'[0,1]->[0,1]->[0]'`` says that nodes 0 and 1 of
    ``start_layer`` feed subnodes 0 and 1 of the next layer, which form its node 0 (the
    trailing node group is checked and describes the module's output). For each
    (nodes ``A``, subnodes ``B``) pair, edges from ``A`` to subnodes outside ``B`` and
    from nodes outside ``A`` into ``B`` are switched off; masked edges stay off while
    training, so the module stays separate. A list of index lists works as well.

    Examples
    --------
    >>> from kanscience import KAN
    >>> model = module(KAN([4, 4, 1], seed=0), 0, '[0,1]->[0,1]')
    >>> model.layers[0].mask[:, :2].tolist()
    [[1.0, 1.0], [1.0, 1.0], [0.0, 0.0], [0.0, 0.0]]
    """
    _check_model(model)
    start = _edge_layer(model, start_layer, "start_layer")
    groups = _parse_chain(chain)
    if len(groups) < 2:
        raise ValueError(f"chain needs at least a node group and a subnode group, got {chain!r}")
    n_layers = len(groups) // 2
    if start + n_layers > model.depth:
        raise ValueError(
            f"chain spans {n_layers} layer(s) from start_layer={start}, but the model has "
            f"only {model.depth} layer(s) of edges"
        )
    blocks = []
    for t, group in enumerate(groups):
        layer = start + (t + 1) // 2
        size = model.width_in[layer] if t % 2 == 0 else model.width_out[layer]
        kind = "node" if t % 2 == 0 else "subnode"
        if not group:
            raise ValueError(f"chain group {t} ({kind}s of layer {layer}) is empty: {chain!r}")
        picked = [
            check_index(i, size, f"chain group {t} ({kind}s of layer {layer}) entry") for i in group
        ]
        blocks.append(sorted(set(picked)))
    new = model.copy()
    for t in range(n_layers):
        layer = start + t
        inside, outputs = blocks[2 * t], blocks[2 * t + 1]
        outside = [i for i in range(model.width_in[layer]) if i not in inside]
        other = [j for j in range(model.width_out[layer + 1]) if j not in outputs]
        _mask_block(new, layer, outside, outputs)
        _mask_block(new, layer, inside, other)
    return new
