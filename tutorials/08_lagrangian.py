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
# # 8. A Lagrangian from positions, velocities and accelerations
#
# In Lagrangian mechanics one scalar function $L(q, \dot q)$ fixes the motion through the
# Euler-Lagrange equation $\frac{d}{dt}\frac{\partial L}{\partial \dot q} =
# \frac{\partial L}{\partial q}$. Expanding the time derivative gives the acceleration:
#
# $$M\,\ddot q = \frac{\partial L}{\partial q} -
# \frac{\partial^2 L}{\partial \dot q\,\partial q}\,\dot q,
# \qquad M = \frac{\partial^2 L}{\partial \dot q^2} .$$
#
# So from samples of $(q, \dot q, \ddot q)$ we can learn $L$ as a KAN: the loss compares the
# accelerations implied by the network's first and second derivatives (exact, by autograd)
# with the measured ones. $L$ is never observed itself, and it is not unique:
# $aL + b + \frac{d}{dt}F(q)$ gives the same motion for any numbers $a \neq 0$, $b$ and any
# function $F$ (a *gauge* freedom). `fit_lagrangian` trains the KAN, reads candidate terms
# off its edges, gets their coefficients from the data by a null-space solve and writes the
# law in a canonical gauge (`canonical_lagrangian`): no constant, no total derivative, unit
# mass at rest.
#
# The data: a pendulum, $\ddot q = -\sin q$, sampled uniformly for
# $q, \dot q \in [-2, 2]$. The truth is $L = \dot q^2/2 + \cos q$.

# %%
import matplotlib.pyplot as plt
import sympy
import torch

from compiler import compile_formula, symbolic_to_spline
from kanscience.physics import (
    canonical_lagrangian,
    euler_lagrange,
    fit_lagrangian,
    lagrangian_accelerations,
    lagrangian_energy,
    rollout,
)
from kanscience.symbolic import formula_to_torch

torch.set_num_threads(1)
q, qdot = sympy.symbols("q qdot", real=True)
truth = qdot**2 / 2 + sympy.cos(q)


def uniform(n, ranges, seed):
    """n float64 samples uniform in the box `ranges`, from a private generator."""
    generator = torch.Generator().manual_seed(seed)
    lo, hi = torch.tensor(ranges, dtype=torch.float64).T
    return lo + (hi - lo) * torch.rand(n, len(ranges), generator=generator, dtype=torch.float64)


def pendulum(position, velocity):
    """True acceleration -sin q."""
    return -torch.sin(position)


ranges = [(-2.0, 2.0), (-2.0, 2.0)]
samples = uniform(1000, ranges, seed=0)
positions, velocities = samples[:, :1], samples[:, 1:]
accelerations = pendulum(positions, velocities)

# %% [markdown]
# The gauge in action: scaling, shifting and adding the total derivative
# $\frac{d}{dt}\sin q = \cos q\,\dot q$ changes $L$ but neither the equation of motion nor
# the canonical form.

# %%
gauged = 3 * truth + 7 + sympy.cos(q) * qdot
print("gauge-transformed:", gauged, "->", canonical_lagrangian(gauged, [q], [qdot]))
check = samples[:5]
same_motion = torch.allclose(
    lagrangian_accelerations(formula_to_torch(gauged, [q, qdot]), check[:, :1], check[:, 1:]),
    pendulum(check[:, :1], check[:, 1:]),
)
print("same accelerations:", same_motion)

# %% [markdown]
# ## A prior from the kanpiler
#
# Training needs a regular mass matrix $M$ from the first step (otherwise the accelerations
# are undefined), so we start from a physicist's first guess, the free particle
# $L = \dot q^2$, compiled into a one-layer KAN by the kanpiler (tutorial 3) and turned into
# splines. The edge from $q$, unused by the prior, is switched on so that a potential can
# grow there. The prior predicts no acceleration at all: $M = 2$, force $0$.

# %%
compiled = compile_formula("qdot**2", ["q", "qdot"], ranges=ranges)
prior = symbolic_to_spline(compiled, ranges, grid=10)
layer = prior.layers[0]
for i, j in (layer.mask == 0).nonzero().tolist():
    prior.set_mode_(0, i, j, "n")
mass, force = euler_lagrange(prior, positions[:3], velocities[:3])
print(
    "prior at three samples: M =",
    [round(m, 6) for m in mass.flatten().tolist()],
    " force =",
    force.flatten().tolist(),
)

# %% [markdown]
# `fit_lagrangian` trains the KAN in two phases of L-BFGS (first the Euler-Lagrange
# residual $|M\ddot q - F|$, which needs no inverse of $M$, then the relative acceleration
# error), then finds the formula.

# %%
found = fit_lagrangian(
    positions, velocities, accelerations, [q], [qdot], model=prior, steps=50, seed=0
)
print(f"KAN: relative acceleration error on held-out samples {found.kan_error:.1e}")
print("candidate terms from the edges:", found.terms)
print("gauge terms (no effect on the motion):", found.gauge_terms)
print("recovered, before snapping:", found.fitted)
print("recovered:", found.expression)

