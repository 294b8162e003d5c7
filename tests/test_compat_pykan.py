"""pykan's ``fit`` spelling: the same fit as the new-style call, and pykan's own numbers."""

from __future__ import annotations

import contextlib
import io

import pytest
import torch

from kanscience import KAN, GridSchedule, Penalty, create_dataset, fit, from_pykan
from kanscience.compat.pykan import PYKAN_FIT_OPTIONS, fit_pykan, options_from_pykan

F64 = torch.float64


def target(x):
    return torch.exp(torch.sin(torch.pi * x[:, [0]]) + x[:, [1]] ** 2)


@pytest.fixture(scope="module")
def data():
    return create_dataset(target, n_var=2, train_num=200, test_num=200, seed=0, dtype=F64)


def _abs_error(p, y):
    return torch.mean(torch.abs(p - y))


def _one() -> float:
    return 1.0


# (pykan's flat options, the equivalent new-style options)
EQUIVALENT = [
    ({}, {"opt": "LBFGS"}),
    (
        {"lamb": 1e-3, "lamb_l1": 0.5, "lamb_entropy": 1.0, "reg_metric": "edge_backward"},
        {"opt": "LBFGS", "penalty": Penalty(1e-3, l1=0.5, entropy=1.0, metric="edge_backward")},
    ),
    (
        {"lamb": 1e-3, "lamb_coef": 0.1, "lamb_coefdiff": 0.2},
        {"opt": "LBFGS", "penalty": Penalty(lamb=1e-3, coef=0.1, coef_diff=0.2)},
    ),
    ({"update_grid": False}, {"opt": "LBFGS", "grid_schedule": None}),
    (
        {"grid_update_num": 2, "start_grid_update_step": 1, "stop_grid_update_step": 3},
        {"opt": "LBFGS", "grid_schedule": GridSchedule(updates=2, start=1, stop=3)},
    ),
    (
        {"opt": "Adam", "lr": 0.01, "batch": 50, "seed": 4},
        {"opt": "Adam", "lr": 0.01, "batch": 50, "seed": 4},
    ),
    (
        {"loss_fn": _abs_error, "metrics": [_one]},
        {"opt": "LBFGS", "loss_fn": _abs_error, "metrics": [_one]},
    ),
    ({"opt": "LM"}, {"opt": "LM"}),
]


@pytest.mark.parametrize("pykan_options, options", EQUIVALENT)
def test_fit_pykan_is_the_new_style_call(data, pykan_options, options):
    old, new = KAN([2, 3, 1], grid=5, seed=0, dtype=F64), KAN([2, 3, 1], grid=5, seed=0, dtype=F64)
    results = fit_pykan(old, data, steps=4, progress=False, **pykan_options)
    history = fit(new, data, steps=4, progress=False, **options)
    assert results == history.as_dict()
    for a, b in zip(old.state_dict().values(), new.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


def test_options_from_pykan_groups_the_flat_names():
    options = options_from_pykan(
        {"lamb": 0.01, "lamb_entropy": 0.0, "grid_update_num": 5, "steps": 20, "seed": 1}
    )
    assert options == {
        "steps": 20,
        "seed": 1,
        "penalty": Penalty(lamb=0.01, entropy=0.0),
        "grid_schedule": GridSchedule(updates=5, start=-1, stop=50),
    }
    # pykan's defaults: no penalty (lamb = 0), pykan's grid schedule
    assert options_from_pykan({}) == {"penalty": None, "grid_schedule": GridSchedule()}
    assert set(PYKAN_FIT_OPTIONS) == {
        "lamb",
        "lamb_l1",
        "lamb_entropy",
        "lamb_coef",
        "lamb_coefdiff",
        "reg_metric",
        "update_grid",
        "grid_update_num",
        "start_grid_update_step",
        "stop_grid_update_step",
    }


@pytest.mark.parametrize(
    "options, error, message",
    [
        ({"lamb": 0.01, "penalty": Penalty(0.01)}, ValueError, "give penalty or pykan's"),
        ({"update_grid": False, "grid_schedule": None}, ValueError, "give grid_schedule or"),
        ({"lamb": -0.1}, ValueError, "Penalty.lamb must be"),
        ({"reg_metric": "l2"}, ValueError, "Penalty.metric must be"),
    ],
)
def test_options_from_pykan_rejects_contradictions(options, error, message):
    with pytest.raises(error, match=message):
        options_from_pykan(options)


def test_fit_pykan_writes_no_figures(data, no_files_written):
    model = KAN([2, 2, 1], seed=0, dtype=F64)
    with pytest.raises(ValueError, match="save_fig=True is not supported"):
        fit_pykan(model, data, steps=1, save_fig=True, progress=False)
    fit_pykan(model, data, steps=1, log=5, display_metrics=["train_loss"], progress=False)


# ------------------------------------------------------------------ pykan's own fit
@pytest.mark.parametrize(
    "options, rel",
    [
        ({"steps": 3}, 1e-6),  # L-BFGS: pykan never stops a step early; rounding differs
        ({"steps": 3, "lamb": 1e-3}, 1e-6),
        ({"steps": 4, "opt": "Adam", "lr": 0.01, "update_grid": False}, 1e-12),
    ],
)
def test_fit_pykan_follows_pykans_fit(data, options, rel):
    kan = pytest.importorskip("kan")
    previous = torch.get_default_dtype()
    torch.set_default_dtype(F64)
    try:
        theirs = kan.MultKAN(width=[2, 3, 1], grid=5, k=3, seed=0, auto_save=False)
    finally:
        torch.set_default_dtype(previous)
    ours = from_pykan(theirs)
    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        expected = theirs.fit(data.as_dict(), **options)
    results = fit_pykan(ours, data, progress=False, **options)
    # pykan reports a reg without penalty only on some steps (its last): compared with one
    for key in (
        ("train_loss", "test_loss", "reg") if "lamb" in options else ("train_loss", "test_loss")
    ):
        assert results[key] == pytest.approx([float(v) for v in expected[key]], rel=rel), key
