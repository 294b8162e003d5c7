"""Training: ``fit(model, dataset, ...) -> History``.

The schedule is pykan's (``steps`` optimizer steps, each up to ``max_iter`` L-BFGS
iterations; grid updates every ``stop_grid_update_step // grid_update_num`` steps before
``stop_grid_update_step``; sparsity penalty ``lamb * reg``), on a lean loop: one flat
L-BFGS (:mod:`kanscience.train._lbfgs`), the plain forward when ``lamb == 0``, statistics from one
pass when ``lamb > 0``, and no host work beyond the loss values.

Examples
--------
>>> import torch
>>> from kanscience import KAN, create_dataset, fit
>>> data = create_dataset(lambda x: x[:, [0]] ** 2 + x[:, [1]], n_var=2, seed=0)
>>> model = KAN([2, 3, 1], grid=5, seed=0)
>>> history = fit(model, data, steps=5, progress=False)
>>> history.test_loss[-1] < history.test_loss[0]
True
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor
from tqdm import tqdm

from ..core import KAN, Dataset, forward_with_statistics
from ._distributed import DataParallel, unwrap
from ._lbfgs import FlatLBFGS
from ._levenberg import LevenbergMarquardt
from ._penalty import REG_METRICS, penalty

__all__ = ["History", "TrainingDivergedError", "fit"]


@dataclass
class History:
    """What a fit did, step by step.

    Attributes
    ----------
    train_loss, test_loss : list of float
        RMSE (square root of the loss) after each step.
    reg : list of float
        The sparsity penalty (before ``lamb``) at each step.
    metrics : dict of str to list
        Values of the user's ``metrics`` callables after each step.
    n_evaluations : int
        Forward+backward evaluations of the objective.
    seconds : float
        Wall time of the fit.
    """

    train_loss: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    reg: list[float] = field(default_factory=list)
    metrics: dict[str, list[float]] = field(default_factory=dict)
    n_evaluations: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """pykan's results dict (``train_loss``, ``test_loss``, ``reg`` and metrics)."""
        return {
            "train_loss": self.train_loss,
            "test_loss": self.test_loss,
            "reg": self.reg,
            **self.metrics,
        }


class TrainingDivergedError(FloatingPointError):
    """The objective became NaN or Inf; the model holds its last good parameters."""

    def __init__(self, message: str, history: History) -> None:
        super().__init__(message)
        self.history = history


def _mse(prediction: Tensor, target: Tensor) -> Tensor:
    return torch.mean((prediction - target) ** 2)


def _check_least_squares(lamb, loss_fn, objective, comm, singularity_avoiding) -> None:
    """Levenberg-Marquardt minimizes a plain mean squared error: refuse anything else."""
    for name, value, ok in (
        ("lamb", lamb, lamb == 0),
        ("loss_fn", loss_fn, loss_fn is None),
        ("objective", objective, objective is None),
        ("distributed", comm, comm is None),
        ("singularity_avoiding", singularity_avoiding, not singularity_avoiding),
    ):
        if not ok:
            raise ValueError(
                f"opt='LM' minimizes the mean squared error alone; got {name}={value!r} "
                "(use opt='LBFGS' for penalties, custom losses and distributed training)"
            )


