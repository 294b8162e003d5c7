"""Training on data larger than one batch: mini-batches streamed from arrays, memory maps
or a DataLoader.

:func:`fit` holds its data as tensors and evaluates the whole test split after every
step; :func:`fit_stream` reads one mini-batch at a time, so that the memory a step needs
is bounded by the batch, not the data, and an epoch costs time linear in the rows. The
source is either a pair ``(inputs, labels)`` of arrays indexed by rows (torch tensors,
numpy arrays, ``numpy.memmap`` files: each epoch visits the rows in a seeded random order,
:class:`~kanscience.train._permutation.RowPermutation`, computed batch by batch; each
batch's rows are read in increasing order), or a re-iterable of ``(inputs, labels)``
batches (a ``torch.utils.data.DataLoader``, which does its own shuffling). The grids are
fitted to a fixed sample of the rows (:class:`~kanscience.train.GridSchedule` counts
steps, as in :func:`fit`). Adam is the optimizer (L-BFGS and Levenberg-Marquardt need the
same rows at every evaluation).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from ..core import KAN
from ._fit import PYKAN_GRID_SCHEDULE, _check_callables
from ._loop import LastGood, _finite, _stop
from ._objective import Objective
from ._options import (
    GridSchedule,
    Penalty,
    check_integer,
    check_penalty_and_schedule,
    check_positive,
)
from ._permutation import RowPermutation
from ._records import Batch, StreamHistory, StreamState, TrainingDivergedError
from ._steps import make_step

__all__ = ["GRID_SAMPLE", "fit_stream"]

_ARRAYS = (Tensor, np.ndarray)
GRID_SAMPLE = 4096
"""Rows of an iterable source the grids are fitted to by default (its first rows)."""


def fit_stream(
    model: KAN,
    source: tuple[Any, Any] | Iterable[tuple[Tensor, Tensor]],
    *,
    epochs: int = 1,
    batch: int = 4096,
    lr: float = 1e-2,
    penalty: Penalty | None = None,
    loss_fn: Callable[[Tensor, Tensor], Tensor] | None = None,
    grid_schedule: GridSchedule | None = PYKAN_GRID_SCHEDULE,
    grid_sample: int | None = None,
    test: tuple[Any, Any] | None = None,
    seed: int = 0,
    callbacks: Sequence[Callable[[StreamState], bool | None]] | None = None,
    progress: bool = True,
) -> StreamHistory:
    """Train ``model`` in place with Adam on mini-batches streamed from ``source``.

    Parameters
    ----------
    model : KAN
    source : (inputs, labels) arrays, or a re-iterable of (inputs, labels) batches
        Arrays: torch tensors or numpy arrays (``numpy.memmap`` included) of shapes
        ``(rows, n_in)`` and ``(rows, n_out)`` (or ``(rows,)`` for one output); batches
        of ``batch`` rows are drawn in a random order each epoch (seeded by ``seed``) and
        converted to the model's dtype one at a time. A re-iterable (a DataLoader, a list)
        yields the batches itself; ``batch`` is then unused.
    epochs : int
        Passes over the source, >= 1.
    batch : int
        Rows per mini-batch, >= 1 (array sources).
    lr : float
        Adam's learning rate.
    penalty : Penalty, optional
        pykan's sparsity penalty, on each batch.
    loss_fn : callable, optional
        ``loss_fn(prediction, labels) -> scalar``, a mean over the rows (default: mean
        squared error). The reported losses are its square roots.
    grid_schedule : GridSchedule or None
        Steps before which the grids are fitted to the grid sample (default: 10 updates in
        the first 50 steps); None: fixed grids.
    grid_sample : int, optional
        Rows of the grid sample, >= 1 (default: ``batch`` rows, or :data:`GRID_SAMPLE` for
        an iterable source): a seeded random sample of an array source, the first rows of
        an iterable one. The grid updates' memory grows with it.
    test : (inputs, labels), optional
        Rows evaluated after each epoch (``StreamHistory.test_loss``), in one pass: keep
        it to a size that fits in memory.
    seed : int
        Seed of the batch order and the grid sample (private generators).
    callbacks : list of callables, optional
        ``callback(state) -> bool | None`` with a :class:`StreamState` after each step;
        True stops the fit.
    progress : bool
        Show a tqdm progress bar.

    Returns
    -------
    StreamHistory

    Raises
    ------
    TrainingDivergedError
        If the loss becomes NaN or Inf; the model keeps its parameters from before the
        failing step.
    TypeError, ValueError
        For a bad option or source (the message names it), or a batch with NaN or Inf
        (found before the step that would use it, which then does not happen).
    """
    epochs = check_integer("epochs", epochs, 1)
    batch = check_integer("batch", batch, 1)
    if grid_sample is not None:
        grid_sample = check_integer("grid_sample", grid_sample, 1)
    check_integer("seed", seed, -(2**63))
    check_positive("lr", lr)
    check_penalty_and_schedule(penalty, grid_schedule)
    _check_callables({"loss_fn": loss_fn}, optional=True)
    callbacks = list(callbacks or ())
    _check_callables({f"callbacks[{i}]": c for i, c in enumerate(callbacks)})
    reference = model.layers[0].coef
    convert = _Converter(model, reference.dtype, reference.device)
    batches = _batches_of(source, batch, seed, convert)
    test_batch = None if test is None else convert(*_pair("test", test), "test")
    sample = None
    if grid_schedule is not None:
        default = batch if isinstance(batches, _ArrayBatches) else GRID_SAMPLE
        sample = batches.sample(default if grid_sample is None else grid_sample)
    objective = Objective(model, penalty, loss_fn, None, None, False, 1000.0)
    step = make_step("Adam", model, objective, None, [], lr, 1, 0.0)
    history = StreamHistory()
    params = [p for p in model.parameters() if p.requires_grad]
    last_good, start, index = LastGood(model), time.perf_counter(), 0
    bar = tqdm(total=batches.steps(epochs), disable=not progress, ncols=100)
    try:
        for epoch in range(epochs):
            squares, rows, epoch_start = 0.0, 0, time.perf_counter()
            for inputs, labels, positions in batches.epoch(epoch):
                try:
                    if sample is not None and grid_schedule.due(index):  # type: ignore[union-attr]
                        model.update_grid_(sample)
                    with model.layers[0].reuse_features(inputs):
                        loss, _ = step(Batch(inputs, labels, positions, "train"))
                    if not _finite(loss, *params):
                        raise TrainingDivergedError(
                            f"the loss became NaN or Inf at step {index} (epoch {epoch}); the "
                            "model was restored to its state before that step (try a smaller lr)",
                            None,  # type: ignore[arg-type]
                        )
                except BaseException:
                    last_good.restore()
                    raise
                last_good.keep()
                value = float(loss)
                history.batch_loss.append(math.sqrt(value))
                squares, rows = squares + value * len(inputs), rows + len(inputs)
                history.rows += len(inputs)
                bar.update(1)
                if progress:
                    bar.set_description(f"| epoch {epoch} | batch_loss: {math.sqrt(value):.2e} |")
                state = StreamState(index, epoch, math.sqrt(value), model, history)
                index += 1
                if callbacks and _stop(callbacks, state, None):
                    break
            history.epoch_loss.append(math.sqrt(squares / max(rows, 1)))
            if test_batch is not None:
                with torch.no_grad():
                    test_loss = objective.loss(test_batch)
                history.test_loss.append(math.sqrt(float(test_loss)))
            history.epoch_seconds.append(time.perf_counter() - epoch_start)
            if history.stopped_early:
                break
    finally:
        bar.close()
        history.seconds = time.perf_counter() - start
    return history


def _pair(name: str, value: Any) -> tuple[Any, Any]:
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise TypeError(f"{name} must be a pair (inputs, labels), got {type(value).__name__}")
    return value[0], value[1]


class _Converter:
    """One batch of a source as the model's tensors, checked (shapes, finiteness)."""

    def __init__(self, model: KAN, dtype: torch.dtype, device: torch.device) -> None:
        self.n_in, self.n_out, self.dtype, self.device = model.n_in, model.n_out, dtype, device

    def __call__(self, inputs: Any, labels: Any, where: str, index: Tensor | None = None) -> Batch:
        x = self._tensor(inputs, f"{where} inputs")
        y = self._tensor(labels, f"{where} labels")
        if y.ndim == 1:
            y = y[:, None]
        if x.ndim != 2 or x.shape[1] != self.n_in:
            raise ValueError(
                f"{where} inputs must have shape (rows, {self.n_in}), got {tuple(x.shape)}"
            )
        if y.ndim != 2 or y.shape[1] != self.n_out or y.shape[0] != x.shape[0]:
            raise ValueError(
                f"{where} labels must have shape ({x.shape[0]}, {self.n_out}), got {tuple(y.shape)}"
            )
        if not (_finite(x) and _finite(y)):
            raise ValueError(f"{where} has NaN or Inf values")
        positions = torch.arange(x.shape[0]) if index is None else index
        return Batch(x, y, positions, "train")

    def _tensor(self, value: Any, name: str) -> Tensor:
        if isinstance(value, np.ndarray):
            value = torch.from_numpy(np.ascontiguousarray(value))
        if not isinstance(value, Tensor):
            raise TypeError(
                f"{name} must be a torch tensor or numpy array, got {type(value).__name__}"
            )
        if value.is_complex():
            raise TypeError(f"{name} must be real, got {value.dtype}")
        return value.to(device=self.device, dtype=self.dtype)


