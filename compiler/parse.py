"""Formulas and variable names as the compiler takes them: sympy, strings, or lists.

Examples
--------
>>> formulas, names = parse_formulas("lambd / (n * d)", None)
>>> formulas, names
((lambd/(d*n),), ('lambd', 'n', 'd'))
>>> formulas[0].free_symbols.pop().is_real
True
"""

from __future__ import annotations

import tokenize
from collections.abc import Sequence
from io import StringIO

import sympy

from kanscience.core import parse_formula

__all__ = ["parse_formulas"]

_CONSTANT_WORDS = frozenset({"pi", "oo"})


def _identifiers(text: str) -> list[str]:
    """Names in ``text`` that are not called like functions (in order of appearance)."""
    tokens = [
        t
        for t in tokenize.generate_tokens(StringIO(text).readline)
        if t.type not in (tokenize.NEWLINE, tokenize.NL, tokenize.ENDMARKER)
    ]
    names: list[str] = []
    for token, following in zip(tokens, tokens[1:] + [None]):
        called = following is not None and following.string == "("
        if (
            token.type == tokenize.NAME
            and not called
            and token.string not in _CONSTANT_WORDS
            and token.string not in names
        ):
            names.append(token.string)
    return names


def parse_formulas(
    exprs: sympy.Expr | str | Sequence[sympy.Expr | str],
    variables: Sequence[str | sympy.Symbol] | None = None,
) -> tuple[tuple[sympy.Expr, ...], tuple[str, ...]]:
    """Normalize formulas and variable names.

    Strings are parsed with :func:`kanscience.core.parse_formula` (math notation only: it
    runs no code) over real symbols named like the
    variables (so ``I``, ``gamma``, ``beta``, ``E``... used as names are variables); without
    ``variables``, every name that is not called like a function (other than ``pi`` and
    ``oo``; ``E`` and ``I`` are variables, as in physics) is a variable, in order of
    appearance. For sympy input without
    ``variables``, the free symbols sorted by name are used.

    Returns
    -------
    (formulas, variable names)

    Raises
    ------
    TypeError
        For formulas that are neither sympy expressions nor strings, or variables that are
        neither names nor symbols.
    ValueError
        For duplicate or empty variable names, or a formula using a name not in
        ``variables``.
    """
    if isinstance(exprs, (str, sympy.Basic, int, float)):
        items = [exprs]
    elif isinstance(exprs, Sequence):
        items = list(exprs)
    else:
        raise TypeError(
            f"exprs must be a sympy expression or a string, or a list of them, "
            f"got {type(exprs).__name__}"
        )
    if not items:
        raise ValueError("exprs must hold at least one formula, got an empty list")
    if variables is not None:
        if isinstance(variables, (str, sympy.Basic)):
            raise TypeError(f"variables must be a list of names or symbols, got {variables!r}")
        names = []
        for v in variables:
            if isinstance(v, sympy.Symbol):
                names.append(v.name)
            elif isinstance(v, str) and v.isidentifier():
                names.append(v)
            else:
                raise TypeError(f"variables must hold names or sympy symbols, got {v!r}")
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"variables names {duplicates} more than once")
    else:
        names = []
        for item in items:
            found = (
                _identifiers(item)
                if isinstance(item, str)
                else sorted(s.name for s in getattr(item, "free_symbols", ()))
            )
            names.extend(n for n in found if n not in names)
    local = {n: sympy.Symbol(n, real=True) for n in names}
    formulas = []
    for position, item in enumerate(items):
        if isinstance(item, (int, float)) and not isinstance(item, bool):
            item = sympy.sympify(item)
        if isinstance(item, str):
            try:
                item = parse_formula(item, local)
            except ValueError as error:
                raise ValueError(
                    f"exprs[{position}] is not a formula: {item!r} ({error})"
                ) from None
        if not isinstance(item, sympy.Expr):
            raise TypeError(
                f"exprs[{position}] must be a sympy expression or a string, "
                f"got {type(item).__name__}"
            )
        free = [s for s in item.free_symbols if isinstance(s, sympy.Symbol)]
        missing = sorted({s.name for s in free} - set(names))
        if missing:
            raise ValueError(
                f"exprs[{position}] = {item} uses {missing}, which variables {names} lacks"
            )
        clash = {s for s in free if len({t for t in free if t.name == s.name}) > 1}
        if clash:
            raise ValueError(f"exprs[{position}] has distinct symbols sharing a name: {clash}")
        formulas.append(item)
    if not names:
        raise ValueError("no variables: pass variables= (a formula needs at least one input)")
    return tuple(formulas), tuple(names)
