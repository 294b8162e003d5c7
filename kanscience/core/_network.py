"""KAN (pykan's MultKAN): layers of spline edges, sum nodes and multiplication nodes.

Width spec (pykan-compatible): ``width=[2, 5, 1]`` for sum nodes only, or entries
``[n_sum, n_mult]`` such as ``[2, [0, 1], 1]``. A layer's edges feed ``n_sum`` sum nodes
directly and ``sum(arity)`` subnodes that multiplication nodes combine: multiplication
node ``m`` multiplies ``arity_m`` consecutive subnodes after the sum nodes. ``mult_arity``
is an int for all multiplication nodes, or one list of arities per layer of ``width``.

Between layers every subnode gets ``subnode_scale * x + subnode_bias`` and every node
``node_scale * x + node_bias`` (identity by default, trainable with
``affine_trainable=True``), as in pykan.

Examples
--------
>>> import torch
>>> model = KAN([2, [0, 1], 1], grid=5, k=3, seed=0)
>>> model.width
[[2, 0], [0, 1], [1, 0]]
>>> model(torch.zeros(4, 2)).shape
torch.Size([4, 1])
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from . import _splines as splines
from ._functions import FunctionLibrary, resolve_library
from ._layer import ZERO_FUNCTION, KANLayer

__all__ = ["KAN", "parse_width", "parse_mult_arity"]

WidthSpec = Sequence["int | Sequence[int]"]


def parse_width(width: WidthSpec) -> list[list[int]]:
    """Normalize a width spec to ``[[n_sum, n_mult], ...]``.

    Raises
    ------
    ValueError
        For fewer than two layers, negative counts, entries that are neither an int nor a
        pair, or a layer without nodes.
    """
    if not isinstance(width, Sequence) or isinstance(width, str) or len(width) < 2:
        raise ValueError(f"width must be a list of at least two layers, got {width!r}")
    parsed = []
    for position, entry in enumerate(width):
        if isinstance(entry, (int,)) or (
            hasattr(entry, "__index__") and not isinstance(entry, bool)
        ):
            pair = [int(entry), 0]
        elif (
            isinstance(entry, Sequence)
            and len(entry) == 2
            and all(hasattr(v, "__index__") and not isinstance(v, bool) for v in entry)
        ):
            pair = [int(entry[0]), int(entry[1])]
        else:
            raise ValueError(
                f"width[{position}] must be an int or a pair [n_sum, n_mult], got {entry!r}"
            )
        if pair[0] < 0 or pair[1] < 0:
            raise ValueError(f"width[{position}] has a negative node count: {entry!r}")
        if pair[0] + pair[1] == 0:
            raise ValueError(f"width[{position}] has no nodes: {entry!r}")
        parsed.append(pair)
    if parsed[0][1] != 0:
        raise ValueError(f"the input layer width[0] cannot have multiplication nodes: {width[0]!r}")
    return parsed


def parse_mult_arity(
    mult_arity: int | Sequence[Sequence[int]], width: list[list[int]]
) -> list[list[int]]:
    """Per-layer lists of multiplication-node arities (``[]`` for layers without any)."""
    if isinstance(mult_arity, int) or hasattr(mult_arity, "__index__"):
        arity = int(mult_arity)
        if arity < 2:
            raise ValueError(f"mult_arity must be >= 2, got {mult_arity!r}")
        return [[arity] * n_mult for _, n_mult in width]
    if not isinstance(mult_arity, Sequence) or len(mult_arity) != len(width):
        raise ValueError(
            f"mult_arity must be an int or one list of arities per layer ({len(width)} "
            f"lists), got {mult_arity!r}"
        )
    arities = []
    for position, (entry, (_, n_mult)) in enumerate(zip(mult_arity, width)):
        entry = (
            []
            if entry is None
            else ([int(entry)] * n_mult if isinstance(entry, int) else list(entry))
        )
        if len(entry) != n_mult or any(int(a) < 2 for a in entry):
            raise ValueError(
                f"mult_arity[{position}] must list {n_mult} arities >= 2, got {mult_arity[position]!r}"
            )
        arities.append([int(a) for a in entry])
    return arities


class KAN(nn.Module):
    """A Kolmogorov-Arnold network with optional multiplication nodes.

    Parameters
    ----------
    width : list
        Width spec, e.g. ``[2, 5, 1]`` or ``[2, [0, 1], 1]``.
    grid : int or list of int
        Grid intervals (per layer if a list).
    k : int or list of int
        Spline order (per layer if a list).
    mult_arity : int or list of lists
        Arity of the multiplication nodes.
    noise_scale, scale_base_mu, scale_base_sigma, base_fun, grid_eps, grid_range,
    sp_trainable, sb_trainable
        As in :class:`~kanscience.core._layer.KANLayer` (pykan's defaults).
    affine_trainable : bool
        Train the node and subnode scales and biases.
    seed : int
        Seed of the initialization; a private generator is used, the global RNG is
        untouched. The same seed gives pykan's initial parameters.
    library : FunctionLibrary, list of names, or None
        Functions symbolic edges may use.
    dtype : torch.dtype or None
    """

    def __init__(
        self,
        width: WidthSpec,
        grid: int | Sequence[int] = 3,
        k: int | Sequence[int] = 3,
        mult_arity: int | Sequence[Sequence[int]] = 2,
        noise_scale: float = 0.3,
        scale_base_mu: float = 0.0,
        scale_base_sigma: float = 1.0,
        base_fun: str = "silu",
        affine_trainable: bool = False,
        grid_eps: float = 0.02,
        grid_range: tuple[float, float] = (-1.0, 1.0),
        sp_trainable: bool = True,
        sb_trainable: bool = True,
        seed: int = 1,
        library: FunctionLibrary | Sequence[str] | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.width = parse_width(width)
        self.mult_arity = parse_mult_arity(mult_arity, self.width)
        depth = len(self.width) - 1
        grids = self._per_layer(grid, depth, "grid")
        orders = self._per_layer(k, depth, "k")
        self.library = resolve_library(library)
        dtype = dtype or torch.get_default_dtype()
        self._config: dict[str, Any] = dict(
            width=self.width,
            grid=grids,
            k=orders,
            mult_arity=self.mult_arity,
            noise_scale=noise_scale,
            scale_base_mu=scale_base_mu,
            scale_base_sigma=scale_base_sigma,
            base_fun=base_fun,
            affine_trainable=affine_trainable,
            grid_eps=grid_eps,
            grid_range=[float(grid_range[0]), float(grid_range[1])],
            sp_trainable=sp_trainable,
            sb_trainable=sb_trainable,
            seed=seed,
        )
        generator = torch.Generator().manual_seed(int(seed))
        self.layers = nn.ModuleList(
            KANLayer(
                self.width_in[layer],
                self.width_out[layer + 1],
                num=grids[layer],
                k=orders[layer],
                noise_scale=noise_scale,
                scale_base_mu=scale_base_mu,
                scale_base_sigma=scale_base_sigma,
                scale_sp=1.0,
                base_fun=base_fun,
                grid_eps=grid_eps,
                grid_range=grid_range,
                sp_trainable=sp_trainable,
                sb_trainable=sb_trainable,
                library=self.library,
                generator=generator,
                dtype=dtype,
            )
            for layer in range(depth)
        )

        def params(sizes: list[int], value: float) -> nn.ParameterList:
            return nn.ParameterList(
                nn.Parameter(torch.full((n,), value, dtype=dtype), requires_grad=affine_trainable)
                for n in sizes
            )

        self.node_scale = params(self.width_in[1:], 1.0)
        self.node_bias = params(self.width_in[1:], 0.0)
        self.subnode_scale = params(self.width_out[1:], 1.0)
        self.subnode_bias = params(self.width_out[1:], 0.0)
        self._mult_index = [self._product_index(layer) for layer in range(depth + 1)]
        self._affine_cache: dict[int, tuple] = {}

    @staticmethod
    def _per_layer(value: int | Sequence[int], depth: int, name: str) -> list[int]:
        values = (
            [int(value)] * depth if not isinstance(value, Sequence) else [int(v) for v in value]
        )
        if len(values) != depth:
            raise ValueError(f"{name} must be an int or a list of {depth} ints, got {value!r}")
        return values

    # ----------------------------------------------------------------- shape
    @property
    def depth(self) -> int:
        """Number of layers of edges."""
        return len(self.width) - 1

    @property
    def width_in(self) -> list[int]:
        """Nodes per layer (sum nodes + multiplication nodes)."""
        return [n_sum + n_mult for n_sum, n_mult in self.width]

    @property
    def width_out(self) -> list[int]:
        """Subnodes per layer (sum nodes + the factors of the multiplication nodes)."""
        return [n_sum + sum(arity) for (n_sum, _), arity in zip(self.width, self.mult_arity)]

    @property
    def n_in(self) -> int:
        return self.width_in[0]

    @property
    def n_out(self) -> int:
        return self.width_in[-1]

    def config(self) -> dict[str, Any]:
        """The constructor arguments of this model's architecture (JSON-serializable)."""
        cfg = copy.deepcopy(self._config)
        cfg["width"], cfg["mult_arity"] = copy.deepcopy(self.width), copy.deepcopy(self.mult_arity)
        cfg["grid"] = [layer.num for layer in self.layers]
        cfg["k"] = [layer.k for layer in self.layers]
        cfg["library"] = list(self.library.names)
        return cfg

    def _product_index(self, layer: int) -> tuple[int, int, Tensor | None]:
        """(n_sum, max_arity, gather index into subnodes padded by a column of ones)."""
        n_sum, n_mult = self.width[layer]
        arities = self.mult_arity[layer]
        if n_mult == 0 or len(set(arities)) == 1:
            return n_sum, (arities[0] if arities else 0), None
        width = max(arities)
        total = sum(arities)
        index, start = [], 0
        for arity in arities:
            index.extend(list(range(start, start + arity)) + [total] * (width - arity))
            start += arity
        return n_sum, width, torch.tensor(index)

    # ----------------------------------------------------------------- forward
    def multiply(self, subnodes: Tensor, layer: int) -> Tensor:
        """Node values of ``layer`` from its subnode values (sum nodes pass through)."""
        n_sum, arity, index = self._mult_index[layer]
        if arity == 0:
            return subnodes
        factors = subnodes[:, n_sum:]
        if index is None:
            products = factors.reshape(subnodes.shape[0], -1, arity).prod(-1)
        else:
            padded = torch.cat([factors, factors.new_ones(factors.shape[0], 1)], dim=1)
            products = (
                padded[:, index.to(subnodes.device)].reshape(subnodes.shape[0], -1, arity).prod(-1)
            )
        return torch.cat([subnodes[:, :n_sum], products], dim=1)

    def layer_forward(
        self, x: Tensor, layer: int, singularity_avoiding: bool = False, y_th: float = 10.0
    ) -> Tensor:
        """Node values of layer ``layer + 1`` from the node values ``x`` of ``layer``."""
        return self.nodes_from_subnodes(self.layers[layer](x, singularity_avoiding, y_th), layer)

    def nodes_from_subnodes(self, subnodes: Tensor, layer: int) -> Tensor:
        """Apply the subnode affine map, the multiplication nodes and the node affine map."""
        skip_subnode, skip_node = self._identity_affine(layer)
        if not skip_subnode:
            subnodes = torch.addcmul(self.subnode_bias[layer], subnodes, self.subnode_scale[layer])
        nodes = self.multiply(subnodes, layer + 1)
        if not skip_node:
            nodes = torch.addcmul(self.node_bias[layer], nodes, self.node_scale[layer])
        return nodes

    def _identity_affine(self, layer: int) -> tuple[bool, bool]:
        """Whether the (subnode, node) affine maps of ``layer`` are frozen identities.

        Skipping them saves two operations per layer on the hot path; the answer is cached
        per parameter version, so edits to the parameters are always seen.
        """
        params = (
            self.subnode_scale[layer],
            self.subnode_bias[layer],
            self.node_scale[layer],
            self.node_bias[layer],
        )
        key = tuple((p._version, p.data_ptr(), p.requires_grad) for p in params)
        cached = self._affine_cache.get(layer)
        if cached is None or cached[0] != key:
            with torch.no_grad():
                identity = [
                    bool((p == v).all()) and not p.requires_grad
                    for p, v in zip(params, (1.0, 0.0, 1.0, 0.0))
                ]
            cached = (key, (identity[0] and identity[1], identity[2] and identity[3]))
            self._affine_cache[layer] = cached
        return cached[1]

    def check_input(self, x: Tensor) -> None:
        """Raise ValueError unless ``x`` has shape (batch, n_in)."""
        if not isinstance(x, Tensor):
            raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
        if x.ndim != 2 or x.shape[1] != self.n_in:
            raise ValueError(f"x must have shape (batch, {self.n_in}), got {tuple(x.shape)}")

    def forward(self, x: Tensor, singularity_avoiding: bool = False, y_th: float = 10.0) -> Tensor:
        """Network output, shape (batch, n_out). Computes nothing else."""
        self.check_input(x)
        for layer in range(self.depth):
            x = self.layer_forward(x, layer, singularity_avoiding, y_th)
        return x

    def node_values(self, x: Tensor) -> list[Tensor]:
        """Node values of every layer, ``[x, h_1, ..., output]`` (pykan's ``acts``)."""
        self.check_input(x)
        values = [x]
        for layer in range(self.depth):
            values.append(self.layer_forward(values[-1], layer))
        return values

    # ----------------------------------------------------------------- grids
    @torch.no_grad()
    def update_grid_(self, x: Tensor, mode: str = "sample") -> None:
        """Fit every layer's grid to its inputs on data ``x`` (in place), layer by layer."""
        self.check_input(x)
        for layer in range(self.depth):
            self.layers[layer].update_grid_(x, mode)
            x = self.layer_forward(x, layer)

    @torch.no_grad()
    def refine(self, new_grid: int, x: Tensor) -> KAN:
        """A copy with ``new_grid`` intervals per edge fitted to this model's splines on ``x``."""
        self.check_input(x)
        inputs = self.node_values(x)[:-1]
        refined = copy.deepcopy(self)
        refined._config["grid"] = [int(new_grid)] * self.depth
        for layer, (old, x_l) in enumerate(zip(self.layers, inputs)):
            grid, coef = splines.refine_grid(x_l, old.grid, old.coef, old.k, int(new_grid))
            new = refined.layers[layer]
            new.num = int(new_grid)
            new.grid = grid
            new.coef = nn.Parameter(coef, requires_grad=old.coef.requires_grad)
        return refined

    # ----------------------------------------------------------------- edges
    def check_edge(self, layer: int, i: int, j: int) -> KANLayer:
        """The layer holding edge (layer, i, j); TypeError/ValueError for a bad index."""
        for name, value in (("layer", layer), ("i", i), ("j", j)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{name} must be an int, got {value!r}")
        if not 0 <= layer < self.depth:
            raise ValueError(f"layer must be in [0, {self.depth}), got {layer}")
        kan_layer = self.layers[layer]
        if not 0 <= i < kan_layer.in_dim:
            raise ValueError(f"i must be in [0, {kan_layer.in_dim}) for layer {layer}, got {i}")
        if not 0 <= j < kan_layer.out_dim:
            raise ValueError(f"j must be in [0, {kan_layer.out_dim}) for layer {layer}, got {j}")
        return kan_layer

    @torch.no_grad()
    def set_mode_(self, layer: int, i: int, j: int, mode: str, numeric_mask: float = 1.0) -> None:
        """Choose what edge (layer, i, j) computes (in place).

        ``mode`` is 'n' (spline), 's' (symbolic), 'ns' (both; the spline part weighted by
        ``numeric_mask``) or 'off'.
        """
        kan_layer = self.check_edge(layer, i, j)
        masks = {
            "n": (1.0, 0.0),
            "s": (0.0, 1.0),
            "ns": (numeric_mask, 1.0),
            "sn": (numeric_mask, 1.0),
            "off": (0.0, 0.0),
        }
        if mode not in masks:
            raise ValueError(f"mode must be one of {sorted(masks)}, got {mode!r}")
        kan_layer.mask[i, j], kan_layer.symbolic_mask[i, j] = masks[mode]
        kan_layer.invalidate_symbolic_cache()

    @torch.no_grad()
    def set_symbolic_(
        self,
        layer: int,
        i: int,
        j: int,
        name: str,
        affine: Sequence[float] = (1.0, 0.0, 1.0, 0.0),
        mode: str = "s",
    ) -> None:
        """Make edge (layer, i, j) compute ``c * f(a * x + b) + d`` with ``f`` = ``name`` (in place).

        ``affine`` is ``(a, b, c, d)``; they stay trainable. ``mode`` as in :meth:`set_mode_`.
        """
        kan_layer = self.check_edge(layer, i, j)
        if len(affine) != 4:
            raise ValueError(f"affine must be (a, b, c, d), got {affine!r}")
        kan_layer.set_symbolic_name(i, j, name)
        kan_layer.symbolic_affine[i, j] = torch.as_tensor(
            [float(v) for v in affine], dtype=kan_layer.symbolic_affine.dtype
        )
        self.set_mode_(layer, i, j, mode)

    def unset_symbolic_(self, layer: int, i: int, j: int) -> None:
        """Return edge (layer, i, j) to a plain spline edge (in place)."""
        kan_layer = self.check_edge(layer, i, j)
        kan_layer.set_symbolic_name(i, j, ZERO_FUNCTION)
        self.set_mode_(layer, i, j, "n")

    def copy(self) -> KAN:
        """A deep copy."""
        return copy.deepcopy(self)
