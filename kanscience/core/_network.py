"""KAN (pykan's MultKAN): layers of spline edges, sum nodes and multiplication nodes.

Width spec (pykan-compatible, :mod:`kanscience.core._width`): ``width=[2, 5, 1]`` for sum
nodes only, or entries ``[n_sum, n_mult]`` such as ``[2, [0, 1], 1]``. A layer's edges
feed ``n_sum`` sum nodes directly and ``sum(arity)`` subnodes that multiplication nodes
combine: multiplication node ``m`` multiplies ``arity_m`` consecutive subnodes after the
sum nodes. ``mult_arity`` is an int for all multiplication nodes, or one list of arities
per layer of ``width``.

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
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, cast

import torch
from torch import Tensor, nn

from . import _splines as splines
from ._functions import FunctionLibrary, resolve_library
from ._indices import check_index
from ._layer import ZERO_FUNCTION, KANLayer
from ._validation import (
    check_count,
    check_float_dtype,
    check_grid_size,
    check_number,
    check_pass_input,
    check_range,
    check_samples,
    check_sizes,
)
from ._width import WidthSpec, multiply_subnodes, parse_mult_arity, parse_width, product_index

__all__ = ["KAN"]


class LayerList(nn.ModuleList):
    """A KAN's layers of edges: an ``nn.ModuleList`` whose items type-check as KANLayer."""

    if TYPE_CHECKING:  # nn.ModuleList's stubs give nn.Module items

        def __getitem__(self, index: int) -> KANLayer: ...

        def __iter__(self) -> Iterator[KANLayer]: ...


