"""KANLayer: all edges between two layers of a KAN.

Every edge (i -> j) computes

    mask_ij * (scale_base_ij * base(x_i) + scale_sp_ij * spline_ij(x_i))
        + symbolic_mask_ij * (c_ij * f_ij(a_ij * x_i + b_ij) + d_ij)

and node j sums its incoming edges. The numeric part is one basis expansion
(:func:`kanscience.core._splines.spline_features`) contracted with one weight matrix; the
symbolic part is evaluated once per distinct function, vectorized over its edges, and only
for edges whose symbolic mask is on. Per-edge activations are never formed here: they
come from :mod:`kanscience.core._trace`.

Tensor layouts follow pykan's KANLayer: ``(n_in, n_out, ...)``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn

from . import _splines as splines
from ._contraction import contraction_weight, spline_contract
from ._functions import FunctionLibrary, resolve_library

__all__ = ["KANLayer", "ZERO_FUNCTION"]

ZERO_FUNCTION = "0"


class KANLayer(nn.Module):
    """One layer of spline edges with optional per-edge symbolic functions.

    Parameters
    ----------
    in_dim, out_dim : int
        Number of input and output nodes (output nodes are the "subnodes" that a network's
        multiplication nodes may combine).
    num : int
        Grid intervals ``G``.
    k : int
        Spline order.
    noise_scale : float
        Amplitude of the random initial spline curves (pykan's ``noise_scale``).
    scale_base_mu, scale_base_sigma : float
        ``scale_base`` is drawn as ``(mu + sigma * U(-1, 1)) / sqrt(in_dim)``.
    scale_sp : float
        Initial ``scale_sp`` times ``1 / sqrt(in_dim)``.
    base_fun : {'silu', 'identity', 'zero'}
    grid_eps : float
        Mix of uniform (1) and percentile (0) grids in :meth:`update_grid_`.
    grid_range : (float, float)
    sp_trainable, sb_trainable : bool
        Whether ``scale_sp`` / ``scale_base`` are trained.
    library : FunctionLibrary or None
        Functions that symbolic edges may use (default: the built-in library).
    generator : torch.Generator or None
        Source of the random initialization; the global RNG is never touched when given.
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        num: int = 5,
        k: int = 3,
        noise_scale: float = 0.5,
        scale_base_mu: float = 0.0,
        scale_base_sigma: float = 1.0,
        scale_sp: float = 1.0,
        base_fun: str = "silu",
        grid_eps: float = 0.02,
        grid_range: tuple[float, float] = (-1.0, 1.0),
        sp_trainable: bool = True,
        sb_trainable: bool = True,
        library: FunctionLibrary | None = None,
        generator: torch.Generator | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        if in_dim < 1 or out_dim < 1:
            raise ValueError(f"in_dim and out_dim must be >= 1, got {in_dim} and {out_dim}")
        if num < 1 or k < 0:
            raise ValueError(f"num must be >= 1 and k >= 0, got num={num}, k={k}")
        if base_fun not in splines.BASE_FUNCTION_NAMES:
            raise ValueError(
                f"base_fun must be one of {splines.BASE_FUNCTION_NAMES}, got {base_fun!r}"
            )
        dtype = dtype or torch.get_default_dtype()
        self.in_dim, self.out_dim, self.num, self.k = in_dim, out_dim, num, k
        self.base_fun = base_fun
        self.grid_eps = float(grid_eps)
        self.grid_range = (float(grid_range[0]), float(grid_range[1]))
        self.library = resolve_library(library)

        grid = splines.uniform_grid(in_dim, num, k, self.grid_range, dtype=dtype)
        self.register_buffer("grid", grid)
        noise = torch.rand(num + 1, in_dim, out_dim, generator=generator, dtype=dtype) - 0.5
        noise = noise * noise_scale / num
        coef = splines.fit_coefficients(grid[:, k : grid.shape[1] - k].t(), noise, grid, k)
        self.coef = nn.Parameter(coef)
        uniform = torch.rand(in_dim, out_dim, generator=generator, dtype=dtype) * 2 - 1
        self.scale_base = nn.Parameter(
            (scale_base_mu + scale_base_sigma * uniform) / math.sqrt(in_dim),
            requires_grad=sb_trainable,
        )
        self.scale_sp = nn.Parameter(
            torch.full((in_dim, out_dim), scale_sp / math.sqrt(in_dim), dtype=dtype),
            requires_grad=sp_trainable,
        )
        self.register_buffer("mask", torch.ones(in_dim, out_dim, dtype=dtype))
        self.register_buffer("symbolic_mask", torch.zeros(in_dim, out_dim, dtype=dtype))
        self.symbolic_affine = nn.Parameter(torch.zeros(in_dim, out_dim, 4, dtype=dtype))
        self.symbolic_names: list[list[str]] = [[ZERO_FUNCTION] * out_dim for _ in range(in_dim)]
        self._symbolic_groups: dict[str, tuple[Tensor, Tensor]] | None = None
        self._table: Tensor | None = None
        self._memo: dict[int, tuple] = {}
        self._table_key: tuple | None = None

    # ------------------------------------------------------------------ forward
    def spline_weight(self) -> Tensor:
        """Weights contracted with the features, shape (in_dim * (G + k + 1), out_dim)."""
        weight = contraction_weight(self.coef, self.scale_base, self.scale_sp, self.mask)
        return weight.reshape(-1, self.out_dim)

    def forward(self, x: Tensor, singularity_avoiding: bool = False, y_th: float = 10.0) -> Tensor:
        """Outputs of the layer, shape (batch, out_dim)."""
        features = self.features(x) if id(x) in self._memo else None
        y = spline_contract(
            x,
            self.coef,
            self.scale_base,
            self.scale_sp,
            self.mask,
            self.grid,
            self.k,
            self.base_fun,
            self.table(),
            features,
        )
        if self.has_symbolic:
            y = y + self.symbolic_forward(x, singularity_avoiding, y_th)
        return y

    def features(self, x: Tensor) -> Tensor:
        """``splines.spline_features`` of ``x``, reused for the inputs of :meth:`reuse_features`."""
        table = self.table()
        entry = self._memo.get(id(x))
        if entry is None or entry[0] is not x:
            return splines.spline_features(x, self.grid, self.k, self.base_fun, table)
        if entry[1] != x._version or entry[2] is not table:  # first call, or data/grid changed
            features = splines.spline_features(x, self.grid, self.k, self.base_fun, table)
            self._memo[id(x)] = (x, x._version, table, features)
        return self._memo[id(x)][3]

    @contextmanager
    def reuse_features(self, *inputs: Tensor) -> Iterator[None]:
        """Within the block, compute the features of these exact inputs once each.

        For training on fixed data: the first layer's bases do not change between
        evaluations unless the grid or the data do (both detected). The inputs must not
        require grad.
        """
        if any(x.requires_grad for x in inputs):
            raise ValueError("reuse_features needs inputs that do not require grad")
        previous = self._memo
        self._memo = {**previous, **{id(x): (x, None, None, None) for x in inputs}}
        try:
            yield
        finally:
            self._memo = previous

    def table(self) -> Tensor:
        """``splines.spline_table`` of the current grid, recomputed when the grid changes."""
        key = self._grid_key()
        if self._table_key != key:
            self._table = splines.spline_table(self.grid, self.k)
            self._table_key = key
        return self._table

    def _grid_key(self) -> tuple:
        return (self.grid._version, self.grid.data_ptr(), self.grid.dtype, self.grid.device)

    @property
    def has_symbolic(self) -> bool:
        """Whether any edge has a nonzero symbolic mask (checked without a device sync)."""
        return bool(self.symbolic_groups())

    def symbolic_groups(self) -> dict[str, tuple[Tensor, Tensor]]:
        """Active symbolic edges grouped by function name: name -> (inputs, outputs)."""
        if self._symbolic_groups is None:
            groups: dict[str, tuple[list[int], list[int]]] = {}
            active = (self.symbolic_mask != 0).nonzero().tolist()
            for i, j in active:
                name = self.symbolic_names[i][j]
                if name == ZERO_FUNCTION:
                    continue
                ins, outs = groups.setdefault(name, ([], []))
                ins.append(i)
                outs.append(j)
            device = self.grid.device
            self._symbolic_groups = {
                name: (torch.tensor(ins, device=device), torch.tensor(outs, device=device))
                for name, (ins, outs) in groups.items()
            }
        return self._symbolic_groups

    def invalidate_symbolic_cache(self) -> None:
        """Forget the cached edge groups; call after editing masks or names directly."""
        self._symbolic_groups = None

    def symbolic_edge_values(
        self,
        x: Tensor,
        ins: Tensor,
        outs: Tensor,
        name: str,
        singularity_avoiding: bool = False,
        y_th: float = 10.0,
    ) -> Tensor:
        """Masked ``c * f(a * x + b) + d`` for the listed edges, shape (batch, n_edges)."""
        record = self.library[name]
        affine = self.symbolic_affine[ins, outs]  # (n_edges, 4)
        z = x[:, ins] * affine[:, 0] + affine[:, 1]
        fz = record.safe_fn(z, y_th) if singularity_avoiding else record.torch_fn(z)
        return (affine[:, 2] * fz + affine[:, 3]) * self.symbolic_mask[ins, outs]

    def symbolic_forward(
        self, x: Tensor, singularity_avoiding: bool = False, y_th: float = 10.0
    ) -> Tensor:
        """Sum of the symbolic edges at each output node, shape (batch, out_dim)."""
        y = x.new_zeros(x.shape[0], self.out_dim)
        for name, (ins, outs) in self.symbolic_groups().items():
            values = self.symbolic_edge_values(x, ins, outs, name, singularity_avoiding, y_th)
            y = y.index_add(1, outs, values)
        return y

    # ------------------------------------------------------------------ editing
    def _apply(self, fn, recurse=True):  # keep cached tensors on the right device and dtype
        self._symbolic_groups = None
        self._table_key = None
        return super()._apply(fn, recurse)

    def set_symbolic_name(self, i: int, j: int, name: str) -> None:
        """Set the symbolic function name of edge (i, j) (validated against the library)."""
        if name != ZERO_FUNCTION and name not in self.library:
            raise ValueError(
                f"unknown symbolic function {name!r}; valid names: {', '.join(self.library)}"
            )
        self.symbolic_names[i][j] = name
        self._symbolic_groups = None

    @torch.no_grad()
    def update_grid_(self, x: Tensor, mode: str = "sample") -> None:
        """Move the grid to the samples ``x`` (batch, in_dim), keeping each spline (in place)."""
        grid, coef, table = splines.update_grid(
            x, self.grid, self.coef, self.k, self.grid_eps, mode, self.table(), return_table=True
        )
        self.grid.copy_(grid)
        self.coef.copy_(coef)
        self._table = table.to(self.grid.dtype)
        self._table_key = self._grid_key()

    def extra_repr(self) -> str:
        return (
            f"in_dim={self.in_dim}, out_dim={self.out_dim}, num={self.num}, k={self.k}, "
            f"base_fun={self.base_fun!r}"
        )
