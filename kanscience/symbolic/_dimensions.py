"""Units: exponent vectors over base units, read from unit strings or given directly.

A unit is a vector of exponents over base units (for example ``(m, s, kg, T, V)``), given
directly or as a unit string that :mod:`sympy.physics.units` knows (``"kg*m/s**2"``,
``"N"``, ``"J/K"``). Strings are tokenized and checked against a whitelist before sympy
sees them, so no text is ever evaluated as Python.

Examples
--------
>>> dims = parse_units({"l": "m", "g": "m/s**2"}, target="s")
>>> dims.variables["g"][:2], dims.target[:2]
((Fraction(1, 1), Fraction(-2, 1)), (Fraction(0, 1), Fraction(1, 1)))
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

import sympy

__all__ = ["SI_BASE", "DimensionError", "Dimensions", "parse_units", "units_from_spec"]

SI_BASE = ("m", "s", "kg", "A", "K", "mol", "cd")
_TOKEN = re.compile(r"\s*(?:(\d+(?:\.\d*)?|\.\d+)|([A-Za-z_][A-Za-z_0-9]*)|(\*\*|[*/^()+-]))")


class DimensionError(ValueError):
    """Units that cannot be read, or an expression whose units do not add up."""


@dataclass(frozen=True)
class Dimensions:
    """Exponent vectors of the variables and of the target over named base units."""

    base: tuple[str, ...]
    variables: dict[str, tuple[Fraction, ...]]
    target: tuple[Fraction, ...] | None = None

    def matrix(self, names: Sequence[str] | None = None) -> sympy.Matrix:
        """(n_base, n_vars) dimension matrix, columns in the order of ``names``."""
        names = list(self.variables) if names is None else list(names)
        cols = [[sympy.Rational(e) for e in self.variables[n]] for n in names]
        return sympy.Matrix(len(self.base), len(names), lambda i, j: cols[j][i])


# ------------------------------------------------------------------------------ parsing
def _si_dimensions(name: str) -> dict[str, Fraction]:
    """Base-SI exponents of one unit name known to sympy.physics.units."""
    from sympy.physics import units as u
    from sympy.physics.units.systems.si import dimsys_SI

    quantity = getattr(u, name, None)
    if not isinstance(quantity, u.Quantity):
        raise DimensionError(
            f"unknown unit name {name!r} (expected a unit of sympy.physics.units such as "
            "'m', 'kg', 's', 'N', 'J' or 'ohm')"
        )
    dependencies = dimsys_SI.get_dimensional_dependencies(u.si.SI.get_quantity_dimension(quantity))
    symbols = {
        "length": "m",
        "time": "s",
        "mass": "kg",
        "current": "A",
        "temperature": "K",
        "amount_of_substance": "mol",
        "luminous_intensity": "cd",
    }
    out = {}
    for dim, power in dependencies.items():
        key = symbols.get(str(dim.name) if hasattr(dim, "name") else str(dim))
        if key is None:
            raise DimensionError(f"unit {name!r} has a dimension outside SI's base: {dim}")
        out[key] = Fraction(str(power))
    return out


def _parse_unit_string(text: str) -> dict[str, Fraction]:
    """Exponents of a unit string such as ``'kg*m**2/s**2'`` (whitelisted tokens only)."""
    tokens, pos = [], 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            if text[pos:].strip() == "":
                break
            raise DimensionError(f"cannot read unit {text!r} at {text[pos:]!r}")
        tokens.append(match.groups())
        pos = match.end()
    stream = iter(tokens + [(None, None, None)])
    current = [next(stream)]

    def advance() -> tuple:
        current[0] = next(stream)
        return current[0]

    def number() -> Fraction:
        sign = 1
        if current[0][2] == "-":
            sign = -1
            advance()
        if current[0][2] == "(":
            advance()
            value = number()
            if current[0][2] == "/":
                advance()
                value = value / number()
            expect(")")
            return sign * value
        if current[0][0] is None:
            raise DimensionError(f"unit {text!r}: expected an exponent")
        value = Fraction(current[0][0])
        advance()
        return sign * value

    def expect(op: str) -> None:
        if current[0][2] != op:
            raise DimensionError(f"unit {text!r}: expected {op!r}")
        advance()

    def factor() -> dict[str, Fraction]:
        token = current[0]
        if token[2] == "(":
            advance()
            value = product()
            expect(")")
        elif token[1] is not None:
            value = _si_dimensions(token[1])
            advance()
        elif token[0] == "1" or token[0] == "1.0":
            value = {}
            advance()
        else:
            raise DimensionError(f"cannot read unit {text!r}")
        if current[0][2] in ("**", "^"):
            advance()
            power = number()
            value = {k: v * power for k, v in value.items()}
        return value

    def product() -> dict[str, Fraction]:
        value = factor()
        while current[0][2] in ("*", "/"):
            op = current[0][2]
            advance()
            other = factor()
            sign = 1 if op == "*" else -1
            value = {
                k: value.get(k, Fraction(0)) + sign * other.get(k, Fraction(0))
                for k in {*value, *other}
            }
        return value

    result = product()
    if current[0] != (None, None, None):
        raise DimensionError(f"cannot read unit {text!r}")
    return {k: v for k, v in result.items() if v != 0}


def _as_vector(value: object, base: tuple[str, ...], label: str) -> tuple[Fraction, ...]:
    """Exponents of one unit over ``base``; ``label`` names it in errors (``units['g']``)."""
    if isinstance(value, str):
        try:
            exponents = _parse_unit_string(value)
        except DimensionError as error:
            raise DimensionError(f"{label}: {error}") from None
        unknown = set(exponents) - set(base)
        if unknown:
            raise DimensionError(
                f"{label} = {value!r} uses base units {sorted(unknown)} outside {base}"
            )
        return tuple(exponents.get(b, Fraction(0)) for b in base)
    if isinstance(value, Sequence) and not isinstance(value, str):
        if len(value) != len(base):
            raise DimensionError(
                f"{label} has {len(value)} exponents, expected {len(base)} (one per "
                f"base unit {base})"
            )
        try:
            vector = tuple(Fraction(str(v)) for v in value)
        except (ValueError, TypeError) as error:
            raise DimensionError(f"{label} must hold numbers, got {value!r}") from error
        return vector
    raise DimensionError(f"{label} must be a unit string or a sequence of exponents, got {value!r}")


def parse_units(
    units: Mapping[str, object],
    target: object | None = None,
    base: Sequence[str] = SI_BASE,
    names: Sequence[str] | None = None,
) -> Dimensions:
    """Read the units of the variables (and of the target) into exponent vectors.

    Parameters
    ----------
    units : mapping name -> unit string or exponent sequence
        Every variable in ``names`` must appear; strings are read through
        :mod:`sympy.physics.units` (``"m/s**2"``, ``"N"``, ``"J"``), sequences are exponents
        over ``base``.
    target : unit string or exponent sequence, optional
    base : sequence of str
        Names of the base units (SI's by default; the Feynman tables use m, s, kg, T, V).
    names : sequence of str, optional
        The variables in order; default the keys of ``units``.

    Raises
    ------
    DimensionError
        Unknown unit names, wrong vector lengths, or variables without units.
    """
    if not isinstance(units, Mapping):
        raise DimensionError(f"units must be a mapping name -> unit, got {type(units).__name__}")
    base = tuple(base)
    names = list(units) if names is None else list(names)
    missing = [n for n in names if n not in units]
    if missing:
        raise DimensionError(f"units lacks the variables {missing}")
    extra = [n for n in units if n not in names]
    if extra:
        raise DimensionError(f"units names {extra}, which are not among the variables {names}")
    variables = {n: _as_vector(units[n], base, f"units[{n!r}]") for n in names}
    vector = None if target is None else _as_vector(target, base, "the target's units")
    return Dimensions(base, variables, vector)


def units_from_spec(spec: Mapping[str, object], names: Sequence[str]) -> Dimensions:
    """Units from a JSON-like specification (what ``kanscience discover --units`` reads).

    Either ``{"variables": {name: unit}, "target": unit, "base_units": [...]}`` (``target``
    and ``base_units`` optional; base SI by default), or the Feynman units table's entry
    ``{"base_units": [...], "variables": {...}, "output": {name: unit}}``.

    Examples
    --------
    >>> spec = {"variables": {"m": "kg", "v": "m/s"}, "target": "J"}
    >>> units_from_spec(spec, ["m", "v"]).target[:3]
    (Fraction(2, 1), Fraction(-2, 1), Fraction(1, 1))
    """
    variables = spec.get("variables") if isinstance(spec, Mapping) else None
    if not isinstance(variables, Mapping):
        raise DimensionError('units must be an object with a "variables" object name -> unit')
    target = spec.get("target")
    output = spec.get("output")
    if target is None and isinstance(output, Mapping):
        if len(output) != 1:
            raise DimensionError(f'units "output" must name one target, got {list(output)}')
        target = next(iter(output.values()))
    base = spec.get("base_units", SI_BASE)
    if not isinstance(base, Sequence) or isinstance(base, str):
        raise DimensionError(f'units "base_units" must be a list of names, got {base!r}')
    return parse_units(variables, target=target, base=base, names=names)
