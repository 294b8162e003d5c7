"""Auxiliary variables: values from the formula path, names, validation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import sympy
import torch

from kanscience import create_dataset
from kanscience.symbolic._auxiliary import auxiliary_columns, with_auxiliary


def test_values_match_numpy_for_tensors_frames_and_datasets():
    rng = np.random.default_rng(0)
    x = np.column_stack([rng.uniform(1, 2, 50), rng.uniform(0, 0.9, 50), np.ones(50)])
    expressions = {"beta": "v / c", "gamma": "1 / sqrt(1 - v**2 / c**2)"}
    gamma = 1 / np.sqrt(1 - x[:, 1] ** 2)
    values = auxiliary_columns(torch.from_numpy(x), ["m0", "v", "c"], expressions)
    np.testing.assert_allclose(values.numpy(), np.column_stack([x[:, 1], gamma]), rtol=1e-14)

    frame = pd.DataFrame(x, columns=["m0", "v", "c"])
    extended, names = with_auxiliary(frame, ["m0", "v", "c"], expressions)
    assert names == ["m0", "v", "c", "beta", "gamma"]
    np.testing.assert_allclose(extended["gamma"].to_numpy(), gamma, rtol=1e-14)

    data = create_dataset(
        lambda t: t[:, [0]] / torch.sqrt(1 - t[:, [1]] ** 2),
        n_var=3,
        ranges=[[1, 2], [0, 0.9], [1, 1.0001]],
        train_num=20,
        test_num=10,
    )
    augmented, names = with_auxiliary(data, ["m0", "v", "c"], {"gamma": "1/sqrt(1 - v**2/c**2)"})
    assert augmented.train_input.shape == (20, 4) and augmented.test_input.shape == (10, 4)
    torch.testing.assert_close(augmented.train_label, data.train_label)


def test_sympy_expressions_with_plain_symbols_are_accepted():
    v, c = sympy.symbols("v c")  # no real=True assumption: matched by name
    values = auxiliary_columns(
        torch.tensor([[0.5, 2.0]], dtype=torch.float64), ["v", "c"], {"b": v / c}
    )
    assert values.item() == pytest.approx(0.25)


@pytest.mark.parametrize(
    "expressions, message",
    [
        ({"beta": "w / c"}, r"uses unknown variable\(s\) \['w'\]"),
        ({"v": "v * 2"}, "already a variable"),
        ({"bad": "v +* c"}, "cannot parse"),
        ({"inf": "log(v - c / 4)"}, "not finite"),
    ],
)
def test_bad_auxiliary_definitions_raise(expressions, message):
    with pytest.raises(ValueError, match=message):
        auxiliary_columns(torch.tensor([[0.5, 2.0]]), ["v", "c"], expressions)


@pytest.mark.slow
def test_relativistic_mass_with_auxiliary_gamma_is_discovered_exactly():
    """KAN 2.0's auxiliary-variable example: with beta and gamma as inputs the law is m0*gamma."""
    from kanscience.discover._discover import discover

    data = create_dataset(
        lambda x: x[:, [0]] / torch.sqrt(1 - (x[:, [1]] / x[:, [2]]) ** 2),
        n_var=3,
        ranges=[[1, 2], [0.1, 0.8], [1, 1.5]],
        train_num=600,
        test_num=300,
        seed=0,
        dtype=torch.float64,
    )
    data, names = with_auxiliary(
        data, ["m0", "v", "c"], {"beta": "v / c", "gamma": "1 / sqrt(1 - v**2 / c**2)"}
    )
    # no time budget: no training is cut short by the clock, so the result does not depend
    # on the machine's load (v / (beta c) = 1 on these data: exact formulas abound)
    result = discover(data, var_names=names, time_budget=None, seed=0)
    m0, gamma = sympy.Symbol("m0", real=True), sympy.Symbol("gamma", real=True)
    assert sympy.simplify(result.best.expr - m0 * gamma) == 0
    assert result.best.test_rmse < 1e-9
