"""fit_stream: mini-batches streamed from tensors, numpy memory maps and DataLoaders
(kanscience.train._stream)."""

import math

import numpy as np
import pytest
import torch

from kanscience.core import KAN
from kanscience.train import GridSchedule, StreamHistory, fit_stream
from kanscience.train._permutation import RowPermutation

F64 = torch.float64


def _data(rows=3000, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(rows, 2, generator=g, dtype=F64) * 2 - 1
    y = torch.sin(2 * x[:, 0]) + x[:, 1] ** 2
    return x, y[:, None]


def _model():
    return KAN([2, 3, 1], grid=5, seed=0, dtype=F64)


def _same(a: KAN, b: KAN) -> bool:
    return all(torch.equal(t, b.state_dict()[name]) for name, t in a.state_dict().items())


def test_training_lowers_the_error_on_held_out_rows():
    x, y = _data()
    test = _data(500, seed=1)
    model = _model()
    history = fit_stream(model, (x, y), epochs=30, batch=256, lr=1e-2, test=test, progress=False)
    assert isinstance(history, StreamHistory)
    assert len(history.epoch_loss) == len(history.test_loss) == 30
    assert history.rows == 30 * 3000 and len(history.batch_loss) == 30 * math.ceil(3000 / 256)
    spread = float(test[1].std())
    assert history.test_loss[0] > 3 * history.test_loss[-1]
    assert history.test_loss[-1] < 0.05 * spread


def test_a_memory_map_trains_exactly_as_the_same_rows_in_a_tensor(tmp_path):
    """The batch order and conversion do not depend on where the rows live."""
    x, y = _data(1000)
    path_x, path_y = tmp_path / "x.npy", tmp_path / "y.npy"
    np.save(path_x, x.numpy())
    np.save(path_y, y.numpy())
    mapped = (np.load(path_x, mmap_mode="r"), np.load(path_y, mmap_mode="r"))
    in_memory, from_disk = _model(), _model()
    fit_stream(in_memory, (x, y), epochs=2, batch=128, seed=3, progress=False)
    fit_stream(from_disk, mapped, epochs=2, batch=128, seed=3, progress=False)
    assert _same(in_memory, from_disk)


def test_the_same_seed_gives_the_same_model_and_another_seed_another():
    x, y = _data(800)
    first, again, other = _model(), _model(), _model()
    for model, seed in ((first, 1), (again, 1), (other, 2)):
        fit_stream(model, (x, y), epochs=2, batch=100, seed=seed, progress=False)
    assert _same(first, again) and not _same(first, other)


def test_a_list_of_batches_trains_as_adam_on_those_batches_in_order():
    """Reference: torch's Adam stepped by hand on the same batches (fixed grids)."""
    x, y = _data(600)
    batches = [(x[i : i + 200], y[i : i + 200]) for i in range(0, 600, 200)]
    streamed, by_hand = _model(), _model()
    history = fit_stream(streamed, batches, epochs=2, lr=1e-2, grid_schedule=None, progress=False)
    optimizer = torch.optim.Adam(by_hand.parameters(), lr=1e-2)
    losses = []
    for _ in range(2):
        for inputs, labels in batches:
            optimizer.zero_grad()
            loss = torch.mean((by_hand(inputs) - labels) ** 2)
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()) ** 0.5)
    for a, b in zip(streamed.parameters(), by_hand.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)
    assert history.batch_loss == pytest.approx(losses, rel=1e-12)


def test_a_dataloader_is_a_source():
    x, y = _data(600)
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(x, y), batch_size=200, shuffle=False
    )
    from_loader, from_list = _model(), _model()
    fit_stream(from_loader, loader, epochs=2, progress=False)
    batches = [(x[i : i + 200], y[i : i + 200]) for i in range(0, 600, 200)]
    fit_stream(from_list, batches, epochs=2, progress=False)
    assert _same(from_loader, from_list)


def test_the_grids_are_fitted_to_the_sample():
    """Inputs in [10, 20]: the initial grid on [-1, 1] moves to cover them (to the
    extremes of a sample of one batch, 500 rows: within 1% of the range)."""
    x, y = _data(2000)
    x = 15 + 5 * x
    model = _model()
    fit_stream(
        model, (x, y), epochs=1, batch=500, grid_schedule=GridSchedule(1, -1, 1), progress=False
    )
    grid = model.layers[0].grid  # (inputs, points), extended by k intervals on each side
    k = model.layers[0].k
    inner = grid[:, k:-k]
    assert torch.allclose(inner[:, 0], x.min(0).values, atol=0.1)
    assert torch.allclose(inner[:, -1], x.max(0).values, atol=0.1)


