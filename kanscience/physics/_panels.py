"""The panels of a learned-versus-true comparison, as frozen records of plain arrays.

Each panel holds float64 arrays (read-only), so a result can carry its plot data and a
test can check the numbers without drawing; ``draw(ax)`` puts it on a matplotlib Axes:

* :class:`LawCurves` -- ``y(x)`` of the true law and of learned ones (a 1-D law, a slice
  of a multivariate one, a stress-stretch curve);
* :class:`LawParity` -- learned against true values at samples, with the identity line;
* :class:`LawContours` -- level sets of the true and of the learned laws on a 2-D grid at
  the same levels (for a conserved quantity ``H(x, p)``: the phase-space orbits).

The true law is drawn solid black, each learned law in colour, dashed or as markers;
legend labels are the keys of ``learned``. :func:`kanscience.physics.plot_law_comparison`
lays the panels out on one Figure.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.lines import Line2D

__all__ = ["LawContours", "LawCurves", "LawPanel", "LawParity"]

_TRUE = {"color": "black", "linewidth": 2.0}
_STYLES = (
    {"color": "C1", "linestyle": "--"},
    {"color": "C0", "linestyle": ":"},
    {"color": "C2", "linestyle": "-."},
    {"color": "C3", "linestyle": (0, (5, 1, 1, 1))},
)
_MARKERS = ("o", "x", "+", "s", "^")


def _array(values: object, name: str, ndim: int | None) -> np.ndarray:
    """``values`` as a read-only float64 array with ``ndim`` dimensions (any if None)."""
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().to(torch.float64).numpy()
    try:
        array = np.array(values, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"{name} must be an array of numbers, got {type(values).__name__}"
        ) from error
    if ndim is not None and array.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s), got shape {array.shape}")
    array.setflags(write=False)
    return array


def _series(
    learned: object, shape: tuple[int, ...], name: str = "learned"
) -> Mapping[str, np.ndarray]:
    """A read-only mapping of named arrays, each of ``shape``."""
    if not isinstance(learned, Mapping):
        raise TypeError(f"{name} must be a mapping of label -> array, got {type(learned).__name__}")
    out = {}
    for label, values in learned.items():
        if not isinstance(label, str):
            raise TypeError(f"{name} labels must be str, got {label!r}")
        array = _array(values, f"{name}[{label!r}]", len(shape))
        if array.shape != shape:
            raise ValueError(f"{name}[{label!r}] must have shape {shape}, got {array.shape}")
        out[label] = array
    return MappingProxyType(out)


def _styles(index: int) -> dict:
    return _STYLES[index % len(_STYLES)]


def _note(ax: Axes, text: str) -> None:
    if text:
        ax.text(
            0.97,
            0.03,
            text,
            transform=ax.transAxes,
            ha="right",
            va="bottom",
            fontsize="small",
            bbox={"facecolor": "white", "alpha": 0.8, "linewidth": 0},
        )


@dataclass(frozen=True, eq=False)
class LawCurves:
    """Curves ``y(x)`` of the true law and of learned laws.

    Parameters
    ----------
    x : array (m,)
    true : array (m,)
        The true law at ``x`` (drawn solid black, label ``'true'``).
    learned : mapping of str -> array (m,)
        Learned laws at ``x``, already in the true law's gauge (dashed, in colour).
    title, xlabel, ylabel : str
    note : str
        Text written in a corner of the panel (e.g. the gauge that was fitted).
    """

    x: np.ndarray
    true: np.ndarray
    learned: Mapping[str, np.ndarray]
    title: str = ""
    xlabel: str = "x"
    ylabel: str = "y"
    note: str = ""

    def __post_init__(self) -> None:
        x = _array(self.x, "x", 1)
        true = _array(self.true, "true", 1)
        if true.shape != x.shape:
            raise ValueError(f"true must have the shape of x {x.shape}, got {true.shape}")
        object.__setattr__(self, "x", x)
        object.__setattr__(self, "true", true)
        object.__setattr__(self, "learned", _series(self.learned, x.shape))

    def draw(self, ax: Axes) -> None:
        """Draw on ``ax``: the true curve first, then the learned ones in order."""
        ax.plot(self.x, self.true, label="true", **_TRUE)
        for index, (label, values) in enumerate(self.learned.items()):
            ax.plot(self.x, values, label=label, linewidth=1.8, **_styles(index))
        ax.set(title=self.title, xlabel=self.xlabel, ylabel=self.ylabel)
        ax.legend(fontsize="small")
        _note(ax, self.note)


def _relative_rms(learned: np.ndarray, true: np.ndarray) -> float:
    """``sqrt(mean((learned - true)^2) / mean(true^2))`` over the finite pairs."""
    keep = np.isfinite(learned) & np.isfinite(true)
    if not keep.any():
        return float("nan")
    scale = float(np.mean(true[keep] ** 2))
    error = float(np.mean((learned[keep] - true[keep]) ** 2))
    return math.sqrt(error / scale) if scale > 0 else math.sqrt(error)


@dataclass(frozen=True, eq=False)
class LawParity:
    """Learned against true values at samples, with the identity line.

    Parameters
    ----------
    true : array (n,)
        The true law at the samples (the x coordinate).
    learned : mapping of str -> array (n,)
        Learned laws at the same samples, in the true law's gauge (markers; NaN is skipped).
    title : str
    quantity : str
        Axis labels read ``'true <quantity>'`` and ``'learned <quantity>'``.
    note : str
        Text written in a corner, below each law's relative RMS deviation.
    """

    true: np.ndarray
    learned: Mapping[str, np.ndarray]
    title: str = ""
    quantity: str = ""
    note: str = ""

    def __post_init__(self) -> None:
        true = _array(self.true, "true", 1)
        object.__setattr__(self, "true", true)
        object.__setattr__(self, "learned", _series(self.learned, true.shape))

    def draw(self, ax: Axes) -> None:
        """Draw on ``ax``: the identity line (label ``'identity'``), then one marker series
        per learned law, and each law's relative RMS deviation as text."""
        values = np.concatenate([self.true, *self.learned.values()])
        values = values[np.isfinite(values)]
        low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 1.0)
        ax.plot([low, high], [low, high], label="identity", **_TRUE)
        notes = []
        for index, (label, learned) in enumerate(self.learned.items()):
            ax.plot(
                self.true,
                learned,
                linestyle="none",
                marker=_MARKERS[index % len(_MARKERS)],
                markersize=3.5,
                alpha=0.7,
                color=_styles(index)["color"],
                label=label,
            )
            notes.append(f"{label}: rel. RMS {_relative_rms(learned, self.true):.1e}")
        _note(ax, "\n".join(notes + ([self.note] if self.note else [])))
        name = f" {self.quantity}" if self.quantity else ""
        ax.set(title=self.title, xlabel=f"true{name}", ylabel=f"learned{name}")
        ax.legend(fontsize="small", loc="upper left")


