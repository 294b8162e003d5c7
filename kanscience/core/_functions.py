"""Symbolic function library: the candidate 1-D functions a KAN edge can snap to.

Each :class:`SymbolicFunction` (see :mod:`kanscience.core._library`) bundles an exact
torch form, the same function as a sympy expression, pykan's complexity score and pykan's
singularity-avoiding form. :data:`DEFAULT_LIBRARY` holds every entry of pykan 0.2.8's
``SYMBOLIC_LIB`` (same names and complexities) plus ``cosh`` and ``sigmoid``.  Libraries
are immutable;
:meth:`FunctionLibrary.subset` and :meth:`FunctionLibrary.with_functions` return
new ones.  :func:`torch_function_table` is the single sympy-head -> torch dispatch
table used to turn formulas back into torch code.

The singularity-avoiding forms return the same values as pykan's ``f_inv``,
``f_log``, ... for every input (NaN and inf included), with two improvements:
their gradients are NaN-free (the singular branch is evaluated on a substituted
input), and ``exp`` returns ``y_th`` instead of NaN where ``exp(x)`` overflows.
pykan's layer indexes ``[1]`` into the results of ``f_tan`` (a 3-tuple) and
``f_power1d5`` (a bare tensor); here ``tan`` and ``x^1.5`` return the intended values.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace

import sympy
import torch

from ._library import FunctionLibrary, SymbolicFunction
from ._library import unknown_function_message as _unknown_message

__all__ = [
    "SymbolicFunction",
    "FunctionLibrary",
    "DEFAULT_LIBRARY",
    "LibraryLike",
    "resolve_library",
    "get_function",
    "torch_function_table",
]

_PI = torch.pi
_POS = (0.0, float("inf"))
_UNIT = (-1.0, 1.0)


# Singularity-avoiding forms.  Each mirrors pykan's ``f_*`` expression term by term (so
# values are bit-identical), but evaluates the singular branch only where it is selected
# and finite (see ``_finite``), so that gradients never become NaN.
def _th(x: torch.Tensor, y_th: float | torch.Tensor) -> torch.Tensor:
    if isinstance(y_th, torch.Tensor):
        return y_th
    dtype = x.dtype if x.is_floating_point() else torch.get_default_dtype()
    return torch.tensor(y_th, dtype=dtype, device=x.device)


def _finite(f: Callable, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """``nan_to_num(f(x))`` with zero (not NaN) gradient where ``~keep`` or ``f(x)`` is inf."""
    raw = f(x.detach())
    ok = keep & torch.isfinite(raw)
    return torch.where(ok, f(torch.where(ok, x, 0.5)), torch.nan_to_num(raw))


def _near_zero(x_th_of: Callable, small: Callable, big_fn: Callable) -> Callable:
    """pykan's pattern ``small(x) * (|x| < x_th) + nan_to_num(big_fn(x)) * (|x| >= x_th)``."""

    def safe(x: torch.Tensor, y_th: float) -> torch.Tensor:
        threshold = _th(x, y_th)
        x_th = x_th_of(threshold)
        big = torch.abs(x) >= x_th
        return small(x, threshold, x_th) * (torch.abs(x) < x_th) + _finite(big_fn, x, big) * big

    return safe


def _bounded(bound_of: Callable, outside: Callable, fn: Callable) -> Callable:
    """pykan's pattern ``outside(x) * (|x| > b) + nan_to_num(fn(x)) * (|x| <= b)``."""

    def safe(x: torch.Tensor, y_th: float) -> torch.Tensor:
        threshold = _th(x, y_th)
        bound = bound_of(threshold)
        inside = torch.abs(x) <= bound
        return outside(x, threshold) * (torch.abs(x) > bound) + _finite(fn, x, inside) * inside

    return safe


def _safe_inv(n: int) -> Callable[[torch.Tensor, float], torch.Tensor]:
    """pykan's ``f_inv``, ``f_inv2``, ..., ``f_inv5`` for ``1/x**n``."""
    return _near_zero(
        (lambda y: 1 / y) if n == 1 else (lambda y: 1 / y ** (1 / n)),
        (lambda x, y, x_th: y / x_th * x) if n % 2 else (lambda x, y, x_th: y),
        (lambda t: 1 / t) if n == 1 else (lambda t: 1 / t**n),
    )


_safe_sqrt = _near_zero(
    lambda y: 1 / y**2,
    lambda x, y, x_th: x_th / y * x,
    lambda t: torch.sqrt(torch.abs(t)) * torch.sign(t),
)
_safe_invsqrt = _near_zero(
    lambda y: 1 / y**2, lambda x, y, x_th: y, lambda t: 1 / torch.sqrt(torch.abs(t))
)
_safe_log = _near_zero(
    lambda y: torch.e ** (-y), lambda x, y, x_th: -y, lambda t: torch.log(torch.abs(t))
)
_safe_arctanh = _bounded(
    lambda y: 1 - (1 - torch.tanh(y) + 1e-4), lambda x, y: y * torch.sign(x), torch.arctanh
)
_safe_arcsin = _bounded(lambda y: 1, lambda x, y: _PI / 2 * torch.sign(x), torch.arcsin)
_safe_arccos = _bounded(lambda y: 1, lambda x, y: _PI / 2 * (1 - torch.sign(x)), torch.arccos)


