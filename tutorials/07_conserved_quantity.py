# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 7. Conserved quantities from a flow field
#
# A dynamical system $\dot{\mathbf x} = \mathbf f(\mathbf x)$ conserves a quantity
# $H(\mathbf x)$ when $H$ does not change along any trajectory:
#
# $$\frac{dH}{dt} = \nabla H \cdot \dot{\mathbf x}
# = \nabla H(\mathbf x) \cdot \mathbf f(\mathbf x) = 0 \quad \text{for every state } \mathbf x .$$
#
# So we do not need trajectories at all, only the velocity field at sampled states: we look
# for a function whose **gradient is orthogonal to the flow** everywhere.
# `find_conserved_quantities` trains a KAN $H$ on the scale-free loss
#
# $$\ell(H) = \frac{\operatorname{mean}\big((\nabla H\cdot\mathbf f)^2\big)}
# {\operatorname{mean}\big(|\nabla H|^2\,|\mathbf f|^2\big)}$$
#
# (the denominator forbids the trivial answer $H = \text{const}$), turns the trained network
# into formulas with the same symbolic search as data (`discover` on its additive parts),
# refits their constants on $\nabla H\cdot\mathbf f = 0$ itself, snaps them to simple
# numbers and checks the formula on fresh states.
#
# First example: the harmonic oscillator, $(\dot x, \dot p) = (p, -x)$, sampled uniformly in
# $[-1, 1]^2$. Its energy is $H = (x^2 + p^2)/2$.

# %%
import matplotlib.pyplot as plt
import sympy
import torch

from kanscience.physics import (
    conservation_residual,
    expression_gradient,
    find_conserved_quantities,
    gradient_rank,
    term_matrix,
)

torch.set_num_threads(1)
x, p = sympy.symbols("x p", real=True)


def flow(states):
    """(dx/dt, dp/dt) = (p, -x)."""
    return torch.stack([states[:, 1], -states[:, 0]], 1)


def uniform(n, dim, seed):
    """n states uniform in [-1, 1]^dim, float64, from a private generator."""
    generator = torch.Generator().manual_seed(seed)
    return 2 * torch.rand(n, dim, generator=generator, dtype=torch.float64) - 1


states = uniform(500, 2, seed=0)
found = find_conserved_quantities(flow, states, [x, p], seed=0)
stage = found.stages[0]
print(f"{found.count} conserved quantity; KAN residual on held-out states {stage.residual:.1e}")
print("formula:", found.expressions[0])

# %% [markdown]
# The formula is $x^2 + p^2$: the energy up to a factor 2, which is all the data can say,
# because any $aH + b$ is conserved as well. The KAN itself (before any formula is read off)
# is already a conserved quantity. Its level sets are the trajectories: below, the flow
# arrows run along the contours of the learned $H$ (left), and the learned values are an
# affine function of the true energy (right; sign and scale of $H$ are arbitrary).

# %%
side = torch.linspace(-1, 1, 61, dtype=torch.float64)
grid_x, grid_p = torch.meshgrid(side, side, indexing="xy")
grid = torch.stack([grid_x.reshape(-1), grid_p.reshape(-1)], 1)
with torch.no_grad():
    learned = found.kan_values(0, grid)
    learned_samples = found.kan_values(0, states)
true_energy = (states.pow(2).sum(1) / 2).numpy()

fig, (left, right) = plt.subplots(1, 2, figsize=(9, 4))
levels = left.contour(grid_x.numpy(), grid_p.numpy(), learned.reshape(61, 61).numpy(), 8)
left.clabel(levels, fontsize=7)
coarse_x, coarse_p = torch.meshgrid(side[::10], side[::10], indexing="xy")
coarse = torch.stack([coarse_x.reshape(-1), coarse_p.reshape(-1)], 1)
velocity = flow(coarse)
left.quiver(
    coarse[:, 0],
    coarse[:, 1],
    velocity[:, 0],
    velocity[:, 1],
    color="grey",
    angles="xy",
    scale_units="xy",
    scale=6,
)
left.set(xlabel="x", ylabel="p", title="level sets of the learned H, and the flow")
left.set_aspect("equal")
right.scatter(true_energy, learned_samples.numpy(), s=4)
right.set(xlabel="true energy $(x^2+p^2)/2$", ylabel="learned H (KAN)", title="learned vs true")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Several invariants in one run
#
# A flow in $d$ dimensions can have up to $d - 1$ independent conserved quantities.
# `find_conserved_quantities` learns them one after the other (*deflation*): each new KAN
# must also keep its gradient out of the span of the gradients already found, and it is
# accepted only if (i) its conservation residual on held-out states is small and (ii) the
# **rank test** passes: the stacked, normalized gradients of all accepted quantities must
# stay of full rank (median smallest singular value above `rank_tol`). The first stage that
# fails ends the search, so the *number* of invariants comes from the data, not from us.
#
# Two uncoupled oscillators with incommensurate frequencies $1$ and $\sqrt2$,
# $(\dot q_1, \dot p_1, \dot q_2, \dot p_2) = (p_1, -q_1, p_2, -2 q_2)$, conserve the two
# energies $H_1 = (q_1^2 + p_1^2)/2$ and $H_2 = p_2^2/2 + q_2^2$ and nothing else (the
# trajectories fill 2-tori densely). Both energies are sums of functions of single
# coordinates, so we pass `features='raw'`; the default `'auto'` would retry each failed
# stage with pairwise products of the coordinates as well (needed for bilinear invariants
# such as angular momenta), at about twice the cost.

