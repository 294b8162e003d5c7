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
# # 3. Compile a formula into a KAN, then let data correct it
#
# The *kanpiler* turns a sympy formula into a KAN whose forward pass equals the formula
# exactly: every edge is a symbolic function `c*f(a*x+b)+d`, products become
# multiplication nodes. We compile the prior $f = x y$, check it against sympy, then widen
# the network, switch on trainable splines where a missing term can grow, and fine-tune on
# data that actually follow $x y + \tfrac12 \sin(\pi z)$.

# %%
import sympy
import torch

from compiler import compile_formula, describe, expand_depth, expand_width, perturb
from kanscience import create_dataset, fit
from kanscience.plot import plot

torch.set_num_threads(1)

x, y, z = sympy.symbols("x y z")
prior = x * y
model = compile_formula(prior, [x, y, z], ranges=(-1, 1))
print(describe(model))

# %% [markdown]
# `describe` lists every active edge: both inputs pass through the identity and meet in
# one multiplication node; `z` is an input the prior does not use (yet). The diagram:

# %%
generator = torch.Generator().manual_seed(0)
grid_points = torch.rand(200, 3, dtype=torch.float64, generator=generator) * 2 - 1
fig = plot(model, grid_points, in_vars=["x", "y", "z"], out_vars=["x*y"])

# %% [markdown]
# The forward pass is the formula, to float64 rounding:

# %%
reference = sympy.lambdify([x, y, z], prior, "numpy")
with torch.no_grad():
    compiled = model(grid_points)[:, 0]
exact = torch.as_tensor(reference(*grid_points.T.numpy()))
compile_error = float((compiled - exact).abs().max())
print(f"max |KAN - formula| = {compile_error:.1e}")

# %% [markdown]
# The data contain a term the prior misses. We add a hidden layer (the compiled model has
# none), one extra sum node in it, and `perturb` switches on splines from the inputs into
# the new node and from it to the output, with zero weight on the output edge, so the
# function is still exactly the prior before training.


# %%
def truth(v):
    return v[:, [0]] * v[:, [1]] + 0.5 * torch.sin(torch.pi * v[:, [2]])


data = create_dataset(truth, n_var=3, train_num=1000, test_num=1000, seed=0).to(torch.float64)
with torch.no_grad():
    prior_rmse = float((model(data.test_input) - data.test_label).pow(2).mean().sqrt())

wide = perturb(expand_width(expand_depth(model), 1, 1), mag=1.0, seed=0)
print(describe(wide))
with torch.no_grad():
    unchanged = float((wide(data.test_input) - model(data.test_input)).abs().max())
print(f"before training the widened model still equals the prior: {unchanged:.1e}")

history = fit(wide, data, steps=30, progress=False)
print(f"test RMSE: prior {prior_rmse:.3f} -> fine-tuned {history.test_loss[-1]:.2e}")

# %%
fig = plot(wide, data.train_input[:300], in_vars=["x", "y", "z"], out_vars=["f"])

# %% [markdown]
# The claim: the compiled KAN equals the formula exactly, widening and perturbing does not
# change it, and fine-tuning learns the missing term (the error drops a hundredfold).

# %%
assert compile_error < 1e-12, compile_error
assert unchanged < 1e-12, unchanged
assert prior_rmse > 0.3, prior_rmse
assert history.test_loss[-1] < prior_rmse / 100, (prior_rmse, history.test_loss[-1])
print("improvement factor:", prior_rmse / history.test_loss[-1])
