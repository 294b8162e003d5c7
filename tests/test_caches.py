"""KANLayer's derived state follows the tensors it derives from: direct writes to the grid,
the coefficients, the masks, the symbolic affine parameters or the symbolic names are
seen by the next forward pass, and the features memo hits and misses exactly when it
should."""

from __future__ import annotations

import copy

import pytest
import torch

from kanscience import KAN
from kanscience.core import _splines as splines

F64 = torch.float64


def fresh_copy(model: KAN) -> KAN:
    """A newly built model with the same state (no caches carried over)."""
    new = KAN(**{**model.config(), "library": model.library}, dtype=F64)
    new.load_state_dict(model.state_dict())
    for ours, theirs in zip(new.layers, model.layers):
        ours.symbolic_names = copy.deepcopy(theirs.symbolic_names)
    return new


@pytest.fixture
def model_and_x():
    model = KAN([3, 4, 2], grid=5, seed=0, noise_scale=1.0, dtype=F64)
    x = torch.rand(64, 3, generator=torch.Generator().manual_seed(1), dtype=F64) * 2 - 1
    model(x)  # fill the caches before the edits
    return model, x


def assert_same_as_fresh(model: KAN, x: torch.Tensor) -> None:
    torch.testing.assert_close(model(x), fresh_copy(model)(x), atol=1e-12, rtol=0)


def test_direct_write_to_the_symbolic_mask_is_seen(model_and_x):
    model, x = model_and_x
    model.set_symbolic_(0, 1, 2, "sin", affine=(1.3, 0.2, 0.7, -0.1), mode="n")
    before = model(x)
    layer = model.layers[0]
    layer.symbolic_mask[1, 2] = 1.0  # no call that announces the edit
    after = model(x)
    assert (after - before).abs().max() > 1e-3
    assert_same_as_fresh(model, x)
    layer.symbolic_mask.zero_()
    torch.testing.assert_close(model(x), before, atol=1e-12, rtol=0)


def test_direct_write_to_symbolic_names_and_affine_is_seen(model_and_x):
    model, x = model_and_x
    model.set_symbolic_(1, 2, 0, "sin", affine=(1.0, 0.0, 1.0, 0.0), mode="s")
    model(x)
    layer = model.layers[1]
    layer.symbolic_names[2][0] = "cos"
    assert_same_as_fresh(model, x)
    expected_cos = fresh_copy(model)(x)
    layer.symbolic_affine.data[2, 0, 2] = 3.0
    after = model(x)
    assert (after - expected_cos).abs().max() > 1e-3
    assert_same_as_fresh(model, x)


@pytest.mark.parametrize(
    "edit",
    [
        lambda layer: layer.grid.copy_(layer.grid * 1.3),
        lambda layer: layer.grid.mul_(1.3).add_(0.01),
        lambda layer: layer.coef.data.mul_(2),
        lambda layer: layer.mask[0, 1].fill_(0.0),
    ],
    ids=["grid.copy_", "grid.mul_", "coef.data", "mask"],
)
def test_in_place_edits_of_grid_coef_and_mask_are_seen(model_and_x, edit):
    model, x = model_and_x
    before = model(x)
    with torch.no_grad():
        edit(model.layers[0])
    after = model(x)
    assert (after - before).abs().max() > 1e-6
    assert_same_as_fresh(model, x)


def test_a_new_grid_tensor_is_seen(model_and_x):
    model, x = model_and_x
    layer = model.layers[0]
    layer.grid = splines.uniform_grid(3, 5, 3, (-1.5, 1.5), dtype=F64)
    assert_same_as_fresh(model, x)


def count_feature_calls(monkeypatch) -> list[int]:
    calls = [0]
    original = splines.spline_features

    def counting(*args, **kwargs):
        calls[0] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(splines, "spline_features", counting)
    return calls


def test_features_memo_hits_on_repeated_inputs_and_misses_after_edits(model_and_x, monkeypatch):
    """The memo of the torch path (the compiled contraction forms no features)."""
    from kanscience.core import _kernels as kernels

    monkeypatch.setattr(kernels, "contract_usable", lambda *args: False)
    model, x = model_and_x
    calls = count_feature_calls(monkeypatch)
    layer = model.layers[0]
    with layer.reuse_features(x):
        first = model(x)
        for _ in range(3):
            torch.testing.assert_close(model(x), first, atol=0, rtol=0)
        assert calls[0] == 1  # computed once, then reused
        x.mul_(0.5)  # in-place edit of the input: a miss
        edited = model(x)
        assert calls[0] == 2
        torch.testing.assert_close(edited, fresh_copy(model)(x), atol=1e-12, rtol=0)
        model(x)
        assert calls[0] == 2
        with torch.no_grad():
            layer.grid.mul_(1.1)  # in-place edit of the grid: a miss
        torch.testing.assert_close(model(x), fresh_copy(model)(x), atol=1e-12, rtol=0)
        assert calls[0] == 3
        other = x.clone()  # equal values, another tensor: not memoized
        model(other)
        assert calls[0] == 3
    assert layer._memo == {}


def test_caches_follow_dtype_and_copies(model_and_x):
    model, x = model_and_x
    model.set_symbolic_(0, 0, 0, "x^2", affine=(1.0, 0.1, 0.5, 0.0), mode="ns")
    model(x)
    copied = copy.deepcopy(model)
    copied.layers[0].symbolic_mask[0, 0] = 0.0  # editing the copy leaves the original alone
    assert_same_as_fresh(model, x)
    assert_same_as_fresh(copied, x)
    as32 = copy.deepcopy(model).to(torch.float32)
    torch.testing.assert_close(as32(x.float()).double(), model(x), atol=1e-5, rtol=0)
