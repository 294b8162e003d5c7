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
# # 6. Which inputs matter? Attribution scores and input pruning
#
# Real data come with columns that may be irrelevant. KAN attribution scores propagate
# the spread of every edge's output back from the outputs to the inputs (pykan's
# `attribute`), so each input gets a score of how much the trained network uses it.
# Here $f = \exp(\sin(\pi x_1) + x_2^2) + 0.2\, x_3$ and $x_4, x_5, x_6$ are pure
# distractors.

# %%
import matplotlib.pyplot as plt
import torch

from kanscience import KAN, Dataset, Penalty, attribute, create_dataset, fit, prune_inputs

torch.set_num_threads(1)


def f(v):
    return torch.exp(torch.sin(torch.pi * v[:, [0]]) + v[:, [1]] ** 2) + 0.2 * v[:, [2]]


names = ["x1", "x2", "x3", "x4", "x5", "x6"]
data = create_dataset(f, n_var=6, train_num=1000, test_num=1000, seed=0)
model = KAN([6, 5, 1], grid=5, seed=0)
history = fit(model, data, steps=30, penalty=Penalty(lamb=1e-2), progress=False)
print(f"test RMSE {history.test_loss[-1]:.2e}")

# %%
scores = attribute(model, data.train_input).input_scores
for name, score in zip(names, scores.tolist()):
    print(f"{name}: {score:.4f}")
fig, ax = plt.subplots(figsize=(5, 3))
ax.bar(names, scores.detach().numpy())
ax.set_yscale("log")
ax.set_ylabel("attribution score")

# %% [markdown]
# The scores follow the inputs' real importance: $x_1$ and $x_2$ dominate, the weak linear
# term $x_3$ is an order of magnitude lower, and the distractors are another order lower.
# `prune_inputs` drops the inputs below a threshold (`1e-2`); the smaller model takes only
# the kept columns and retrains as well as before.

# %%
result = prune_inputs(model, data.train_input)
kept = list(result.kept_inputs)
print("kept inputs:", [names[i] for i in kept])
small = Dataset(
    data.train_input[:, kept], data.train_label, data.test_input[:, kept], data.test_label
)
retrained = fit(result.model, small, steps=20, progress=False)
print(f"pruned model {result.model.width_in}: test RMSE {retrained.test_loss[-1]:.2e}")

# %% [markdown]
# The claim: the three distractors get the three lowest scores and are pruned away, the
# relevant inputs (even the weak one) are kept, and the smaller model still fits.

# %%
ranking = scores.argsort(descending=True).tolist()
assert set(ranking[-3:]) == {3, 4, 5}, ranking
assert ranking[:2] in ([0, 1], [1, 0]), ranking
assert float(scores[3:].max()) < float(scores[:3].min()) / 10, scores
assert kept == [0, 1, 2], kept
assert retrained.test_loss[-1] < 5e-2, retrained.test_loss[-1]
