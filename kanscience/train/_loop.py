"""The training loop of :func:`kanscience.fit`: steps, test losses, History, callbacks.

A step that fails (NaN or Inf, or any exception) leaves the model as it was before the
step: its parameters, and the grids and coefficients if the step began with a grid update.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence

import torch
from torch import Tensor
from tqdm import tqdm

from ..core import KAN
from ._batches import Sampler
from ._distributed import DataParallel
from ._objective import Objective
from ._options import GridSchedule
from ._records import History, StepState, TrainingDivergedError
from ._steps import Step

__all__ = ["Callback", "train"]

Callback = Callable[[StepState], "bool | None"]


class LastGood:
    """The model's state after the last good step, to restore after a failed one."""

    def __init__(self, model: KAN, params: list[Tensor]) -> None:
        self.model, self.params = model, params
        self.saved = [p.detach().clone() for p in params]
        self.grids: list[tuple[Tensor, Tensor]] = []

    def before_grid_update(self) -> None:
        """Remember the grids and coefficients that the coming grid update replaces."""
        self.grids = [
            (tensor, tensor.detach().clone())
            for layer in self.model.layers
            for tensor in (layer.grid, layer.coef)
        ]

    @torch.no_grad()
    def keep(self) -> None:
        for p, good in zip(self.params, self.saved):
            good.copy_(p)
        self.grids = []

    @torch.no_grad()
    def restore(self) -> None:
        for tensor, good in self.grids:
            tensor.copy_(good)
        for p, good in zip(self.params, self.saved):
            p.copy_(good)


def _finite(*values: Tensor) -> bool:
    return all(bool(torch.isfinite(v).all()) for v in values)


def train(
    model: KAN,
    step: Step,
    objective: Objective,
    sampler: Sampler,
    comm: DataParallel | None,
    grid_schedule: GridSchedule | None,
    steps: int,
    metrics: Sequence[Callable[[], float]],
    callbacks: Sequence[Callback],
    progress: bool,
) -> History:
    """Take ``steps`` steps (fewer if a callback returns True) and record them."""
    history = History(metrics={m.__name__: [] for m in metrics}, optimizer=step.name)
    params: list[Tensor] = [p for p in model.parameters() if p.requires_grad]
    last_good = LastGood(model, params)
    data, full_batch = sampler.data, sampler.full_batch
    start, first_evaluations = time.perf_counter(), step.n_evaluations
    bar = tqdm(range(steps), disable=not progress, ncols=100)
    try:
        with contextlib.ExitStack() as stack:
            if full_batch:  # the first layer's bases of fixed data are computed once per grid
                stack.enter_context(
                    model.layers[0].reuse_features(data.train_input, data.test_input)
                )
            for index in bar:
                try:
                    batch = sampler.draw("train")
                    if grid_schedule is not None and grid_schedule.due(index):
                        last_good.before_grid_update()
                        model.update_grid_(
                            batch.inputs if comm is None else comm.gather_rows(batch.inputs)
                        )
                    reuse = model.layers[0].reuse_features
                    with contextlib.nullcontext() if full_batch else reuse(batch.inputs):
                        loss, reg = step(batch)
                    with torch.no_grad():
                        test_loss = objective.loss(sampler.draw("test")).detach()
                        if comm is not None:
                            test_loss = comm.average(test_loss)
                    if not _finite(loss, reg, test_loss, *params):
                        raise TrainingDivergedError(
                            f"the loss became NaN or Inf at step {index}; the model was "
                            "restored to the parameters after the last good step (try a "
                            "smaller lr, a smaller penalty, or singularity_avoiding=True)",
                            history,
                        )
                except BaseException:
                    last_good.restore()
                    raise
                last_good.keep()
                train_rmse, test_rmse = float(loss) ** 0.5, float(test_loss) ** 0.5
                history.train_loss.append(train_rmse)
                history.test_loss.append(test_rmse)
                history.reg.append(float(reg))
                for metric in metrics:
                    history.metrics[metric.__name__].append(float(metric()))
                if progress:
                    bar.set_description(
                        f"| train_loss: {train_rmse:.2e} | test_loss: {test_rmse:.2e} "
                        f"| reg: {float(reg):.2e} |"
                    )
                state = StepState(index, train_rmse, test_rmse, float(reg), model, history)
                if callbacks and _stop(callbacks, state, comm):
                    break
    finally:
        history.n_evaluations = step.n_evaluations - first_evaluations
        history.seconds = time.perf_counter() - start
    return history


def _stop(callbacks: Sequence[Callback], state: StepState, comm: DataParallel | None) -> bool:
    """Call every callback; record which one asked to stop (the first), if any.

    In data-parallel training every rank stops when any rank's callback asks to.
    """
    reason = ""
    for callback in callbacks:
        if callback(state) and not reason:
            name = getattr(callback, "__name__", type(callback).__name__)
            reason = f"callback {name} returned True after step {state.step}"
    if comm is not None and comm.any(bool(reason)) and not reason:
        reason = f"a callback on another rank returned True after step {state.step}"
    history = state.history
    history.stopped_early, history.stop_reason = bool(reason), reason
    return bool(reason)
