"""Command-line input made into checked objects: variable lists, formulas, data tables.

Every problem is a :class:`CommandError` whose message names what the user typed, which
the CLI prints as one line with exit code 2.

Examples
--------
>>> parse_names("x, y,,z")
['x', 'y', 'z']
>>> expression, symbols = parse_formula("x*sin(y)", ["x", "y"])
>>> expression, symbols
(x*sin(y), [x, y])
>>> parse_formula("x + w", ["x"])
Traceback (most recent call last):
    ...
kanscience.apps._cli_input.CommandError: formula uses variables not in --vars: w
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

__all__ = [
    "CommandError",
    "output_path",
    "parse_formula",
    "parse_names",
    "read_table",
    "read_units",
    "table_columns",
]


class CommandError(Exception):
    """A user-facing error: printed as one line, exit code 2."""


def output_path(path: str | None, option: str) -> str | None:
    """``path`` (or None) after checking that a file can be written there: its folder
    exists and it is not itself a folder."""
    if path is None:
        return None
    file = Path(path)
    folder = file.parent
    if not folder.is_dir():
        raise CommandError(f"{option} {path}: the folder {folder} does not exist")
    if file.is_dir():
        raise CommandError(f"{option} {path} is a folder; give a file name")
    return path


def parse_names(text: str | None) -> list[str]:
    return [v.strip() for v in (text or "").split(",") if v.strip()]


def parse_formula(formula: str, names: Sequence[str]):
    import sympy

    from ..core import parse_formula as parse_formula_text

    if not names:
        raise CommandError("--vars must name at least one variable")
    symbols = {n: sympy.Symbol(n, real=True) for n in names}
    try:
        expression = parse_formula_text(formula, symbols)
    except ValueError as error:
        raise CommandError(f"cannot parse formula {formula!r}: {error}") from error
    unknown = sorted(str(s) for s in expression.free_symbols if str(s) not in symbols)
    if unknown:
        raise CommandError(f"formula uses variables not in --vars: {', '.join(unknown)}")
    return expression, [symbols[n] for n in names]


def read_table(path: str):
    import pandas as pd

    file = Path(path)
    if not file.is_file():
        raise CommandError(f"no such file: {path}")
    try:
        if file.suffix.lower() in (".parquet", ".pq"):
            return pd.read_parquet(file)
        return pd.read_csv(file)
    except ImportError as error:
        raise CommandError(
            f"reading {file.suffix} files needs an optional package: {error}"
        ) from error
    except Exception as error:  # pandas raises many parser error types
        raise CommandError(f"cannot read {path}: {error}") from error


def table_columns(frame, target: str, variables: list[str]):
    import numpy as np

    columns = [str(c) for c in frame.columns]
    if len(frame) == 0:
        raise CommandError(
            f"the file has no data rows (only a header: {', '.join(columns) or 'empty'})"
        )
    if target not in columns:
        raise CommandError(
            f"target column {target!r} not in the file; columns: {', '.join(columns)}"
        )
    variables = variables or [c for c in columns if c != target]
    missing = [v for v in variables if v not in columns]
    if missing:
        raise CommandError(
            f"column(s) {', '.join(missing)} not in the file; columns: {', '.join(columns)}"
        )
    chosen = frame[variables + [target]]
    from pandas.api.types import is_numeric_dtype

    non_numeric = [c for c in chosen.columns if not is_numeric_dtype(chosen[c])]
    if non_numeric:
        raise CommandError(f"column(s) {', '.join(map(str, non_numeric))} are not numeric")
    values = chosen.to_numpy(dtype=float)
    if not np.isfinite(values).all():
        bad = int((~np.isfinite(values)).any(axis=1).sum())
        raise CommandError(f"{bad} row(s) contain NaN or Inf; clean the data first")
    return values[:, :-1], values[:, -1], variables


def read_units(path: str, variables: Sequence[str]):
    """The units JSON file of ``discover --units`` as Dimensions of ``variables``."""
    import json

    from ..symbolic import DimensionError, units_from_spec

    try:
        spec = json.loads(Path(path).read_text())
    except OSError as error:
        raise CommandError(f"cannot read the units file {path}: {error.strerror}") from error
    except json.JSONDecodeError as error:
        raise CommandError(f"{path} is not JSON: {error.msg} at line {error.lineno}") from error
    try:
        return units_from_spec(spec, variables)
    except DimensionError as error:
        raise CommandError(f"{path}: {error}") from error
