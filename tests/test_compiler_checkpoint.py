"""save_compiled / load_compiled: a compiled KAN comes back with its names and formulas."""

from __future__ import annotations

import pytest
import sympy
import torch

from compiler import CompiledKAN, compile_formula, load_compiled, save_compiled
from kanscience import KAN
from kanscience.io._checkpoint import CheckpointError, load, save


def test_round_trip_keeps_names_formulas_and_forward(tmp_path):
    m, v, c = sympy.symbols("m v c", real=True)
    formula = m / sympy.sqrt(1 - v**2 / c**2)
    model = compile_formula(formula, [m, v, c], ranges={"m": (1, 5), "v": (1, 2), "c": (3, 10)})
    path = tmp_path / "relativistic.safetensors"
    save_compiled(model, path)
    loaded = load_compiled(path)
    assert isinstance(loaded, CompiledKAN)
    assert loaded.input_names == ("m", "v", "c")
    assert loaded.expressions == model.expressions
    assert sympy.simplify(loaded.expressions[0] - formula) == 0
    x = torch.rand(64, 3, dtype=torch.float64) * torch.tensor([4.0, 1.0, 7.0]) + torch.tensor(
        [1.0, 1.0, 3.0]
    )
    assert torch.equal(loaded(x), model(x))
    # a plain load still works, and gives the same function
    assert torch.equal(load(path)(x), model(x))


def test_a_plain_checkpoint_is_refused_with_a_pointer(tmp_path):
    path = tmp_path / "plain.safetensors"
    save(KAN([2, 1], seed=0), path)
    with pytest.raises(CheckpointError, match="not saved by save_compiled"):
        load_compiled(path)
    with pytest.raises(TypeError, match="must be a CompiledKAN"):
        save_compiled(KAN([2, 1], seed=0), path)
