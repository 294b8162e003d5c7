"""Physics discovery with KANs: from data to closed-form laws that check themselves.

Workflows (each learns a KAN with a physics loss through :func:`kanscience.fit`, turns the
learned network into formulas with the same symbolic search as data
(:func:`kanscience.discover.discover` on samples of the network; conserved quantities and
Lagrangians), refits their constants under the physics loss itself, snaps them, and
verifies the result on fresh samples; a quantity with no formula that passes is returned
with ``law=None`` and the reason):

* :func:`find_conserved_quantities` -- every independent conserved quantity of a flow
  (deflation + a rank test of the gradients decide the count).
* :func:`fit_lagrangian` -- a Lagrangian from ``(q, qdot, qddot)`` (Euler-Lagrange loss;
  formula in the gauge of :func:`canonical_lagrangian`).
* :func:`learn_time_shift` -- a time shift ``t' = t + f(r)`` that flattens the spatial
  part of a metric (hidden symmetry of Schwarzschild).
* :func:`fit_constitutive` -- a stress component as a function of the deformation
  gradient, through :func:`kanscience.discover.discover` (the stress, or the stress times
  an auxiliary variable such as ``J = det F``); ``law=None`` with the reason when no
  formula explains the data.

:func:`plot_law_comparison` draws a learned law against the true one (curves, parity,
level sets; :mod:`kanscience.physics._panels`), after :func:`affine_gauge` where the law is
defined up to scale and offset.
"""

from ._candidates import Candidate, edge_candidates
from ._compare import LawComparison, compare_laws
from ._conservation import conservation_loss, conservation_residual, dependence, gradient_rank
from ._conserved import (
    ConservedQuantities,
    ConservedStage,
    Invariant,
    find_conserved_quantities,
)
from ._constitutive import (
    ConstitutiveResult,
    deformation_symbols,
    determinant_feature,
    fit_constitutive,
    linear_elastic_prior,
)
from ._euler_lagrange import (
    SingularMassMatrixError,
    acceleration_loss,
    euler_lagrange,
    lagrangian_accelerations,
    residual_loss,
    rollout,
)
from ._expressions import combine_terms, expression_gradient, split_terms, term_matrix
from ._flows import FlowEstimate, estimate_flow
from ._lagrangian import LagrangianResult, fit_lagrangian
from ._lagrangian_gauge import canonical_lagrangian, lagrangian_energy
from ._lagrangian_network import LearnedLagrangian, indefinite_fraction, perturbation_scale
from ._panels import LawContours, LawCurves, LawPanel, LawParity
from ._plot import affine_gauge, plot_law_comparison
from ._snap import normalize_scale, snap_expression, snap_number
from ._sparse import NullVectors, Regression, sparse_null_vectors, sparse_regression
from ._symmetry import (
    TimeShiftResult,
    flatness_loss,
    learn_time_shift,
    metric_function,
    schwarzschild_metric,
    shifted_spatial_metric,
    time_shift_residual,
)
from ._term_library import independent_terms, polynomial_terms, unique_terms
from ._univariate import UnivariateFit, apply_transform, univariate_formula

__all__ = [
    "Candidate",
    "ConservedQuantities",
    "ConservedStage",
    "ConstitutiveResult",
    "FlowEstimate",
    "Invariant",
    "LagrangianResult",
    "LawComparison",
    "LearnedLagrangian",
    "LawContours",
    "LawCurves",
    "LawPanel",
    "LawParity",
    "NullVectors",
    "Regression",
    "SingularMassMatrixError",
    "TimeShiftResult",
    "UnivariateFit",
    "acceleration_loss",
    "affine_gauge",
    "apply_transform",
    "canonical_lagrangian",
    "combine_terms",
    "compare_laws",
    "conservation_loss",
    "conservation_residual",
    "deformation_symbols",
    "dependence",
    "determinant_feature",
    "edge_candidates",
    "estimate_flow",
    "euler_lagrange",
    "expression_gradient",
    "find_conserved_quantities",
    "fit_constitutive",
    "fit_lagrangian",
    "flatness_loss",
    "gradient_rank",
    "indefinite_fraction",
    "independent_terms",
    "lagrangian_accelerations",
    "lagrangian_energy",
    "learn_time_shift",
    "linear_elastic_prior",
    "metric_function",
    "normalize_scale",
    "perturbation_scale",
    "plot_law_comparison",
    "polynomial_terms",
    "residual_loss",
    "rollout",
    "schwarzschild_metric",
    "shifted_spatial_metric",
    "snap_expression",
    "snap_number",
    "sparse_null_vectors",
    "sparse_regression",
    "split_terms",
    "term_matrix",
    "time_shift_residual",
    "unique_terms",
    "univariate_formula",
]