# %%
q1, p1, q2, p2 = coordinates = sympy.symbols("q1 p1 q2 p2", real=True)


def two_oscillators(states):
    """(p1, -q1, p2, -2 q2)."""
    return torch.stack([states[:, 1], -states[:, 0], states[:, 3], -2 * states[:, 2]], 1)


states4 = uniform(500, 4, seed=1)
several = find_conserved_quantities(two_oscillators, states4, coordinates, features="raw", seed=0)
print(" stage  residual  independence  accepted")
for s in several.stages:
    print(f"{s.index:6d}  {s.residual:8.1e}  {s.independence:12.3f}  {s.accepted}")
print(f"count = {several.count}, formulas: {several.expressions}")

# %% [markdown]
# Two stages are accepted. The third cannot find a function that is both conserved and
# independent of the first two: its best effort is nearly a function of $H_1$ and $H_2$
# (independence far below `rank_tol = 0.1`), so the rank test rejects it and the search
# stops at two, not at the maximum of three. The same rank test tells dependent quantities
# apart: $H_1 + H_2$ is conserved too, but it adds no new direction to the gradients.

# %%
fresh4 = uniform(2000, 4, seed=2)
gradients = [expression_gradient(e, list(coordinates), fresh4) for e in several.expressions]
rank_two, _ = gradient_rank(torch.stack(gradients, 1))
total = several.expressions[0] + several.expressions[1]
with_sum = gradients + [expression_gradient(total, list(coordinates), fresh4)]
rank_with_sum, singular_values = gradient_rank(torch.stack(with_sum, 1))
print(
    f"rank of the two formulas: {rank_two}; with their sum added: {rank_with_sum} "
    f"(median singular values {[round(v, 3) for v in singular_values.tolist()]})"
)

# %% [markdown]
# The claims. For the oscillator: one quantity, whose formula equals $(x^2 + p^2)/2$ up to
# scale and offset (sympy), and which is conserved on fresh states both as a formula and as
# a KAN (the KAN's gradient comes from autograd through the network). For the two
# oscillators: exactly two quantities (the third stage rejected by the rank test), $H_1$
# and $H_2$ up to scale and offset, of rank two; adding $H_1 + H_2$ does not raise the rank.


# %%
def equal_up_to_scale_and_offset(expr, truth, symbols):
    """True when expr = a * truth + b for numbers a != 0, b (checked by sympy)."""
    origin = {s: 0 for s in symbols}
    ratio = sympy.simplify((expr - expr.subs(origin)) / (truth - truth.subs(origin)))
    return bool(ratio.is_number and ratio != 0)


energy = (x**2 + p**2) / 2
assert found.count == 1, found.count
assert equal_up_to_scale_and_offset(found.expressions[0], energy, [x, p]), found.expressions

fresh = uniform(2000, 2, seed=3)
formula_residual = conservation_residual(
    expression_gradient(found.expressions[0], [x, p], fresh), flow(fresh)
)
inputs = fresh.clone().requires_grad_(True)
kan_h = found.models[0](term_matrix(found.feature_terms[0], [x, p], inputs))
(kan_gradient,) = torch.autograd.grad(kan_h.sum(), inputs)
kan_residual = conservation_residual(kan_gradient, flow(fresh))
print(f"fresh states: formula residual {formula_residual:.1e}, KAN residual {kan_residual:.1e}")
assert formula_residual < 1e-10, formula_residual
assert kan_residual < 1e-3, kan_residual

h1, h2 = (q1**2 + p1**2) / 2, p2**2 / 2 + q2**2
assert several.count == 2 and several.rank == 2, (several.count, several.rank)
third = several.stages[-1]
assert not third.accepted and third.independence < 0.1, third  # rejected by the rank test
matched = sorted(
    name
    for e in several.expressions
    for name, truth in (("H1", h1), ("H2", h2))
    if equal_up_to_scale_and_offset(e, truth, coordinates)
)
assert matched == ["H1", "H2"], several.expressions
assert max(several.residuals) < 1e-10, several.residuals
assert rank_two == 2 and rank_with_sum == 2, (rank_two, rank_with_sum)
