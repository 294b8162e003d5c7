"""KANLayer: all edges between two layers of a KAN.

Every edge (i -> j) computes

    mask_ij * (scale_base_ij * base(x_i) + scale_sp_ij * spline_ij(x_i))
        + symbolic_mask_ij * (c_ij * f_ij(a_ij * x_i + b_ij) + d_ij)

and node j sums its incoming edges. The numeric part is one basis expansion
(:func:`kanscience.core.spline_features`) contracted with one weight matrix; the
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
from ._contraction import contraction_weight, spline_contract, uses_features
from ._functions import FunctionLibrary, resolve_library
from ._validation import (
    check_count,
    check_float_dtype,
    check_number,
    check_range,
    check_samples,
    check_sizes,
)

__all__ = ["KANLayer", "ZERO_FUNCTION"]

ZERO_FUNCTION = "0"


def tensor_key(tensor: Tensor) -> tuple:
    """What changes whenever a tensor's values may have changed: its version counter
    (bumped by every in-place operation), storage, dtype and device."""
    return (tensor._version, tensor.data_ptr(), tensor.dtype, tensor.device)


class _MemoEntry:
    """Features of one fixed input, with the keys of the input and grid they came from."""

    __slots__ = ("features", "key", "x")

    def __init__(self, x: Tensor) -> None:
        self.x = x
        self.key: tuple | None = None
        self.features: Tensor | None = None


class KANLayer(nn.Module):
    """One layer of spline edges with optional per-edge symbolic functions.

    Derived state (the spline table of the grid, the symbolic edge groups, the features
    of fixed inputs) is cached with the version key (:func:`tensor_key`) of the tensors
    it derives from, and of the symbolic names of the active edges, so any edit of
    ``grid``, ``coef``, the masks, ``symbolic_affine`` or ``symbolic_names``, in place or
    not, is seen by the next forward pass. (Only writes through a buffer's ``.data``
    escape torch's version counter: edit ``grid`` and the masks in place under
    ``torch.no_grad()`` instead; ``coef`` and ``symbolic_affine`` are read on every pass.)

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
    dtype : torch.dtype or None
        A real floating-point dtype (default: torch's default dtype).
    allow_large : bool
        Allow more than ``MAX_GRID`` intervals or ``MAX_COEFFICIENTS`` coefficients
        (:mod:`kanscience.core._validation`).
    """

    grid: Tensor
    mask: Tensor
    symbolic_mask: Tensor
    coef: nn.Parameter
    scale_base: nn.Parameter
    scale_sp: nn.Parameter
    symbolic_affine: nn.Parameter

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
        allow_large: bool = False,
    ) -> None:
        super().__init__()
        in_dim, out_dim = check_count("in_dim", in_dim, 1), check_count("out_dim", out_dim, 1)
        (num,), (k,) = check_sizes([(in_dim, out_dim)], num, k, allow_large)
        if base_fun not in splines.BASE_FUNCTION_NAMES:
            raise ValueError(
                f"base_fun must be one of {splines.BASE_FUNCTION_NAMES}, got {base_fun!r}"
            )
        noise_scale = check_number("noise_scale", noise_scale, minimum=0.0)
        dtype = check_float_dtype(dtype or torch.get_default_dtype())
        self.in_dim, self.out_dim, self.num, self.k = in_dim, out_dim, num, k
        self.base_fun = base_fun
        self.grid_eps = check_number("grid_eps", grid_eps, minimum=0.0, maximum=1.0)
        self.grid_range = check_range("grid_range", grid_range)
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
        # derived state, each entry stored with the version key it was derived from
        self._table: tuple[tuple, Tensor] | None = None  # (grid key, spline table)
        self._active: tuple[tuple, list[list[int]]] | None = None  # (mask key, active edges)
        self._groups: tuple[tuple, dict[str, tuple[Tensor, Tensor]]] | None = None
        self._memo: dict[int, _MemoEntry] = {}

    # ------------------------------------------------------------------ forward
    def spline_weight(self) -> Tensor:
        """Weights contracted with the features, shape (in_dim * (G + k + 1), out_dim)."""
        weight = contraction_weight(self.coef, self.scale_base, self.scale_sp, self.mask)
        return weight.reshape(-1, self.out_dim)

    def forward(self, x: Tensor, singularity_avoiding: bool = False, y_th: float = 10.0) -> Tensor:
        """Outputs of the layer, shape (batch, out_dim)."""
        if x.shape[0] == 0:  # nothing to evaluate; the contraction cannot reshape 0 rows
            return x.new_zeros(0, self.out_dim)
        memo = id(x) in self._memo and uses_features(x, self.coef, self.grid, self.k)
        features = self.features(x) if memo else None
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
        if entry is None or entry.x is not x:
            return splines.spline_features(x, self.grid, self.k, self.base_fun, table)
        key = (tensor_key(x), tensor_key(self.grid))
        if entry.key != key:  # first call, or the data or the grid changed
            entry.features = splines.spline_features(x, self.grid, self.k, self.base_fun, table)
            entry.key = key
        assert entry.features is not None
        return entry.features

    @contextmanager
    def reuse_features(self, *inputs: Tensor) -> Iterator[None]:
        """Within the block, compute the features of these exact inputs once each.

        For training on fixed data: the first layer's bases do not change between
        evaluations unless the grid or the data do (both detected by their version keys,
        so in-place edits of an input or of the grid are seen). Where the compiled
        contraction applies (CPU, float32 or float64) no features are formed or kept:
        the block changes nothing there. The inputs must not require grad.
        """
        if any(x.requires_grad for x in inputs):
            raise ValueError("reuse_features needs inputs that do not require grad")
        previous = self._memo
        self._memo = {**previous, **{id(x): _MemoEntry(x) for x in inputs}}
        try:
            yield
        finally:
            self._memo = previous

    def table(self) -> Tensor:
        """``splines.spline_table`` of the current grid, recomputed when the grid changes."""
        key = tensor_key(self.grid)
        if self._table is None or self._table[0] != key:
            self._table = (key, splines.spline_table(self.grid, self.k))
        return self._table[1]

    @property
    def has_symbolic(self) -> bool:
        """Whether any edge has a nonzero symbolic mask and a function (no device sync
        unless the symbolic mask changed since the last call)."""
        return bool(self.symbolic_groups())

    def symbolic_groups(self) -> dict[str, tuple[Tensor, Tensor]]:
        """Active symbolic edges grouped by function name: name -> (inputs, outputs).

        Derived from ``symbolic_mask`` (its version key) and the names of the edges it
        switches on, so direct writes to either are seen by the next call.
        """
        mask_key = tensor_key(self.symbolic_mask)
        if self._active is None or self._active[0] != mask_key:
            self._active = (mask_key, (self.symbolic_mask != 0).nonzero().tolist())
        active = self._active[1]
        names = tuple(self.symbolic_names[i][j] for i, j in active) if active else ()
        key = (mask_key, names)
        if self._groups is None or self._groups[0] != key:
            groups: dict[str, tuple[list[int], list[int]]] = {}
            for (i, j), name in zip(active, names):
                if name == ZERO_FUNCTION:
                    continue
                ins, outs = groups.setdefault(name, ([], []))
                ins.append(i)
                outs.append(j)
            device = self.grid.device
            self._groups = (
                key,
                {
                    name: (torch.tensor(ins, device=device), torch.tensor(outs, device=device))
                    for name, (ins, outs) in groups.items()
                },
            )
        return self._groups[1]

    def invalidate_symbolic_cache(self) -> None:
        """Drop the cached edge groups (never required: they follow the mask and names)."""
        self._active = self._groups = None

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
    def _apply(self, fn, recurse=True):  # derived tensors follow the new device and dtype
        self._table = self._active = self._groups = None
        return super()._apply(fn, recurse)

    def set_symbolic_name(self, i: int, j: int, name: str) -> None:
        """Set the symbolic function name of edge (i, j) (validated against the library)."""
        if name != ZERO_FUNCTION and name not in self.library:
            raise ValueError(
                f"unknown symbolic function {name!r}; valid names: {', '.join(self.library)}"
            )
        self.symbolic_names[i][j] = name

    @torch.no_grad()
    def update_grid_(self, x: Tensor, mode: str = "sample") -> None:
        """Move the grid to the samples ``x`` (batch, in_dim), keeping each spline (in place).

        ValueError for an empty ``x`` or one with NaN or Inf (the layer is unchanged).
        """
        check_samples(x, "update_grid_")
        grid, coef, table = splines.update_grid(
            x, self.grid, self.coef, self.k, self.grid_eps, mode, self.table(), return_table=True
        )
        self.grid.copy_(grid)
        self.coef.copy_(coef)
        self._table = (tensor_key(self.grid), table.to(self.grid.dtype))

    def extra_repr(self) -> str:
        return (
            f"in_dim={self.in_dim}, out_dim={self.out_dim}, num={self.num}, k={self.k}, "
            f"base_fun={self.base_fun!r}"
        )