class KAN(nn.Module):
    """A Kolmogorov-Arnold network with optional multiplication nodes.

    Parameters
    ----------
    width : list
        Width spec, e.g. ``[2, 5, 1]`` or ``[2, [0, 1], 1]``.
    grid : int or list of int
        Grid intervals (per layer if a list), at most ``MAX_GRID`` unless ``allow_large``.
    k : int or list of int
        Spline order (per layer if a list).
    mult_arity : int or list of lists
        Arity of the multiplication nodes.
    noise_scale, scale_base_mu, scale_base_sigma, base_fun, grid_eps, grid_range,
    sp_trainable, sb_trainable
        As in :class:`~kanscience.core.KANLayer` (pykan's defaults).
    affine_trainable : bool
        Train the node and subnode scales and biases.
    seed : int
        Seed of the initialization; a private generator is used, the global RNG is
        untouched. The same seed gives pykan's initial parameters.
    library : FunctionLibrary, list of names, or None
        Functions symbolic edges may use.
    dtype : torch.dtype or None
        A real floating-point dtype (default: torch's default dtype).
    allow_large : bool
        Build grids above ``MAX_GRID`` intervals or models above ``MAX_COEFFICIENTS``
        spline coefficients (refused by default: they take minutes or exhaust memory).

    Raises
    ------
    TypeError, ValueError
        For an option of a wrong type or out of range (named), before any allocation.
    """

    layers: LayerList
    node_scale: nn.ParameterList
    node_bias: nn.ParameterList
    subnode_scale: nn.ParameterList
    subnode_bias: nn.ParameterList

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
        allow_large: bool = False,
    ) -> None:
        super().__init__()
        self.width = parse_width(width)
        self.mult_arity = parse_mult_arity(mult_arity, self.width)
        depth = len(self.width) - 1
        dims = [(self.width_in[layer], self.width_out[layer + 1]) for layer in range(depth)]
        grids, orders = check_sizes(dims, grid, k, allow_large)
        noise_scale = check_number("noise_scale", noise_scale, minimum=0.0)
        scale_base_mu = check_number("scale_base_mu", scale_base_mu)
        scale_base_sigma = check_number("scale_base_sigma", scale_base_sigma)
        grid_eps = check_number("grid_eps", grid_eps, minimum=0.0, maximum=1.0)
        grid_range = check_range("grid_range", grid_range)
        seed = check_count("seed", seed, minimum=-(2**63))
        self.library = resolve_library(library)
        dtype = check_float_dtype(dtype or torch.get_default_dtype())
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
        self.layers = LayerList(
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
                allow_large=True,  # checked above
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
        self._mult_index = [
            product_index(n_sum, arities)
            for (n_sum, _), arities in zip(self.width, self.mult_arity)
        ]
        self._affine_cache: dict[int, tuple] = {}

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

    # ----------------------------------------------------------------- forward
    def multiply(self, subnodes: Tensor, layer: int) -> Tensor:
        """Node values of ``layer`` from its subnode values (sum nodes pass through)."""
        return multiply_subnodes(subnodes, *self._mult_index[layer])

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
        name = str(layer)  # ParameterList's own key: skips two Python calls per lookup
        lists = (self.subnode_scale, self.subnode_bias, self.node_scale, self.node_bias)
        params = [cast(Tensor, parameters._parameters[name]) for parameters in lists]
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

    def check_input(self, x: Tensor) -> Tensor:
        """``x`` checked for a pass of this model and cast to its dtype where that is exact
        (the rule of :meth:`forward`); use the returned tensor."""
        reference = self.layers[0].coef
        return check_pass_input(x, self.n_in, reference.dtype, reference.device)

    def forward(self, x: Tensor, singularity_avoiding: bool = False, y_th: float = 10.0) -> Tensor:
        """Network output, shape (batch, n_out). Computes nothing else.

        ``x``: (batch, n_in) on the model's device. Floats of lower precision than the
        model (float32 into float64) are cast up, exactly; float64 into a float32 model,
        integers, bools and complex numbers are a TypeError (never rounded or guessed),
        another device a ValueError. An empty batch gives a (0, n_out) output.
        """
        x = self.check_input(x)
        for layer in range(self.depth):
            x = self.layer_forward(x, layer, singularity_avoiding, y_th)
        return x

    def node_values(self, x: Tensor) -> list[Tensor]:
        """Node values of every layer, ``[x, h_1, ..., output]`` (pykan's ``acts``)."""
        x = self.check_input(x)
        values = [x]
        for layer in range(self.depth):
            values.append(self.layer_forward(values[-1], layer))
        return values

    # ----------------------------------------------------------------- grids
    @torch.no_grad()
    def update_grid_(self, x: Tensor, mode: str = "sample") -> None:
        """Fit every layer's grid to its inputs on data ``x`` (in place), layer by layer.
        ValueError for an empty ``x`` or one with NaN or Inf (the model is unchanged)."""
        x = self.check_input(x)
        check_samples(x, "update_grid_")
        for layer in range(self.depth):
            self.layers[layer].update_grid_(x, mode)
            x = self.layer_forward(x, layer)

    @torch.no_grad()
    def refine(self, new_grid: int, x: Tensor, allow_large: bool = False) -> KAN:
        """A copy with ``new_grid`` intervals per edge fitted to this model's splines on ``x``
        (an int >= 1, at most ``MAX_GRID`` unless ``allow_large``; ``x`` finite)."""
        new_grid = check_grid_size("new_grid", check_count("new_grid", new_grid, 1), allow_large)
        x = self.check_input(x)
        check_samples(x, "refine")
        inputs = self.node_values(x)[:-1]
        refined = copy.deepcopy(self)
        refined._config["grid"] = [new_grid] * self.depth
        for layer, (old, x_l) in enumerate(zip(self.layers, inputs)):
            grid, coef = splines.refine_grid(x_l, old.grid, old.coef, old.k, new_grid)
            new = refined.layers[layer]
            new.num = new_grid
            new.grid = grid
            new.coef = nn.Parameter(coef, requires_grad=old.coef.requires_grad)
        return refined

    # ----------------------------------------------------------------- edges
    def edge_index(self, layer: int, i: int, j: int) -> tuple[int, int, int]:
        """``(layer, i, j)`` of an edge in ``[0, depth) x [0, in_dim) x [0, out_dim)``.

        Negative indices count from the end, as everywhere in kanscience
        (:func:`~kanscience.core.check_index`); TypeError/ValueError for a bad one.
        """
        layer = check_index(layer, self.depth, "layer")
        kan_layer = self.layers[layer]
        where = f" for layer {layer}"
        return (
            layer,
            check_index(i, kan_layer.in_dim, "i", where),
            check_index(j, kan_layer.out_dim, "j", where),
        )

    def check_edge(self, layer: int, i: int, j: int) -> KANLayer:
        """The layer holding edge (layer, i, j) (see :meth:`edge_index` for the indices)."""
        return self.layers[self.edge_index(layer, i, j)[0]]

    @torch.no_grad()
    def set_mode_(self, layer: int, i: int, j: int, mode: str, numeric_mask: float = 1.0) -> None:
        """Choose what edge (layer, i, j) computes (in place).

        ``mode`` is 'n' (spline), 's' (symbolic), 'ns' (both; the spline part weighted by
        ``numeric_mask``) or 'off'.
        """
        layer, i, j = self.edge_index(layer, i, j)
        kan_layer = self.layers[layer]
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
        """Make edge (layer, i, j) compute ``c * f(a * x + b) + d``, ``f`` = ``name`` (in place).

        ``affine`` is ``(a, b, c, d)``; they stay trainable. ``mode`` as in :meth:`set_mode_`.
        """
        layer, i, j = self.edge_index(layer, i, j)
        kan_layer = self.layers[layer]
        if len(affine) != 4:
            raise ValueError(f"affine must be (a, b, c, d), got {affine!r}")
        kan_layer.set_symbolic_name(i, j, name)
        kan_layer.symbolic_affine[i, j] = torch.as_tensor(
            [float(v) for v in affine], dtype=kan_layer.symbolic_affine.dtype
        )
        self.set_mode_(layer, i, j, mode)

    def unset_symbolic_(self, layer: int, i: int, j: int) -> None:
        """Return edge (layer, i, j) to a plain spline edge (in place)."""
        layer, i, j = self.edge_index(layer, i, j)
        self.layers[layer].set_symbolic_name(i, j, ZERO_FUNCTION)
        self.set_mode_(layer, i, j, "n")

    def copy(self) -> KAN:
        """A deep copy."""
        return copy.deepcopy(self)