@dataclass(frozen=True, eq=False)
class LawContours:
    """Level sets of the true law and of learned laws on a grid, at the same levels.

    Parameters
    ----------
    x : array (m,)
    y : array (k,)
    true : array (k, m)
        ``true[i, j]`` is the true law at ``(x[j], y[i])`` (matplotlib's convention).
    learned : mapping of str -> array (k, m)
        Learned laws on the grid, in the true law's gauge.
    levels : array (L,), optional
        Increasing levels; by default ``n_levels`` evenly spaced strictly inside the range
        of ``true``.
    n_levels : int
    title, xlabel, ylabel : str
    note : str
        Text written in a corner of the panel.
    """

    x: np.ndarray
    y: np.ndarray
    true: np.ndarray
    learned: Mapping[str, np.ndarray]
    levels: np.ndarray | None = None
    n_levels: int = 6
    title: str = ""
    xlabel: str = "x"
    ylabel: str = "y"
    note: str = ""

    def __post_init__(self) -> None:
        x, y = _array(self.x, "x", 1), _array(self.y, "y", 1)
        true = _array(self.true, "true", 2)
        shape = (y.size, x.size)
        if true.shape != shape:
            raise ValueError(f"true must have shape (len(y), len(x)) = {shape}, got {true.shape}")
        if self.levels is None:
            if (
                isinstance(self.n_levels, bool)
                or not isinstance(self.n_levels, int)
                or self.n_levels < 1
            ):
                raise ValueError(f"n_levels must be an int >= 1, got {self.n_levels!r}")
            finite = true[np.isfinite(true)]
            low, high = (float(finite.min()), float(finite.max())) if finite.size else (0, 0)
            if not high > low:
                raise ValueError("true must vary on the grid to have level sets")
            levels = _array(np.linspace(low, high, self.n_levels + 2)[1:-1], "levels", 1)
        else:
            levels = _array(self.levels, "levels", 1)
            if levels.size == 0 or np.any(np.diff(levels) <= 0) or not np.isfinite(levels).all():
                raise ValueError(f"levels must be finite and increasing, got {levels}")
        for name, value in (("x", x), ("y", y), ("true", true)):
            object.__setattr__(self, name, value)
        object.__setattr__(self, "levels", levels)
        object.__setattr__(self, "learned", _series(self.learned, shape))

    def draw(self, ax: Axes) -> None:
        """Draw on ``ax``: the true level sets (solid black), then each learned law's."""
        handles = [Line2D([], [], label="true", **_TRUE)]
        ax.contour(
            self.x,
            self.y,
            self.true,
            levels=self.levels,
            colors=_TRUE["color"],
            linewidths=_TRUE["linewidth"],
        )
        levels = self.levels
        assert levels is not None  # __post_init__ fills in the default levels
        for index, (label, values) in enumerate(self.learned.items()):
            style = _styles(index)
            finite = values[np.isfinite(values)]
            inside = (
                levels[(levels >= finite.min()) & (levels <= finite.max())]
                if finite.size
                else levels[:0]
            )
            if inside.size:  # a learned law that misses every level (e.g. constant) has none
                ax.contour(
                    self.x,
                    self.y,
                    values,
                    levels=inside,
                    colors=style["color"],
                    linestyles=[style["linestyle"]],
                    linewidths=1.8,
                )
            handles.append(Line2D([], [], label=label, linewidth=1.8, **style))
        ax.set(title=self.title, xlabel=self.xlabel, ylabel=self.ylabel)
        ax.legend(handles=handles, fontsize="small", loc="upper right")
        _note(ax, self.note)


LawPanel = LawCurves | LawParity | LawContours
_PANELS = (LawCurves, LawParity, LawContours)
