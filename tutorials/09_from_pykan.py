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
# # 9. Coming from pykan: convert a model and compare speed
#
# `from_pykan` turns a pykan `MultKAN` into a kanscience `KAN` computing the same
# function (multiplication nodes and symbolic edges included); `to_pykan` goes back.

# %%
import time

import torch

from kanscience import KAN, create_dataset, fit, from_pykan, to_pykan

torch.set_num_threads(1)
kan = __import__("kan")  # pykan, the optional extra

theirs = kan.MultKAN(width=[2, [1, 1], 1], grid=5, k=3, seed=0, auto_save=False)
ours = from_pykan(theirs)
x = torch.rand(256, 2) * 2 - 1
difference = (ours(x) - theirs(x)).abs().max().item()
print(f"largest difference between the two forwards: {difference:.1e}")

# %% [markdown]
# The same seed gives the same initial network in both libraries, so a fit can be
# compared step for step. Forward+backward on the small network:

# %%
data = create_dataset(
    lambda x: torch.exp(torch.sin(torch.pi * x[:, [0]]) + x[:, [1]] ** 2), n_var=2, seed=0
)


def seconds_per_call(model, repeat=30):
    x = data.train_input
    model(x).sum().backward()
    start = time.perf_counter()
    for _ in range(repeat):
        model(x).sum().backward()
    return (time.perf_counter() - start) / repeat


pykan_model = kan.MultKAN(width=[2, 5, 1], grid=5, k=3, seed=0, auto_save=False)
speedup = seconds_per_call(pykan_model, 10) / seconds_per_call(KAN([2, 5, 1], grid=5, k=3, seed=0))
print(f"forward+backward: kanscience is {speedup:.1f}x faster")

# %% [markdown]
# Train with kanscience, hand the result back to pykan users:

# %%
model = KAN([2, 5, 1], grid=5, k=3, seed=0)
fit(model, data, opt="LBFGS", steps=10, progress=False)
back = to_pykan(model)
round_trip = (back(data.test_input) - model(data.test_input)).abs().max().item()
print(f"after to_pykan: largest difference {round_trip:.1e}")

# %% [markdown]
# Claims: conversion is exact to float32 rounding both ways, and kanscience's
# forward+backward is several times faster.

# %%
assert difference < 1e-5 and round_trip < 1e-5
assert speedup > 2, speedup
