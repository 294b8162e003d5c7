"""Levenberg-Marquardt: the structured Jacobian against autograd, accuracy, refusals."""

from __future__ import annotations

import pytest
import torch

from kanscience import KAN, Penalty, create_dataset, fit
from kanscience.train._levenberg import LevenbergMarquardt, free_coordinates, output_jacobian

DTYPE = torch.float64


def autograd_jacobian(model, x, coordinates):
    """Row by row: d output[b, o] / d (free coordinates), by plain autograd."""
    params = [c.parameter for c in coordinates]
    out = model(x)
    rows = []
    for b in range(x.shape[0]):
        per_output = []
        for o in range(out.shape[1]):
            grads = torch.autograd.grad(out[b, o], params, retain_graph=True, allow_unused=True)
            per_output.append(
                torch.cat(
                    [
                        (torch.zeros_like(c.parameter) if g is None else g).reshape(-1)[c.index]
                        for g, c in zip(grads, coordinates)
                    ]
                )
            )
        rows.append(torch.stack(per_output))
    return torch.stack(rows)


def mixed_model():
    model = KAN(
        [3, [2, 2], [1, 1], 2], mult_arity=[[], [2, 3], [2], []], grid=4, seed=3, dtype=DTYPE
    )
    model.set_mode_(0, 1, 2, "off")
    model.set_symbolic_(0, 0, 1, "sin", affine=(1.3, 0.2, 0.7, -0.1), mode="ns")
    model.set_symbolic_(1, 2, 0, "x^2", affine=(0.5, 0.1, 1.2, 0.3), mode="s")
    model.set_symbolic_(1, 3, 2, "exp", affine=(0.4, -0.2, 0.9, 0.0), mode="ns")
    return model


@pytest.mark.parametrize(
    "build",
    [
        lambda: KAN([2, 5, 1], grid=5, seed=0, dtype=DTYPE),
        lambda: KAN([2, [0, 2], 1], grid=3, seed=1, dtype=DTYPE),
        mixed_model,
    ],
)
def test_structured_jacobian_equals_autograd(build):
    model = build()
    x = torch.rand(17, model.n_in, generator=torch.Generator().manual_seed(0), dtype=DTYPE) * 2 - 1
    coordinates = free_coordinates(model)
    out, jacobian = output_jacobian(model, x, coordinates)
    expected = autograd_jacobian(model, x, coordinates)
    torch.testing.assert_close(out, model(x).detach(), rtol=0, atol=1e-14)
    torch.testing.assert_close(jacobian, expected, rtol=1e-10, atol=1e-12)


def test_masked_edges_have_no_columns():
    model = mixed_model()
    coordinates = free_coordinates(model)
    layer = model.layers[0]
    coef = next(c for c in coordinates if c.parameter is layer.coef)
    n_coef = layer.coef.shape[-1]
    assert coef.index.numel() == (int((layer.mask != 0).sum())) * n_coef
    symbolic = next(c for c in coordinates if c.parameter is model.layers[1].symbolic_affine)
    assert symbolic.index.numel() == 2 * 4  # two symbolic edges in layer 1


def target(x):
    return torch.exp(torch.sin(torch.pi * x[:, [0]]) + x[:, [1]] ** 2)


def test_fifty_lm_steps_beat_lbfgs_accuracy(no_files_written):
    data = create_dataset(target, n_var=2, train_num=1000, test_num=1000, seed=0)
    model = KAN([2, 5, 1], grid=5, k=3, seed=0)
    history = fit(model, data, opt="LM", steps=50, progress=False)
    # pykan's 50-step L-BFGS fit reaches about 1.3e-3 here (tests/test_train.py: < 2e-3)
    assert history.test_loss[-1] < 5e-4
    assert history.n_evaluations < 150
    again = KAN([2, 5, 1], grid=5, k=3, seed=0)
    assert fit(again, data, opt="LM", steps=50, progress=False).test_loss == history.test_loss


