"""The types of the symbolic function library: one record per function, an immutable library.

A :class:`SymbolicFunction` bundles an exact torch form, the same function as a sympy
expression, a complexity score and a singularity-avoiding form; a
:class:`FunctionLibrary` is a read-only ordered mapping of them. The built-in entries
live in :mod:`kanscience.core._functions`.

Examples
--------
>>> import sympy, torch
>>> square = SymbolicFunction("sq", lambda x: x**2, lambda x: x**2, 2, lambda x, y_th: x**2)
>>> library = FunctionLibrary([square])
>>> library.names, library["sq"].sympy_fn(sympy.Symbol("x"))
(('sq',), x**2)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType

import sympy
import torch

__all__ = ["FunctionLibrary", "SymbolicFunction", "unknown_function_message"]


@dataclass(frozen=True)
class SymbolicFunction:
    """One candidate symbolic function.

    Parameters
    ----------
    name : str
        Library key, e.g. ``"sin"`` or ``"1/x^2"``.
    torch_fn : callable
        Exact elementwise torch implementation.
    sympy_fn : callable
        The same function applied to a sympy expression.
    complexity : int
        Complexity score (pykan's numbers for pykan's functions).
    safe_fn : callable
        Singularity-avoiding form ``safe_fn(x, y_th) -> y``; ``y_th`` may be a float
        (converted to ``x``'s dtype) or a tensor (used as is, like pykan).
    domain : tuple of float or None
        Safe open input domain ``(lo, hi)``; ``None`` means all reals.
    """

    name: str
    torch_fn: Callable[[torch.Tensor], torch.Tensor]
    sympy_fn: Callable[[sympy.Expr], sympy.Expr]
    complexity: int
    safe_fn: Callable[[torch.Tensor, float], torch.Tensor]
    domain: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"SymbolicFunction name must be a non-empty str, got {self.name!r}")
        if not all(callable(f) for f in (self.torch_fn, self.sympy_fn, self.safe_fn)):
            raise TypeError(f"{self.name!r}: torch_fn, sympy_fn and safe_fn must be callable")
        if isinstance(self.complexity, bool) or not isinstance(self.complexity, int):
            raise TypeError(f"{self.name!r}: complexity must be an int")
        if self.domain is not None and not self.domain[0] < self.domain[1]:
            raise ValueError(f"{self.name!r}: domain must be (lo, hi) with lo < hi")


class FunctionLibrary(Mapping[str, SymbolicFunction]):
    """Immutable, ordered mapping ``name -> SymbolicFunction``.

    Parameters
    ----------
    functions : iterable of SymbolicFunction
        Entries in order; duplicate names raise ``ValueError``.
    """

    __slots__ = ("_functions",)

    def __init__(self, functions: Iterable[SymbolicFunction]) -> None:
        table: dict[str, SymbolicFunction] = {}
        for fn in functions:
            if not isinstance(fn, SymbolicFunction):
                raise TypeError(f"FunctionLibrary entries must be SymbolicFunction, got {fn!r}")
            if fn.name in table:
                raise ValueError(f"duplicate symbolic function name {fn.name!r}")
            table[fn.name] = fn
        object.__setattr__(self, "_functions", MappingProxyType(table))

    def __setattr__(self, key: str, value: object) -> None:
        raise AttributeError("FunctionLibrary is immutable")

    def __deepcopy__(self, memo: dict) -> FunctionLibrary:
        return self  # immutable: copies of a model share its library

    def __copy__(self) -> FunctionLibrary:
        return self

    def __getitem__(self, name: str) -> SymbolicFunction:
        try:
            return self._functions[name]
        except (KeyError, TypeError):
            raise KeyError(unknown_function_message(name, self.names)) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._functions)

    def __len__(self) -> int:
        return len(self._functions)

    def __repr__(self) -> str:
        return f"FunctionLibrary({list(self._functions)!r})"

    @property
    def names(self) -> tuple[str, ...]:
        """tuple of str: Function names in library order."""
        return tuple(self._functions)

    def subset(self, names: Iterable[str]) -> FunctionLibrary:
        """New library with only ``names``, in the given order; unknown -> ``ValueError``."""
        names = [names] if isinstance(names, str) else list(names)
        for name in names:
            if name not in self._functions:
                raise ValueError(unknown_function_message(name, self.names))
        return FunctionLibrary(self._functions[n] for n in dict.fromkeys(names))

    def with_functions(self, *functions: SymbolicFunction) -> FunctionLibrary:
        """Return a new library with ``functions`` added; same-named entries are replaced."""
        table = dict(self._functions)
        table.update((getattr(fn, "name", None), fn) for fn in functions)
        return FunctionLibrary(table.values())


def unknown_function_message(name: object, valid: Iterable[str]) -> str:
    """The error message for an unknown function name, listing the valid ones."""
    return f"unknown symbolic function {name!r}; valid names are: {', '.join(valid)}"
