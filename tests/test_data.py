"""Datasets: validation of shapes and values, pykan-identical sampling, Feynman loader."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from kanscience import Dataset, create_dataset, load_feynman


def f(x):
    return torch.exp(torch.sin(torch.pi * x[:, [0]]) + x[:, [1]] ** 2)


def test_create_dataset_matches_pykan_samples():
    kan_utils = pytest.importorskip("kan.utils")
    ours = create_dataset(f, n_var=2, seed=3, train_num=200, test_num=100)
    theirs = kan_utils.create_dataset(f, n_var=2, seed=3, train_num=200, test_num=100)
    for name in ("train_input", "train_label", "test_input", "test_label"):
        assert torch.equal(getattr(ours, name), theirs[name])


def test_create_dataset_respects_per_variable_ranges_and_global_rng():
    state = torch.random.get_rng_state()
    data = create_dataset(lambda x: x.sum(1), n_var=3, ranges=[[0, 1], [2, 5], [-3, -2]], seed=0)
    assert torch.equal(torch.random.get_rng_state(), state)
    lo, hi = data.train_input.min(0).values, data.train_input.max(0).values
    assert torch.all(lo >= torch.tensor([0.0, 2.0, -3.0])) and torch.all(
        hi <= torch.tensor([1.0, 5.0, -2.0])
    )
    torch.testing.assert_close(data.train_label[:, 0], data.train_input.sum(1))


def test_dataset_accepts_numpy_and_pandas():
    x = np.linspace(0, 1, 20).reshape(10, 2)
    frame = pd.DataFrame(x, columns=["a", "b"])
    data = Dataset(frame, pd.Series(x.sum(1)), x, x.sum(1))
    assert data.train_input.dtype == torch.float64
    np.testing.assert_allclose(data.train_label[:, 0].numpy(), x.sum(1))


@pytest.mark.parametrize(
    "arguments, message",
    [
        (
            (np.array([[0.0, np.nan]]), np.zeros(1), np.zeros((1, 2)), np.zeros(1)),
            "train_input contains NaN or Inf",
        ),
        (
            (np.zeros((3, 2)), np.zeros(2), np.zeros((1, 2)), np.zeros(1)),
            "train_input has 3 samples but train_label has 2",
        ),
        (
            (np.zeros((3, 2)), np.zeros(3), np.zeros((1, 3)), np.zeros(1)),
            "train_input has 2 features but test_input has 3",
        ),
        ((np.zeros((3, 2, 1)), np.zeros(3), np.zeros((1, 2)), np.zeros(1)), "must be 1-D or 2-D"),
        (
            (np.array([["a", "b"]]), np.zeros(1), np.zeros((1, 2)), np.zeros(1)),
            "train_input must be numeric",
        ),
        (
            (np.zeros((1, 2)), np.array([np.inf]), np.zeros((1, 2)), np.zeros(1)),
            "train_label contains NaN or Inf",
        ),
    ],
)
def test_bad_data_is_rejected_with_a_named_problem(arguments, message):
    with pytest.raises(ValueError, match=message):
        Dataset(*arguments)


def test_labels_that_are_not_finite_are_rejected():
    with pytest.raises(ValueError, match="NaN or Inf"):
        create_dataset(lambda x: torch.log(x[:, 0] - 2), n_var=1)
    with pytest.raises(ValueError, match="ranges"):
        create_dataset(f, n_var=2, ranges=[[0, 1]])


def test_feynman_loader_reads_all_equations_and_evaluates_them():
    equations = load_feynman()
    assert len(equations) == 50
    eq = load_feynman(["I.6.2a"])[0]
    data = eq.dataset(train_num=50, test_num=10, seed=0, dtype=torch.float64)
    theta = data.train_input[:, 0]
    torch.testing.assert_close(
        data.train_label[:, 0], torch.exp(-(theta**2) / 2) / np.sqrt(2 * np.pi)
    )
    with pytest.raises(ValueError, match="unknown Feynman equation"):
        load_feynman(["nope"])