def fit(
    model: KAN | torch.nn.parallel.DistributedDataParallel,
    dataset: Dataset | Mapping[str, Tensor],
    opt: str = "LBFGS",
    steps: int = 100,
    lamb: float = 0.0,
    lamb_l1: float = 1.0,
    lamb_entropy: float = 2.0,
    lamb_coef: float = 0.0,
    lamb_coefdiff: float = 0.0,
    update_grid: bool = True,
    grid_update_num: int = 10,
    loss_fn: Callable[[Tensor, Tensor], Tensor] | None = None,
    lr: float = 1.0,
    start_grid_update_step: int = -1,
    stop_grid_update_step: int = 50,
    batch: int = -1,
    reg_metric: str = "edge_forward_spline_n",
    singularity_avoiding: bool = False,
    y_th: float = 1000.0,
    metrics: Sequence[Callable[[], float]] | None = None,
    objective: Callable[[KAN, Tensor, Tensor], Tensor] | None = None,
    max_iter: int = 20,
    tolerance_change: float = 1e-7,
    seed: int = 0,
    progress: bool = True,
    distributed: bool | Any = False,
) -> History:
    """Train ``model`` in place on ``dataset``.

    Parameters
    ----------
    model : KAN, or DistributedDataParallel wrapping a KAN
        A DDP-wrapped model trains data-parallel on the DDP's process group (see
        ``distributed``).
    dataset : Dataset or pykan's dict
        In data-parallel training: this rank's shard.
    opt : {'LBFGS', 'Adam', 'LM'}
        ``'LM'``: Levenberg-Marquardt (:mod:`kanscience.train._levenberg`), for the mean squared
        error without penalty on models up to a few thousand parameters; far fewer
        evaluations than L-BFGS and usually a lower error.
    steps : int
        Optimizer steps (an L-BFGS step runs up to ``max_iter`` iterations; an LM step is
        one Jacobian and as many damped solves as it takes to lower the loss).
    lamb, lamb_l1, lamb_entropy, lamb_coef, lamb_coefdiff : float
        Sparsity penalty weights (pykan's).
    update_grid, grid_update_num, start_grid_update_step, stop_grid_update_step
        Grid update schedule (pykan's).
    loss_fn : callable, optional
        ``loss_fn(prediction, target) -> scalar``; mean squared error by default.
    lr : float
    batch : int
        Mini-batch size (-1: full batch).
    reg_metric : str
        One of :data:`kanscience.train._penalty.REG_METRICS`.
    singularity_avoiding, y_th : bool, float
        Evaluate symbolic edges in their singularity-safe form during training.
    metrics : list of callables, optional
        Called without arguments after each step; results go to ``History.metrics``.
    objective : callable, optional
        ``objective(model, inputs, labels) -> scalar`` replacing ``loss_fn(model(inputs),
        labels)`` for losses that are not a function of the output alone (physics losses on
        input gradients or Hessians, say). The reported train/test losses are its values.
    max_iter : int
        L-BFGS iterations per step.
    tolerance_change : float
        Relative change of the loss below which an L-BFGS step stops early.
    seed : int
        Seed of the mini-batch sampler (a private generator).
    progress : bool
        Show a tqdm progress bar.
    distributed : bool or ProcessGroup
        Data-parallel training (:mod:`kanscience.train._distributed`): every rank of the process
        group (``True``: the default one) calls ``fit`` with its shard of the data and the
        same settings; the steps are those of one process on the union of the shards in
        rank order (global mini-batches, all-reduced gradients and losses, grid updates on
        all-gathered inputs, penalty statistics over all rows). Implied by a DDP-wrapped
        ``model``. ``loss_fn`` and ``objective`` must be means over the rows.

    Returns
    -------
    History

    Raises
    ------
    TrainingDivergedError
        If the objective becomes NaN or Inf; the model keeps its last good parameters.
    ValueError
        For an unknown ``opt`` or ``reg_metric``, or data that do not fit the model.
    """
    model, group = unwrap(model, distributed)
    data = Dataset.coerce(dataset)
    if opt not in ("LBFGS", "Adam", "LM"):
        raise ValueError(f"opt must be 'LBFGS', 'Adam' or 'LM', got {opt!r}")
    if reg_metric not in REG_METRICS:
        raise ValueError(f"reg_metric must be one of {REG_METRICS}, got {reg_metric!r}")
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    reference = model.layers[0].coef
    data = data.to(device=reference.device, dtype=reference.dtype)
    # with a custom objective the labels are whatever it needs (flows, accelerations...)
    if data.n_in != model.n_in or (objective is None and data.n_out != model.n_out):
        raise ValueError(
            f"dataset has {data.n_in} inputs and {data.n_out} outputs; the model expects "
            f"{model.n_in} and {model.n_out}"
        )
    custom_loss = loss_fn
    loss_fn = loss_fn or _mse
    n_train, n_test = data.train_input.shape[0], data.test_input.shape[0]
    comm = None
    if group is not None:
        comm = DataParallel(
            group,
            n_train,
            n_test,
            reference.device,
            (int(seed), int(batch), int(steps), sum(p.numel() for p in model.parameters())),
        )
        comm.broadcast_(model)
        n_train, n_test = comm.n_train, comm.n_test
    statistics_of = forward_with_statistics if comm is None else comm.forward_with_statistics
    full_batch = batch == -1 or batch >= n_train
    generator = torch.Generator().manual_seed(int(seed))
    grid_update_freq = (
        max(int(stop_grid_update_step / grid_update_num), 1) if grid_update_num else 0
    )

    params = [p for p in model.parameters() if p.requires_grad]
    history = History(metrics={m.__name__: [] for m in metrics or ()})
    if not params:
        raise ValueError("model has no trainable parameter")
    optimizer: Any
    if opt == "LM":
        _check_least_squares(lamb, custom_loss, objective, comm, singularity_avoiding)
        optimizer = LevenbergMarquardt(model)
    elif opt == "LBFGS":
        optimizer = FlatLBFGS(
            params,
            lr=lr,
            max_iter=max_iter,
            tolerance_grad=1e-32,
            tolerance_change=tolerance_change,
            history_size=10,
        )
    else:
        optimizer = torch.optim.Adam(params, lr=lr)
    state: dict[str, Tensor] = {}

    def loss_of(x: Tensor, y: Tensor) -> Tensor:
        if objective is not None:
            with torch.enable_grad():
                return objective(model, x, y)
        return loss_fn(model(x, singularity_avoiding, y_th), y)

    def total_objective(x: Tensor, y: Tensor) -> Tensor:
        if objective is not None:
            loss = loss_of(x, y)
            reg = loss.new_zeros(())
            if lamb > 0:
                _, statistics = statistics_of(model, x, singularity_avoiding, y_th)
                reg = penalty(
                    model, statistics, reg_metric, lamb_l1, lamb_entropy, lamb_coef, lamb_coefdiff
                )
            state["loss"], state["reg"] = loss.detach(), reg.detach()
            return loss + lamb * reg
        if lamb > 0:
            prediction, statistics = statistics_of(model, x, singularity_avoiding, y_th)
            reg = penalty(
                model, statistics, reg_metric, lamb_l1, lamb_entropy, lamb_coef, lamb_coefdiff
            )
        else:
            prediction = model(x, singularity_avoiding, y_th)
            reg = prediction.new_zeros(())
        loss = loss_fn(prediction, y)
        state["loss"], state["reg"] = loss.detach(), reg.detach()
        return loss + lamb * reg

    def rows(
        split: str, inputs: Tensor, labels: Tensor, n: int, whole: bool
    ) -> tuple[Tensor, Tensor]:
        """All rows of a split, or a random mini-batch (this rank's part of a global one)."""
        if whole:
            if comm is not None:
                comm.select(split)
            return inputs, labels
        index = (
            torch.randperm(n, generator=generator)[:batch]
            if comm is None
            else comm.select(split, generator, batch)
        ).to(reference.device)
        return inputs[index], labels[index]

    start = time.perf_counter()
    last_good = [p.detach().clone() for p in params]
    bar = tqdm(range(steps), disable=not progress, ncols=100)
    evaluations = 0
    with contextlib.ExitStack() as stack:
        if full_batch:  # the first layer's bases of fixed data are computed once per grid
            stack.enter_context(model.layers[0].reuse_features(data.train_input, data.test_input))
        for step in bar:
            x, y = rows("train", data.train_input, data.train_label, n_train, full_batch)
            if (
                update_grid
                and grid_update_freq
                and step % grid_update_freq == 0
                and start_grid_update_step <= step < stop_grid_update_step
            ):
                model.update_grid_(x if comm is None else comm.gather_rows(x))
            with model.layers[0].reuse_features(x) if not full_batch else contextlib.nullcontext():
                if opt == "LM":
                    before = optimizer.n_evaluations
                    state["loss"] = torch.tensor(optimizer.step(x, y))
                    state["reg"] = torch.zeros(())
                    evaluations += optimizer.n_evaluations - before
                elif opt == "LBFGS":

                    def closure() -> Tensor:
                        value = total_objective(x, y)
                        if comm is not None:
                            return comm.backward(value, params, state)
                        value.backward()
                        return value.detach()

                    before = optimizer.n_evaluations
                    optimizer.step(closure)
                    evaluations += optimizer.n_evaluations - before
                else:
                    optimizer.zero_grad(set_to_none=True)
                    value = total_objective(x, y)
                    if comm is not None:
                        comm.backward(value, params, state)
                    else:
                        value.backward()
                    optimizer.step()
                    evaluations += 1
            with torch.no_grad():
                test_x, test_y = rows(
                    "test", data.test_input, data.test_label, n_test, full_batch or batch >= n_test
                )
                test_loss = loss_of(test_x, test_y).detach()
                if comm is not None:
                    test_loss = comm.average(test_loss)
            train_loss, reg_value = float(state["loss"]), float(state["reg"])
            if not all(map(torch.isfinite, (state["loss"], state["reg"], test_loss))) or not all(
                bool(torch.isfinite(p).all()) for p in params
            ):
                with torch.no_grad():
                    for p, good in zip(params, last_good):
                        p.copy_(good)
                history.n_evaluations, history.seconds = evaluations, time.perf_counter() - start
                raise TrainingDivergedError(
                    f"the loss became NaN or Inf at step {step}; the model was restored to the "
                    "parameters after the last good step (try a smaller lr, a smaller lamb, or "
                    "singularity_avoiding=True)",
                    history,
                )
            with torch.no_grad():
                for p, good in zip(params, last_good):
                    good.copy_(p)
            history.train_loss.append(train_loss**0.5)
            history.test_loss.append(float(test_loss) ** 0.5)
            history.reg.append(reg_value)
            for metric in metrics or ():
                history.metrics[metric.__name__].append(float(metric()))
            if progress:
                bar.set_description(
                    f"| train_loss: {train_loss**0.5:.2e} | test_loss: {float(test_loss) ** 0.5:.2e} "
                    f"| reg: {reg_value:.2e} |"
                )
    history.n_evaluations, history.seconds = evaluations, time.perf_counter() - start
    return history
