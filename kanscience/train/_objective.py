"""What a fit minimizes: the data loss (``loss_fn`` or a custom ``objective``) plus the penalty."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ..core import KAN, forward_with_statistics
from ._distributed import DataParallel
from ._options import Penalty
from ._records import Batch

__all__ = ["Objective", "mean_squared_error"]


def mean_squared_error(prediction: Tensor, target: Tensor) -> Tensor:
    """The default ``loss_fn``: ``mean((prediction - target) ** 2)``."""
    return torch.mean((prediction - target) ** 2)


def _scalar(name: str, value: object) -> Tensor:
    """``value`` if it is a real floating-point scalar tensor, else an error naming ``name``."""
    if not isinstance(value, Tensor):
        raise TypeError(f"{name} must return a scalar tensor, got {type(value).__name__}")
    if value.ndim != 0:
        raise ValueError(f"{name} must return a scalar tensor, got shape {tuple(value.shape)}")
    if not value.is_floating_point():
        raise TypeError(f"{name} must return a real floating-point tensor, got {value.dtype}")
    return value


def _differentiable(name: str, value: Tensor, model: KAN) -> Tensor:
    """``value`` if gradients can flow from it to the trained parameters."""
    if (
        torch.is_grad_enabled()
        and not value.requires_grad
        and any(p.requires_grad for p in model.parameters())
    ):
        raise ValueError(
            f"{name} returned a tensor that does not depend on the model's parameters "
            "(detached, or computed outside torch); training needs its gradient"
        )
    return value


class Objective:
    """The loss of a batch, and the loss plus ``lamb`` times the penalty.

    Parameters
    ----------
    model : KAN
    penalty : Penalty or None
    loss_fn : callable or None
        ``loss_fn(prediction, labels) -> scalar``; the mean squared error when None.
    objective : callable or None
        ``objective(model, batch) -> scalar``, replacing ``loss_fn`` when given.
    comm : DataParallel or None
        In data-parallel training, the penalty's statistics are those of the global batch.
    singularity_avoiding, y_th : bool, float
        Passed to the model's forward.
    """

    def __init__(
        self,
        model: KAN,
        penalty: Penalty | None,
        loss_fn: Callable[[Tensor, Tensor], Tensor] | None,
        objective: Callable[[KAN, Batch], Tensor] | None,
        comm: DataParallel | None,
        singularity_avoiding: bool,
        y_th: float,
    ) -> None:
        self.model, self.penalty, self.custom = model, penalty, objective
        self.loss_fn = loss_fn or mean_squared_error
        self.loss_name = "loss_fn" if loss_fn is not None else "the loss"
        self.statistics_of = (
            forward_with_statistics if comm is None else comm.forward_with_statistics
        )
        self.lamb = penalty.lamb if penalty is not None else 0.0
        self.forward_options = (singularity_avoiding, y_th)

    def loss(self, batch: Batch) -> Tensor:
        """The data loss of a batch (the test loss; no penalty)."""
        if self.custom is not None:
            with torch.enable_grad():
                return _scalar("objective", self.custom(self.model, batch))
        prediction = self.model(batch.inputs, *self.forward_options)
        return _scalar(self.loss_name, self.loss_fn(prediction, batch.labels))

    def total(self, batch: Batch) -> tuple[Tensor, Tensor, Tensor]:
        """``(loss + lamb * reg, loss, reg)`` of a training batch (the last two detached)."""
        penalty = self.penalty if self.lamb > 0 else None
        if self.custom is not None:
            loss = self.loss(batch)
            reg = loss.new_zeros(())
            if penalty is not None:
                _, statistics = self.statistics_of(self.model, batch.inputs, *self.forward_options)
                reg = penalty.reg(self.model, statistics)
        else:
            if penalty is not None:
                prediction, statistics = self.statistics_of(
                    self.model, batch.inputs, *self.forward_options
                )
                reg = penalty.reg(self.model, statistics)
            else:
                prediction = self.model(batch.inputs, *self.forward_options)
                reg = prediction.new_zeros(())
            loss = _scalar(self.loss_name, self.loss_fn(prediction, batch.labels))
        name = "objective" if self.custom is not None else self.loss_name
        total = _differentiable(name, loss + self.lamb * reg, self.model)
        return total, loss.detach(), reg.detach()
