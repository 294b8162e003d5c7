"""The grouped options of :func:`kanscience.fit`: the sparsity penalty and the grid schedule.

Both are frozen records validated when built, so a bad weight or step fails where it is
written, naming the field:

>>> Penalty(lamb=0.01)
Penalty(lamb=0.01, l1=1.0, entropy=2.0, coef=0.0, coef_diff=0.0, metric='edge_forward_spline_n')
>>> [step for step in range(12) if GridSchedule(updates=3, stop=9).due(step)]
[0, 3, 6]
>>> Penalty(lamb=-1.0)
Traceback (most recent call last):
...
ValueError: Penalty.lamb must be a finite number >= 0, got -1.0
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

from torch import Tensor

from ..core import KAN, LayerStatistics
from ._penalty import REG_METRICS, penalty

__all__ = ["GridSchedule", "Penalty", "check_integer", "check_positive"]


def check_integer(name: str, value: Any, minimum: int) -> int:
    """``value`` as an int, or a TypeError/ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be an int, got {value!r} ({type(value).__name__})")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def check_positive(name: str, value: Any, allow_zero: bool = False) -> float:
    """``value`` as a finite float > 0 (or >= 0), or a TypeError/ValueError naming ``name``."""
    bound = ">= 0" if allow_zero else "> 0"
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a finite number {bound}, got {value!r}")
    number = float(value)
    if not math.isfinite(number) or number < 0 or (number == 0 and not allow_zero):
        raise ValueError(f"{name} must be a finite number {bound}, got {value!r}")
    return number


def check_penalty_and_schedule(penalty: Any, grid_schedule: Any) -> None:
    """A TypeError naming ``penalty`` or ``grid_schedule`` unless each is of its class or None."""
    if penalty is not None and not isinstance(penalty, Penalty):
        raise TypeError(f"penalty must be a Penalty or None, got {type(penalty).__name__}")
    if grid_schedule is not None and not isinstance(grid_schedule, GridSchedule):
        raise TypeError(
            f"grid_schedule must be a GridSchedule or None, got {type(grid_schedule).__name__}"
        )


@dataclass(frozen=True)
class Penalty:
    """pykan's sparsity penalty, added to the loss as ``lamb * reg``.

    ``reg = l1 * sum(scores) + entropy * (row + column entropies of the scores)
    + coef * mean|c| + coef_diff * mean|diff(c)|`` over the layers, where the scores are
    the edge magnitudes named by ``metric`` (:mod:`kanscience.train._penalty`) and ``c``
    the spline coefficients.

    Parameters
    ----------
    lamb : float
        Weight of the whole penalty (pykan's ``lamb``); 0 turns it off.
    l1, entropy : float
        Weights of the L1 and entropy terms (pykan's ``lamb_l1``, ``lamb_entropy``).
    coef, coef_diff : float
        Weights of the coefficient magnitudes and of their neighbouring differences
        (pykan's ``lamb_coef``, ``lamb_coefdiff``).
    metric : str
        One of :data:`kanscience.train.REG_METRICS` (pykan's ``reg_metric``).

    Raises
    ------
    ValueError
        For a negative, NaN or infinite weight or an unknown metric (naming the field).
    """

    lamb: float
    l1: float = 1.0
    entropy: float = 2.0
    coef: float = 0.0
    coef_diff: float = 0.0
    metric: str = "edge_forward_spline_n"

    def __post_init__(self) -> None:
        for name in ("lamb", "l1", "entropy", "coef", "coef_diff"):
            value = check_positive(f"Penalty.{name}", getattr(self, name), allow_zero=True)
            object.__setattr__(self, name, value)
        if self.metric not in REG_METRICS:
            raise ValueError(f"Penalty.metric must be one of {REG_METRICS}, got {self.metric!r}")

    @property
    def active(self) -> bool:
        """Whether the penalty changes the objective (``lamb > 0``)."""
        return self.lamb > 0

    def reg(self, model: KAN, statistics: Sequence[LayerStatistics]) -> Tensor:
        """The penalty before ``lamb`` (History's ``reg``) from the batch statistics."""
        return penalty(
            model, statistics, self.metric, self.l1, self.entropy, self.coef, self.coef_diff
        )


@dataclass(frozen=True)
class GridSchedule:
    """When :func:`kanscience.fit` refits the spline grids to the batch (pykan's schedule).

    The grids are updated every ``max(stop // updates, 1)`` steps at steps ``start <= step
    < stop`` (pykan's ``grid_update_num``, ``start_grid_update_step`` and
    ``stop_grid_update_step``). ``updates=0``, or ``grid_schedule=None`` in ``fit``, keeps
    the grids fixed.

    Parameters
    ----------
    updates : int
        Number of updates spread over ``[0, stop)``.
    start, stop : int
        The first step allowed to update (-1: from the start) and the step from which the
        grids stay fixed.
    """

    updates: int = 10
    start: int = -1
    stop: int = 50

    def __post_init__(self) -> None:
        check_integer("GridSchedule.updates", self.updates, 0)
        check_integer("GridSchedule.start", self.start, -1)
        check_integer("GridSchedule.stop", self.stop, 0)

    @property
    def every(self) -> int:
        """Steps between two updates (0: never)."""
        return max(int(self.stop / self.updates), 1) if self.updates else 0

    def due(self, step: int) -> bool:
        """Whether the grids are updated before optimizer step ``step``."""
        every = self.every
        return bool(every) and step % every == 0 and self.start <= step < self.stop
