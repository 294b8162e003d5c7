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
# # 2. Multiplication nodes
#
# Sums are native to a KAN, products are not: $xy$ needs two layers of splines
# ($xy = ((x+y)^2 - (x-y)^2)/4$). A multiplication node (pykan's MultKAN) multiplies its
# inputs exactly. The width spec `[2, [0, 1], 1]` means: 2 inputs, a hidden layer with 0
# sum nodes and 1 multiplication node, 1 output.

# %%
import torch

from kanscience import KAN, create_dataset, fit

torch.set_num_threads(1)

data = create_dataset(lambda x: x[:, [0]] * x[:, [1]], n_var=2, seed=0)
product = KAN([2, [0, 1], 1], grid=5, k=3, seed=0)
plain = KAN([2, 2, 1], grid=5, k=3, seed=0)
rmse = {}
for name, model in (("mult node", product), ("sum nodes", plain)):
    rmse[name] = fit(model, data, opt="LBFGS", steps=20, progress=False).test_loss[-1]
    print(f"{name:10s} test RMSE {rmse[name]:.2e}")

# %% [markdown]
# Each input feeds one factor of the product: the learned first-layer edges are linear.
# A law with a product of three factors, such as the kinetic energy density
# $\frac12 m v^2$ or $q E d$, uses arity 3: `mult_arity=3`.

# %%
data3 = create_dataset(
    lambda x: x[:, [0]] * x[:, [1]] * x[:, [2]], n_var=3, ranges=[0.5, 2], seed=0
)
triple = KAN([3, [0, 1], 1], grid=5, k=3, mult_arity=3, seed=0)
rmse["triple"] = fit(triple, data3, opt="LBFGS", steps=20, progress=False).test_loss[-1]
print(f"x*y*z with one arity-3 node: test RMSE {rmse['triple']:.2e}")

# %% [markdown]
# Claim: the multiplication node learns $xy$ far better than a network of the same size
# without one, and an arity-3 node learns a triple product.

# %%
assert rmse["mult node"] < 1e-3, rmse
assert rmse["mult node"] < rmse["sum nodes"] / 4, rmse
assert rmse["triple"] < 1e-2, rmse
