"""Checkpoints: exact round trips, clear errors for corrupt or edited files."""

from __future__ import annotations

import hashlib
import json
import struct

import pytest
import sympy
import torch

from kanscience import KAN
from kanscience.io import expression_from_text, expression_to_text
from kanscience.io._checkpoint import (
    FORMAT_VERSION,
    CheckpointError,
    _digest,
    load,
    read_checkpoint,
    read_metadata,
    save,
)


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
    with pytest.raises(CheckpointError, match="integrity check: the tensors were edited"):
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


def _resign(config):
    """Recompute the digest, as someone editing the file on purpose could."""
    config["digest"] = _digest(config)


def read_checkpoint_tensors(path):
    from safetensors.torch import load_file

    return load_file(str(path))


def test_edited_architecture_is_refused(tmp_path):
    path = tmp_path / "m.safetensors"
    save(model_with_everything(), path)
    _rewrite_config(path, lambda c: c["architecture"].update(width=[[3, 0], [4, 0], [2, 0]]))
    with pytest.raises(CheckpointError, match="integrity check: its config"):
        load(path)


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(lambda c: c["architecture"].update(base_fun="identity"), id="base_fun"),
        pytest.param(lambda c: c["symbolic_names"][0][2].__setitem__(1, "cos"), id="sin->cos"),
        pytest.param(lambda c: c["metadata"].update(note="edited"), id="metadata"),
    ],
)
def test_edited_config_or_metadata_is_refused(tmp_path, edit):
    """Edits that keep the shapes (and used to load silently with other outputs)."""
    path = tmp_path / "m.safetensors"
    save(model_with_everything(), path, metadata={"note": "original"})
    _rewrite_config(path, edit)
    with pytest.raises(CheckpointError, match="integrity check: its config .* or metadata were"):
        load(path)
    with pytest.raises(CheckpointError, match="integrity check: its config"):
        read_metadata(path)


def test_resigned_config_with_a_huge_width_fails_before_building(tmp_path, monkeypatch):
    path = tmp_path / "m.safetensors"
    save(model_with_everything(), path)

    def edit(config):
        config["architecture"]["width"][1] = [10**8, 2]
        _resign(config)

    _rewrite_config(path, edit)

    def build_nothing(*args, **kwargs):
        raise AssertionError("the claimed model must be refused before it is built")

    monkeypatch.setattr(KAN, "__init__", build_nothing)
    with pytest.raises(CheckpointError, match=r"width\[1\] claims 100000000 nodes, more than"):
        load(path)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda a: a.update(grid=[4, 6, 10**9]), r"layers.2.coef.*claims \(2, 2, 1000000003\)"),
        (lambda a: a.update(mult_arity=[[], [3, 4], [3], []]), r"layers.0.coef"),
        (lambda a: a.update(k=[3, 3]), r"k must list one int per layer \(3\)"),
    ],
)
def test_resigned_config_whose_shapes_do_not_match_is_refused(tmp_path, edit, message):
    path = tmp_path / "m.safetensors"
    save(model_with_everything(), path)

    def rewrite(config):
        edit(config["architecture"])
        _resign(config)

    _rewrite_config(path, rewrite)
    with pytest.raises(CheckpointError, match="consistent model: .*" + message):
        load(path)


def test_resigned_symbolic_names_of_the_wrong_shape_are_refused(tmp_path):
    path = tmp_path / "m.safetensors"
    save(model_with_everything(), path)

    def rewrite(config):
        config["symbolic_names"][1].pop()
        _resign(config)

    _rewrite_config(path, rewrite)
    with pytest.raises(CheckpointError, match=r"symbolic_names\[1\] must be 3 rows of 4"):
        load(path)


def test_version_1_files_are_still_read_with_a_warning(tmp_path):
    """Version 1 hashed only the tensors; such files load, and say how to protect them."""
    model = model_with_everything()
    path = tmp_path / "m.safetensors"
    save(model, path, metadata={"note": "old"})

    def downgrade(config):
        tensors = read_checkpoint_tensors(path)
        sha = hashlib.sha256()
        for name in sorted(tensors):
            tensor = tensors[name].contiguous()
            sha.update(name.encode())
            sha.update(str(tensor.dtype).encode())
            sha.update(str(tuple(tensor.shape)).encode())
            sha.update(tensor.view(torch.uint8).numpy().tobytes())
        config.update(format_version=1, digest=sha.hexdigest())

    _rewrite_config(path, downgrade)
    with pytest.warns(UserWarning, match="format version 1.*save it again"):
        loaded = load(path)
    x = torch.rand(20, 3, dtype=torch.float64)
    assert torch.equal(loaded(x), model(x))
    assert FORMAT_VERSION == 2


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


def test_read_checkpoint_gives_the_verified_parts(tmp_path):
    model = model_with_everything()
    path = tmp_path / "m.safetensors"
    save(model, path, metadata={"note": "n"})
    checkpoint = read_checkpoint(path)
    assert checkpoint.metadata == {"note": "n"}
    assert checkpoint.architecture == model.config()
    assert checkpoint.symbolic_names == [layer.symbolic_names for layer in model.layers]
    assert set(checkpoint.tensors) == set(model.state_dict())
    x = torch.rand(7, 3, dtype=torch.float64)
    assert torch.equal(checkpoint.to_model()(x), model(x))


def test_expression_text_round_trips_exactly():
    x, y, z = sympy.symbols("x y z", real=True)
    formulas = [
        x / sympy.sqrt(1 - y**2 / z**2),
        x * sympy.sin(y) + sympy.exp(-(x**2) / 2) / sympy.sqrt(2 * sympy.pi),
        sympy.Float(1.37) * x**3 - 2 * y + sympy.log(x + 3) + sympy.Abs(y - x) * sympy.tanh(x),
        sympy.Rational(-7, 3) * sympy.atan(x) * sympy.E + sympy.I * y,
    ]
    for formula in formulas:
        assert expression_from_text(expression_to_text(formula)) == formula


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("__import__('os').system('true')", "only call sympy constructors"),
        ("Symbol.__class__", "only call sympy constructors"),
        ("lambda: 0", "only call sympy constructors"),
        ("Integer(x)", "only call sympy constructors"),
        ("Pow(Integer(10), Integer(1000000000))", "integer power"),
        ("Add(Integer(1),", "not valid"),
        ("Symbol('x', real=open)", "keywords must be literals"),
    ],
)
def test_expression_text_refuses_anything_but_constructors(text, message):
    with pytest.raises(ValueError, match=message):
        expression_from_text(text)