def _safe_tan(x: torch.Tensor, y_th: float) -> torch.Tensor:
    # pykan's f_tan returns (clip, delta, y) and its layer then uses delta; we return y.
    threshold = _th(x, y_th)
    clip = x % _PI
    delta = _PI / 2 - torch.arctan(threshold)
    far = torch.abs(clip - _PI / 2) >= delta
    near = -threshold / delta * (clip - _PI / 2) * (torch.abs(clip - _PI / 2) < delta)
    return near + _finite(torch.tan, clip, far) * far


def _safe_exp(x: torch.Tensor, y_th: float) -> torch.Tensor:
    # pykan gives NaN (inf * 0) where exp(x) overflows; clamping the input fixes that.
    threshold = _th(x, y_th)
    x_th = torch.log(threshold)
    above = x > x_th
    return threshold * above + torch.exp(torch.where(above, x_th, x)) * (x <= x_th)


# The default table: (name, torch_fn, sympy_fn, complexity[, safe_fn[, domain]]); a missing
# safe_fn means "torch_fn, ignoring y_th".  torch forms are written exactly as pykan writes
# them, so values are bit-identical.  "0" is x * 0 like pykan (keeps the autograd graph).
_sqrt = (torch.sqrt, sympy.sqrt, 2, _safe_sqrt, _POS)
_invsqrt = (lambda x: 1 / torch.sqrt(x), lambda x: 1 / sympy.sqrt(x), 2, _safe_invsqrt, _POS)
_TABLE: list[tuple] = [
    ("x", lambda x: x, lambda x: x, 1),
    *(
        (f"x^{n}", lambda x, n=n: x**n, lambda x, n=n: x**n, c)
        for n, c in {2: 2, 3: 3, 4: 3, 5: 3}.items()
    ),
    ("1/x", lambda x: 1 / x, lambda x: 1 / x, 2, _safe_inv(1)),
    *(
        (f"1/x^{n}", lambda x, n=n: 1 / x**n, lambda x, n=n: 1 / x**n, c, _safe_inv(n))
        for n, c in {2: 2, 3: 3, 4: 4, 5: 5}.items()
    ),
    ("sqrt", *_sqrt),
    ("x^0.5", *_sqrt),
    (
        "x^1.5",
        lambda x: torch.sqrt(x) ** 3,
        lambda x: sympy.sqrt(x) ** 3,
        4,
        lambda x, y_th: torch.abs(x) ** 1.5,
        _POS,
    ),  # pykan's layer wrongly takes [1] of this
    ("1/sqrt(x)", *_invsqrt),
    ("1/x^0.5", *_invsqrt),
    ("exp", torch.exp, sympy.exp, 2, _safe_exp),
    ("log", torch.log, sympy.log, 2, _safe_log, _POS),
    ("abs", torch.abs, sympy.Abs, 3),
    ("sin", torch.sin, sympy.sin, 2),
    ("cos", torch.cos, sympy.cos, 2),
    ("tan", torch.tan, sympy.tan, 3, _safe_tan),
    ("tanh", torch.tanh, sympy.tanh, 3),
    ("sgn", torch.sign, sympy.sign, 3),
    ("arcsin", torch.arcsin, sympy.asin, 4, _safe_arcsin, _UNIT),
    ("arccos", torch.arccos, sympy.acos, 4, _safe_arccos, _UNIT),
    ("arctan", torch.arctan, sympy.atan, 4),
    ("arctanh", torch.arctanh, sympy.atanh, 4, _safe_arctanh, _UNIT),
    ("0", lambda x: x * 0, lambda x: sympy.S.Zero, 0),
    ("gaussian", lambda x: torch.exp(-(x**2)), lambda x: sympy.exp(-(x**2)), 3),
    ("cosh", torch.cosh, sympy.cosh, 5),
    ("sigmoid", torch.sigmoid, lambda x: 1 / (1 + sympy.exp(-x)), 4),
]


def _record(
    name: str,
    torch_fn: Callable,
    sympy_fn: Callable,
    complexity: int,
    safe_fn: Callable | None = None,
    domain: tuple[float, float] | None = None,
):
    safe_fn = safe_fn or (lambda x, y_th: torch_fn(x))
    return SymbolicFunction(name, torch_fn, sympy_fn, complexity, safe_fn, domain)


DEFAULT_LIBRARY: FunctionLibrary = FunctionLibrary(_record(*row) for row in _TABLE)
"""FunctionLibrary: pykan's full ``SYMBOLIC_LIB`` plus ``cosh`` and ``sigmoid``."""