class _ArrayBatches:
    """Mini-batches of ``(inputs, labels)`` arrays in a seeded random order per epoch."""

    def __init__(self, inputs: Any, labels: Any, batch: int, seed: int, convert: _Converter):
        for name, value in (("source inputs", inputs), ("source labels", labels)):
            if not isinstance(value, _ARRAYS):
                raise TypeError(
                    f"{name} must be a torch tensor or numpy array, got {type(value).__name__}"
                )
        if len(inputs) != len(labels):
            raise ValueError(
                f"source inputs and labels must have the same rows, got {len(inputs)} and "
                f"{len(labels)}"
            )
        if len(inputs) == 0:
            raise ValueError("source has no rows")
        self.inputs, self.labels, self.batch, self.seed = inputs, labels, batch, seed
        self.convert, self.rows = convert, len(inputs)

    def steps(self, epochs: int) -> int:
        return epochs * math.ceil(self.rows / self.batch)

    def sample(self, size: int) -> Tensor:
        order = RowPermutation(self.rows, self.seed + 1)
        index = order(torch.arange(min(size, self.rows))).sort().values
        return self._rows(index, "the grid sample").inputs

    def epoch(self, epoch: int) -> Iterator[tuple[Tensor, Tensor, Tensor]]:
        order = RowPermutation(self.rows, self.seed + 2 + epoch)  # memory of one batch
        for first in range(0, self.rows, self.batch):
            positions = torch.arange(first, min(first + self.batch, self.rows))
            index = order(positions).sort().values
            rows = self._rows(index, f"source rows of step batch {first // self.batch}")
            yield rows.inputs, rows.labels, index

    def _rows(self, index: Tensor, where: str) -> Batch:
        if isinstance(self.inputs, np.ndarray) or isinstance(self.labels, np.ndarray):
            picked = index.numpy()
            x = self.inputs[picked] if isinstance(self.inputs, np.ndarray) else self.inputs[index]
            y = self.labels[picked] if isinstance(self.labels, np.ndarray) else self.labels[index]
        else:
            x, y = self.inputs[index], self.labels[index]
        return self.convert(x, y, where, index)


