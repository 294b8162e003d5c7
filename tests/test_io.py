"""Checkpoints: exact round trips, clear errors for corrupt or edited files."""

from __future__ import annotations

import json
import struct

import pytest
import torch

from kanscience import KAN
from kanscience.io._checkpoint import CheckpointError, load, read_metadata, save


def model_with_everything():
    model = KAN(
        [3, [1, 2], [1, 1], 2],
        grid=[4, 6, 5],
        mult_arity=3,
        seed=0,
        affine_trainable=True,
        dtype=torch.float64,
    )
    model.set_symbolic_(0, 2, 1, "sin", affine=(1.2, 0.3, -0.5, 0.25), mode="ns")
    model.set_symbolic_(1, 0, 0, "x^2", affine=(0.5, 0.0, 2.0, 0.0))
    with torch.no_grad():
        model.node_bias[0].add_(0.3)
    return model


def test_round_trip_gives_identical_outputs_and_state(tmp_path):
    model = model_with_everything()
    path = tmp_path / "model.safetensors"
    save(model, path)
    loaded = load(path)
    x = torch.rand(20, 3, dtype=torch.float64)
    assert torch.equal(loaded(x), model(x))
    assert loaded.config() == model.config()
    for a, b in zip(loaded.layers, model.layers):
        assert a.symbolic_names == b.symbolic_names
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.safetensors"]


def test_refined_model_round_trips(tmp_path):
    model = KAN([2, 3, 1], grid=5, seed=0).refine(11, torch.rand(100, 2) * 2 - 1)
    save(model, tmp_path / "m.safetensors")
    x = torch.rand(10, 2)
    assert torch.equal(load(tmp_path / "m.safetensors")(x), model(x))


def test_truncated_file_is_refused(tmp_path):
    path = tmp_path / "m.safetensors"
    save(model_with_everything(), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load(path)


def test_edited_tensor_bytes_are_detected(tmp_path):
    path = tmp_path / "m.safetensors"
    save(model_with_everything(), path)
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="integrity check"):
        load(path)


def _rewrite_config(path, edit):
    data = path.read_bytes()
    (size,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + size])
    config = json.loads(header["__metadata__"]["kanscience"])
    edit(config)
    header["__metadata__"]["kanscience"] = json.dumps(config)
    encoded = json.dumps(header).encode()
    encoded += b" " * (-len(encoded) % 8)
    offset = 8 + size
    path.write_bytes(struct.pack("<Q", len(encoded)) + encoded + data[offset:])


def test_edited_config_is_refused(tmp_path):
    path = tmp_path / "m.safetensors"
    save(model_with_everything(), path)
    _rewrite_config(path, lambda c: c["architecture"].update(width=[[3, 0], [4, 0], [2, 0]]))
    with pytest.raises(CheckpointError, match="consistent model"):
        load(path)


def test_future_format_version_is_refused(tmp_path):
    path = tmp_path / "m.safetensors"
    save(model_with_everything(), path)
    _rewrite_config(path, lambda c: c.update(format_version=99))
    with pytest.raises(CheckpointError, match="format version 99"):
        load(path)


def test_missing_file_and_foreign_file(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load(tmp_path / "nothing.safetensors")
    from safetensors.torch import save_file

    save_file({"a": torch.zeros(2)}, str(tmp_path / "foreign.safetensors"))
    with pytest.raises(CheckpointError, match="no kanscience config"):
        load(tmp_path / "foreign.safetensors")


def test_metadata_round_trip_and_errors(tmp_path):
    model = KAN([2, 3, 1], seed=0)
    path = tmp_path / "model.safetensors"
    save(model, path, metadata={"input_names": '["a", "b"]', "note": "from a test"})
    assert read_metadata(path) == {"input_names": '["a", "b"]', "note": "from a test"}
    save(model, path)
    assert read_metadata(path) == {}
    with pytest.raises(TypeError, match="metadata must map str to str"):
        save(model, path, metadata={"n": 3})
    with pytest.raises(TypeError, match="model_class must be KAN or a subclass"):
        load(path, model_class=dict)
