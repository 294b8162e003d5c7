"""All independent conserved quantities of a flow ``dx/dt = f(x)``, as KANs and laws.

:func:`find_conserved_quantities` takes the flow at sampled states, or trajectories
(states and times; the flow is then estimated by :func:`estimate_flow`), and

1. learns the quantities one after the other with the conservation loss
   (:mod:`kanscience.physics._invariant_learning`): the **count** comes from the rank test
   on the learned gradients, and is 0, with the stages as evidence, for a flow without
   invariants;
2. replaces the networks by their most separable independent combinations (any
   combination of invariants is one, and the deflation leaves them mixed:
   :mod:`kanscience.physics._invariant_unmixing`), then turns each into a law through
   the symbolic search used for data
   (:mod:`kanscience.physics._invariant_formula`), refits the law's constants under the
   conservation loss (:mod:`kanscience.physics._invariant_refit`) and verifies it on fresh
   states (:mod:`kanscience.physics._invariant_laws`). Each of the ``count``
   :class:`Invariant` records carries its checks, and a ``law`` that is None, with a
   reason, when no formula passed them.

The verification tolerance is ``check_tol``, raised to the flow's estimated relative error
for trajectories (a law cannot be checked below the noise of the flow it
is checked against).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import sympy
import torch
from torch import Tensor

from ..core import KAN
from ._conservation import FlowLike, _flow_values, _states, gradient_rank
from ._display import laws_latex, stages_figure, summary_html
from ._expressions import as_symbols, expression_gradient, term_matrix
from ._flows import FlowEstimate, TrajectoriesLike, estimate_flow
from ._invariant_formula import domain_samples
from ._invariant_laws import Invariant, extract_laws
from ._invariant_learning import FEATURE_KINDS, ConservedStage, learn_invariants
from ._invariant_unmixing import separable_combinations

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["ConservedQuantities", "ConservedStage", "Invariant", "find_conserved_quantities"]


@dataclass
class ConservedQuantities:
    """What :func:`find_conserved_quantities` found.

    Attributes
    ----------
    count : int
        Number of functionally independent conserved quantities (the rank test on the
        learned gradients).
    models : list of KAN
        The accepted quantities as KANs of their features (see ``feature_terms``).
    feature_terms : list of list of sympy.Expr
        The inputs of each model, as expressions of ``variables``.
    stages : list of ConservedStage
        Every network tried, with its residual and independence (the evidence for the count).
    expressions : list of sympy.Expr
        The verified laws (those of ``invariants`` that have one), in order.
    fitted : list of sympy.Expr
        The same before snapping.
    all_expressions : list of sympy.Expr
        The same as ``expressions`` (every verified law is returned there).
    residuals : list of float
        Conservation residual of each of ``expressions`` on the verification states.
    rank : int
        Rank of the gradients of ``expressions``.
    variables : list of sympy.Symbol
    invariants : list of Invariant
        One per counted quantity: network, law or the reason for none, and checks.
    flow : FlowEstimate or None
        The flow estimated from trajectories, when trajectories were given.
    tolerance : float
        The conservation residual a law had to reach.
    mixing : Tensor (count, count) or None
        Row ``i``: the combination of ``models`` whose law is ``invariants[i]`` (the
        identity unless a combination is more separable,
        :mod:`kanscience.physics._invariant_unmixing`).
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
    invariants: list[Invariant] = field(default_factory=list)
    flow: FlowEstimate | None = None
    tolerance: float = float("nan")
    mixing: Tensor | None = None

    def kan_values(self, index: int, x: Tensor) -> Tensor:
        """Values of the ``index``-th learned quantity (a KAN) at states ``x`` (n, d),
        differentiable in ``x``."""
        if not 0 <= index < len(self.models):
            raise ValueError(f"index must be in [0, {len(self.models)}), got {index!r}")
        _states(x)  # validation only: the values stay differentiable in x
        features = term_matrix(
            self.feature_terms[index], self.variables, x.to(self.models[index].layers[0].coef.dtype)
        )
        return self.models[index](features)[:, 0]

    @property
    def complete(self) -> bool:
        """Whether every conserved quantity found by the KANs has a verified formula."""
        return self.rank == self.count and len(self.expressions) == self.count

    @property
    def summary(self) -> str:
        """The count with its evidence, and each law or the reason it is missing."""
        if self.count == 0:
            lines = ["no conserved quantity: every network tried failed the tests"]
            lines += [
                f"  stage {s.index} ({s.features}): residual {s.residual:.2e}, median "
                f"cosine {s.pointwise:.2e}, independence {s.independence:.3f}"
                for s in self.stages
            ]
            return "\n".join(lines)
        lines = [f"{self.count} independent conserved quantities (rank test)"]
        for q in self.invariants:
            if q.law is None:
                lines.append(f"  Q{q.index + 1}: no law ({q.reason})")
            else:
                lines.append(
                    f"  Q{q.index + 1} = {q.law}  (residual {q.residual:.1e}, "
                    f"R^2 vs network {q.r2:.6f})"
                )
        return "\n".join(lines)

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