class _IterableBatches:
    """The batches of a re-iterable source (a DataLoader, a list), in its order."""

    def __init__(self, source: Iterable, convert: _Converter) -> None:
        if iter(source) is source:
            raise TypeError(
                "source is an iterator, which can be read only once; pass (inputs, labels) "
                "arrays or a re-iterable of batches (a DataLoader, a list)"
            )
        self.source, self.convert = source, convert

    def steps(self, epochs: int) -> int | None:
        try:
            return epochs * len(self.source)  # type: ignore[arg-type]
        except TypeError:
            return None

    def sample(self, size: int) -> Tensor:
        parts, rows = [], 0
        for i, item in enumerate(self.source):
            inputs = self.convert(*_pair(f"source batch {i}", item), f"source batch {i}").inputs
            parts.append(inputs[: size - rows])
            rows += len(parts[-1])
            if rows >= size:
                break
        if not parts:
            raise ValueError("source has no batches")
        return torch.cat(parts)

    def epoch(self, epoch: int) -> Iterator[tuple[Tensor, Tensor, Tensor]]:
        offset = 0
        for i, item in enumerate(self.source):
            rows = self.convert(*_pair(f"source batch {i}", item), f"source batch {i}")
            positions = torch.arange(offset, offset + len(rows.inputs))
            offset += len(rows.inputs)
            yield rows.inputs, rows.labels, positions


def _batches_of(
    source: Any, batch: int, seed: int, convert: _Converter
) -> _ArrayBatches | _IterableBatches:
    if isinstance(source, tuple) and len(source) == 2 and isinstance(source[0], _ARRAYS):
        return _ArrayBatches(source[0], source[1], batch, seed, convert)
    if not isinstance(source, Iterable):
        raise TypeError(
            "source must be (inputs, labels) arrays or a re-iterable of (inputs, labels) "
            f"batches, got {type(source).__name__}"
        )
    return _IterableBatches(source, convert)
