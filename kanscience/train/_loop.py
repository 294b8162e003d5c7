"""The training loop of :func:`kanscience.fit`: steps, test losses, History, callbacks.

A step that fails (NaN or Inf, or any exception) leaves the model as it was before the
step: every parameter and buffer (grids included, also after a grid update that began
the step), bit for bit. With :class:`~kanscience.train._checkpointing.Checkpoints` the
loop resumes from a training checkpoint and writes one every few steps.
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
from ._checkpointing import Checkpoints
from ._distributed import DataParallel
from ._objective import Objective
from ._options import GridSchedule
from ._records import History, StepState, StreamState, TrainingDivergedError
from ._steps import Step

__all__ = ["Callback", "LastGood", "train"]

Callback = Callable[[StepState], "bool | None"]


class LastGood:
    """A copy of the model's whole state (parameters and buffers) to restore after a failed step.

    Examples
    --------
    >>> model = KAN([2, 3, 1], seed=0)
    >>> last_good = LastGood(model)
    >>> x = torch.rand(50, 2, generator=torch.Generator().manual_seed(0)) * 4 - 2
    >>> model.update_grid_(x)
    >>> last_good.restore()
    >>> all(torch.equal(t, KAN([2, 3, 1], seed=0).state_dict()[n])
    ...     for n, t in model.state_dict().items())
    True
    """

    def __init__(self, model: KAN) -> None:
        self.live = [tensor.detach() for tensor in model.state_dict(keep_vars=True).values()]
        self.saved = [tensor.clone() for tensor in self.live]

    @torch.no_grad()
    def keep(self) -> None:
        """Remember the model's current state as the last good one."""
        # one fused copy; torch's stubs do not export the _foreach ops
        torch._foreach_copy_(self.saved, self.live)  # type: ignore[attr-defined]

    @torch.no_grad()
    def restore(self) -> None:
        """Put the last good state back into the model (in place, exactly)."""
        torch._foreach_copy_(self.live, self.saved)  # type: ignore[attr-defined]


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
    checkpoints: Checkpoints | None = None,
) -> History:
    """Take ``steps`` steps (fewer if a callback returns True) and record them.

    With ``checkpoints``: continue from its checkpoint (the steps it took count towards
    ``steps``), and write one after every ``checkpoints.every`` completed steps.
    """
    history = History(metrics={m.__name__: [] for m in metrics}, optimizer=step.name)
    first = checkpoints.resume_(model, step, sampler, history, steps) if checkpoints else 0
    params: list[Tensor] = [p for p in model.parameters() if p.requires_grad]
    last_good = LastGood(model)
    data, full_batch = sampler.data, sampler.full_batch
    start, first_evaluations = time.perf_counter(), step.n_evaluations
    earlier_evaluations, earlier_seconds = history.n_evaluations, history.seconds
    bar = tqdm(range(first, steps), disable=not progress, ncols=100, initial=first, total=steps)
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
                            "restored to its state after the last good step (try a "
                            "smaller lr, a smaller penalty, or singularity_avoiding=True)",
                            history,
                        )
                except BaseException:
                    last_good.restore()
                    raise
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
                last_good.keep()  # after the callbacks, which may edit the model
                if checkpoints is not None and checkpoints.due(index + 1):
                    history.n_evaluations = (
                        earlier_evaluations + step.n_evaluations - first_evaluations
                    )
                    seconds = earlier_seconds + time.perf_counter() - start
                    checkpoints.write(model, step, sampler, history, index + 1, seconds)
    finally:
        history.n_evaluations = earlier_evaluations + step.n_evaluations - first_evaluations
        history.seconds = earlier_seconds + time.perf_counter() - start
    return history


def _stop(
    callbacks: Sequence[Callable], state: StepState | StreamState, comm: DataParallel | None
) -> bool:
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
