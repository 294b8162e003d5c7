"""The records a fit passes around: a batch, the state after a step, and the History (of
``fit`` and of ``fit_stream``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch import Tensor

from ..core import KAN

__all__ = [
    "Batch",
    "History",
    "StepState",
    "StreamHistory",
    "StreamState",
    "TrainingDivergedError",
]


@dataclass(frozen=True)
class Batch:
    """The rows an objective is evaluated on.

    Attributes
    ----------
    inputs : Tensor, shape (rows, n_in)
    labels : Tensor, shape (rows, n_labels)
    index : Tensor of int64, shape (rows,)
        The rows' positions in this process's ``train_*`` or ``test_*`` tensors (the whole
        split: ``arange``), so that an objective can look up per-sample side data.
    split : {'train', 'test'}
    """

    inputs: Tensor
    labels: Tensor
    index: Tensor
    split: str


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
    optimizer : str
        The optimizer that ran: ``'LBFGS'``, ``'LM'`` or ``'Adam'`` (``opt='auto'`` resolved).
    stopped_early : bool
        Whether a callback stopped the fit before ``steps`` steps.
    stop_reason : str
        Which callback stopped it, and after which step ('' when it ran to the end).
    """

    train_loss: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    reg: list[float] = field(default_factory=list)
    metrics: dict[str, list[float]] = field(default_factory=dict)
    n_evaluations: int = 0
    seconds: float = 0.0
    optimizer: str = ""
    stopped_early: bool = False
    stop_reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        """pykan's results dict (``train_loss``, ``test_loss``, ``reg`` and metrics)."""
        return {
            "train_loss": self.train_loss,
            "test_loss": self.test_loss,
            "reg": self.reg,
            **self.metrics,
        }


@dataclass(frozen=True)
class StepState:
    """What a callback sees after each completed step.

    Attributes
    ----------
    step : int
        The step just taken (0-based).
    train_loss, test_loss, reg : float
        This step's entries of the History (RMSEs and the penalty before ``lamb``).
    model : KAN
        The model being trained (already holding the step's parameters).
    history : History
        The History so far, this step included.
    """

    step: int
    train_loss: float
    test_loss: float
    reg: float
    model: KAN
    history: History


class TrainingDivergedError(FloatingPointError):
    """The objective became NaN or Inf; the model holds its last good parameters."""

    def __init__(self, message: str, history: History) -> None:
        super().__init__(message)
        self.history = history


@dataclass
class StreamHistory:
    """What :func:`~kanscience.train.fit_stream` did.

    Attributes
    ----------
    batch_loss : list of float
        RMSE of each step's batch, evaluated in the step (before its update).
    epoch_loss : list of float
        RMSE over each epoch's rows (its batches' mean squared errors weighted by rows).
    test_loss : list of float
        RMSE on ``test`` after each epoch (empty without ``test``).
    epoch_seconds : list of float
        Wall time of each epoch (the grid updates and the test evaluation included).
    rows : int
        Rows trained on, all epochs together.
    seconds : float
        Wall time of the fit.
    stopped_early : bool
        Whether a callback stopped the fit.
    stop_reason : str
    """

    batch_loss: list[float] = field(default_factory=list)
    epoch_loss: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    epoch_seconds: list[float] = field(default_factory=list)
    rows: int = 0
    seconds: float = 0.0
    stopped_early: bool = False
    stop_reason: str = ""


@dataclass(frozen=True)
class StreamState:
    """What a :func:`~kanscience.train.fit_stream` callback sees after each step."""

    step: int
    epoch: int
    batch_rmse: float
    model: KAN
    history: StreamHistory