LibraryLike = (
    None | str | FunctionLibrary | Mapping[str, SymbolicFunction] | Iterable[str | SymbolicFunction]
)


def resolve_library(lib: LibraryLike = None) -> FunctionLibrary:
    """Normalise any accepted library specification to a :class:`FunctionLibrary`.

    Parameters
    ----------
    lib : None, str, FunctionLibrary, mapping or iterable
        ``None`` -> :data:`DEFAULT_LIBRARY`; a name or iterable of names -> subset of the
        default library; iterables may mix names and :class:`SymbolicFunction` records;
        a mapping ``name -> SymbolicFunction`` is used as given (keys win over names).

    Returns
    -------
    FunctionLibrary

    Raises
    ------
    ValueError
        If ``lib`` is empty, names an unknown function or gives two different records
        under one name.
    """
    if lib is None:
        return DEFAULT_LIBRARY
    if isinstance(lib, (str, SymbolicFunction)):
        entries = [get_function(lib)]
    elif isinstance(lib, Mapping) and not isinstance(lib, FunctionLibrary):
        entries = [
            fn if fn.name == key else replace(fn, name=key)
            for key, fn in ((k, get_function(v)) for k, v in lib.items())
        ]
    else:
        items = lib.values() if isinstance(lib, Mapping) else lib
        entries = [get_function(item) for item in items]
    if not entries:
        raise ValueError(
            f"lib {lib!r} is empty; give at least one name from: {', '.join(DEFAULT_LIBRARY.names)}"
        )
    unique: dict[str, SymbolicFunction] = {}
    for fn in entries:
        if unique.setdefault(fn.name, fn) is not fn:
            raise ValueError(f"lib gives two different functions named {fn.name!r}")
    return lib if isinstance(lib, FunctionLibrary) else FunctionLibrary(unique.values())


def get_function(name: str | SymbolicFunction, library: LibraryLike = None) -> SymbolicFunction:
    """Look up one symbolic function by name (records pass through unchanged).

    Parameters
    ----------
    name : str or SymbolicFunction
        Library key, or a ready-made record.
    library : library specification, optional
        Where to look (anything :func:`resolve_library` accepts); default library if None.

    Returns
    -------
    SymbolicFunction

    Raises
    ------
    ValueError
        If ``name`` is unknown; the message names it and lists the valid names.

    Examples
    --------
    >>> f = get_function("sin")
    >>> f.complexity, f.sympy_fn(sympy.Symbol("x")), f.torch_fn(torch.zeros(1)).tolist()
    (2, sin(x), [0.0])
    """
    if isinstance(name, SymbolicFunction):
        return name
    if not isinstance(name, str):
        raise TypeError(f"expected a function name or SymbolicFunction, got {name!r}")
    lib = resolve_library(library)
    if name not in lib:
        raise ValueError(_unknown_message(name, lib.names))
    return lib[name]


TorchFn = Callable[[torch.Tensor], torch.Tensor]
_BASE_TORCH_TABLE: dict[type, TorchFn] = {
    sympy.sin: torch.sin,
    sympy.cos: torch.cos,
    sympy.tan: torch.tan,
    sympy.cot: lambda x: 1 / torch.tan(x),
    sympy.sec: lambda x: 1 / torch.cos(x),
    sympy.csc: lambda x: 1 / torch.sin(x),
    sympy.sinh: torch.sinh,
    sympy.cosh: torch.cosh,
    sympy.tanh: torch.tanh,
    sympy.asin: torch.arcsin,
    sympy.acos: torch.arccos,
    sympy.atan: torch.arctan,
    sympy.asinh: torch.arcsinh,
    sympy.acosh: torch.arccosh,
    sympy.atanh: torch.arctanh,
    sympy.exp: torch.exp,
    sympy.log: torch.log,
    sympy.Abs: torch.abs,
    sympy.sign: torch.sign,
    sympy.erf: torch.erf,
}


def torch_function_table(library: LibraryLike = None) -> dict[type, TorchFn]:
    """Return the sympy-head -> torch dispatch table (a fresh dict on every call).

    Covers the elementary sympy functions (``sin`` ... ``atanh``, ``exp``, ``log``,
    ``Abs``, ``sign``, ``erf``).  Library entries whose sympy form is a single call of
    a head not covered (e.g. an undefined ``sympy.Function('Bessel')``) add that head,
    mapped to the entry's ``torch_fn``.

    Parameters
    ----------
    library : library specification, optional
        Library whose custom heads to include; default library if None.

    Returns
    -------
    dict
        ``{sympy function class: elementwise torch callable}``.
    """
    table = dict(_BASE_TORCH_TABLE)
    x = sympy.Symbol("x")
    for fn in resolve_library(library).values():
        expr = fn.sympy_fn(x)
        if isinstance(expr, sympy.Function) and expr.args == (x,) and expr.func not in table:
            table[expr.func] = fn.torch_fn
    return table
