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
# # 1. KAN basics: fit, refine the grid, look at the edges
#
# A Kolmogorov-Arnold network puts a learnable 1-D function (a B-spline plus a SiLU
# residual) on every edge and sums at the nodes. We fit
# $f(x, y) = \exp(\sin(\pi x) + y^2)$, the example of the KAN papers, with a `[2, 5, 1]`
# network, then make the grid finer and continue.

# %%
import matplotlib.pyplot as plt
import torch

from kanscience import KAN, create_dataset, fit, trace

torch.set_num_threads(1)


def f(x):
    return torch.exp(torch.sin(torch.pi * x[:, [0]]) + x[:, [1]] ** 2)


data = create_dataset(f, n_var=2, train_num=1000, test_num=1000, seed=0)
model = KAN([2, 5, 1], grid=5, k=3, seed=0)
history = fit(model, data, steps=20, progress=False)
print(f"grid 5: test RMSE {history.test_loss[-1]:.2e} after {history.n_evaluations} evaluations")

# %% [markdown]
# Grid refinement: `refine` returns a new model whose splines have more intervals and
# reproduce the old ones on the data; training continues from there.

# %%
losses = {5: history.test_loss[-1]}
for grid in (10, 20):
    model = model.refine(grid, data.train_input)
    history = fit(model, data, steps=15, progress=False)
    losses[grid] = history.test_loss[-1]
    print(f"grid {grid}: test RMSE {losses[grid]:.2e}")

# %% [markdown]
# Every edge is a curve we can look at: `trace` evaluates all of them on data.
# The first layer's edges should look like $\sin(\pi x)$ and $y^2$ up to scale.

# %%
x = data.train_input[data.train_input[:, 0].argsort()]
with torch.no_grad():
    layers = trace(model, x)
fig, axes = plt.subplots(2, 5, figsize=(12, 4), sharex=True)
for i in range(2):
    order = layers[0].inputs[:, i].argsort()
    for j in range(5):
        axes[i, j].plot(layers[0].inputs[order, i], layers[0].activations[order, i, j])
        axes[i, j].set_title(f"edge x{i} -> h{j}", fontsize=8)
fig.tight_layout()

# %% [markdown]
# The claim of this tutorial: refining the grid lowers the test error by an order of
# magnitude.

# %%
assert losses[5] < 5e-3, losses
assert losses[20] < losses[5] / 5, losses
print("refinement gain:", losses[5] / losses[20])
