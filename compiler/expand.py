"""Continue from a formula: widen, deepen and perturb a (compiled) KAN, then train.

Every operation returns a new model and leaves its argument as it was. The meanings are
pykan's (``MultKAN.expand_width``, ``expand_depth``, ``perturb``), with three
differences: trained spline parameters of existing edges are kept (pykan replaces the
two affected layers by fresh ones), new sum nodes are appended after the existing sum
nodes (pykan puts them first; indices of existing nodes stay valid), and ``perturb``
leaves edges that already compute a spline as they are (pykan's non-intrusive mode
zeroes the last layer's spline scales, which would erase them).

Examples
--------
>>> import sympy, torch
>>> from compiler import compile_formula
>>> x, y, z = sympy.symbols("x y z")
>>> prior = compile_formula(x * y, [x, y, z])
>>> wide = perturb(expand_width(expand_depth(prior), 1, 1), mag=0.1)
>>> wide.width
[[3, 0], [1, 1], [1, 0]]
>>> u = torch.rand(5, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
>>> bool(torch.allclose(wide(u), prior(u)))
True
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import sympy
import torch
from torch import Tensor

from kanscience.core import KAN, ZERO_FUNCTION, Dataset, KANLayer, place_grids_
from kanscience.train import History, fit

from .build import CompiledKAN, compile_formula
from .parse import parse_formulas

__all__ = [
    "PERTURB_MODES",
    "active_edges",
    "compile_and_train",
    "copy_affine",
    "copy_layer",
    "expand_depth",
    "expand_width",
    "perturb",
    "rebuild",
]

#: pykan's perturbation modes: which edge types get a spline of weight ``mag``. Edge types
#: are 'aa_a' (active input and output, active edge), 'aa_i' (active input and output,
#: inactive edge), 'ai', 'ia' and 'ii' (input, output active 'a' or inactive 'i').
PERTURB_MODES: dict[str, frozenset[str]] = {
    "all": frozenset({"aa_a", "aa_i", "ai", "ia", "ii"}),
    "intrusive": frozenset({"aa_a", "aa_i", "ai", "ia", "ii"}),
    "non-intrusive": frozenset({"ai", "ii"}),
    "minimal": frozenset({"aa_a"}),
}


# ------------------------------------------------------------------ helpers
def rebuild(
    model: KAN,
    width: list,
    mult_arity: list,
    grid: Sequence[int] | None = None,
    k: Sequence[int] | None = None,
    seed: int | None = None,
) -> KAN:
    """A fresh model like ``model`` (same class, options, names) with a new shape."""
    cfg = model.config()
    options: dict[str, Any] = {
        key: cfg[key]
        for key in (
            "noise_scale",
            "scale_base_mu",
            "scale_base_sigma",
            "base_fun",
            "affine_trainable",
            "grid_eps",
            "grid_range",
            "sp_trainable",
            "sb_trainable",
        )
    }
    options.update(
        grid=list(grid if grid is not None else cfg["grid"]),
        k=list(k if k is not None else cfg["k"]),
        mult_arity=mult_arity,
        seed=cfg["seed"] if seed is None else int(seed),
        library=model.library,
        dtype=model.layers[0].coef.dtype,
    )
    if isinstance(model, CompiledKAN):
        new: KAN = CompiledKAN(
            width, input_names=model.input_names, expressions=model.expressions, **options
        )
    else:
        new = KAN(width, **options)
    return new.to(model.layers[0].coef.device)


@torch.no_grad()
def copy_layer(src: KANLayer, dst: KANLayer, rows: Sequence[int], cols: Sequence[int]) -> None:
    """Edge (i, j) of ``src`` becomes edge (rows[i], cols[j]) of ``dst``; other edges off."""
    r = torch.as_tensor(list(rows), dtype=torch.long, device=dst.grid.device)
    c = torch.as_tensor(list(cols), dtype=torch.long, device=dst.grid.device)
    dst.mask.zero_()
    dst.symbolic_mask.zero_()
    dst.grid[r] = src.grid
    for name in ("coef", "scale_base", "scale_sp", "mask", "symbolic_mask", "symbolic_affine"):
        getattr(dst, name)[r[:, None], c[None, :]] = getattr(src, name)
    for row in dst.symbolic_names:
        row[:] = [ZERO_FUNCTION] * len(row)
    for i, row in enumerate(src.symbolic_names):
        for j, name in enumerate(row):
            dst.symbolic_names[rows[i]][cols[j]] = name
    dst.invalidate_symbolic_cache()


@torch.no_grad()
def copy_affine(
    src: KAN, dst: KAN, layer: int, nodes: Sequence[int], subnodes: Sequence[int]
) -> None:
    """Node and subnode affine maps of ``src``'s layer ``layer`` into ``dst`` at the given
    node and subnode positions."""
    for name, index in (
        ("node_scale", nodes),
        ("node_bias", nodes),
        ("subnode_scale", subnodes),
        ("subnode_bias", subnodes),
    ):
        target = getattr(dst, name)[layer]
        target[torch.as_tensor(list(index), dtype=torch.long, device=target.device)] = getattr(
            src, name
        )[layer]


def _identity(n: int) -> list[int]:
    return list(range(n))


# ------------------------------------------------------------------ structure
def expand_width(
    model: KAN,
    layer: int,
    n_added_nodes: int,
    sum_bool: bool = True,
    mult_arity: int | Sequence[int] = 2,
) -> KAN:
    """A copy of ``model`` with ``n_added_nodes`` more nodes in hidden layer ``layer``.

    The new nodes have no active edges, so the function is unchanged; :func:`perturb`
    then gives them trainable splines.

    Parameters
    ----------
    model : KAN
    layer : int
        Hidden layer, ``1 <= layer < model.depth``.
    n_added_nodes : int
    sum_bool : bool
        Add sum nodes (True) or multiplication nodes (False).
    mult_arity : int or list of int
        Arity of the new multiplication nodes (one for all, or one each).

    Returns
    -------
    KAN
        Same class as ``model``; new sum nodes follow the existing sum nodes, new
        multiplication nodes the existing ones.
    """
    if not isinstance(layer, int) or not 1 <= layer < model.depth:
        raise ValueError(
            f"layer must be a hidden layer in [1, {model.depth - 1}], got {layer!r}"
            + (" (deepen first with expand_depth)" if model.depth == 1 else "")
        )
    if not isinstance(n_added_nodes, int) or n_added_nodes < 1:
        raise ValueError(f"n_added_nodes must be a positive int, got {n_added_nodes!r}")
    width, arity = copy.deepcopy(model.width), copy.deepcopy(model.mult_arity)
    n_sum = width[layer][0]
    nodes, subnodes = _identity(model.width_in[layer]), _identity(model.width_out[layer])
    if sum_bool:
        width[layer][0] += n_added_nodes
        nodes = [i if i < n_sum else i + n_added_nodes for i in nodes]
        subnodes = [s if s < n_sum else s + n_added_nodes for s in subnodes]
    else:
        arities = [mult_arity] * n_added_nodes if isinstance(mult_arity, int) else list(mult_arity)
        if len(arities) != n_added_nodes or any(not isinstance(a, int) or a < 2 for a in arities):
            raise ValueError(
                f"mult_arity must be an int >= 2 or {n_added_nodes} such ints, got {mult_arity!r}"
            )
        width[layer][1] += n_added_nodes
        arity[layer] = arity[layer] + arities
    new = rebuild(model, width, arity)
    for l, (src, dst) in enumerate(zip(model.layers, new.layers)):
        rows = nodes if l == layer else _identity(src.in_dim)
        cols = subnodes if l == layer - 1 else _identity(src.out_dim)
        copy_layer(src, dst, rows, cols)
        next_nodes = nodes if l == layer - 1 else _identity(model.width_in[l + 1])
        copy_affine(model, new, l, next_nodes, cols)
    return new


def expand_depth(model: KAN) -> KAN:
    """A copy of ``model`` with one more layer at the end: identity edges ``'x'`` from
    each output to itself (the function is unchanged)."""
    n_out = model.n_out
    width = copy.deepcopy(model.width) + [[n_out, 0]]
    arity = copy.deepcopy(model.mult_arity) + [[]]
    grid = [layer.num for layer in model.layers]
    k = [layer.k for layer in model.layers]
    new = rebuild(model, width, arity, grid=grid + grid[-1:], k=k + k[-1:])
    for l, (src, dst) in enumerate(zip(model.layers, new.layers)):
        copy_layer(src, dst, _identity(src.in_dim), _identity(src.out_dim))
        copy_affine(model, new, l, _identity(model.width_in[l + 1]), _identity(src.out_dim))
    last = new.layers[-1]
    with torch.no_grad():
        last.mask.zero_()
        last.symbolic_mask.zero_()
        last.invalidate_symbolic_cache()
    for j in range(n_out):
        new.set_symbolic_(model.depth, j, j, "x", affine=(1.0, 0.0, 1.0, 0.0))
    return new


def active_edges(layer: KANLayer) -> Tensor:
    """(in, out) bool: edges that compute something, a symbolic function or a spline."""
    named = torch.tensor(
        [[name != ZERO_FUNCTION for name in row] for row in layer.symbolic_names],
        dtype=torch.bool,
        device=layer.mask.device,
    )
    return ((layer.symbolic_mask != 0) & named) | (layer.mask != 0)


@torch.no_grad()
def perturb(
    model: KAN, mag: float = 1.0, mode: str = "non-intrusive", seed: int | None = None
) -> KAN:
    """A copy of ``model`` with spline edges switched on where training may add terms
    (pykan's ``perturb``).

    Parameters
    ----------
    model : KAN
    mag : float
        Weight (numeric mask) of the switched-on splines.
    mode : {'non-intrusive', 'intrusive' (= pykan's 'all'), 'all', 'minimal'}
        'non-intrusive' adds splines only from active nodes to inactive ones and between
        inactive nodes, and turns on every inactive last-layer edge with zero scales, so
        the function is unchanged and the new nodes can grow into the output.
        'intrusive' adds splines on every edge; 'minimal' only on active edges.
    seed : int, optional
        Draw fresh random spline parameters for the switched-on edges (as a new model
        with this seed would have); by default the model's own are used.

    Returns
    -------
    KAN
    """
    if mode not in PERTURB_MODES:
        raise ValueError(f"mode must be one of {sorted(PERTURB_MODES)}, got {mode!r}")
    mag = float(mag)
    if not torch.isfinite(torch.tensor(mag)):
        raise ValueError(f"mag must be finite, got {mag!r}")
    kinds = PERTURB_MODES[mode]
    new = model.copy()
    fresh = rebuild(model, model.width, model.mult_arity, seed=seed) if seed is not None else None
    for l, layer in enumerate(new.layers):
        active = active_edges(layer)
        in_active, out_active = active.any(1), active.any(0)
        numeric_off = layer.mask == 0
        if l == new.depth - 1 and mode == "non-intrusive":
            layer.mask[numeric_off] = 1.0
            layer.scale_base[numeric_off] = 0.0
            layer.scale_sp[numeric_off] = 0.0
            continue
        chosen = torch.zeros_like(active)
        for kind in kinds:
            edge_in, edge_out = kind[0] == "a", kind[1] == "a"
            selected = (in_active[:, None] == edge_in) & (out_active[None, :] == edge_out)
            if kind.startswith("aa"):
                selected &= active if kind == "aa_a" else ~active
            chosen |= selected
        chosen &= numeric_off
        layer.mask[chosen] = mag
        if fresh is not None:
            source = fresh.layers[l]
            layer.coef[chosen] = source.coef[chosen]
            layer.scale_base[chosen] = source.scale_base[chosen]
            layer.scale_sp[chosen] = source.scale_sp[chosen]
    return new


# ------------------------------------------------------------------ the common case
def compile_and_train(
    exprs: sympy.Expr | str | Sequence[sympy.Expr | str],
    variables: Sequence[str | sympy.Symbol] | None,
    dataset: Dataset | dict,
    *,
    n_added_nodes: int = 1,
    layer: int | None = None,
    sum_bool: bool = True,
    mult_arity: int | Sequence[int] = 2,
    mag: float = 1.0,
    mode: str = "non-intrusive",
    steps: int = 50,
    grid: int = 5,
    k: int = 3,
    seed: int = 0,
    **fit_options: Any,
) -> tuple[KAN, History]:
    """Compile a prior formula, make room for what it misses, and train on data.

    The prior is compiled in the dataset's dtype (checked finite on the training inputs,
    grids placed on their values), deepened if it has no hidden layer, widened by
    ``n_added_nodes`` in ``layer`` (default: the last hidden layer), perturbed (``mag``,
    ``mode``) and fitted with :func:`kanscience.fit` (``steps``, ``seed`` and
    ``fit_options``; no progress bar unless ``progress=True``).

    Returns
    -------
    (model, history)

    Raises
    ------
    ValueError
        If the dataset's inputs or outputs do not match the variables or formulas.
    """
    data = Dataset.coerce(dataset)
    formulas, names = parse_formulas(exprs, variables)
    if data.n_in != len(names) or data.n_out != len(formulas):
        raise ValueError(
            f"dataset has {data.n_in} inputs and {data.n_out} outputs; the "
            f"formulas have {len(names)} variables {list(names)} and "
            f"{len(formulas)} outputs"
        )
    model = compile_formula(
        formulas, names, grid=grid, k=k, seed=seed, dtype=data.train_input.dtype
    )
    with torch.no_grad():
        if not bool(torch.isfinite(model(data.train_input)).all()):
            raise ValueError("the prior formula is not finite on the training inputs")
        place_grids_(model, data.train_input)
    if n_added_nodes:
        if model.depth == 1:
            model = expand_depth(model)
        layer = model.depth - 1 if layer is None else layer
        model = expand_width(model, layer, n_added_nodes, sum_bool, mult_arity)
    model = perturb(model, mag, mode)
    fit_options.setdefault("progress", False)
    fit_options.setdefault("opt", "LBFGS")
    history = fit(model, data, steps=steps, seed=seed, **fit_options)
    return model, history
