"""Constitutive laws: a stress component as a closed-form function of the deformation gradient.

Inputs are the nine entries ``F11 ... F33`` of ``F`` plus optional auxiliary variables
given as sympy expressions of them (``J = det F`` say, :func:`determinant_feature`). The
workflow:

1. **Linear-elastic prior.** ``tau_ij ~ lambda0 tr(eps) delta_ij + 2 mu0 eps_ij`` with
   ``eps = (F + F^T)/2 - I`` is fitted by least squares (:func:`linear_elastic_prior`): the
   baseline every law is compared with.
2. **KAN.** A one-layer KAN on the variables learns what the prior misses; when that is
   not additive enough (held-out ``R^2`` below ``additive_r2``), one on the variables and
   the pairwise products of the ``F`` entries (``interactions='auto'``). It is the
   learned surrogate of the stress (``model``, ``kan_r2``).
3. **Formula.** :func:`kanscience.discover.discover`, the general symbolic search, on the
   stress as a function of the variables, then (``interactions``) of the variables and
   the pairwise products of the ``F`` entries; on the stress itself and times each
   positive auxiliary variable or its inverse (stress measures differ by powers of
   ``J``). Each formula found is refitted on the fitting samples, pruned and snapped
   (:mod:`kanscience.physics._constitutive_search`).
4. **Verdict.** The law is the simplest formula that *explains* the data: residuals at
   rounding level, or indistinguishable from noise (no correlation between neighbouring
   samples) with a held-out error like the fitting one. When none does, ``law`` is None
   and ``reason`` says why: "no law" rather than a curve fit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast

import sympy
import torch
from torch import Tensor

from ..core import KAN, Dataset
from ..train import fit
from ._constitutive_search import FeatureSet, LawSearch, search_stress_law
from ._display import laws_latex, r2_figure, summary_html
from ._expressions import term_matrix

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "ConstitutiveResult",
    "deformation_symbols",
    "determinant_feature",
    "fit_constitutive",
    "linear_elastic_prior",
]


def deformation_symbols(prefix: str = "F") -> list[sympy.Symbol]:
    """``[F11, F12, F13, F21, ..., F33]`` (real symbols, row-major).

    Examples
    --------
    >>> deformation_symbols()[:3]
    [F11, F12, F13]
    """
    return [sympy.Symbol(f"{prefix}{i}{j}", real=True) for i in range(1, 4) for j in range(1, 4)]


def determinant_feature(prefix: str = "F") -> sympy.Expr:
    """``det F`` as a sympy expression of :func:`deformation_symbols`."""
    return cast(sympy.Expr, sympy.Matrix(3, 3, deformation_symbols(prefix)).det())


def _deformation(F: object) -> Tensor:
    if not isinstance(F, Tensor):
        raise TypeError(f"F must be a torch.Tensor (n, 3, 3), got {type(F).__name__}")
    if F.ndim != 3 or tuple(F.shape[1:]) != (3, 3) or F.shape[0] < 10:
        raise ValueError(f"F must have shape (n >= 10, 3, 3), got {tuple(F.shape)}")
    if not bool(torch.isfinite(F).all()):
        bad = int((~torch.isfinite(F.reshape(len(F), -1))).any(1).sum())
        raise ValueError(f"F contains NaN or Inf in {bad} sample(s)")
    return F.detach().to(torch.float64)


def linear_elastic_prior(
    F: Tensor, stress: Tensor, component: tuple[int, int], prefix: str = "F"
) -> tuple[sympy.Expr, float]:
    """Least-squares small-strain law for one stress component.

    ``tau_ij = lambda0 tr(eps) delta_ij + 2 mu0 eps_ij`` with ``eps = (F + F^T)/2 - I``
    (``lambda0`` only for a diagonal component).

    Returns
    -------
    (sympy.Expr, float)
        The fitted law as an expression of the ``F`` symbols, and its ``R^2``.
    """
    F = _deformation(F)
    i, j = component
    eps = (F + F.transpose(1, 2)) / 2 - torch.eye(3, dtype=torch.float64)
    symbols = sympy.Matrix(3, 3, deformation_symbols(prefix))
    eps_sym = (symbols + symbols.T) / 2 - sympy.eye(3)
    columns, exprs = [2 * eps[:, i, j]], [2 * eps_sym[i, j]]
    if i == j:
        columns.append(eps.diagonal(dim1=1, dim2=2).sum(1))
        exprs.append(eps_sym.trace())
    design = torch.stack(columns, 1)
    y = stress.reshape(-1).to(torch.float64)
    solution = torch.linalg.lstsq(design, y[:, None]).solution[:, 0]
    residual = y - design @ solution
    r2 = 1 - float(residual.pow(2).sum() / (y - y.mean()).pow(2).sum().clamp_min(1e-300))
    expr = sum(sympy.Float(float(c), 15) * e for c, e in zip(solution, exprs))
    return sympy.expand(expr), r2


@dataclass
class ConstitutiveResult:
    """What :func:`fit_constitutive` found.

    Attributes
    ----------
    expression : sympy.Expr
        The formula with refitted coefficients, in the ``F`` symbols and the auxiliary
        symbols: the law when one passed, else the most accurate formula found.
    snapped : sympy.Expr
        The same with coefficients snapped to simple fractions where that kept it
        explaining the data.
    r2 : float
        ``R^2`` of ``snapped`` on held-out samples.
    prior : sympy.Expr
        The fitted linear-elastic prior; ``prior_r2`` its held-out ``R^2``.
    model : KAN
        The KAN of the last stage; ``features`` its inputs (sympy), ``kan_r2`` its
        held-out ``R^2`` on the residual of the prior.
    terms : list of sympy.Expr
        The formulas of the symbolic search (Pareto fronts, in the stress's scale).
    aux : dict
        Auxiliary symbol -> expression of the ``F`` symbols.
    reason : str
        Why there is no law (empty when one passed: see :attr:`law`).
    checks : dict of str -> float
        The numbers behind the verdict: ``held-out R^2``, ``held-out RMSE / spread``,
        ``residual structure z`` (below 3: no structure), ``terms``.
    scaling : sympy.Expr
        The factor the stress was multiplied by for the search that found the formula
        (1, or a power of an auxiliary variable).
    log : list of str
        One line per symbolic search.
    """

    expression: sympy.Expr
    snapped: sympy.Expr
    r2: float
    prior: sympy.Expr
    prior_r2: float
    model: KAN
    features: list[sympy.Expr]
    kan_r2: float
    terms: list[sympy.Expr]
    aux: dict[sympy.Symbol, sympy.Expr] = field(default_factory=dict)
    reason: str = ""
    checks: dict[str, float] = field(default_factory=dict)
    scaling: sympy.Expr = sympy.S.One
    log: list[str] = field(default_factory=list)

    @property
    def law(self) -> sympy.Expr | None:
        """The verified law (``snapped``), or None when no formula passed (``reason``)."""
        return None if self.reason else self.snapped

    def in_deformation(self, snapped: bool = True) -> sympy.Expr:
        """The formula with the auxiliary symbols replaced by their expressions of ``F``."""
        return cast(sympy.Expr, (self.snapped if snapped else self.expression).xreplace(self.aux))

    def plot(self) -> Figure:
        """Held-out ``1 - R^2`` of the linear-elastic prior and of the law (log scale);
        returns the Figure (shows and writes nothing)."""
        return r2_figure(["prior", "law"], [self.prior_r2, self.r2])

    def _repr_latex_(self) -> str | None:
        return laws_latex([("P", self.snapped)]) if self.law is not None else None

    def _repr_html_(self) -> str:
        laws = [("law" if self.law is not None else "no law; closest", self.snapped)]
        laws += [("linear-elastic prior", self.prior)]
        laws += [(f"{symbol} =", expr) for symbol, expr in self.aux.items()]
        numbers = [("held-out R²", self.r2), ("prior's held-out R²", self.prior_r2)]
        return summary_html("Constitutive law", laws, numbers, self.plot())


def _r2(prediction: Tensor, y: Tensor) -> float:
    return 1 - float((prediction - y).pow(2).sum() / (y - y.mean()).pow(2).sum().clamp_min(1e-300))


def _train_kan(
    u: Tensor, y: Tensor, train: Tensor, test: Tensor, grid: int, steps: int, seed: int
) -> tuple[KAN, float]:
    model = KAN([u.shape[1], 1], grid=grid, k=3, seed=seed, dtype=torch.float64)
    model.update_grid_(u[train])
    data = Dataset(u[train], y[train, None], u[test], y[test, None])
    fit(model, data, opt="LBFGS", steps=steps, grid_schedule=None, progress=False, seed=seed)
    with torch.no_grad():
        return model, _r2(model(u[test])[:, 0], y[test])


def _products(symbols: list[sympy.Symbol], flat: Tensor) -> tuple[list[str], list, Tensor]:
    pairs = [(a, b) for a in range(9) for b in range(a, 9)]
    names = [f"{symbols[a]}_{symbols[b]}" for a, b in pairs]
    exprs = [symbols[a] * symbols[b] for a, b in pairs]
    return names, exprs, torch.stack([flat[:, a] * flat[:, b] for a, b in pairs], 1)


def fit_constitutive(
    F: Tensor,
    stress: Tensor,
    component: tuple[int, int] = (0, 0),
    aux: Mapping[str, sympy.Expr] | None = None,
    *,
    prior: bool = True,
    interactions: str = "auto",
    additive_r2: float = 0.999,
    grid: int = 5,
    steps: int = 50,
    time_budget: float = 60.0,
    snap_tol: float = 1e-3,
    max_denominator: int = 24,
    test_fraction: float = 0.2,
    seed: int = 0,
) -> ConstitutiveResult:
    """Closed-form law ``stress = tau(F)`` for one stress component, or none.

    Parameters
    ----------
    F : Tensor (n, 3, 3)
        Deformation gradients.
    stress : Tensor (n,)
        The stress component ``component`` at each ``F``.
    component : (int, int)
        Which component (0-based), used by the linear-elastic prior.
    aux : dict name -> sympy.Expr, optional
        Auxiliary variables as expressions of :func:`deformation_symbols`, e.g.
        ``{"J": determinant_feature()}``: inputs of the search, and (when one-signed)
        factors by which the stress may be scaled (a Cauchy stress is a Kirchhoff stress
        over ``J``).
    prior : bool
        Fit the linear-elastic law (the KAN learns its residual).
    interactions : {'auto', 'never', 'always'}
        Pairwise products of the ``F`` entries as inputs of the KAN (``'auto'``: when
        the additive one misses ``additive_r2``) and of the symbolic search (``'auto'``:
        after the variables alone).
    additive_r2 : float
        Held-out ``R^2`` below which ``'auto'`` adds the products to the KAN.
    grid, steps : int
        KAN grid intervals and L-BFGS steps.
    time_budget : float
        Seconds of one full symbolic search. The searches go in two rounds (a quarter of
        this each, then all of it), over the inputs (variables, then products) and the
        scalings of the stress (1, each auxiliary variable and its inverse), until a
        formula explains the data: at worst ``1.25 * time_budget`` times the number of
        searches.
    snap_tol, max_denominator
        Snapping of the coefficients.
    test_fraction : float
        Held-out share of the samples (never used for fitting).
    seed : int

    Returns
    -------
    ConstitutiveResult
        ``law`` is None with ``reason`` when no formula explains the data.

    Raises
    ------
    ValueError
        For NaN/Inf, shapes that do not match, or auxiliary features that are not finite
        (e.g. ``log(det F)`` with ``det F <= 0``: drop those samples first).
    """
    F = _deformation(F)
    if not isinstance(stress, Tensor):
        raise TypeError(f"stress must be a torch.Tensor (n,), got {type(stress).__name__}")
    y = stress.detach().to(torch.float64).reshape(-1)
    if y.shape[0] != F.shape[0]:
        raise ValueError(
            f"stress must have one value per F ({F.shape[0]}), got {tuple(stress.shape)}"
        )
    if not bool(torch.isfinite(y).all()):
        raise ValueError("stress contains NaN or Inf")
    if interactions not in ("auto", "never", "always"):
        raise ValueError(f"interactions must be 'auto', 'never' or 'always', got {interactions!r}")
    if len(component) != 2 or not all(0 <= int(c) < 3 for c in component):
        raise ValueError(f"component must be a pair of indices in 0..2, got {component!r}")
    if not time_budget > 0:
        raise ValueError(f"time_budget must be positive seconds, got {time_budget!r}")
    symbols = deformation_symbols()
    aux_symbols = {
        sympy.Symbol(name, real=True): sympy.sympify(expr) for name, expr in (aux or {}).items()
    }
    flat = F.reshape(len(F), 9)
    aux_values = []
    for symbol, expr in aux_symbols.items():
        values = term_matrix([expr], symbols, flat)[:, 0]
        if not bool(torch.isfinite(values).all()):
            raise ValueError(
                f"auxiliary feature {symbol} = {expr} is not finite on "
                f"{int((~torch.isfinite(values)).sum())} sample(s)"
            )
        aux_values.append(values)
    base_symbols = symbols + list(aux_symbols)
    base = torch.cat([flat] + [v[:, None] for v in aux_values], 1)

    n = len(y)
    generator = torch.Generator().manual_seed(int(seed))
    permutation = torch.randperm(n, generator=generator)
    n_test = max(1, round(test_fraction * n))
    test, train = permutation[:n_test], permutation[n_test:]

    prior_expr, prior_values = sympy.S.Zero, torch.zeros_like(y)
    if prior:
        prior_expr, _ = linear_elastic_prior(
            F[train], y[train], (int(component[0]), int(component[1]))
        )
        prior_values = (
            term_matrix([prior_expr], symbols, flat)[:, 0]
            if prior_expr.free_symbols
            else torch.full_like(y, float(prior_expr))
        )
    prior_r2 = _r2(prior_values[test], y[test])
    residual = y - prior_values

    product_names, product_exprs, product_values = _products(symbols, flat)
    plain = FeatureSet([str(v) for v in base_symbols], list(base_symbols), base)
    pairwise = FeatureSet(
        plain.names + product_names,
        plain.exprs + product_exprs,
        torch.cat([base, product_values], 1),
    )
    sets = {"never": (plain,), "always": (pairwise,), "auto": (plain, pairwise)}[interactions]
    for inputs in sets:  # the KAN: additive first, with the products if that misses
        features, u = inputs.exprs, inputs.values
        model, kan_r2 = _train_kan(u, residual, train, test, grid, steps, seed)
        if kan_r2 >= additive_r2:
            break
    found = search_stress_law(
        base,
        y,
        base_symbols,
        list(aux_symbols),
        sets,
        train,
        test,
        time_budget=time_budget,
        snap_tol=snap_tol,
        max_denominator=max_denominator,
        seed=seed,
    )
    return _result(found, prior_expr, prior_r2, model, features, kan_r2, aux_symbols)


def _result(
    found: LawSearch,
    prior_expr: sympy.Expr,
    prior_r2: float,
    model: KAN,
    features: list[sympy.Expr],
    kan_r2: float,
    aux_symbols: dict[sympy.Symbol, sympy.Expr],
) -> ConstitutiveResult:
    shown = found.chosen or min(found.fits, key=lambda f: f.rmse, default=None)
    result = ConstitutiveResult(
        shown.fitted if shown else sympy.S.Zero,
        shown.law if shown else sympy.S.Zero,
        shown.r2 if shown else -math.inf,
        prior_expr,
        prior_r2,
        model,
        features,
        kan_r2,
        found.formulas,
        aux_symbols,
        reason=found.reason,
        scaling=shown.scaling if shown else sympy.S.One,
        log=found.log,
    )
    if shown is not None:
        result.checks = {
            "held-out R^2": shown.r2,
            "held-out RMSE / spread": shown.relative_rmse,
            "residual structure z": shown.structure,
            "terms": float(shown.n_terms),
        }
    return result
