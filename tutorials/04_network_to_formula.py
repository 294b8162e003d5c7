# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.7
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 4. From a trained network to a formula
#
# The symbolic-regression workflow of the KAN papers: train a KAN with a sparsity penalty,
# prune what it did not use, refine the grid, replace every spline by its best-fitting
# library function (`auto_symbolic`), polish the affine constants, read the formula
# (`symbolic_formula`) and snap its constants to simple numbers. The hidden law is
# $f(x, y) = \exp(\sin(\pi x) + y^2)$.

# %%
import sympy
import torch

from kanscience import KAN, Penalty, create_dataset, fit, prune
from kanscience.plot import plot
from kanscience.symbolic import (
    auto_symbolic,
    ex_round,
    merge_constants,
    snap_constants,
    symbolic_formula,
)

torch.set_num_threads(1)


def f(v):
    return torch.exp(torch.sin(torch.pi * v[:, [0]]) + v[:, [1]] ** 2)


# float64: the constants come out to about 1e-6, so that snapping can tell pi from 22/7
data = create_dataset(f, n_var=2, train_num=1000, test_num=1000, seed=0, dtype=torch.float64)
model = KAN([2, 5, 1], grid=5, k=3, seed=0, dtype=torch.float64)
history = fit(model, data, steps=30, penalty=Penalty(lamb=1e-2), progress=False)
print(f"sparse training: test RMSE {history.test_loss[-1]:.2e}")
fig = plot(model, data.train_input, in_vars=["x", "y"], out_vars=["f"])

# %% [markdown]
# Most hidden nodes are dark-grey ghosts: `prune` removes the nodes and edges whose
# attribution score is below threshold. We then continue training without the penalty and
# on a finer grid.

# %%
pruned = prune(model, data.train_input).model
print("width after pruning:", pruned.width_in)
fit(pruned, data, opt="LBFGS", steps=20, progress=False)
pruned = pruned.refine(20, data.train_input)
history = fit(pruned, data, opt="LBFGS", steps=20, progress=False)
print(f"pruned and refined: test RMSE {history.test_loss[-1]:.2e}")
fig = plot(pruned, data.train_input, in_vars=["x", "y"], out_vars=["f"])

# %% [markdown]
# `auto_symbolic` fits `c*f(a*x+b)+d` for each library function on every edge and keeps
# the best trade-off between $R^2$ and complexity. The report says what was chosen.

# %%
result = auto_symbolic(pruned, data.train_input, lib=["x", "x^2", "exp", "sin"])
for edge in result.report:
    print(f"layer {edge.layer} edge {edge.i}->{edge.j}: {edge.name:4s} r2={edge.r2:.5f}")
symbolic = result.model
history = fit(symbolic, data, opt="LBFGS", steps=20, grid_schedule=None, progress=False)
print(f"all-symbolic model after polishing the constants: test RMSE {history.test_loss[-1]:.2e}")

# %% [markdown]
# The formula, raw, rounded and with its constants snapped to simple numbers (fractions,
# and multiples of $\pi$; tiny leftovers of pruned-away paths snap to zero). A network
# spreads one scale over several constants ($0.169\,(2.432\,y)^2$ is $1.0\,y^2$), so the
# constants are first merged, one per degree of freedom, then snapped; snapping lets sympy
# multiply out factors again, so we snap a second time:

# %%
x, y = sympy.symbols("x y", real=True)
raw = symbolic_formula(symbolic, [x, y])[0]
print("raw:    ", raw)
print("rounded:", ex_round(raw, 3))
snapped = snap_constants(merge_constants(raw), tol=1e-2, constants=[sympy.pi])
print("snapped once:", snapped)
snapped = snap_constants(snapped, tol=1e-2, constants=[sympy.pi])  # sympy merged factors
print("snapped:     ", snapped)

# %% [markdown]
# The claim: the snapped formula is exactly the law that generated the data.

# %%
truth = sympy.exp(sympy.sin(sympy.pi * x) + y**2)
assert sympy.simplify(snapped - truth) == 0, snapped
assert history.test_loss[-1] < 1e-2, history.test_loss[-1]
print("recovered:", snapped)
