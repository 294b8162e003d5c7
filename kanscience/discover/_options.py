"""The settings of one :func:`kanscience.discover.discover` call, typed and validated."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

__all__ = ["DiscoverOptions"]

_POSITIVE_INTS = (
    "steps",
    "lm_steps",
    "grid",
    "refine_grid",
    "grid_number",
    "polish_steps",
    "max_symbolic",
)


@dataclass(frozen=True)
class DiscoverOptions:
    """Settings of a discovery run (see :func:`kanscience.discover.discover` for each).

    Frozen: a run never changes its settings; a variant is made with
    :func:`dataclasses.replace`. Every field is checked on construction and an error names
    the field.

    Attributes
    ----------
    hidden : int or None
        Width of the hidden layer of the deeper structures (default ``n + 2``, at most 7).
    steps, lm_steps : int
        L-BFGS steps of the sparsity phase; Levenberg-Marquardt steps per phase.
    lamb : float
        Sparsity weight of the hidden-layer structures.
    grid, refine_grid : int
        Grid intervals before and after refinement.
    max_train : int
        Training samples fitted and validated (a seeded subsample; 20% of them validate,
        and so do up to ``3 max_train`` of the training rows beyond it).
    weight_simple : float
        Weight of simplicity against R^2 when choosing an edge's function.
    grid_number : int
        Grid points of the affine search of a symbolic edge fit.
    alternatives : int
        Edges on which the runner-up function is also tried.
    alternative_gap : float
        Largest score gap between the best and runner-up function for that.
    polish_steps : int
        Levenberg-Marquardt iterations when refitting a formula's constants.
    snap_tolerance : float
        Least relative validation RMSE within which formulas count as equally good (the
        search uses ``8 / n_val`` for ``n_val`` validation samples when that is larger).
    test_fraction : float
        Share of a tuple ``(x, y)`` held out as the test split.
    seed : int
        Seeds the split, the subsample and the initializations.
    time_budget : float or None
        Seconds of wall time; None for no limit.
    max_symbolic : int
        Samples used to fit edges symbolically.
    target_error : float or None
        Stop once a formula's validation RMSE is at most this fraction of the target's
        standard deviation (data that are a smooth surrogate of known accuracy, such as
        a trained network); None: stop only when exact or explained up to noise.
    """

    hidden: int | None = None
    steps: int = 50
    lm_steps: int = 40
    lamb: float = 1e-3
    grid: int = 5
    refine_grid: int = 20
    max_train: int = 2000
    weight_simple: float = 0.8
    grid_number: int = 51
    alternatives: int = 3
    alternative_gap: float = 1.0
    polish_steps: int = 40
    snap_tolerance: float = 0.0
    test_fraction: float = 0.25
    seed: int = 0
    time_budget: float | None = 180.0
    max_symbolic: int = 1000
    target_error: float | None = None

    def __post_init__(self) -> None:
        for name in _POSITIVE_INTS:
            _check_int(name, getattr(self, name), 1)
        _check_int("max_train", self.max_train, 10)
        _check_int("alternatives", self.alternatives, 0)
        _check_int("seed", self.seed, -(2**63))
        if self.hidden is not None:
            _check_int("hidden", self.hidden, 1)
        for name in ("lamb", "weight_simple", "alternative_gap", "snap_tolerance"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
                raise ValueError(f"{name} must be a number >= 0, got {value!r}")
            if not math.isfinite(value):
                raise ValueError(f"{name} must be finite, got {value!r}")
        if not (isinstance(self.test_fraction, (int, float)) and 0 < self.test_fraction < 1):
            raise ValueError(f"test_fraction must be in (0, 1), got {self.test_fraction!r}")
        budget = self.time_budget
        if budget is not None and (
            isinstance(budget, bool) or not isinstance(budget, (int, float)) or not budget > 0
        ):
            raise ValueError(f"time_budget must be > 0 seconds or None, got {budget!r}")
        error = self.target_error
        if error is not None and (
            isinstance(error, bool)
            or not isinstance(error, (int, float))
            or not 0 <= error < math.inf
        ):
            raise ValueError(f"target_error must be a finite number >= 0 or None, got {error!r}")

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The option names, in order."""
        return tuple(f.name for f in fields(cls))


def _check_int(name: str, value: object, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