def test_a_callback_stops_the_fit():
    x, y = _data(1000)
    history = fit_stream(
        _model(),
        (x, y),
        epochs=5,
        batch=100,
        callbacks=[lambda state: state.step == 6],
        progress=False,
    )
    assert history.stopped_early and len(history.batch_loss) == 7
    assert "after step 6" in history.stop_reason and len(history.epoch_loss) == 1


def test_a_batch_with_nan_is_refused_before_its_step():
    x, y = _data(400)
    x[350, 1] = math.nan
    model = _model()
    states = []

    def keep(state):
        states.append({k: v.clone() for k, v in state.model.state_dict().items()})

    with pytest.raises(ValueError, match="NaN or Inf"):
        fit_stream(
            model, (x, y), epochs=1, batch=400, grid_schedule=None, callbacks=[keep], progress=False
        )
    assert states == [] and _same(model, _model())


@pytest.mark.parametrize(
    ("source", "kwargs", "error", "match"),
    [
        (
            (torch.zeros(5, 3), torch.zeros(5, 1)),
            {},
            ValueError,
            r"inputs must have shape \(rows, 2\)",
        ),
        ((torch.zeros(5, 2), torch.zeros(4, 1)), {}, ValueError, "same rows"),
        (
            (torch.zeros(5, 2), torch.zeros(5, 2)),
            {},
            ValueError,
            r"labels must have shape \(5, 1\)",
        ),
        ((torch.zeros(0, 2), torch.zeros(0, 1)), {}, ValueError, "no rows"),
        (iter([(torch.zeros(5, 2), torch.zeros(5, 1))]), {}, TypeError, "iterator"),
        (5, {}, TypeError, "source must be"),
        ((torch.zeros(5, 2), torch.zeros(5, 1)), {"epochs": 0}, ValueError, "epochs"),
        ((torch.zeros(5, 2), torch.zeros(5, 1)), {"batch": 0}, ValueError, "batch"),
        ((torch.zeros(5, 2), torch.zeros(5, 1)), {"test": torch.zeros(3)}, TypeError, "test"),
    ],
)
def test_bad_input_is_named(source, kwargs, error, match):
    model = _model()
    with pytest.raises(error, match=match):
        fit_stream(model, source, progress=False, **kwargs)
    assert _same(model, _model())


@pytest.mark.parametrize("rows", [1, 2, 3, 5, 64, 1000, 4099])
def test_the_row_permutation_is_a_permutation_fixed_by_its_seed(rows):
    positions = torch.arange(rows)
    order = RowPermutation(rows, seed=7)(positions)
    assert torch.equal(order.sort().values, positions)
    assert torch.equal(order, RowPermutation(rows, seed=7)(positions))
    # evaluated in pieces, the same permutation
    pieces = torch.cat([RowPermutation(rows, seed=7)(p) for p in positions.split(3)])
    assert torch.equal(pieces, order)
    if rows >= 64:
        other = RowPermutation(rows, seed=8)(positions)
        assert not torch.equal(order, other)
        # no trace of the positions' order left (correlation of a random shuffle ~ 1/sqrt(n))
        r = torch.corrcoef(torch.stack([order.double(), positions.double()]))[0, 1]
        assert abs(float(r)) < 4 / math.sqrt(rows)


def test_an_epoch_reads_every_row_once_in_batches_of_the_size_asked():
    x, y = _data(1000)
    model = _model()
    history = fit_stream(model, (x, y), epochs=2, batch=300, progress=False)
    assert len(history.epoch_seconds) == 2 and history.rows == 2000
    from kanscience.train._stream import _ArrayBatches, _Converter

    batches = _ArrayBatches(x, y, 300, 0, _Converter(model, F64, torch.device("cpu")))
    for epoch in range(2):
        parts = [index for _, _, index in batches.epoch(epoch)]
        assert [len(p) for p in parts] == [300, 300, 300, 100]
        assert torch.equal(torch.cat(parts).sort().values, torch.arange(1000))
        inputs = torch.cat([rows for rows, _, _ in batches.epoch(epoch)])
        assert torch.equal(inputs, x[torch.cat(parts)])
