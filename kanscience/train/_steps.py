"""One optimizer step of a fit, for each optimizer, and the choice of ``opt='auto'``.

A step takes a :class:`~kanscience.train.Batch` and returns the batch's loss and penalty
(detached, global in data-parallel training) after the step's last evaluation.
"""

from __future__ import annotations

from typing import Any, Protocol

import torch
from torch import Tensor

from ..core import KAN
from ._distributed import DataParallel
from ._lbfgs import FlatLBFGS
from ._levenberg import LevenbergMarquardt
from ._objective import Objective
from ._records import Batch

__all__ = ["OPTIMIZERS", "Step", "make_step"]

OPTIMIZERS = ("auto", "LBFGS", "Adam", "LM")


class Step(Protocol):
    name: str

    @property
    def n_evaluations(self) -> int: ...

    def __call__(self, batch: Batch) -> tuple[Tensor, Tensor]: ...

    def state(self) -> tuple[dict[str, Tensor], dict[str, Any]]:
        """The optimizer's state (tensors, JSON scalars), for a resumable checkpoint."""
        ...

    def load_state(self, tensors: dict[str, Tensor], scalars: dict[str, Any]) -> None:
        """Continue from :meth:`state`; KeyError/TypeError/ValueError for a bad state."""
        ...


class LevenbergMarquardtStep:
    """A damped Gauss-Newton step on the mean squared error (no penalty)."""

    name = "LM"

    def __init__(self, solver: LevenbergMarquardt) -> None:
        self.solver = solver

    @property
    def n_evaluations(self) -> int:
        return self.solver.n_evaluations

    def __call__(self, batch: Batch) -> tuple[Tensor, Tensor]:
        loss = self.solver.step(batch.inputs, batch.labels)
        return torch.tensor(loss, dtype=torch.float64), torch.zeros((), dtype=torch.float64)

    def state(self) -> tuple[dict[str, Tensor], dict[str, Any]]:
        return self.solver.state()

    def load_state(self, tensors: dict[str, Tensor], scalars: dict[str, Any]) -> None:
        self.solver.load_state(tensors, scalars)


class GradientStep:
    """An L-BFGS step (up to ``max_iter`` iterations with line search) or an Adam step."""

    def __init__(
        self, name: str, optimizer: Any, params: list[Tensor], objective: Objective, comm
    ) -> None:
        self.name, self.optimizer, self.params = name, optimizer, params
        self.objective, self.comm = objective, comm
        self.adam_evaluations = 0

    @property
    def n_evaluations(self) -> int:
        if self.name == "LBFGS":
            return self.optimizer.n_evaluations
        return self.adam_evaluations

    def _evaluate(self, batch: Batch, state: dict[str, Tensor]) -> Tensor:
        """The objective and its gradient (all-reduced in data-parallel training)."""
        value, state["loss"], state["reg"] = self.objective.total(batch)
        if self.comm is not None:
            return self.comm.backward(value, self.params, state)
        value.backward()
        return value.detach()

    def __call__(self, batch: Batch) -> tuple[Tensor, Tensor]:
        state: dict[str, Tensor] = {}
        if self.name == "LBFGS":
            self.optimizer.step(lambda: self._evaluate(batch, state))
        else:
            self.optimizer.zero_grad(set_to_none=True)
            self._evaluate(batch, state)
            self.optimizer.step()
            self.adam_evaluations += 1
        return state["loss"], state["reg"]

    def state(self) -> tuple[dict[str, Tensor], dict[str, Any]]:
        if self.name == "LBFGS":
            return self.optimizer.state()
        tensors: dict[str, Tensor] = {}
        for index, entries in self.optimizer.state_dict()["state"].items():
            tensors.update({f"{index}.{key}": value for key, value in entries.items()})
        return tensors, {"evaluations": self.adam_evaluations}

    def load_state(self, tensors: dict[str, Tensor], scalars: dict[str, Any]) -> None:
        if self.name == "LBFGS":
            self.optimizer.load_state(tensors, scalars)
            return
        entries: dict[int, dict[str, Tensor]] = {}
        for name, value in tensors.items():
            index, key = name.split(".", 1)
            if not 0 <= int(index) < len(self.params):
                raise ValueError(f"Adam state names parameter {index} of {len(self.params)}")
            entries.setdefault(int(index), {})[key] = value
        saved = self.optimizer.state_dict()
        self.optimizer.load_state_dict({"state": entries, "param_groups": saved["param_groups"]})
        self.adam_evaluations = int(scalars["evaluations"])


def least_squares_conflicts(
    penalty: Any, loss_fn: Any, objective: Any, comm: Any, singularity_avoiding: bool
) -> list[tuple[str, Any]]:
    """The options that make a fit more than a plain mean squared error (which LM needs)."""
    checks = (
        ("penalty", penalty, penalty is None or penalty.lamb == 0),
        ("loss_fn", loss_fn, loss_fn is None),
        ("objective", objective, objective is None),
        ("distributed", comm, comm is None),
        ("singularity_avoiding", singularity_avoiding, not singularity_avoiding),
    )
    return [(name, value) for name, value, ok in checks if not ok]


def make_step(
    opt: str,
    model: KAN,
    objective: Objective,
    comm: DataParallel | None,
    conflicts: list[tuple[str, Any]],
    lr: float,
    max_iter: int,
    tolerance_change: float,
) -> Step:
    """The step of optimizer ``opt``; ``'auto'``: LM where it applies, else L-BFGS.

    LM applies to a plain least-squares fit (no ``conflicts``) of a model that
    :class:`LevenbergMarquardt` accepts (trained parameters up to its limit, no trainable
    node affine parameters).

    Raises
    ------
    ValueError
        For ``opt='LM'`` with a conflict or a model LM does not accept, or a model
        without trainable parameters.
    """
    params: list[Tensor] = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("model has no trainable parameter")
    if opt == "LM" and conflicts:
        name, value = conflicts[0]
        raise ValueError(
            f"opt='LM' minimizes the mean squared error alone; got {name}={value!r} "
            "(use opt='LBFGS' for penalties, custom losses and distributed training)"
        )
    if opt == "LM":
        return LevenbergMarquardtStep(LevenbergMarquardt(model))
    if opt == "auto" and not conflicts:
        try:
            return LevenbergMarquardtStep(LevenbergMarquardt(model))
        except ValueError:  # too many parameters, or trainable node affines
            pass
    if opt == "Adam":
        return GradientStep("Adam", torch.optim.Adam(params, lr=lr), params, objective, comm)
    lbfgs = FlatLBFGS(
        params,
        lr=lr,
        max_iter=max_iter,
        tolerance_grad=1e-32,
        tolerance_change=tolerance_change,
        history_size=10,
    )
    return GradientStep("LBFGS", lbfgs, params, objective, comm)
