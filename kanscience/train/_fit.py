"""Training: ``fit(model, data, *, ...) -> History``.

The schedule is pykan's (``steps`` optimizer steps; grid updates by a
:class:`~kanscience.train.GridSchedule`; an optional sparsity :class:`~kanscience.train.Penalty`)
on a lean loop (:mod:`kanscience.train._loop`): one flat L-BFGS or Levenberg-Marquardt
(chosen by ``opt='auto'``), the plain forward without penalty, statistics from one pass
with it, and no host work beyond the loss values. pykan's flat spelling is
:func:`kanscience.compat.pykan.fit_pykan`.

Examples
--------
>>> import torch
>>> from kanscience import KAN, create_dataset, fit
>>> from kanscience.train import Penalty
>>> data = create_dataset(lambda x: x[:, [0]] ** 2 + x[:, [1]], n_var=2, seed=0)
>>> history = fit(KAN([2, 3, 1], grid=5, seed=0), data, steps=5, progress=False)
>>> history.optimizer, history.test_loss[-1] < history.test_loss[0]
('LM', True)
>>> model = KAN([2, 3, 1], grid=5, seed=0)
>>> history = fit(model, data, steps=5, penalty=Penalty(lamb=1e-3), progress=False)
>>> history.optimizer, history.test_loss[-1] < history.test_loss[0]
('LBFGS', True)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from ..core import KAN, Dataset
from ._batches import Sampler
from ._checkpointing import Checkpoints
from ._distributed import DataParallel, unwrap
from ._loop import Callback, train
from ._objective import Objective
from ._options import (
    GridSchedule,
    Penalty,
    check_integer,
    check_penalty_and_schedule,
    check_positive,
)
from ._records import Batch, History
from ._steps import OPTIMIZERS, least_squares_conflicts, make_step

__all__ = ["fit"]

PYKAN_GRID_SCHEDULE = GridSchedule()  # pykan's: 10 updates in the first 50 steps


def fit(
    model: KAN | torch.nn.parallel.DistributedDataParallel,
    data: Dataset | Mapping[str, Tensor],
    *,
    opt: str = "auto",
    steps: int = 100,
    penalty: Penalty | None = None,
    grid_schedule: GridSchedule | None = PYKAN_GRID_SCHEDULE,
    loss_fn: Callable[[Tensor, Tensor], Tensor] | None = None,
    objective: Callable[[KAN, Batch], Tensor] | None = None,
    lr: float = 1.0,
    batch: int = -1,
    max_iter: int = 20,
    tolerance_change: float = 1e-7,
    metrics: Sequence[Callable[[], float]] | None = None,
    callbacks: Sequence[Callback] | None = None,
    singularity_avoiding: bool = False,
    y_th: float = 1000.0,
    seed: int = 0,
    progress: bool = True,
    distributed: bool | Any = False,
    checkpoint_every: int | None = None,
    checkpoint_path: str | os.PathLike | None = None,
    resume_from: str | os.PathLike | None = None,
) -> History:
    """Train ``model`` in place on ``data``.

    Parameters
    ----------
    model : KAN, or DistributedDataParallel wrapping a KAN
        A DDP-wrapped model trains data-parallel on the DDP's process group (see
        ``distributed``).
    data : Dataset or pykan's dict
        In data-parallel training: this rank's shard.
    opt : {'auto', 'LBFGS', 'LM', 'Adam'}
        ``'LM'``: Levenberg-Marquardt (:class:`~kanscience.train.LevenbergMarquardt`), for
        the mean squared error alone (no active penalty, ``loss_fn``, ``objective``,
        ``distributed`` or ``singularity_avoiding``) on models up to
        :data:`~kanscience.train.MAX_PARAMETERS` trained parameters; far fewer evaluations
        than L-BFGS and usually a lower error. ``'auto'``: LM where it applies, L-BFGS
        otherwise (``History.optimizer`` says which ran).
    steps : int
        Optimizer steps, >= 0 (0 trains nothing and returns an empty History). An L-BFGS
        step runs up to ``max_iter`` iterations; an LM step is one Jacobian and as many
        damped solves as it takes to lower the loss.
    penalty : Penalty, optional
        pykan's sparsity penalty (``Penalty(lamb=1e-2)``; pykan's ``lamb``, ``lamb_l1``,
        ``lamb_entropy``, ``lamb_coef``, ``lamb_coefdiff`` and ``reg_metric``). None: none.
    grid_schedule : GridSchedule or None
        When the grids are refitted to the batch (pykan's ``update_grid``,
        ``grid_update_num``, ``start_grid_update_step``, ``stop_grid_update_step``);
        default ``GridSchedule()``: 10 updates in the first 50 steps. None: fixed grids.
    loss_fn : callable, optional
        ``loss_fn(prediction, labels) -> scalar tensor``; mean squared error by default.
    objective : callable, optional
        ``objective(model, batch) -> scalar tensor`` replacing ``loss_fn(model(inputs),
        labels)`` for losses that are not a function of the output alone (physics losses
        on input gradients or Hessians, say). ``batch`` is a :class:`~kanscience.train.Batch`
        (``inputs``, ``labels``, ``index``: the rows' positions in the split, for per-sample
        side data, and ``split``). The reported train/test losses are its values.
    lr : float
        Learning rate (L-BFGS's initial step factor, Adam's rate; LM ignores it).
    batch : int
        Mini-batch size (-1: full batch).
    max_iter, tolerance_change : int, float
        L-BFGS iterations per step, and the relative change of the loss below which a
        step stops early.
    metrics : list of callables, optional
        Called without arguments after each step; results go to ``History.metrics``.
    callbacks : list of callables, optional
        ``callback(state) -> bool | None`` with a :class:`~kanscience.train.StepState`,
        called after each step; True stops the fit after that step
        (``History.stopped_early``, ``History.stop_reason``).
    singularity_avoiding, y_th : bool, float
        Evaluate symbolic edges in their singularity-safe form during training.
    seed : int
        Seed of the mini-batch sampler (a private generator).
    progress : bool
        Show a tqdm progress bar.
    distributed : bool or ProcessGroup
        Data-parallel training (:mod:`kanscience.train._distributed`): every rank of the
        process group (``True``: the default one) calls ``fit`` with its shard of the data
        and the same settings; the steps are those of one process on the union of the
        shards in rank order. Implied by a DDP-wrapped ``model``. ``loss_fn`` and
        ``objective`` must be means over the rows; a callback stopping on one rank stops
        every rank.
    checkpoint_every, checkpoint_path : int, str or PathLike, optional
        Write a training checkpoint (safetensors, :mod:`kanscience.train._checkpointing`)
        to ``checkpoint_path`` after every ``checkpoint_every`` completed steps, replacing
        the previous one. None (the default): nothing is written.
    resume_from : str or PathLike, optional
        Continue the fit from a checkpoint written with these settings and data: its
        steps count towards ``steps``, and the fit ends as the uninterrupted one would.

    Returns
    -------
    History

    Raises
    ------
    TrainingDivergedError
        If the objective becomes NaN or Inf; the model keeps its last good parameters
        (a fit failing in any other way also leaves the model as before the failing step).
    TrainingCheckpointError
        If ``resume_from`` is missing, corrupt or edited, or from another fit.
    TypeError, ValueError
        For a bad option (the message names it), or data that do not fit the model.
    """
    model, group = unwrap(model, distributed)
    steps, batch, max_iter, seed = _check_options(
        opt, steps, penalty, grid_schedule, lr, batch, max_iter, tolerance_change, seed
    )
    _check_callables({"loss_fn": loss_fn, "objective": objective}, optional=True)
    _check_callables({f"metrics[{i}]": m for i, m in enumerate(metrics or ())})
    _check_callables({f"callbacks[{i}]": c for i, c in enumerate(callbacks or ())})
    check_positive("y_th", y_th)
    reference = model.layers[0].coef
    data = Dataset.coerce(data).to(device=reference.device, dtype=reference.dtype)
    # with a custom objective the labels are whatever it needs (flows, accelerations...)
    if data.n_in != model.n_in or (objective is None and data.n_out != model.n_out):
        raise ValueError(
            f"dataset has {data.n_in} inputs and {data.n_out} outputs; the model expects "
            f"{model.n_in} and {model.n_out}"
        )
    callbacks, metrics = list(callbacks or ()), list(metrics or ())
    comm = None
    if group is not None:
        n_params = sum(p.numel() for p in model.parameters())
        settings = (seed, batch, steps, n_params, len(callbacks))
        comm = DataParallel(
            group, len(data.train_input), len(data.test_input), reference.device, settings
        )
        comm.broadcast_(model)
    conflicts = least_squares_conflicts(penalty, loss_fn, objective, comm, singularity_avoiding)
    loss = Objective(model, penalty, loss_fn, objective, comm, singularity_avoiding, y_th)
    step = make_step(opt, model, loss, comm, conflicts, lr, max_iter, tolerance_change)
    sampler = Sampler(data, batch, seed, comm)
    checkpoints = Checkpoints.from_options(
        checkpoint_every,
        checkpoint_path,
        resume_from,
        comm is not None,
        opt=step.name,
        batch=batch,
        seed=seed,
        lr=lr,
        max_iter=max_iter,
        tolerance_change=tolerance_change,
        penalty=penalty,
        grid_schedule=grid_schedule,
        singularity_avoiding=singularity_avoiding,
        y_th=y_th,
        metrics=[getattr(m, "__name__", type(m).__name__) for m in metrics],
    )
    return train(
        model,
        step,
        loss,
        sampler,
        comm,
        grid_schedule,
        steps,
        metrics,
        callbacks,
        progress,
        checkpoints,
    )


def _check_callables(values: Mapping[str, Any], optional: bool = False) -> None:
    """A TypeError naming the first value that is not callable (nor None, if optional)."""
    for name, value in values.items():
        if not (callable(value) or (optional and value is None)):
            raise TypeError(f"{name} must be callable, got {value!r} ({type(value).__name__})")


def _check_options(
    opt: Any,
    steps: Any,
    penalty: Any,
    grid_schedule: Any,
    lr: Any,
    batch: Any,
    max_iter: Any,
    tolerance_change: Any,
    seed: Any,
) -> tuple[int, int, int, int]:
    """Validate fit's options; returns ``(steps, batch, max_iter, seed)`` as ints."""
    if opt not in OPTIMIZERS:
        raise ValueError(f"opt must be one of {OPTIMIZERS}, got {opt!r}")
    check_penalty_and_schedule(penalty, grid_schedule)
    check_positive("lr", lr)
    check_positive("tolerance_change", tolerance_change, allow_zero=True)
    batch = check_integer("batch", batch, -1)
    if batch == 0:
        raise ValueError("batch must be -1 (full batch) or >= 1, got 0")
    return (
        check_integer("steps", steps, 0),
        batch,
        check_integer("max_iter", max_iter, 1),
        check_integer("seed", seed, -(2**63)),
    )