def test_lm_recovers_symbolic_constants_exactly():
    x = torch.linspace(-1, 1, 200, dtype=DTYPE)[:, None]
    y = 1.7 * torch.sin(2.3 * x - 0.4) + 0.25
    model = KAN([1, 1], grid=3, seed=0, dtype=DTYPE)
    model.set_symbolic_(0, 0, 0, "sin", affine=(2.0, 0.0, 1.0, 0.0), mode="s")
    fit(
        model,
        {"train_input": x, "train_label": y, "test_input": x, "test_label": y},
        opt="LM",
        steps=40,
        grid_schedule=None,
        progress=False,
    )
    a, b, c, d = model.layers[0].symbolic_affine[0, 0].tolist()
    assert abs(a - 2.3) < 1e-8 and abs(b + 0.4) < 1e-8
    assert abs(c - 1.7) < 1e-8 and abs(d - 0.25) < 1e-8


def test_row_weights_equal_repeated_rows_and_zero_weights_dropped_rows():
    # integer weights w are the rows repeated w times (w = 0: left out): the same normal
    # equations, so the same steps and the same (weighted mean) error
    generator = torch.Generator().manual_seed(3)
    x = torch.rand(60, 2, generator=generator, dtype=DTYPE) * 2 - 1
    y = (torch.sin(2 * x[:, :1]) + x[:, 1:] ** 2) + 0.05 * torch.randn(
        60, 1, generator=generator, dtype=DTYPE
    )
    weight = torch.randint(0, 4, (60,), generator=generator).to(DTYPE)
    repeats = weight.long()
    weighted, repeated = (KAN([2, 3, 1], grid=4, seed=1, dtype=DTYPE) for _ in range(2))
    by_weight, by_rows = LevenbergMarquardt(weighted), LevenbergMarquardt(repeated)
    x_rows, y_rows = x.repeat_interleave(repeats, 0), y.repeat_interleave(repeats, 0)
    for _ in range(5):
        loss_weighted = by_weight.step(x, y, weight)
        loss_rows = by_rows.step(x_rows, y_rows)
        assert loss_weighted == pytest.approx(loss_rows, rel=1e-9)
    for p, q in zip(weighted.parameters(), repeated.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-8, atol=1e-10)
    with pytest.raises(ValueError, match="weight must hold 60 finite nonnegative"):
        by_weight.step(x, y, -weight)
    with pytest.raises(ValueError, match="weight must hold 60"):
        by_weight.step(x, y, weight[:5])


def test_a_failed_step_leaves_the_parameters_unchanged():
    x = torch.linspace(-1, 1, 50, dtype=DTYPE)[:, None]
    model = KAN([1, 2, 1], grid=3, seed=0, dtype=DTYPE)
    y = model(x).detach()  # already exact: no step can lower the loss
    before = [p.detach().clone() for p in model.parameters()]
    solver = LevenbergMarquardt(model, max_trials=3)
    loss = solver.step(x, y)
    assert loss == 0.0
    for p, q in zip(model.parameters(), before):
        assert torch.equal(p, q)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"penalty": Penalty(lamb=0.01)}, "penalty"),
        ({"loss_fn": lambda p, t: ((p - t) ** 2).mean()}, "loss_fn"),
        ({"objective": lambda m, batch: m(batch.inputs).pow(2).mean()}, "objective"),
        ({"singularity_avoiding": True}, "singularity_avoiding"),
    ],
)
def test_lm_refuses_what_is_not_least_squares(kwargs, name):
    data = create_dataset(target, n_var=2, train_num=20, test_num=20, seed=0)
    model = KAN([2, 2, 1], seed=0)
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(ValueError, match=f"opt='LM'.*{name}"):
        fit(model, data, opt="LM", steps=1, progress=False, **kwargs)
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), before))


def test_lm_refuses_trainable_affine_and_huge_models():
    with pytest.raises(ValueError, match="node_scale|subnode_scale|node_bias|subnode_bias"):
        LevenbergMarquardt(KAN([2, 2, 1], seed=0, affine_trainable=True))
    with pytest.raises(ValueError, match="opt='LBFGS' for large networks"):
        LevenbergMarquardt(KAN([20, 30, 20], grid=5, seed=0))
