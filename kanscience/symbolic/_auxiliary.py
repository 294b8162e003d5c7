"""Auxiliary variables: extra inputs defined as formulas of the original ones.

A scientist who knows that ``beta = v / c`` or ``J = det F`` matters adds it as an input.
The formula is the single source of truth: its values come from the one sympy-to-torch
path of the library (:func:`kanscience.symbolic.formula_to_torch`), and its name
travels with the data into attribution, plots and extracted formulas.

Examples
--------
>>> import torch
>>> x = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
>>> extended, names = with_auxiliary(x, ["v", "c"], {"beta": "v / c"})
>>> names, extended[:, 2].tolist()
(['v', 'c', 'beta'], [0.5, 0.75])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sympy
import torch
from torch import Tensor

from ..core import Dataset, as_tensor, parse_formula
from ._to_torch import formula_to_torch

__all__ = ["parse_auxiliary", "auxiliary_columns", "with_auxiliary"]


def parse_auxiliary(
    variables: Sequence[str], expressions: Mapping[str, str | sympy.Expr]
) -> dict[str, sympy.Expr]:
    """Parse the auxiliary definitions over real symbols named like ``variables``.

    Raises
    ------
    ValueError
        For a name that clashes with a variable, an unparsable formula, or a formula that
        uses a symbol which is not among ``variables``.
    """
    names = [str(v) for v in variables]
    if len(set(names)) != len(names):
        raise ValueError(f"variables must be distinct, got {names}")
    symbols = {n: sympy.Symbol(n, real=True) for n in names}
    parsed = {}
    for name, expression in expressions.items():
        if name in symbols:
            raise ValueError(f"auxiliary name {name!r} is already a variable")
        if isinstance(expression, str):
            try:
                expression = parse_formula(expression, symbols)
            except ValueError as error:
                raise ValueError(
                    f"cannot parse auxiliary {name!r} = {expression!r}: {error}"
                ) from error
        expression = sympy.sympify(expression)
        # symbols given by the caller may lack the real=True assumption: match them by name
        renames = {s: symbols[str(s)] for s in expression.free_symbols if str(s) in symbols}
        expression = expression.xreplace(renames)
        unknown = sorted(str(s) for s in expression.free_symbols if str(s) not in symbols)
        if unknown:
            raise ValueError(
                f"auxiliary {name!r} uses unknown variable(s) {unknown}; known: {names}"
            )
        parsed[name] = expression
    return parsed


def auxiliary_columns(
    x: Tensor, variables: Sequence[str], expressions: Mapping[str, str | sympy.Expr]
) -> Tensor:
    """Values of the auxiliary variables at the rows of ``x``, shape (batch, n_auxiliary)."""
    x = as_tensor(x, "x")
    if x.shape[1] != len(variables):
        raise ValueError(f"x has {x.shape[1]} columns but {len(variables)} variables were named")
    parsed = parse_auxiliary(variables, expressions)
    symbols = [sympy.Symbol(str(v), real=True) for v in variables]
    columns = []
    for name, expression in parsed.items():
        value = formula_to_torch(expression, symbols)(x)
        value = value.reshape(x.shape[0], -1)[:, 0] if value.ndim else value.expand(x.shape[0])
        if not torch.isfinite(value).all():
            bad = int((~torch.isfinite(value)).sum())
            raise ValueError(f"auxiliary {name!r} = {expression} is not finite on {bad} row(s)")
        columns.append(value.to(x.dtype))
    return torch.stack(columns, dim=1) if columns else x.new_zeros(x.shape[0], 0)


def with_auxiliary(
    data: Any, variables: Sequence[str], expressions: Mapping[str, str | sympy.Expr]
) -> tuple[Any, list[str]]:
    """Append auxiliary columns to a tensor, array, DataFrame or :class:`Dataset`.

    Returns
    -------
    (extended, names)
        Data of the same kind with the auxiliary columns last, and all column names.
        A DataFrame keeps its columns and gains named ones; for a Dataset both splits are
        extended (labels unchanged).
    """
    names = [str(v) for v in variables] + list(expressions)
    if isinstance(data, Dataset):
        train = torch.cat(
            [data.train_input, auxiliary_columns(data.train_input, variables, expressions)], 1
        )
        test = torch.cat(
            [data.test_input, auxiliary_columns(data.test_input, variables, expressions)], 1
        )
        return Dataset(train, data.train_label, test, data.test_label), names
    if hasattr(data, "columns") and hasattr(data, "assign"):  # pandas DataFrame
        frame = data[list(variables)]
        values = auxiliary_columns(frame.to_numpy(dtype=float), variables, expressions)
        extra = {name: values[:, k].numpy() for k, name in enumerate(expressions)}
        return data.assign(**extra), list(data.columns) + list(expressions)
    x = as_tensor(data, "data")
    return torch.cat([x, auxiliary_columns(x, variables, expressions)], 1), names
