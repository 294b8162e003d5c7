"""All independent conserved quantities of a flow ``dx/dt = f(x)``, as KANs and formulas.

The workflow :func:`find_conserved_quantities` learns the quantities one after the other
with the conservation loss of :mod:`kanscience.physics._conservation`.

**Deflation.** Quantity ``k`` adds
``lambda * mean(|Q_k^T grad H|^2 |f|^2)`` to the numerator, ``Q_k`` an orthonormal basis of
the gradients already found, first with ``lambda = 1`` (leave their span), then with
``lambda = 0`` (polish conservation); throughout, a hinge penalizes a gradient whose
:func:`dependence` on that span exceeds ``1 - floor``, so polishing cannot fall back into
it (a plain small ``lambda`` would bias towards orthogonality or let it fall back). A
stage is *accepted* when its conservation residual (square root of the loss on held-out
states) is below
``residual_tol`` and the **rank test** passes: the median over states of the smallest
singular value of the stacked, row-normalized gradients of all accepted quantities is
above ``rank_tol``. The first stage that fails ends the search, so the count comes from the
data; a nonvanishing flow in ``d`` dimensions has at most ``d - 1``.

**Features.** Each stage first tries a one-layer KAN on the coordinates; if that fails,
one on the coordinates and their pairwise products (``features='auto'``), which makes
bilinear invariants such as angular momenta additive.

**Formulas** of the accepted quantities are found by
:mod:`kanscience.physics._conserved_formulas`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import sympy
import torch
from torch import Tensor

from ..core import KAN, Dataset
from ..train import Batch, fit
from ._conservation import (
    FlowLike,
    _flow_values,
    _states,
    conservation_loss,
    conservation_residual,
    dependence,
    gradient_rank,
)
from ._conserved_formulas import _formulas
from ._display import laws_latex, stages_figure, summary_html
from ._expressions import as_symbols, term_matrix

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "ConservedQuantities",
    "ConservedStage",
    "find_conserved_quantities",
]


def _feature_terms(symbols: list[sympy.Symbol], kind: str) -> list[sympy.Expr]:
    if kind == "raw":
        return list(symbols)
    return list(symbols) + [a * b for i, a in enumerate(symbols) for b in symbols[i:]]


def _features_and_jacobian(
    terms: list[sympy.Expr], symbols: list[sympy.Symbol], x: Tensor
) -> tuple[Tensor, Tensor]:
    xg = x.clone().requires_grad_(True)
    with torch.enable_grad():
        u = term_matrix(terms, symbols, xg)
        jac = torch.stack(
            [
                torch.autograd.grad(u[:, k].sum(), xg, retain_graph=True)[0]
                for k in range(u.shape[1])
            ],
            1,
        )
    return u.detach(), jac.detach()


def _input_gradient(model: KAN, u: Tensor, jac: Tensor, create_graph: bool) -> Tensor:
    u = u.detach().requires_grad_(True)
    with torch.enable_grad():
        h = model(u)
        (grad_u,) = torch.autograd.grad(h.sum(), u, create_graph=create_graph)
    return torch.einsum("nm,nmd->nd", grad_u, jac)


# ------------------------------------------------------------------ results
@dataclass
class ConservedStage:
    """One deflation stage: the KAN tried, its held-out conservation ``residual``, the
    median smallest singular value (``independence``) of the gradients of it and the
    quantities accepted before, and whether it was ``accepted``."""

    index: int
    features: str
    model: KAN
    residual: float
    independence: float
    accepted: bool


@dataclass
class ConservedQuantities:
    """What :func:`find_conserved_quantities` found.

    Attributes
    ----------
    count : int
        Number of functionally independent conserved quantities (accepted stages).
    models : list of KAN
        The accepted quantities as KANs of their features (see ``feature_terms``).
    feature_terms : list of list of sympy.Expr
        The inputs of each model, as expressions of ``variables``.
    stages : list of ConservedStage
    expressions : list of sympy.Expr
        Independent closed forms, simplest first (up to ``count``), scaled and snapped.
    fitted : list of sympy.Expr
        The same before snapping (coefficients from the null-space solve, scaled).
    all_expressions : list of sympy.Expr
        Every minimal conserved combination of library terms found (may be dependent).
    residuals : list of float
        Conservation residual of each of ``expressions`` on fresh states.
    rank : int
        Rank of the gradients of ``expressions`` (the rank test on the formulas).
    variables : list of sympy.Symbol
    """

    count: int
    models: list[KAN]
    feature_terms: list[list[sympy.Expr]]
    stages: list[ConservedStage]
    expressions: list[sympy.Expr] = field(default_factory=list)
    fitted: list[sympy.Expr] = field(default_factory=list)
    all_expressions: list[sympy.Expr] = field(default_factory=list)
    residuals: list[float] = field(default_factory=list)
    rank: int = 0
    variables: list[sympy.Symbol] = field(default_factory=list)

    def kan_values(self, index: int, x: Tensor) -> Tensor:
        """Values of the ``index``-th learned quantity (a KAN) at states ``x`` (n, d)."""
        if not 0 <= index < len(self.models):
            raise ValueError(f"index must be in [0, {len(self.models)}), got {index!r}")
        features = term_matrix(
            self.feature_terms[index],
            self.variables,
            _states(x).to(self.models[index].layers[0].coef.dtype),
        )
        return self.models[index](features)[:, 0]

    @property
    def complete(self) -> bool:
        """Whether every conserved quantity found by the KANs has a verified formula."""
        return self.rank == self.count and len(self.expressions) == self.count

    def plot(self) -> Figure:
        """Held-out conservation residual of each deflation stage (accepted ones filled);
        returns the Figure (shows and writes nothing)."""
        return stages_figure([s.residual for s in self.stages], [s.accepted for s in self.stages])

    def _repr_latex_(self) -> str | None:
        return laws_latex([(f"Q_{{{k}}}", e) for k, e in enumerate(self.expressions, 1)])

    def _repr_html_(self) -> str:
        laws = [(f"Q{k}", e) for k, e in enumerate(self.expressions, 1)]
        numbers = [("count", self.count), ("rank", self.rank)]
        numbers += [(f"residual of Q{k}", r) for k, r in enumerate(self.residuals, 1)]
        title = f"Conserved quantities: {self.count} found"
        return summary_html(title, laws, numbers, self.plot())


# ------------------------------------------------------------------ learning
def _train_stage(
    u: Tensor,
    jac: Tensor,
    f: Tensor,
    basis: Tensor | None,
    train: Tensor,
    test: Tensor,
    grid: int,
    steps: tuple[int, int],
    weights: Sequence[float],
    floor: float,
    seed: int,
) -> KAN:
    model = KAN([u.shape[1], 1], grid=grid, k=3, seed=seed, dtype=torch.float64)
    model.update_grid_(u[train])
    state = {"weight": weights[0]}

    def objective(m: KAN, batch: Batch) -> Tensor:
        rows = (train if batch.split == "train" else test)[batch.index]
        gradient = _input_gradient(m, batch.inputs, jac[rows], create_graph=True)
        if basis is None:
            return conservation_loss(gradient, f[rows])
        loss = conservation_loss(gradient, f[rows], basis[rows], state["weight"])
        excess = torch.relu(dependence(gradient, f[rows], basis[rows]) - (1 - floor))
        return loss + excess.pow(2)

    data = Dataset(u[train], u[train, :0], u[test], u[test, :0])  # no labels: rows by index
    for weight, n_steps in zip(weights, steps):
        state["weight"] = weight
        if n_steps:
            fit(
                model,
                data,
                steps=n_steps,
                objective=objective,
                grid_schedule=None,
                progress=False,
                seed=seed,
            )
    return model


def _validate_options(
    residual_tol: float, rank_tol: float, features: str, steps: Sequence[int], grid: int
) -> tuple[int, int]:
    if not (0 < residual_tol < 1 and 0 < rank_tol < 1):
        raise ValueError(
            f"residual_tol and rank_tol must be in (0, 1), got {residual_tol!r}, {rank_tol!r}"
        )
    if features not in ("auto", "raw", "pairwise"):
        raise ValueError(f"features must be 'auto', 'raw' or 'pairwise', got {features!r}")
    if isinstance(grid, bool) or not isinstance(grid, int) or grid < 1:
        raise ValueError(f"grid must be an int >= 1, got {grid!r}")
    if len(steps) != 2 or any(int(s) < 0 for s in steps):
        raise ValueError(f"steps must be two counts (leave, polish), got {steps!r}")
    return int(steps[0]), int(steps[1])


def find_conserved_quantities(
    flow: FlowLike,
    x: Tensor,
    variables: Sequence[str | sympy.Symbol] | None = None,
    *,
    max_quantities: int | None = None,
    features: str = "auto",
    grid: int = 5,
    steps: Sequence[int] = (20, 30),
    weights: Sequence[float] = (1.0, 0.0),
    floor: float = 0.1,
    residual_tol: float = 1e-2,
    rank_tol: float = 0.1,
    degree: int = 2,
    extra_terms: Sequence[sympy.Expr] = (),
    formula_tol: float = 1e-6,
    check_tol: float = 1e-3,
    test_fraction: float = 0.2,
    n_verify: int = 2000,
    verify_ranges: Sequence[tuple[float, float]] | None = None,
    seed: int = 0,
) -> ConservedQuantities:
    """Learn every independent conserved quantity of ``flow`` and their formulas.

    Parameters
    ----------
    flow : callable or Tensor
        ``flow(x) -> dx/dt`` of shape (n, d), or the velocities at ``x`` as a tensor.
    x : Tensor (n, d)
        Sampled states.
    variables : list of str or sympy.Symbol, optional
        Names of the coordinates (default ``x_1 ... x_d``).
    max_quantities : int, optional
        Upper bound on the count (default ``d - 1``).
    features : {'auto', 'raw', 'pairwise'}
        Inputs of each stage's KAN (see the module docstring).
    grid : int
        Grid intervals of the KANs.
    steps : (int, int)
        L-BFGS steps with the leaving weight and with the polishing weight.
    weights : (float, float)
        Deflation weights ``lambda`` of the two phases.
    floor : float
        In both phases, a gradient with less than this fraction outside the span of the
        quantities found is penalized (``relu(dependence - (1 - floor))^2``), so that the
        polishing phase cannot fall back into that span.
    residual_tol, rank_tol : float
        Acceptance of a stage (conservation residual, rank test).
    degree : int
        Monomials of the coordinates up to this degree join the term library (0: none).
    extra_terms : sequence of sympy.Expr
        More library terms.
    formula_tol : float
        Null-space tolerance for the formulas (see :func:`sparse_null_vectors`).
    check_tol : float
        A formula is kept only if its conservation residual on fresh states is below this.
    test_fraction : float
        Held-out fraction of ``x`` for the acceptance tests.
    n_verify : int
        Fresh states drawn uniformly in ``verify_ranges`` (default: the bounding box of
        ``x``) to check the formulas; needs a callable ``flow`` (else the held-out states
        are used).
    seed : int

    Returns
    -------
    ConservedQuantities

    Raises
    ------
    ValueError
        For states with NaN/Inf, a flow of the wrong shape, or bad options.
    """
    x = _states(x)
    n, d = x.shape
    f = _flow_values(flow, x)
    symbols = as_symbols(variables if variables is not None else [f"x_{i + 1}" for i in range(d)])
    if len(symbols) != d:
        raise ValueError(f"variables must name the {d} coordinates, got {len(symbols)}")
    limit = d - 1 if max_quantities is None else int(max_quantities)
    if limit < 0 or limit > d - 1:
        raise ValueError(f"max_quantities must be in [0, {d - 1}], got {max_quantities!r}")
    phases = _validate_options(residual_tol, rank_tol, features, steps, grid)
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    generator = torch.Generator().manual_seed(int(seed))
    permutation = torch.randperm(n, generator=generator)
    n_test = max(1, round(test_fraction * n))
    test, train = permutation[:n_test], permutation[n_test:]

    kinds = {"auto": ("raw", "pairwise"), "raw": ("raw",), "pairwise": ("pairwise",)}[features]
    prepared = {}
    for kind in kinds:
        terms = _feature_terms(symbols, kind)
        prepared[kind] = (terms, *_features_and_jacobian(terms, symbols, x))

    accepted: list[tuple[str, KAN]] = []
    gradients: list[Tensor] = []  # (n, d) per accepted quantity
    stages: list[ConservedStage] = []
    while len(accepted) < limit:
        basis = None
        if gradients:
            basis, _ = torch.linalg.qr(torch.stack(gradients, 2))
        success = False
        for kind in kinds:
            terms, u, jac = prepared[kind]
            model = _train_stage(
                u,
                jac,
                f,
                basis,
                train,
                test,
                grid,
                phases,
                tuple(weights),
                floor,
                seed + len(stages),
            )
            gradient = _input_gradient(model, u, jac, create_graph=False).detach()
            residual = conservation_residual(gradient[test], f[test])
            _, values = gradient_rank(torch.stack(gradients + [gradient], 1)[test], rank_tol)
            independence = float(values[-1])
            success = residual < residual_tol and independence > rank_tol
            stages.append(
                ConservedStage(len(accepted), kind, model, residual, independence, success)
            )
            if success:
                accepted.append((kind, model))
                gradients.append(gradient)
                break
        if not success:
            break

    result = ConservedQuantities(
        len(accepted),
        [m for _, m in accepted],
        [prepared[k][0] for k, _ in accepted],
        stages,
        variables=symbols,
    )
    if accepted:
        _formulas(
            result,
            flow,
            x,
            f,
            test,
            symbols,
            degree,
            extra_terms,
            formula_tol,
            check_tol,
            rank_tol,
            n_verify,
            verify_ranges,
            generator,
        )
    return result
