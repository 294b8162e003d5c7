"""The built-in Feynman development equations: records whose formula is the source of truth.

Examples
--------
>>> [e.id for e in load_feynman(["I.12.1"])]
['I.12.1']
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..core import Dataset, create_dataset, parse_formula

__all__ = ["FeynmanEquation", "load_feynman"]


@dataclass(frozen=True)
class FeynmanEquation:
    """One benchmark equation: the formula is the single source of truth."""

    id: str
    formula: str
    variables: tuple[str, ...]
    ranges: dict[str, tuple[float, float]]
    separability: dict[str, Any]
    difficulty: str = ""
    units: dict[str, Any] | None = None
    """Units table entry (AI Feynman's): ``base_units``, ``variables`` and ``output`` as
    exponent vectors; read it with :func:`kanscience.symbolic.units_from_spec`."""

    def expression(self) -> Any:
        """The formula as a sympy expression over real symbols named like the variables."""
        import sympy

        symbols = {v: sympy.Symbol(v, real=True) for v in self.variables}
        return parse_formula(self.formula, symbols)

    def function(self) -> Callable[[Tensor], Tensor]:
        """A torch function of a (samples, n_vars) tensor computing the formula."""
        import sympy

        symbols = [sympy.Symbol(v, real=True) for v in self.variables]
        fn = sympy.lambdify(symbols, self.expression(), modules="numpy")

        def evaluate(x: Tensor) -> Tensor:
            columns = [x[:, i].detach().cpu().numpy() for i in range(x.shape[1])]
            values = np.broadcast_to(np.asarray(fn(*columns), dtype=np.float64), (x.shape[0],))
            return torch.as_tensor(values.copy(), dtype=x.dtype, device=x.device)[:, None]

        return evaluate

    def dataset(
        self,
        train_num: int = 1000,
        test_num: int = 1000,
        seed: int = 0,
        dtype: torch.dtype | None = None,
    ) -> Dataset:
        """Samples uniform in the benchmark ranges."""
        ranges = [self.ranges[v] for v in self.variables]
        return create_dataset(
            self.function(),
            len(self.variables),
            ranges,
            train_num,
            test_num,
            seed=seed,
            dtype=dtype,
        )


def load_feynman(ids: Sequence[str] | None = None) -> list[FeynmanEquation]:
    """The built-in Feynman development split (50 equations), optionally a subset by id."""
    folder = resources.files("kanscience.io").joinpath("datasets")
    text = folder.joinpath("feynman_dev.json").read_text()
    units = json.loads(folder.joinpath("feynman_dev_units.json").read_text())["equations"]
    equations = [
        FeynmanEquation(
            id=e["id"],
            formula=e["formula"],
            variables=tuple(e["variables"]),
            ranges={k: (float(v[0]), float(v[1])) for k, v in e["ranges"].items()},
            separability=e["separability"],
            difficulty=e.get("difficulty", ""),
            units=units.get(e["id"]),
        )
        for e in json.loads(text)["equations"]
    ]
    if ids is None:
        return equations
    by_id = {e.id: e for e in equations}
    unknown = [i for i in ids if i not in by_id]
    if unknown:
        raise ValueError(f"unknown Feynman equation id(s) {unknown}; known: {sorted(by_id)}")
    return [by_id[i] for i in ids]