def _validate_options(
    residual_tol: float, rank_tol: float, features: str, steps: Sequence[int], grid: int
) -> tuple[int, int]:
    if not (0 < residual_tol < 1 and 0 < rank_tol < 1):
        raise ValueError(
            f"residual_tol and rank_tol must be in (0, 1), got {residual_tol!r}, {rank_tol!r}"
        )
    if features not in FEATURE_KINDS:
        raise ValueError(f"features must be one of {sorted(FEATURE_KINDS)}, got {features!r}")
    if isinstance(grid, bool) or not isinstance(grid, int) or grid < 1:
        raise ValueError(f"grid must be an int >= 1, got {grid!r}")
    if len(steps) != 2 or any(int(s) < 0 for s in steps):
        raise ValueError(f"steps must be two counts (leave, polish), got {steps!r}")
    return int(steps[0]), int(steps[1])


def _inputs(
    flow: FlowLike | None, x: Tensor | None, trajectories: TrajectoriesLike | None
) -> tuple[Tensor, Tensor, FlowEstimate | None]:
    if trajectories is not None:
        if flow is not None or x is not None:
            raise ValueError("give either flow and x, or trajectories, not both")
        estimate = estimate_flow(trajectories)
        return estimate.states, estimate.velocities, estimate
    if flow is None or x is None:
        raise ValueError("flow and x are required (or trajectories=[(times, states), ...])")
    states = _states(x)
    return states, _flow_values(flow, states), None


def _fresh_states(
    x: Tensor,
    n: int,
    generator: torch.Generator,
    domain: Callable[[Tensor], Tensor] | None,
    ranges: Sequence[tuple[float, float]] | None,
) -> Tensor:
    if ranges is None:
        return domain_samples(x, n, generator, domain)
    lo = torch.tensor([r[0] for r in ranges], dtype=torch.float64)
    hi = torch.tensor([r[1] for r in ranges], dtype=torch.float64)
    fresh = lo + (hi - lo) * torch.rand(n, x.shape[1], generator=generator, dtype=torch.float64)
    if domain is not None:
        fresh = fresh[domain(fresh).to(torch.bool)]
        if fresh.shape[0] == 0:
            raise ValueError("domain rejects every sample drawn in verify_ranges")
    return fresh