# %% [markdown]
# What the network learned. Left: the accelerations implied by the KAN (via its Hessian)
# against the truth $-\sin q$, on fresh samples. Right: the slice $L(q, 0)$, in which the
# velocity gauge term $F'(q)\dot q$ vanishes: divided by the learned mass $M$ (which fixes
# the scale $a$) and shifted to $0$ at $q = 0$, it is the negative potential
# $\cos q - 1$.

# %%
fresh = uniform(400, ranges, seed=1)
fresh_q, fresh_v = fresh[:, :1], fresh[:, 1:]
kan_acceleration = lagrangian_accelerations(found.model, fresh_q, fresh_v)
line = torch.linspace(-2, 2, 101, dtype=torch.float64)[:, None]
at_rest = torch.zeros_like(line)
kan_mass, _ = euler_lagrange(found.model, line, at_rest)
with torch.no_grad():
    slice_values = found.model(torch.cat([line, at_rest], 1))[:, 0]
    origin = found.model(torch.zeros(1, 2, dtype=torch.float64))[0, 0]
potential = ((slice_values - origin) / kan_mass.flatten()).numpy()

fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
left.scatter(fresh_q.flatten(), kan_acceleration.flatten(), s=5, label="KAN")
left.plot(line.flatten(), -torch.sin(line.flatten()), "k--", label=r"$-\sin q$")
left.set(xlabel="q", ylabel=r"$\ddot q$", title="accelerations from the learned L")
left.legend()
right.plot(line.flatten(), potential, label="KAN: (L(q,0) - L(0,0)) / M")
right.plot(line.flatten(), torch.cos(line.flatten()) - 1, "k--", label=r"$\cos q - 1$")
right.set(xlabel="q", title="the potential part of L")
right.legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Rollout and energy
#
# A small acceleration error is not the whole story: does the law produce the right
# *trajectories*, and does it conserve its energy $E = \dot q\,\partial L/\partial \dot q - L$
# (`lagrangian_energy`)? We integrate the recovered formula and the true dynamics from the
# same eight initial states for 10 time units with RK4 and compare.
# A time-independent Lagrangian conserves its energy exactly, so the drift on the right is
# only the integrator's error.

# %%
law = formula_to_torch(found.expression, [q, qdot])
energy = lagrangian_energy(found.expression, [qdot])
print("energy of the recovered law:", energy)
energy_fn = formula_to_torch(energy, [q, qdot])
start = uniform(8, [(-1.5, 1.5), (-1.0, 1.0)], seed=2)
dt, n_steps = 0.01, 1000
law_q, law_v = rollout(
    lambda a, b: lagrangian_accelerations(law, a, b), start[:, :1], start[:, 1:], dt, n_steps
)
true_q, true_v = rollout(pendulum, start[:, :1], start[:, 1:], dt, n_steps)
deviation = float(torch.maximum((law_q - true_q).abs().max(), (law_v - true_v).abs().max()))
energies = energy_fn(torch.cat([law_q, law_v], 2).reshape(-1, 2)).reshape(n_steps + 1, -1)
drift = float(((energies - energies[0]).abs() / energies[0].abs()).max())
print(
    f"max deviation from the true trajectories {deviation:.1e}; "
    f"max relative energy drift {drift:.1e}"
)

times = dt * torch.arange(n_steps + 1)
fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
for k in range(3):
    left.plot(times, true_q[:, k, 0], "k--", lw=1)
    left.plot(times, law_q[:, k, 0], alpha=0.7)
left.set(xlabel="t", ylabel="q", title="true (dashed) and recovered-law trajectories")
right.semilogy(times[1:], ((energies[1:] - energies[0]).abs() / energies[0].abs()).max(1).values)
right.set(xlabel="t", ylabel="max relative |E(t) - E(0)|", title="energy drift (RK4, dt = 0.01)")
fig.tight_layout()
plt.show()

# %% [markdown]
# The claims: the recovered Lagrangian equals $\dot q^2/2 + \cos q$ up to the gauge (both in
# canonical form, compared by sympy); its accelerations match $-\sin q$ on fresh samples
# (relative RMSE below $10^{-3}$; the KAN itself below $10^{-2}$); its trajectories follow
# the true ones (to $10^{-3}$) and conserve the energy along the RK4 rollout (to $10^{-6}$).

# %%
canonical_truth = canonical_lagrangian(truth, [q], [qdot])
difference = sympy.simplify(canonical_lagrangian(found.expression, [q], [qdot]) - canonical_truth)
assert difference == 0, found.expression

true_acceleration = pendulum(fresh_q, fresh_v)


def relative_rmse(predicted):
    return float(
        (predicted - true_acceleration).pow(2).mean().sqrt()
        / true_acceleration.pow(2).mean().sqrt()
    )


law_error = relative_rmse(found.accelerations(fresh_q, fresh_v))
kan_error = relative_rmse(kan_acceleration)
print(f"relative acceleration RMSE on fresh samples: law {law_error:.1e}, KAN {kan_error:.1e}")
assert same_motion
assert law_error < 1e-3, law_error
assert kan_error < 1e-2, kan_error
assert deviation < 1e-3, deviation
assert drift < 1e-6, drift
