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
# # 5. How does a function combine its inputs? Trees and modules
#
# Before (or after) fitting, we can ask *structural* questions: is $f$ a sum or a product
# of functions of disjoint groups of inputs, are some inputs only seen through a symmetric
# combination like $x_1 + x_2$? `build_tree` answers them from derivatives of any
# differentiable callable (a formula, or a trained network) and draws the answer as a
# tree; `input_modules` reads the groups off a trained KAN's wiring.

# %%
import torch

from kanscience import KAN, Penalty, create_dataset, fit, input_modules, prune
from kanscience.plot import plot
from kanscience.structure import build_tree, detect_separability

torch.set_num_threads(1)


def product_of_sums(v):
    return (v[:, 0] + v[:, 1]) * (v[:, 2] + v[:, 3])


report = detect_separability(product_of_sums, ranges=[(1, 2)] * 4)
print("top level:", report.label, report.groups)
tree = build_tree(product_of_sums, ranges=[(1, 2)] * 4)
print(tree.shape())
fig = tree.plot()

# %% [markdown]
# Now a network. The data follow $f = \sin(x_1 + x_2) + (x_3 + x_4)^2$; we train a
# `[4, 4, 1]` KAN with a sparsity penalty, prune it (two hidden nodes survive, one per
# group) and briefly retrain.


# %%
def f(v):
    return torch.sin(v[:, [0]] + v[:, [1]]) + (v[:, [2]] + v[:, [3]]) ** 2


data = create_dataset(f, n_var=4, train_num=1000, test_num=1000, seed=0).to(torch.float64)
model = KAN([4, 4, 1], grid=5, seed=0, dtype=torch.float64)
fit(model, data, steps=30, penalty=Penalty(lamb=1e-2), progress=False)
model = prune(model, data.train_input).model
history = fit(model, data, steps=20, progress=False)
print("pruned width:", model.width_in, f"test RMSE {history.test_loss[-1]:.2e}")
fig = plot(model, data.train_input, in_vars=["x1", "x2", "x3", "x4"], out_vars=["f"])

# %% [markdown]
# `input_modules` clusters the graph of important edges: inputs that feed the same hidden
# nodes form a module.

# %%
modules = input_modules(model, data.train_input)
print("input modules:", modules)

# %% [markdown]
# The same tree analysis works on the trained network as a black box (float64 in, one
# output column out):


# %%
def network(v):
    return model(v)[:, 0]


learned_tree = build_tree(network, data.train_input[:300], var_names=["x1", "x2", "x3", "x4"])
print(learned_tree.shape())
fig = learned_tree.plot()

# %% [markdown]
# The claim: the tree of the formula is a product of two sums, and the trained network is
# recognised as a sum of two functions of $x_1 + x_2$ and $x_3 + x_4$, with matching
# input modules.

# %%
assert report.label == "multiplicative", report
assert tree.shape() == "mul(add(x1,x2),add(x3,x4))", tree.shape()
assert model.width_in == [4, 2, 1], model.width_in
assert modules == ((0, 1), (2, 3)), modules
assert learned_tree.shape() == "add(general(add(x1,x2)),general(add(x3,x4)))", learned_tree.shape()
assert history.test_loss[-1] < 2e-2, history.test_loss[-1]
