"""What :func:`kanscience.discover.discover` is given: the data and the units, checked.

Bad input fails here, at the boundary, with an error that names the argument and says
what was expected, instead of deep inside a fit:

- the data: a tuple ``(x, y)`` is split into train and test; a Dataset or pykan dict is
  taken as it is. Either way ``y`` has one column, there are more training samples than
  variables, and the training target is not constant (NaN and Inf are refused by
  :func:`kanscience.core.as_tensor`, which every path goes through);
- the units: a mapping name -> unit, a sequence of units in column order, or a
  :class:`kanscience.symbolic.Dimensions`, read into one ``Dimensions`` over the variables.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from ..core import Dataset, as_tensor
from ..symbolic import DimensionError, Dimensions, parse_units

__all__ = [
    "EXTRA_VALIDATION",
    "MIN_SAMPLES",
    "constant_value",
    "fit_validation_rows",
    "split_data",
    "training_data",
    "units_as_dimensions",
]

MIN_SAMPLES = 8
"""Samples a tuple ``(x, y)`` needs at least, to be split into train and test."""

EXTRA_VALIDATION = 3
"""Training rows beyond ``max_train`` validate, up to this many times ``max_train``."""


def fit_validation_rows(n: int, max_train: int, seed: int) -> tuple[Tensor, Tensor]:
    """The training rows a search fits and those it validates on (seeded, disjoint).

    A random subsample of ``max_train`` rows is used, a fifth of it to validate; the rows
    beyond it (up to :data:`EXTRA_VALIDATION` times ``max_train``) validate too: on noisy
    data they resolve finer differences between formulas, and structure in their
    residuals, at no cost in training.

    Parameters
    ----------
    n : int
        Training rows.
    max_train : int
        Rows used for fitting and validation before the extra ones.
    seed : int

    Returns
    -------
    (Tensor, Tensor)
        Row indices to fit, row indices to validate.

    Examples
    --------
    >>> fit, val = fit_validation_rows(10_000, 2000, seed=0)
    >>> len(fit), len(val), len(set(fit.tolist()) & set(val.tolist()))
    (1600, 6400, 0)
    """
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_val = max(1, min(n, max_train) // 5)
    extra = order[max_train : max_train + EXTRA_VALIDATION * max_train]
    return order[n_val:max_train], torch.cat([order[:n_val], extra])


def split_data(data: Dataset | Mapping | tuple, test_fraction: float, seed: int) -> Dataset:
    """A tuple ``(x, y)`` split into train and test (seeded); a Dataset or dict as it is.

    Parameters
    ----------
    data : Dataset, pykan dataset dict, or tuple (x, y)
    test_fraction : float
        Share of a tuple's samples held out for testing, in (0, 1).
    seed : int
        Seeds the split.

    Returns
    -------
    Dataset
        In float64.

    Examples
    --------
    >>> x = torch.arange(20.0)[:, None]
    >>> split = split_data((x, 2 * x), 0.25, seed=0)
    >>> split.train_input.shape[0], split.test_input.shape[0]
    (15, 5)
    """
    if isinstance(data, tuple) and len(data) == 2:
        x = as_tensor(data[0], "x", torch.float64)
        y = as_tensor(data[1], "y", torch.float64)
        if x.shape[0] != y.shape[0]:
            raise ValueError(f"x has {x.shape[0]} samples but y has {y.shape[0]}")
        if x.shape[0] < MIN_SAMPLES:
            raise ValueError(f"need at least {MIN_SAMPLES} samples, got {x.shape[0]}")
        if not 0 < test_fraction < 1:
            raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
        order = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(seed))
        n_test = min(max(1, round(test_fraction * x.shape[0])), x.shape[0] - 1)
        test, train = order[:n_test], order[n_test:]
        return Dataset(x[train], y[train], x[test], y[test])
    if isinstance(data, (Dataset, dict)):
        return Dataset.coerce(data).to(torch.float64)
    raise TypeError(
        f"data must be a Dataset, a pykan dataset dict or a tuple (x, y), got {type(data).__name__}"
    )


def training_data(data: Dataset | Mapping | tuple, test_fraction: float, seed: int) -> Dataset:
    """:func:`split_data`, then checked: one output, enough samples, a target that varies.

    Raises
    ------
    ValueError
        ``y`` with several columns; no more training samples than variables; a training
        target without spread (constant to rounding: there is nothing to fit).
    TypeError
        ``data`` of another type.

    Examples
    --------
    >>> x = torch.linspace(0, 1, 20)[:, None]
    >>> training_data((x, torch.ones(20)), 0.25, seed=0)
    Traceback (most recent call last):
    ...
    ValueError: y is constant (value 1) in the training data: there is nothing to fit
    """
    from_tuple = isinstance(data, tuple)
    dataset = split_data(data, test_fraction, seed)
    x_name, y_name = ("x", "y") if from_tuple else ("train_input", "train_label")
    if dataset.n_out != 1:
        raise ValueError(f"discover fits one output; {y_name} has {dataset.n_out} columns")
    n_train, n_vars = dataset.train_input.shape
    if n_train <= n_vars:
        held_out = (
            f" ({dataset.test_input.shape[0]} of {n_train + dataset.test_input.shape[0]} held "
            f"out for testing by test_fraction={test_fraction})"
            if from_tuple
            else ""
        )
        raise ValueError(
            f"{x_name} has {n_train} training samples{held_out} for {n_vars} variables: "
            "discover needs more training samples than variables"
        )
    value = constant_value(dataset.train_label[:, 0])
    if value is not None:
        raise ValueError(
            f"{y_name} is constant (value {value:.6g}) in the training data: "
            "there is nothing to fit"
        )
    return dataset


def constant_value(y: Tensor) -> float | None:
    """The value of ``y`` if it is constant to rounding (its spread within one ulp of its
    largest magnitude: what differs is float's last bit, not a law), else None.

    Examples
    --------
    >>> constant_value(torch.full((5,), 0.1, dtype=torch.float64) * 3)
    0.30000000000000004
    >>> constant_value(torch.tensor([1.0, 1.5])) is None
    True
    """
    spread = float(y.max() - y.min())
    if spread > torch.finfo(y.dtype).eps * float(y.abs().max()):
        return None
    return float(y.mean())


def units_as_dimensions(
    units: Dimensions | Mapping[str, object] | Sequence[object] | None,
    target_units: object | None,
    names: Sequence[str],
) -> Dimensions | None:
    """The units of the variables ``names`` (and of the target) as one ``Dimensions``.

    Parameters
    ----------
    units : Dimensions, mapping name -> unit, sequence of units in column order, or None
        Units are unit strings (``"m/s**2"``) or exponent vectors over SI's base units
        (:func:`kanscience.symbolic.parse_units`).
    target_units : unit string or exponent vector, optional
        With a ``Dimensions`` that has no target, read over its base units.
    names : sequence of str
        The variables, in column order.

    Returns
    -------
    Dimensions or None
        None when ``units`` is None (then ``target_units`` must be None too).

    Raises
    ------
    ValueError
        (:class:`kanscience.symbolic.DimensionError`) Units for other variables than
        ``names``, a sequence of another length, units that cannot be read.

    Examples
    --------
    >>> dims = units_as_dimensions(["m", "m/s**2"], "s", ["L", "g"])
    >>> dims.variables["g"][:2], dims.target[:2]
    ((Fraction(1, 1), Fraction(-2, 1)), (Fraction(0, 1), Fraction(1, 1)))
    """
    names = list(names)
    if units is None:
        if target_units is not None:
            raise ValueError("target_units needs the units of the inputs too (units=...)")
        return None
    if isinstance(units, Dimensions):
        return _checked_dimensions(units, target_units, names)
    if isinstance(units, Mapping):
        return parse_units(units, target=target_units, names=names)
    if isinstance(units, Sequence) and not isinstance(units, str):
        if len(units) != len(names):
            raise DimensionError(
                f"units has {len(units)} entries for {len(names)} variables {names}: give one "
                "unit per variable, in column order, or a mapping name -> unit"
            )
        return parse_units(dict(zip(names, units)), target=target_units, names=names)
    raise DimensionError(
        "units must be a mapping name -> unit, a sequence of units in column order or a "
        f"Dimensions, got {type(units).__name__}"
    )


def _checked_dimensions(dims: Dimensions, target_units: object, names: list[str]) -> Dimensions:
    """``dims`` checked against the variables, with ``target_units`` read over its base."""
    if list(dims.variables) != names:
        missing = [n for n in names if n not in dims.variables]
        extra = [n for n in dims.variables if n not in names]
        problem = (
            f"lacks {missing}"
            if missing
            else f"has units for {extra}, which are not variables"
            if extra
            else f"lists them as {list(dims.variables)}"
        )
        raise DimensionError(f"units must give the variables {names} in column order; it {problem}")
    if target_units is None:
        return dims
    with_target = parse_units(dims.variables, target=target_units, base=dims.base, names=names)
    if dims.target is not None and with_target.target != dims.target:
        raise DimensionError(
            f"target_units {target_units!r} differs from the target of units ({dims.target}); "
            "give the target's units once"
        )
    return with_target
