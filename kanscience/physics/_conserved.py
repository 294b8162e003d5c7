"""All independent conserved quantities of a flow ``dx/dt = f(x)``, as KANs and formulas.

A quantity ``H`` is conserved when ``grad H . f = 0`` at every state. The loss is the
normalized (scale-free) ratio

    loss(H) = mean((grad H . f)^2) / mean(|grad H|^2 |f|^2),

a Rayleigh quotient for a one-layer KAN (linear in its spline coefficients), which has no
spurious local minima (a per-sample normalization does).

**Deflation.** Quantities are learned one after the other. Quantity ``k`` adds
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

**Formulas.** The edges of the accepted KANs give candidate terms
(:func:`kanscience.physics._candidates.edge_candidates`, monomials for polynomial edges);
with the coordinates' monomials up to ``degree`` they form a term library, and every
*minimal* combination ``sum w_k phi_k`` with ``sum w_k grad phi_k . f = 0`` is found by
:func:`kanscience.physics._sparse.sparse_null_vectors` (the coefficients come from the flow,
not from the KAN). Snapped and scaled, a maximal functionally independent set of them
(simplest first) is returned and checked on fresh states.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import sympy
import torch
from torch import Tensor

from ..core import KAN, Dataset
from ..train import fit
from ._candidates import edge_candidates, independent_terms, polynomial_terms, unique_terms
from ._expressions import as_symbols, combine_terms, expression_gradient, term_matrix
from ._snap import normalize_scale, snap_expression
from ._sparse import sparse_null_vectors

__all__ = [
    "ConservedQuantities",
    "ConservedStage",
    "conservation_loss",
    "conservation_residual",
    "dependence",
    "find_conserved_quantities",
    "gradient_rank",
]

FlowLike = Callable[[Tensor], Tensor] | Tensor


# ------------------------------------------------------------------ pure criteria
def conservation_loss(
    gradient: Tensor, flow: Tensor, basis: Tensor | None = None, weight: float = 0.0
) -> Tensor:
    """``(mean((g.f)^2) + weight * mean(|basis^T g|^2 |f|^2)) / mean(|g|^2 |f|^2)``.

    Parameters
    ----------
    gradient, flow : Tensor (n, d)
    basis : Tensor (n, d, k), optional
        Orthonormal columns per state (gradients of quantities already found).
    weight : float
    """
    f2 = flow.pow(2).sum(1)
    numerator = (gradient * flow).sum(1).pow(2).mean()
    if basis is not None and weight:
        inside = torch.einsum("nd,ndk->nk", gradient, basis).pow(2).sum(1)
        numerator = numerator + weight * (inside * f2).mean()
    return numerator / (gradient.pow(2).sum(1) * f2).mean().clamp_min(1e-300)


def dependence(gradient: Tensor, flow: Tensor, basis: Tensor) -> Tensor:
    """Fraction ``mean(|basis^T g|^2 |f|^2) / mean(|g|^2 |f|^2)`` of the gradient lying in
    the span of ``basis`` (n, d, k) (1: dependent on the quantities found, 0: orthogonal)."""
    f2 = flow.pow(2).sum(1)
    inside = torch.einsum("nd,ndk->nk", gradient, basis).pow(2).sum(1)
    return (inside * f2).mean() / (gradient.pow(2).sum(1) * f2).mean().clamp_min(1e-300)


def conservation_residual(gradient: Tensor, flow: Tensor) -> float:
    """Square root of :func:`conservation_loss`: the RMS of ``cos(grad H, f)`` weighted
    by ``|grad H| |f|``; 0 for an exactly conserved quantity."""
    return float(conservation_loss(gradient.detach(), flow.detach()).sqrt())


def gradient_rank(gradients: Tensor, rank_tol: float = 0.1) -> tuple[int, Tensor]:
    """Numerical rank of quantities from their gradients at many states.

    Parameters
    ----------
    gradients : Tensor (n, k, d)
        Gradient of each of ``k`` quantities at ``n`` states.
    rank_tol : float
        A singular value of the row-normalized ``(k, d)`` matrix counts when its median
        over states is above ``rank_tol``.

    Returns
    -------
    (int, Tensor)
        The rank and the median singular values, largest first.

    Examples
    --------
    >>> x = torch.randn(50, 2, dtype=torch.float64)
    >>> g = torch.stack([x, 2 * x, torch.stack([-x[:, 1], x[:, 0]], 1)], 1)
    >>> gradient_rank(g)[0]
    2
    """
    if gradients.ndim != 3:
        raise ValueError(f"gradients must have shape (n, k, d), got {tuple(gradients.shape)}")
    if gradients.shape[1] == 0:
        return 0, gradients.new_zeros(0)
    normalized = gradients / gradients.norm(dim=2, keepdim=True).clamp_min(1e-300)
    values = torch.linalg.svdvals(normalized).median(0).values
    return int((values > rank_tol).sum()), values


# ------------------------------------------------------------------ inputs
def _states(x: object, name: str = "x") -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of states (n, d), got {type(x).__name__}")
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 1:
        raise ValueError(
            f"{name} must have shape (n_states, d) with n_states >= 2, got {tuple(x.shape)}"
        )
    if not bool(torch.isfinite(x).all()):
        bad = int((~torch.isfinite(x)).any(1).sum())
        raise ValueError(f"{name} contains NaN or Inf in {bad} row(s)")
    return x.detach().to(torch.float64)


def _flow_values(flow: FlowLike, x: Tensor) -> Tensor:
    values = flow(x) if callable(flow) else flow
    if not isinstance(values, Tensor):
        raise TypeError(
            f"flow must be a callable returning a tensor or a tensor, got {type(values).__name__}"
        )
    if tuple(values.shape) != tuple(x.shape):
        raise ValueError(
            f"flow must give one velocity per state with the states' dimension, "
            f"shape {tuple(x.shape)}; got {tuple(values.shape)}"
        )
    if not bool(torch.isfinite(values).all()):
        raise ValueError("flow contains NaN or Inf")
    return values.detach().to(torch.float64)


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
    weights: tuple[float, float],
    floor: float,
    seed: int,
) -> KAN:
    model = KAN([u.shape[1], 1], grid=grid, k=3, seed=seed, dtype=torch.float64)
    model.update_grid_(u[train])
    state = {"weight": weights[0]}
    n_train = int(train.numel())
    order = torch.cat([train, test])

    def objective(m: KAN, inputs: Tensor, labels: Tensor) -> Tensor:
        rows = order[labels[:, 0].long()]
        gradient = _input_gradient(m, inputs, jac[rows], create_graph=True)
        if basis is None:
            return conservation_loss(gradient, f[rows])
        loss = conservation_loss(gradient, f[rows], basis[rows], state["weight"])
        excess = torch.relu(dependence(gradient, f[rows], basis[rows]) - (1 - floor))
        return loss + excess.pow(2)

    index = torch.arange(len(order), dtype=torch.float64)[:, None]
    data = Dataset(u[train], index[:n_train], u[test], index[n_train:])
    for weight, n_steps in zip(weights, steps):
        state["weight"] = weight
        if n_steps:
            fit(
                model,
                data,
                steps=n_steps,
                objective=objective,
                update_grid=False,
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


# ------------------------------------------------------------------ formulas
def _term_gradients(terms: list[sympy.Expr], symbols: list[sympy.Symbol], x: Tensor) -> Tensor:
    """(n, n_terms, d) gradients of the terms."""
    return torch.stack([expression_gradient(t, symbols, x) for t in terms], 1)


def _library(
    result: ConservedQuantities,
    x: Tensor,
    symbols: list[sympy.Symbol],
    degree: int,
    extra: Sequence[sympy.Expr],
) -> list[sympy.Expr]:
    terms: list[sympy.Expr] = polynomial_terms(symbols, degree) if degree else []
    for model, inputs in zip(result.models, result.feature_terms):
        u = term_matrix(inputs, symbols, x)
        names = [sympy.Symbol(f"_u{k}", real=True) for k in range(len(inputs))]
        per_edge = edge_candidates(model, u, names)
        substitution = dict(zip(names, inputs))
        for candidates in per_edge:
            for candidate in candidates:
                terms.extend(sympy.expand(t.xreplace(substitution)) for t in candidate.terms)
    terms.extend(sympy.sympify(t) for t in extra)
    return independent_terms(unique_terms(terms, symbols), symbols, x)


def _formulas(
    result: ConservedQuantities,
    flow: FlowLike,
    x: Tensor,
    f: Tensor,
    test: Tensor,
    symbols: list[sympy.Symbol],
    degree: int,
    extra: Sequence[sympy.Expr],
    formula_tol: float,
    check_tol: float,
    rank_tol: float,
    n_verify: int,
    verify_ranges: Sequence[tuple[float, float]] | None,
    generator: torch.Generator,
) -> None:
    terms = _library(result, x, symbols, degree, extra)
    if not terms:
        return
    grads = _term_gradients(terms, symbols, x)  # (n, m, d)
    operator = torch.einsum("nmd,nd->nm", grads, f)
    complexity = [sympy.count_ops(t) + len(t.free_symbols) for t in terms]
    found = sparse_null_vectors(operator, tol=formula_tol, complexity=complexity)
    expressions, fitted = [], []
    for vector, support in zip(found.vectors, found.supports):
        expr = combine_terms([(sympy.Float(float(vector[k]), 15), terms[k]) for k in support])
        fitted.append(normalize_scale(expr, symbols))
        expressions.append(snap_expression(fitted[-1])[0])
    result.all_expressions = expressions

    # fresh states for the check
    if callable(flow) and n_verify:
        lo, hi = (
            (x.min(0).values, x.max(0).values)
            if verify_ranges is None
            else (
                torch.tensor([r[0] for r in verify_ranges], dtype=torch.float64),
                torch.tensor([r[1] for r in verify_ranges], dtype=torch.float64),
            )
        )
        fresh = lo + (hi - lo) * torch.rand(
            n_verify, x.shape[1], generator=generator, dtype=torch.float64
        )
        fresh_f = _flow_values(flow, fresh)
    else:
        fresh, fresh_f = x[test], f[test]
    order = sorted(
        range(len(expressions)),
        key=lambda k: (sympy.count_ops(expressions[k]), sympy.default_sort_key(expressions[k])),
    )
    chosen, chosen_fitted, chosen_grads, residuals = [], [], [], []
    for k in order:
        if len(chosen) >= result.count:
            break
        grad = _term_gradients([expressions[k]], symbols, fresh)[:, 0]
        residual = conservation_residual(grad, fresh_f)
        if not residual < check_tol:
            continue
        rank, _ = gradient_rank(torch.stack(chosen_grads + [grad], 1), rank_tol)
        if rank == len(chosen) + 1:
            chosen.append(expressions[k])
            chosen_fitted.append(fitted[k])
            chosen_grads.append(grad)
            residuals.append(residual)
    result.expressions, result.fitted, result.residuals = chosen, chosen_fitted, residuals
    result.rank = gradient_rank(torch.stack(chosen_grads, 1), rank_tol)[0] if chosen_grads else 0