def find_conserved_quantities(
    flow: FlowLike | None = None,
    x: Tensor | None = None,
    variables: Sequence[str | sympy.Symbol] | None = None,
    *,
    trajectories: TrajectoriesLike | None = None,
    max_quantities: int | None = None,
    features: str = "auto",
    grid: int = 5,
    steps: Sequence[int] = (20, 30),
    weights: Sequence[float] = (1.0, 0.0),
    floor: float = 0.1,
    residual_tol: float = 1e-2,
    rank_tol: float = 0.1,
    check_tol: float = 1e-3,
    test_fraction: float = 0.2,
    n_verify: int = 2000,
    verify_ranges: Sequence[tuple[float, float]] | None = None,
    domain: Callable[[Tensor], Tensor] | None = None,
    formula_budget: float = 30.0,
    seed: int = 0,
) -> ConservedQuantities:
    """Learn every independent conserved quantity of a flow and their laws.

    Parameters
    ----------
    flow : callable or Tensor, optional
        ``flow(x) -> dx/dt`` of shape (n, d), or the velocities at ``x`` as a tensor.
    x : Tensor (n, d), optional
        Sampled states (with ``flow``).
    variables : list of str or sympy.Symbol, optional
        Names of the coordinates (default ``x_1 ... x_d``).
    trajectories : list of (times, states), or (times, states) stacked, optional
        Instead of ``flow`` and ``x``: sampled trajectories; the flow is estimated
        (:func:`estimate_flow`) and the laws are verified on held-out samples.
    max_quantities : int, optional
        Upper bound on the count (default ``d - 1``).
    features : {'auto', 'raw', 'pairwise', 'deep'}
        Networks tried per stage (``'auto'``: all three, cheapest first; see
        :mod:`kanscience.physics._invariant_learning`).
    grid : int
        Grid intervals of the KANs.
    steps : (int, int)
        L-BFGS steps of the deep network with the leaving weight and with the polishing
        weight (one-layer networks are solved exactly).
    weights : (float, float)
        Deflation weights of the deep network's two phases.
    floor : float
        A gradient with less than this fraction outside the span of the quantities found
        is penalized (deep network) or excluded (one-layer networks).
    residual_tol, rank_tol : float
        Acceptance of a network (conservation residual on held-out states, rank test).
    check_tol : float
        Conservation residual a law must reach on the verification states.
    test_fraction : float
        Held-out fraction of the states.
    n_verify : int
        Fresh states near the data (or uniform in ``verify_ranges``) for the symbolic
        search and, with a callable ``flow``, the verification.
    verify_ranges : sequence of (low, high), optional
        A box for the fresh states instead of the data's neighbourhood.
    domain : callable, optional
        ``domain(states) -> bool tensor``: where the flow is defined; fresh states
        outside it are dropped.
    formula_budget : float
        Seconds of symbolic search per learned quantity.
    seed : int

    Returns
    -------
    ConservedQuantities

    Raises
    ------
    ValueError
        For states or trajectories with NaN/Inf, times that do not increase, a flow of
        the wrong shape, a domain rejecting every sample, or bad options.
    """
    x, f, estimate = _inputs(flow, x, trajectories)
    n, d = x.shape
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
    fresh = _fresh_states(x, max(n_verify, 200), generator, domain, verify_ranges)
    noise = 0.0 if estimate is None else estimate.relative_error
    permutation = torch.randperm(n, generator=generator)
    n_test = max(1, round(test_fraction * n))
    test, train = permutation[:n_test], permutation[n_test:]

    stages, terms, gradients = learn_invariants(
        x,
        f,
        symbols,
        (train, test),
        limit=limit,
        kinds=FEATURE_KINDS[features],
        grid=grid,
        steps=phases,
        weights=tuple(weights),
        floor=floor,
        residual_tol=max(residual_tol, noise),
        rank_tol=rank_tol,
        seed=seed,
    )
    accepted = [s for s in stages if s.accepted]
    result = ConservedQuantities(
        len(accepted),
        [s.model for s in accepted],
        terms,
        stages,
        variables=symbols,
        flow=estimate,
        tolerance=max(check_tol, noise),
    )
    if not accepted:
        return result
    verify = (fresh, _flow_values(flow, fresh)) if callable(flow) else (x[test], f[test])
    networks = [(lambda states, k=k: result.kan_values(k, states)) for k in range(len(accepted))]
    networks, accuracies, result.mixing = separable_combinations(
        networks, [s.residual for s in accepted], fresh[: min(400, fresh.shape[0])], seed
    )
    rows = permutation[: min(n, 2000)]
    result.invariants = extract_laws(
        result.models,
        networks,
        terms,
        accuracies,
        symbols,
        fresh,
        (x[rows], f[rows]),
        verify,
        tol=result.tolerance,
        rank_tol=rank_tol,
        budget=formula_budget,
        seed=seed,
    )
    found = [q for q in result.invariants if q.law is not None]
    result.expressions = [q.law for q in found if q.law is not None]
    result.fitted = [q.fitted for q in found if q.fitted is not None]
    result.all_expressions = list(result.expressions)
    result.residuals = [q.residual for q in found]
    if result.expressions:
        grads = [expression_gradient(e, symbols, verify[0]) for e in result.expressions]
        result.rank = gradient_rank(torch.stack(grads, 1), rank_tol)[0]
    return result
