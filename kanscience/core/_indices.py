"""One rule for node, subnode, edge and layer indices of a KAN.

Indices are ints (anything with ``__index__`` except bools) and count Python-style:
``-1`` is the last item, ``-size`` the first. Every entry point that takes an index
(:meth:`KAN.check_edge <kanscience.core._network.KAN.check_edge>`, ``set_mode_``,
``set_symbolic_``, the surgery and pruning functions of :mod:`kanscience.analysis`, the
symbolic edge functions) goes through :func:`check_index`, so a negative index means the
same thing, and a bad one fails with the same error, everywhere.

Examples
--------
>>> check_index(-1, 3, "j")
2
>>> check_index(3, 3, "j")
Traceback (most recent call last):
...
ValueError: j=3 is out of range: j must be in [0, 3), or in [-3, -1] counting from the end
"""

from __future__ import annotations

import operator
from typing import SupportsIndex

__all__ = ["check_index"]


def check_index(value: object, size: int, name: str, where: str = "") -> int:
    """``value`` as an index into ``size`` items, negative ones counted from the end.

    Parameters
    ----------
    value : int
        The index (any object with ``__index__`` except a bool).
    size : int
        Number of items indexed.
    name : str
        Name of the argument, for the error message.
    where : str
        Context appended to the name in the error message (e.g. ``" for layer 0"``).

    Returns
    -------
    int
        The index in ``[0, size)``.

    Raises
    ------
    TypeError
        If ``value`` is not an int.
    ValueError
        If ``value`` is outside ``[-size, size)``.
    """
    if isinstance(value, bool) or not isinstance(value, SupportsIndex):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    index = operator.index(value)
    if not -size <= index < size:
        raise ValueError(
            f"{name}={index} is out of range{where}: {name} must be in [0, {size}), "
            f"or in [-{size}, -1] counting from the end"
        )
    return index % size
