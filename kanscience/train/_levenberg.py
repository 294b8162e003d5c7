"""Levenberg-Marquardt training of a KAN's spline and symbolic parameters.

A KAN of modest size is a small nonlinear least-squares problem: a few hundred parameters
against thousands of residuals. Gauss-Newton steps with Marquardt's damping then converge
in tens of iterations where L-BFGS needs about a thousand function evaluations, and they
reach a lower error (pykan's 50-step L-BFGS fit of ``exp(sin(pi x) + y^2)`` stops near
1.3e-3 test RMSE; fifty damped Gauss-Newton steps reach about 4e-4).

The per-sample Jacobian comes from the structure of a layer: its numeric output is
``features(x) @ W`` with ``W`` built from ``coef``, ``scale_base`` and ``scale_sp``
(:mod:`kanscience.core._contraction`), so the derivative of an output with respect to ``W`` is
the outer product of the features with the output's sensitivity to the layer output, and
one backward pass of each output column gives those sensitivities for every sample at
once. Symbolic edges ``c f(a x + b) + d`` add four columns each.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from ..core import KAN, Damping, NormalEquations, least_squares

__all__ = ["MAX_PARAMETERS", "LevenbergMarquardt", "free_coordinates", "output_jacobian"]

# J^T J is (P, P) in float64: 5,000 parameters take 200 MB.
MAX_PARAMETERS = 5000
# Rows of the Jacobian formed at once (times P): bounds its memory for large batches.
JACOBIAN_ELEMENTS = 2**23


@dataclass(frozen=True)
class Coordinate:
    """The trained entries of one parameter: flat indices into ``parameter.view(-1)``."""

    parameter: Tensor
    index: Tensor

    @property
    def complete(self) -> bool:
        """Whether every entry is trained (the Jacobian block needs no column selection)."""
        return self.index.numel() == self.parameter.numel()


def free_coordinates(model: KAN) -> list[Coordinate]:
    """The parameter entries that Levenberg-Marquardt trains, in Jacobian column order.

    Per layer: ``coef``, ``scale_base`` and ``scale_sp`` of edges whose mask is on, and the
    four affine parameters of edges whose symbolic mask is on; only parameters that
    require grad. Entries that cannot change the output (masked-out edges) are left out,
    so that the normal equations have no empty rows.

    Raises
    ------
    ValueError
        If a node or subnode affine parameter is trainable (not supported here).
    """
    for name, param in model.named_parameters():
        if param.requires_grad and name.split(".")[0] in (
            "node_scale",
            "node_bias",
            "subnode_scale",
            "subnode_bias",
        ):
            raise ValueError(
                f"opt='LM' trains spline and symbolic parameters only; {name} requires grad "
                "(build the model with affine_trainable=False or use opt='LBFGS')"
            )
    coordinates = []
    for layer in model.layers:
        numeric = (layer.mask != 0).reshape(-1)
        n_coef = layer.coef.shape[-1]
        if layer.coef.requires_grad:
            index = numeric.repeat_interleave(n_coef).nonzero().reshape(-1)
            coordinates.append(Coordinate(layer.coef, index))
        for param in (layer.scale_base, layer.scale_sp):
            if param.requires_grad:
                coordinates.append(Coordinate(param, numeric.nonzero().reshape(-1)))
        symbolic = _symbolic_edge_mask(layer).reshape(-1)
        if layer.symbolic_affine.requires_grad and bool(symbolic.any()):
            index = symbolic.repeat_interleave(4).nonzero().reshape(-1)
            coordinates.append(Coordinate(layer.symbolic_affine, index))
    return coordinates


def _symbolic_edge_mask(layer) -> Tensor:
    active = torch.zeros_like(layer.symbolic_mask, dtype=torch.bool)
    for ins, outs in layer.symbolic_groups().values():
        active[ins, outs] = True
    return active


def _layer_blocks(layer, inputs: Tensor, delta: Tensor) -> dict[int, Tensor]:
    """Per-sample derivatives of one output with respect to a layer's parameters.

    ``delta`` (batch, out) is that output's derivative with respect to the layer's output.
    Returns ``id(parameter) -> (batch, parameter.numel())``.
    """
    batch = inputs.shape[0]
    blocks: dict[int, Tensor] = {}
    features = layer.features(inputs)
    base, bases = features[..., 0], features[..., 1:]
    mask = layer.mask
    if layer.coef.requires_grad:
        weight = delta[:, None, :] * (layer.scale_sp * mask)  # (batch, in, out)
        blocks[id(layer.coef)] = (weight[..., None] * bases[:, :, None, :]).reshape(batch, -1)
    if layer.scale_base.requires_grad:
        blocks[id(layer.scale_base)] = (base[:, :, None] * delta[:, None, :] * mask).reshape(
            batch, -1
        )
    if layer.scale_sp.requires_grad:
        spline = torch.einsum("bic,ioc->bio", bases, layer.coef)
        blocks[id(layer.scale_sp)] = (spline * delta[:, None, :] * mask).reshape(batch, -1)
    groups = layer.symbolic_groups()
    if groups and layer.symbolic_affine.requires_grad:
        block = inputs.new_zeros(batch, *layer.symbolic_affine.shape)
        for name, (ins, outs) in groups.items():
            record = layer.library[name]
            a, b, c, _ = layer.symbolic_affine[ins, outs].unbind(-1)
            x = inputs[:, ins]
            with torch.enable_grad():
                z = (x * a + b).requires_grad_(True)
                fz = record.torch_fn(z)
                (slope,) = torch.autograd.grad(fz.sum(), z)
            weight = delta[:, outs] * layer.symbolic_mask[ins, outs]
            block[:, ins, outs] = torch.stack(
                [weight * c * slope * x, weight * c * slope, weight * fz.detach(), weight], -1
            )
        blocks[id(layer.symbolic_affine)] = block.reshape(batch, -1)
    return blocks


def output_jacobian(
    model: KAN, x: Tensor, coordinates: list[Coordinate] | None = None
) -> tuple[Tensor, Tensor]:
    """The model's output and its Jacobian with respect to the free coordinates.

    Parameters
    ----------
    model : KAN
    x : Tensor, shape (batch, n_in)
    coordinates : list of Coordinate, optional
        Default :func:`free_coordinates` of the model.

    Returns
    -------
    output : Tensor, shape (batch, n_out)
    jacobian : Tensor, shape (batch, n_out, P)

    Examples
    --------
    >>> model = KAN([2, 3, 1], seed=0, dtype=torch.float64)
    >>> x = torch.rand(4, 2, dtype=torch.float64)
    >>> out, jac = output_jacobian(model, x)
    >>> coef = model.layers[1].coef
    >>> (g,) = torch.autograd.grad(model(x)[2, 0], coef)
    >>> start = 2 * 3 * model.layers[0].coef.shape[-1] + 2 * 2 * 3
    >>> torch.allclose(jac[2, 0, start:start + coef.numel()], g.reshape(-1))
    True
    """
    coordinates = free_coordinates(model) if coordinates is None else coordinates
    x = model.check_input(x)
    inputs, outputs = [], []
    # Only the sensitivities to the layer outputs are needed from autograd: with the
    # parameters frozen for the pass, the backward computes no parameter gradient and
    # nothing at all below the first layer's output.
    trainable = [p for p in model.parameters() if p.requires_grad]
    try:
        for p in trainable:
            p.requires_grad_(False)
        with torch.enable_grad():
            h = x.detach() if x.requires_grad else x  # keeps a first layer's feature memo
            for index, layer in enumerate(model.layers):
                inputs.append(h.detach() if index else h)
                y = layer(h)
                if not y.requires_grad:
                    y.requires_grad_(True)
                outputs.append(y)
                h = model.nodes_from_subnodes(y, index)
            out = h
            deltas = [
                torch.autograd.grad(out[:, o].sum(), outputs, retain_graph=o < out.shape[1] - 1)
                for o in range(out.shape[1])
            ]
    finally:
        for p in trainable:
            p.requires_grad_(True)
    columns = []
    with torch.no_grad():
        for per_layer in deltas:
            blocks: dict[int, Tensor] = {}
            for layer, layer_input, delta in zip(model.layers, inputs, per_layer):
                blocks.update(_layer_blocks(layer, layer_input, delta))
            columns.append(
                torch.cat(
                    [
                        (
                            blocks[id(c.parameter)]
                            if c.complete
                            else blocks[id(c.parameter)][:, c.index]
                        )
                        if id(c.parameter) in blocks
                        else x.new_zeros(x.shape[0], c.index.numel())
                        for c in coordinates
                    ],
                    1,
                )
            )
    return out.detach(), torch.stack(columns, 1)


class LevenbergMarquardt:
    """Damped Gauss-Newton steps on the mean squared error of a KAN.

    Each :meth:`step` is one step of :func:`kanscience.core.least_squares` (Marquardt's
    scaling, Nielsen's damping rule, float64 solves, at most ``max_trials`` solves) on the
    free coordinates, with the normal equations accumulated from the structured Jacobian
    (:meth:`normal_equations`). The damping carries over from step to step.

    Parameters
    ----------
    model : KAN
    damping : float
        Initial ``lam``.
    max_trials : int
        Solves per step before giving up (the parameters are then left unchanged).
    """

    def __init__(self, model: KAN, damping: float = 1e-3, max_trials: int = 10) -> None:
        self.model = model
        self.max_trials = int(max_trials)
        self._damping = Damping(
            torch.tensor([float(damping)], dtype=torch.float64),
            torch.tensor([2.0], dtype=torch.float64),
        )
        self.n_evaluations = 0
        self._cache: tuple | None = None
        self.check()

    @property
    def damping(self) -> float:
        """The current damping ``lam``."""
        return float(self._damping.value[0])

    def state(self) -> tuple[dict[str, Tensor], dict[str, Any]]:
        """The damping state and counter a later :meth:`step` depends on: ``(tensors, scalars)``.

        The cached normal equations are left out: the next step forms them again at the
        same parameters.
        """
        tensors = {"damping": self._damping.value, "growth": self._damping.growth}
        return tensors, {"n_evaluations": self.n_evaluations}

    def load_state(self, tensors: dict[str, Tensor], scalars: dict[str, Any]) -> None:
        """Continue from :meth:`state`.

        Raises
        ------
        KeyError, ValueError
            If the state is incomplete or malformed.
        """
        value, growth = (tensors[name].to(torch.float64) for name in ("damping", "growth"))
        if value.shape != (1,) or growth.shape != (1,):
            raise ValueError("Levenberg-Marquardt damping state must hold one value and growth")
        self._damping = Damping(value, growth)
        self.n_evaluations = int(scalars["n_evaluations"])
        self._cache = None

    def check(self) -> list[Coordinate]:
        """The free coordinates, validated against :data:`MAX_PARAMETERS`."""
        self._tensors = [*self.model.parameters(), *self.model.buffers()]
        coordinates = free_coordinates(self.model)
        size = sum(c.index.numel() for c in coordinates)
        if size > MAX_PARAMETERS:
            raise ValueError(
                f"opt='LM' handles up to {MAX_PARAMETERS} trained parameters; this model "
                f"has {size} (use opt='LBFGS' for large networks)"
            )
        if size == 0:
            raise ValueError("model has no trainable parameter")
        return coordinates

    def normal_equations(
        self, x: Tensor, y: Tensor, coordinates: list[Coordinate], weight: Tensor | None = None
    ) -> tuple[Tensor, Tensor, float]:
        """``(J^T W J, J^T W r, r^T W r)`` as float64, accumulated over row chunks (``W``:
        the rows' weights, identity when None)."""
        size = sum(c.index.numel() for c in coordinates)
        rows = max(1, JACOBIAN_ELEMENTS // max(size * y.shape[1], 1))
        gram = torch.zeros(size, size, dtype=torch.float64, device=x.device)
        gradient = torch.zeros(size, dtype=torch.float64, device=x.device)
        total = 0.0
        for start in range(0, x.shape[0], rows):
            chunk = slice(start, start + rows)
            out, jac = output_jacobian(
                self.model, x[chunk] if rows < x.shape[0] else x, coordinates
            )
            residual = out - y[chunk]
            if weight is not None:  # rows scaled by sqrt(w): weighted sums of squares
                root = weight[chunk].sqrt()[:, None]
                residual, jac = residual * root, jac * root[..., None]
            residual = residual.reshape(-1)
            jac = jac.reshape(residual.shape[0], size)
            # products in the model's precision (the Jacobian has no more), sums in float64
            gram += (jac.t() @ jac).double()
            gradient += (jac.t() @ residual).double()
            total += float(residual.double() @ residual.double())
        self.n_evaluations += 1
        return gram, gradient, total

    def _equations(
        self, x: Tensor, y: Tensor, coordinates: list[Coordinate], weight: Tensor | None
    ) -> NormalEquations:
        gram, gradient, total = self.normal_equations(x, y, coordinates, weight)
        cost = gram.new_full((1,), total)
        return NormalEquations(gram[None], gradient[None], cost)

    def _key(self, x: Tensor, y: Tensor, weight: Tensor | None) -> tuple:
        # the tensors themselves, compared by identity (_same): an id alone may be reused by
        # a new tensor once the old one is freed (a new target or weight per step)
        tensors = (x, y, *self._tensors) + (() if weight is None else (weight,))
        return tuple((t, t._version) for t in tensors)

    @torch.no_grad()
    def step(self, x: Tensor, y: Tensor, weight: Tensor | None = None) -> float:
        """One damped Gauss-Newton step; returns the mean squared error after it.

        A trial point is judged by the normal equations formed there, which the next step
        reuses when nothing changed in between (no grid update, no edit): one Jacobian per
        accepted step and no separate loss evaluation.

        Parameters
        ----------
        x : Tensor, shape (batch, n_in)
        y : Tensor, shape (batch, n_out)
        weight : Tensor, shape (batch,), optional
            Nonnegative weights of the rows' squared errors (inverse noise variances, for
            noise of unequal size); the error returned is then the weighted mean.

        Raises
        ------
        ValueError
            If ``weight`` is not a finite, nonnegative vector of one value per row.
        """
        if weight is not None:
            weight = weight.to(dtype=x.dtype, device=x.device)
            if weight.shape != (x.shape[0],) or not bool(
                (torch.isfinite(weight) & (weight >= 0)).all()
            ):
                raise ValueError(
                    f"weight must hold {x.shape[0]} finite nonnegative values (one per row of "
                    f"x), got shape {tuple(weight.shape)}"
                )
        cache = self._cache
        if cache is not None and _same(cache[0], self._key(x, y, weight)):
            coordinates, params, equations = cache[1:]
        else:
            coordinates = self.check()
            params, equations = _read(coordinates), self._equations(x, y, coordinates, weight)
        in_model = [params]

        def evaluate(trial: Tensor, rows: Tensor | None) -> NormalEquations:
            _write(coordinates, trial)
            in_model[0] = trial
            return self._equations(x, y, coordinates, weight)

        params, result = least_squares(
            evaluate,
            params,
            max_steps=1,
            max_trials=self.max_trials,
            tol=0.0,
            damping=self._damping,
            equations=equations,
        )
        if in_model[0] is not params:  # a rejected trial is in the model
            _write(coordinates, params)
        self._damping = result.damping
        self._cache = (self._key(x, y, weight), coordinates, params, result.equations)
        total = y.numel() if weight is None else float(weight.sum()) * y.shape[1]
        return float(result.cost[0]) / total


def _same(key: tuple, other: tuple) -> bool:
    """Whether two :meth:`LevenbergMarquardt._key` name the same tensors at the same
    versions."""
    return len(key) == len(other) and all(a is b and u == v for (a, u), (b, v) in zip(key, other))


def _read(coordinates: list[Coordinate]) -> Tensor:
    """The free coordinates' values as a (1, P) tensor, in Jacobian column order."""
    return torch.cat([c.parameter.detach().reshape(-1)[c.index] for c in coordinates])[None]


def _write(coordinates: list[Coordinate], values: Tensor) -> None:
    """Put ``values`` (1, P) into the free coordinates."""
    parts = values[0].split([c.index.numel() for c in coordinates])
    for coordinate, part in zip(coordinates, parts):
        flat = coordinate.parameter.view(-1)
        flat.index_copy_(0, coordinate.index, part.to(flat.dtype))
