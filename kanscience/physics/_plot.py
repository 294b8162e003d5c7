"""Learned versus true law, side by side; returns a Figure and writes nothing unless asked.

A comparison is a list of panels (:class:`LawCurves`, :class:`LawParity`,
:class:`LawContours`; records of plain arrays, see :mod:`kanscience.physics._panels`).
A law known only up to a gauge (a conserved quantity up to ``a H + b``, a time shift up to
``+-f + C``) is first brought into the true law's gauge with :func:`affine_gauge`, so that
the curves coincide when the law is right. :func:`plot_law_comparison` draws the panels on
one Figure (object-oriented matplotlib, no pyplot state) and saves it only when ``path`` is
given.

Examples
--------
>>> import numpy as np
>>> from kanscience.physics import LawCurves
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
from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from ._panels import _PANELS, LawPanel, _array

__all__ = ["affine_gauge", "plot_law_comparison"]


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
