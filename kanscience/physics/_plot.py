"""Learned versus true law, side by side; returns a Figure and writes nothing unless asked.

A comparison is a list of panels, each a frozen record of plain float64 arrays, so a
result can carry its plot data and a test can check the numbers without drawing:

* :class:`LawCurves` -- ``y(x)`` of the true law and of learned ones (a 1-D law, a slice
  of a multivariate one, a stress-stretch curve);
* :class:`LawParity` -- learned against true values at samples, with the identity line;
* :class:`LawContours` -- level sets of the true and of the learned laws on a 2-D grid at
  the same levels (for a conserved quantity ``H(x, p)``: the phase-space orbits).

A law known only up to a gauge (a conserved quantity up to ``a H + b``, a time shift up to
``+-f + C``) is first brought into the true law's gauge with :func:`affine_gauge`, so that
the curves coincide when the law is right. The true law is drawn solid black, each learned
law in colour, dashed or as markers; legend labels are the keys of ``learned``.
:func:`plot_law_comparison` draws the panels on one Figure (object-oriented matplotlib, no
pyplot state) and saves it only when ``path`` is given.

Examples
--------
>>> import numpy as np
>>> x = np.linspace(0.0, 1.0, 5)
>>> a, b = affine_gauge(3 * x**2 + 1, x**2)  # learned = 3 H + 1
>>> round(a, 9), round(b, 9)
(0.333333333, -0.333333333)
>>> fig = plot_law_comparison([LawCurves(x, x**2, {"learned": a * (3 * x**2 + 1) + b})])
>>> line = fig.axes[0].get_lines()[1]
>>> line.get_label(), bool(np.allclose(line.get_ydata(), x**2))
('learned', True)
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

__all__ = [
    "LawContours",
    "LawCurves",
    "LawPanel",
    "LawParity",
    "affine_gauge",
    "plot_law_comparison",
]

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
        for index, (label, values) in enumerate(self.learned.items()):
            style = _styles(index)
            finite = values[np.isfinite(values)]
            inside = (
                self.levels[(self.levels >= finite.min()) & (self.levels <= finite.max())]
                if finite.size
                else self.levels[:0]
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


def affine_gauge(learned: object, true: object) -> tuple[float, float]:
    """The ``(a, b)`` for which ``a * learned + b`` is closest to ``true`` (least squares).

    The gauge of a law known up to scale and offset (a conserved quantity, a potential, a
    time shift): after it, a right law coincides with the true one. Non-finite pairs are
    ignored; a constant ``learned`` gets ``a = 0`` and ``b = mean(true)``.

    Parameters
    ----------
    learned, true : array (n,) or Tensor, any shape with n entries

    Returns
    -------
    (float, float)

    Examples
    --------
    >>> affine_gauge([1.0, 3.0, 5.0], [0.0, -1.0, -2.0])
    (-0.5, 0.5)
    """
    learned_a = _array(learned, "learned", None).ravel()
    true_a = _array(true, "true", None).ravel()
    if learned_a.size != true_a.size:
        raise ValueError(
            f"learned and true must have the same number of values, got "
            f"{learned_a.size} and {true_a.size}"
        )
    keep = np.isfinite(learned_a) & np.isfinite(true_a)
    if keep.sum() < 2:
        raise ValueError(f"affine_gauge needs at least 2 finite pairs, got {int(keep.sum())}")
    u, t = learned_a[keep], true_a[keep]
    centered = u - u.mean()
    variance = float(centered @ centered)
    if variance <= 1e-300 * max(1.0, float(u @ u)):
        return 0.0, float(t.mean())
    a = float(centered @ (t - t.mean())) / variance
    return a, float(t.mean() - a * u.mean())


def plot_law_comparison(
    panels: Sequence[LawPanel],
    title: str | None = None,
    path: str | os.PathLike | None = None,
    ncols: int | None = None,
) -> Figure:
    """Draw ``panels`` side by side on one Figure.

    Parameters
    ----------
    panels : sequence of LawCurves, LawParity or LawContours
        One axes each, in order (row by row).
    title : str, optional
        The figure's title.
    path : str or PathLike, optional
        Also save the figure there (format from the suffix). Nothing is written otherwise.
    ncols : int, optional
        Panels per row; by default all in one row up to 3, else about a square.

    Returns
    -------
    matplotlib.figure.Figure
        ``fig.axes[i]`` shows ``panels[i]`` (labelled ``'panel i'``).
    """
    if isinstance(panels, _PANELS) or not isinstance(panels, Sequence):
        raise TypeError(
            f"panels must be a list of LawCurves/LawParity/LawContours, got {type(panels).__name__}"
        )
    if not panels:
        raise ValueError("panels is empty: there is nothing to draw")
    for index, panel in enumerate(panels):
        if not isinstance(panel, _PANELS):
            raise TypeError(
                f"panels[{index}] must be LawCurves, LawParity or LawContours, "
                f"got {type(panel).__name__}"
            )
    n = len(panels)
    if ncols is None:
        ncols = n if n <= 3 else math.ceil(math.sqrt(n))
    elif isinstance(ncols, bool) or not isinstance(ncols, int) or ncols < 1:
        raise ValueError(f"ncols must be an int >= 1, got {ncols!r}")
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(4.4 * ncols, 3.8 * nrows + (0.4 if title else 0.0)), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for index, ax in enumerate(axes):
        if index < n:
            ax.set_label(f"panel {index}")
            panels[index].draw(ax)
        else:
            ax.remove()
    if title:
        fig.suptitle(title)
    if path is not None:
        fig.savefig(os.fspath(path), dpi=150)
    return fig
