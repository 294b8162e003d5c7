"""A corpus of bad input to every public entry point (issue 18).

Each case either raises the documented exception type with a message that names the
problem (a regex), or gives the documented safe result (checked by a function). The whole
corpus runs in an empty temporary working folder; the last two tests check that no file
appeared there and that the global torch RNG was never touched.

Cases are cheap by construction: each fails at the boundary, before any training or
search, so the file runs in seconds.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sympy
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

import compiler
from kanscience import KAN, create_dataset, fit
from kanscience import io as kio
from kanscience.apps._estimator import KANRegressor, fitted_constants, warn_if_underdetermined
from kanscience.apps.cli import main as cli_main
from kanscience.compat.pykan import fit_pykan
from kanscience.core import Dataset, KANLayer, as_tensor, parse_formula
from kanscience.discover import DiscoverOptions, discover
from kanscience.io import CheckpointError
from kanscience.io._checkpoint import _digest
from kanscience.symbolic import auto_symbolic, fix_symbolic, formula_to_torch, suggest_symbolic
from kanscience.train import GridSchedule, Penalty

# ----------------------------------------------------------------------------- the setting


class Env:
    """Models, data and files shared by the cases (built once; cases copy what they edit)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.model = KAN([2, 3, 1], grid=3, seed=0)
        self.model64 = KAN([2, 3, 1], grid=3, seed=0, dtype=torch.float64)
        self.mult = KAN([2, [1, 1], 1], grid=3, seed=0)
        generator = torch.Generator().manual_seed(0)
        self.x = torch.rand(16, 2, generator=generator) * 2 - 1
        self.data = create_dataset(
            lambda x: x[:, [0]] + x[:, [1]], n_var=2, train_num=16, test_num=8, seed=0
        )
        self.checkpoint = folder / "model.safetensors"
        kio.save(self.model, self.checkpoint)
        self.marker = folder / "marker"  # created only if a formula string were executed
        u, v = sympy.symbols("u v")
        self.prior = compiler.compile_formula((u + v) / (1 + u * v), [u, v])

    def path(self, name: str) -> Path:
        return self.folder / name

    def edited(self, name: str, edit: Callable[[dict], None]) -> Path:
        """A copy of the checkpoint whose JSON config was changed by ``edit`` (unsigned)."""
        tensors = load_file(self.checkpoint)
        with safe_open(self.checkpoint, framework="pt") as handle:
            header = dict(handle.metadata())
        config = json.loads(header["kanscience"])
        edit(config)
        header["kanscience"] = json.dumps(config)
        target = self.path(name)
        save_file(tensors, target, metadata=header)
        return target

    def written(self, name: str, content: bytes) -> Path:
        target = self.path(name)
        target.write_bytes(content)
        return target

    def csv(self, name: str, text: str) -> str:
        target = self.path(name)
        target.write_text(text)
        return str(target)


@dataclass(frozen=True)
class Case:
    """One bad input: ``call(env)`` raises ``error`` matching ``match``, or returns a value
    that ``check(env, value)`` accepts."""

    id: str
    call: Callable[[Env], Any]
    error: type[BaseException] | tuple[type[BaseException], ...] | None = None
    match: str = ""
    check: Callable[[Env, Any], object] | None = None


CASES: list[Case] = []


def _unique(id: str) -> str:
    taken = {case.id for case in CASES}
    return (
        next(f"{id}#{n}" for n in range(2, 100) if f"{id}#{n}" not in taken) if id in taken else id
    )


def raises(id: str, error: Any, match: str, call: Callable[[Env], Any]) -> None:
    CASES.append(Case(_unique(id), call, error=error, match=match))


def safe(id: str, call: Callable[[Env], Any], check: Callable[[Env, Any], object]) -> None:
    CASES.append(Case(_unique(id), call, check=check))


def fit_quick(env: Env, model: KAN | None = None, **options: Any):
    """fit on the small data set without progress bar or grid updates."""
    options.setdefault("steps", 1)
    options.setdefault("grid_schedule", None)
    return fit(model or env.model.copy(), env.data, progress=False, **options)


# ----------------------------------------------------------------------------- KAN


for width, pattern in [
    (None, r"width must be a list of at least two layers"),
    ("2,3,1", r"width must be a list"),
    ([2], r"width must be a list of at least two layers"),
    ([], r"width must be a list of at least two layers"),
    ([2, -1, 1], r"width\[1\] has a negative node count"),
    ([2, 0, 1], r"width\[1\] has no nodes"),
    ([True, 3, 1], r"width\[0\] must be an int or a pair"),
    ([2, 3.5, 1], r"width\[1\] must be an int or a pair"),
    ([2, [1, 2, 3], 1], r"width\[1\] must be an int or a pair"),
    ([[1, 1], 3, 1], r"input layer width\[0\] cannot have multiplication nodes"),
]:
    raises(f"KAN-width={width!r}", ValueError, pattern, lambda env, w=width: KAN(w))

for options, error, pattern in [
    (dict(width=[2, [0, 1], 1], mult_arity=1), ValueError, r"mult_arity must be >= 2"),
    (dict(width=[2, [0, 1], 1], mult_arity=[[2]]), ValueError, r"mult_arity must be an int or"),
    (dict(grid=2.5), TypeError, r"grid must be an int, got 2\.5"),
    (dict(grid=0), ValueError, r"grid must be >= 1, got 0"),
    (dict(grid=-3), ValueError, r"grid must be >= 1"),
    (dict(grid=True), TypeError, r"grid must be an int, got True"),
    (dict(grid="5"), TypeError, r"grid must be an int"),
    (dict(grid=[3]), ValueError, r"grid must be an int or a list of 2 ints"),
    (dict(grid=[3, 4.5]), TypeError, r"grid\[1\] must be an int"),
    (dict(grid=10**4), ValueError, r"grid=10000 is above the limit .*allow_large=True"),
    (dict(grid=10**7), ValueError, r"grid=10000000 is above the limit .*allow_large=True"),
    (dict(grid=[5, 10**5]), ValueError, r"grid\[1\]=100000 is above the limit"),
    (dict(k=-1), ValueError, r"k must be >= 0, got -1"),
    (dict(k=1.5), TypeError, r"k must be an int, got 1\.5"),
    (dict(dtype=torch.int64), TypeError, r"dtype must be a real floating-point torch dtype"),
    (dict(dtype=torch.bool), TypeError, r"dtype must be a real floating-point"),
    (dict(dtype=torch.complex64), TypeError, r"dtype must be a real floating-point"),
    (dict(dtype="float32"), TypeError, r"dtype must be a real floating-point"),
    (dict(noise_scale=math.nan), ValueError, r"noise_scale must be a finite number >= 0, got nan"),
    (dict(noise_scale=-1.0), ValueError, r"noise_scale must be a finite number >= 0"),
    (dict(noise_scale=math.inf), ValueError, r"noise_scale must be a finite number"),
    (dict(noise_scale="0.3"), TypeError, r"noise_scale must be a finite number"),
    (dict(scale_base_mu=math.nan), ValueError, r"scale_base_mu must be a finite number"),
    (dict(scale_base_sigma=math.inf), ValueError, r"scale_base_sigma must be a finite number"),
    (dict(grid_eps=2.0), ValueError, r"grid_eps must be a finite number >= 0 and <= 1"),
    (dict(grid_eps=-0.1), ValueError, r"grid_eps must be a finite number >= 0"),
    (dict(grid_range=(1.0, -1.0)), ValueError, r"grid_range must have low < high"),
    (dict(grid_range=(0.0, math.nan)), ValueError, r"grid_range\[1\] must be a finite number"),
    (dict(grid_range=(0.0,)), ValueError, r"grid_range must be a pair"),
    (dict(grid_range="ab"), ValueError, r"grid_range must be a pair"),
    (dict(seed=1.5), TypeError, r"seed must be an int, got 1\.5"),
    (dict(seed=None), TypeError, r"seed must be an int, got None"),
    (dict(base_fun="relu"), ValueError, r"base_fun must be one of .*got 'relu'"),
    (dict(library=["no_such_function"]), ValueError, r"no_such_function"),
    (dict(width=[10**5, 10**5, 1]), ValueError, r"spline coefficients, above the limit"),
]:
    options = {"width": [2, 3, 1], **options}
    label = ",".join(f"{k}={v!r}" for k, v in options.items() if k != "width")
    raises(f"KAN-{label or options['width']}", error, pattern, lambda env, o=options: KAN(**o))

for options, error, pattern in [
    (dict(in_dim=0, out_dim=1), ValueError, r"in_dim must be >= 1, got 0"),
    (dict(in_dim=2.0, out_dim=1), TypeError, r"in_dim must be an int"),
    (dict(in_dim=1, out_dim=1, num=2.5), TypeError, r"grid must be an int, got 2\.5"),
    (dict(in_dim=1, out_dim=1, num=10**6), ValueError, r"above the limit of 1000 intervals"),
    (dict(in_dim=1, out_dim=1, dtype=torch.int32), TypeError, r"dtype must be a real"),
    (dict(in_dim=1, out_dim=1, noise_scale=math.nan), ValueError, r"noise_scale must be"),
]:
    raises(f"KANLayer-{options}", error, pattern, lambda env, o=options: KANLayer(**o))

# ----------------------------------------------------------------------------- forward

for name, make, error, pattern in [
    ("list", lambda env: [[0.0, 0.0]], TypeError, r"x must be a torch\.Tensor, got list"),
    ("numpy", lambda env: np.zeros((3, 2)), TypeError, r"x must be a torch\.Tensor, got ndarray"),
    ("1-D", lambda env: torch.zeros(2), ValueError, r"x must have shape \(batch, 2\), got \(2,\)"),
    ("3-D", lambda env: torch.zeros(1, 2, 2), ValueError, r"x must have shape \(batch, 2\)"),
    ("n_in=3", lambda env: torch.zeros(4, 3), ValueError, r"got \(4, 3\)"),
    ("int64", lambda env: torch.zeros(4, 2, dtype=torch.int64), TypeError, r"dtype torch\.int64"),
    ("bool", lambda env: torch.zeros(4, 2, dtype=torch.bool), TypeError, r"dtype torch\.bool"),
    ("complex", lambda env: torch.zeros(4, 2, dtype=torch.complex64), TypeError, r"complex64"),
    (
        "float64-into-float32",
        lambda env: torch.zeros(4, 2, dtype=torch.float64),
        TypeError,
        r"x has dtype torch\.float64 but the model computes in torch\.float32",
    ),
    (
        "meta-device",
        lambda env: torch.zeros(4, 2, device="meta"),
        ValueError,
        r"x is on device meta but the model is on cpu",
    ),
]:
    raises(f"forward-{name}", error, pattern, lambda env, m=make: env.model(m(env)))
    if name in ("int64", "float64-into-float32", "meta-device", "n_in=3"):
        raises(
            f"node_values-{name}", error, pattern, lambda env, m=make: env.model.node_values(m(env))
        )


def _same_as_float64(env: Env, value: torch.Tensor) -> None:
    assert value.dtype == torch.float64
    expected = env.model64(env.x.double())
    assert torch.equal(value, expected)


def _same_as_float32(env: Env, value: torch.Tensor) -> None:
    assert value.dtype == torch.float32
    assert torch.equal(value, env.model(env.x.half().float()))


def _empty(n_out: int) -> Callable[[Env, Any], None]:
    def check(env: Env, value: torch.Tensor) -> None:
        assert value.shape == (0, n_out)

    return check


safe("forward-float32-into-float64-is-cast", lambda env: env.model64(env.x), _same_as_float64)
safe("forward-float16-into-float32-is-cast", lambda env: env.model(env.x.half()), _same_as_float32)
safe("forward-empty-batch", lambda env: env.model(torch.zeros(0, 2)), _empty(1))
safe("forward-empty-batch-mult", lambda env: env.mult(torch.zeros(0, 2)), _empty(1))
safe(
    "node_values-empty-batch",
    lambda env: [v.shape for v in env.model.node_values(torch.zeros(0, 2))],
    lambda env, shapes: shapes == [(0, 2), (0, 3), (0, 1)] or pytest.fail(str(shapes)),
)

# ----------------------------------------------------------------------------- grids


def _nan_rows(env: Env) -> torch.Tensor:
    x = env.x.clone()
    x[3, 0] = math.nan
    return x


def _update_unchanged(env: Env, bad: torch.Tensor) -> None:
    model = env.model.copy()
    before = [layer.grid.clone() for layer in model.layers]
    try:
        model.update_grid_(bad)
    finally:
        assert all(torch.equal(b, layer.grid) for b, layer in zip(before, model.layers))


raises(
    "update_grid_-nan-row",
    ValueError,
    r"update_grid_ needs finite samples; x has NaN or Inf in 1 row",
    lambda env: _update_unchanged(env, _nan_rows(env)),
)
raises(
    "update_grid_-inf-rows",
    ValueError,
    r"NaN or Inf in 16 row",
    lambda env: _update_unchanged(env, torch.full((16, 2), math.inf)),
)
raises(
    "update_grid_-empty",
    ValueError,
    r"update_grid_ needs at least one sample",
    lambda env: _update_unchanged(env, torch.zeros(0, 2)),
)
raises(
    "update_grid_-shape",
    ValueError,
    r"x must have shape \(batch, 2\)",
    lambda env: env.model.copy().update_grid_(torch.zeros(4, 5)),
)
raises(
    "update_grid_-int",
    TypeError,
    r"dtype torch\.int64",
    lambda env: env.model.copy().update_grid_(torch.zeros(4, 2, dtype=torch.int64)),
)
raises(
    "KANLayer.update_grid_-nan",
    ValueError,
    r"needs finite samples",
    lambda env: env.model.copy().layers[0].update_grid_(_nan_rows(env)),
)

for new_grid, error, pattern in [
    (0, ValueError, r"new_grid must be >= 1, got 0"),
    (-1, ValueError, r"new_grid must be >= 1"),
    (2.5, TypeError, r"new_grid must be an int, got 2\.5"),
    (10**4, ValueError, r"new_grid=10000 is above the limit"),
]:
    raises(
        f"refine-{new_grid!r}", error, pattern, lambda env, g=new_grid: env.model.refine(g, env.x)
    )
raises(
    "refine-nan",
    ValueError,
    r"refine needs finite",
    lambda env: env.model.refine(5, _nan_rows(env)),
)
raises(
    "refine-empty",
    ValueError,
    r"refine needs at least one",
    lambda env: env.model.refine(5, env.x[:0]),
)
safe(
    "refine-5",
    lambda env: env.model.refine(5, env.x),
    lambda env, m: (
        (m.config()["grid"] == [5, 5] and env.model.config()["grid"] == [3, 3])
        or pytest.fail(str(m.config()["grid"]))
    ),
)

# ----------------------------------------------------------------------------- edges

raises(
    "set_mode_-unknown",
    ValueError,
    r"mode must be one of .*got 'x'",
    lambda env: env.model.copy().set_mode_(0, 0, 0, "x"),
)
raises(
    "set_symbolic_-unknown-name",
    ValueError,
    r"unknown symbolic function 'no_such'",
    lambda env: env.model.copy().set_symbolic_(0, 0, 0, "no_such"),
)
raises(
    "set_symbolic_-affine-length",
    ValueError,
    r"affine must be \(a, b, c, d\)",
    lambda env: env.model.copy().set_symbolic_(0, 0, 0, "sin", affine=(1.0, 0.0, 1.0)),
)
raises(
    "edge-index-range",
    ValueError,
    r"i=5 is out of range",
    lambda env: env.model.check_edge(0, 5, 0),
)
raises(
    "edge-index-bool",
    TypeError,
    r"layer must be an int, got bool True",
    lambda env: env.model.check_edge(True, 0, 0),
)
raises(
    "edge-index-float",
    TypeError,
    r"j must be an int, got float 1\.0",
    lambda env: env.model.check_edge(0, 0, 1.0),
)
raises(
    "fix_symbolic-unknown-name",
    ValueError,
    r"unknown symbolic function 'no_such'",
    lambda env: fix_symbolic(env.model.copy(), env.x, 0, 0, 0, "no_such"),
)
raises(
    "suggest_symbolic-unknown-lib",
    ValueError,
    r"unknown symbolic function 'no_such'",
    lambda env: suggest_symbolic(env.model, env.x, 0, 0, 0, lib=["sin", "no_such"]),
)
raises(
    "auto_symbolic-unknown-lib",
    ValueError,
    r"unknown symbolic function 'no_such'",
    lambda env: auto_symbolic(env.model.copy(), env.x, lib=["no_such"]),
)

# ----------------------------------------------------------------------------- fit

for options, error, pattern in [
    (dict(steps=2.5), TypeError, r"steps must be an int, got 2\.5"),
    (dict(steps=-1), ValueError, r"steps must be >= 0"),
    (dict(steps="10"), TypeError, r"steps must be an int"),
    (dict(steps=True), TypeError, r"steps must be an int, got True"),
    (dict(batch=0), ValueError, r"batch must be -1 \(full batch\) or >= 1, got 0"),
    (dict(batch=-2), ValueError, r"batch must be >= -1"),
    (dict(batch=1.5), TypeError, r"batch must be an int"),
    (dict(max_iter=0), ValueError, r"max_iter must be >= 1, got 0"),
    (dict(lr=0.0), ValueError, r"lr must be a finite number > 0"),
    (dict(lr=math.nan), ValueError, r"lr must be a finite number > 0, got nan"),
    (dict(lr=-1.0), ValueError, r"lr must be a finite number > 0"),
    (dict(tolerance_change=-1.0), ValueError, r"tolerance_change must be a finite number >= 0"),
    (dict(opt="sgd"), ValueError, r"opt must be one of .*got 'sgd'"),
    (dict(penalty=0.01), TypeError, r"penalty must be a Penalty or None, got float"),
    (dict(grid_schedule=3), TypeError, r"grid_schedule must be a GridSchedule or None"),
    (dict(seed=1.5), TypeError, r"seed must be an int"),
    (dict(y_th=math.nan), ValueError, r"y_th must be a finite number > 0"),
    (dict(loss_fn=3), TypeError, r"loss_fn must be callable, got 3"),
    (dict(objective="mse"), TypeError, r"objective must be callable"),
    (dict(metrics=[3]), TypeError, r"metrics\[0\] must be callable"),
    (dict(callbacks=[None]), TypeError, r"callbacks\[0\] must be callable"),
    (
        dict(loss_fn=lambda p, t: (p - t) ** 2),
        ValueError,
        r"loss_fn must return a scalar tensor, got shape \(16, 1\)",
    ),
    (dict(loss_fn=lambda p, t: 1.0), TypeError, r"loss_fn must return a scalar tensor, got float"),
    (
        dict(loss_fn=lambda p, t: ((p - t) ** 2).mean().detach()),
        ValueError,
        r"loss_fn returned a tensor that does not depend on the model's parameters",
    ),
    (
        dict(loss_fn=lambda p, t: ((p - t) ** 2).mean().to(torch.complex64)),
        TypeError,
        r"loss_fn must return a real floating-point tensor",
    ),
    (
        dict(objective=lambda m, b: (m(b.inputs) - b.labels).pow(2).mean().int()),
        TypeError,
        r"objective must return a real floating-point tensor, got torch\.int32",
    ),
    (dict(lamb=-1.0), TypeError, r"unexpected keyword argument 'lamb'"),  # Penalty(lamb=...)
]:
    label = ",".join(f"{k}={v!r}" for k, v in options.items())
    raises(f"fit-{label}", error, pattern, lambda env, o=options: fit_quick(env, **o))

for name, make, error, pattern in [
    (
        "dict-missing-keys",
        lambda env: {"train_input": env.x},
        ValueError,
        r"dataset dict is missing",
    ),
    (
        "wrong-n_in",
        lambda env: create_dataset(lambda x: x[:, [0]], n_var=3, train_num=8, test_num=4),
        ValueError,
        r"dataset has 3 inputs and 1 outputs; the model expects 2 and 1",
    ),
    (
        "nan-labels",
        lambda env: Dataset(env.x, torch.full((16, 1), math.nan), env.x, env.x[:, :1]),
        ValueError,
        r"train_label contains NaN or Inf in 16 row",
    ),
    ("string", lambda env: "data.csv", TypeError, r"data must be a Dataset or .*got str"),
]:
    raises(
        f"fit-data-{name}",
        error,
        pattern,
        lambda env, m=make: fit(env.model.copy(), m(env), steps=1, progress=False),
    )

for options, error, pattern in [
    (dict(lamb=-1.0), ValueError, r"Penalty\.lamb must be a finite number >= 0, got -1\.0"),
    (dict(lamb=math.nan), ValueError, r"Penalty\.lamb must be a finite number >= 0, got nan"),
    (dict(lamb=0.1, l1=math.inf), ValueError, r"Penalty\.l1 must be a finite number"),
    (dict(lamb="0.1"), TypeError, r"Penalty\.lamb must be a finite number"),
    (dict(lamb=0.1, metric="l2"), ValueError, r"Penalty\.metric must be one of"),
]:
    raises(f"Penalty-{options}", error, pattern, lambda env, o=options: Penalty(**o))
for options, error, pattern in [
    (dict(updates=-1), ValueError, r"GridSchedule\.updates must be >= 0"),
    (dict(stop=2.5), TypeError, r"GridSchedule\.stop must be an int"),
    (dict(start=-2), ValueError, r"GridSchedule\.start must be >= -1"),
]:
    raises(f"GridSchedule-{options}", error, pattern, lambda env, o=options: GridSchedule(**o))
for options, pattern in [
    (dict(lamb=-1.0), r"lamb must be a finite number >= 0, got -1\.0"),
    (dict(lamb=math.nan), r"lamb must be a finite number >= 0, got nan"),
    (dict(lamb_entropy=-2.0), r"entropy must be a finite number >= 0"),
    (dict(steps=2.5), r"steps must be an int"),
]:
    raises(
        f"fit_pykan-{options}",
        (TypeError, ValueError),
        pattern,
        lambda env, o=options: fit_pykan(env.model.copy(), env.data, update_grid=False, **o),
    )


def _untrained(env: Env, history: Any) -> None:
    assert history.train_loss == [] and history.test_loss == []


safe("fit-steps=0-trains-nothing", lambda env: fit_quick(env, steps=0), _untrained)

# ----------------------------------------------------------------------------- datasets

for options, error, pattern in [
    (dict(n_var=0), ValueError, r"n_var must be >= 1, got 0"),
    (dict(n_var=2.5), TypeError, r"n_var must be an int"),
    (dict(train_num=0), ValueError, r"train_num must be >= 1"),
    (dict(test_num=2.5), TypeError, r"test_num must be an int, got 2\.5"),
    (dict(ranges=(1.0, -1.0)), ValueError, r"ranges must be \(lo, hi\) or 2 pairs"),
    (dict(ranges=(0.0, 1.0, 2.0)), ValueError, r"ranges must be \(lo, hi\) or 2 pairs"),
    (dict(ranges=(0.0, math.inf)), ValueError, r"pairs of finite numbers"),
    (dict(ranges="ab"), ValueError, r"ranges must be"),
    (dict(seed=0.5), TypeError, r"seed must be an int"),
    (dict(dtype=torch.int32), TypeError, r"dtype must be a real floating-point"),
    (dict(f=3), TypeError, r"f must be callable, got 3"),
    (dict(f=lambda x: x[:3, 0]), ValueError, r"f returned 3 labels for 8 samples"),
    (dict(f=lambda x: x[:, 0] / 0 * 0), ValueError, r"contains NaN or Inf"),
]:
    options = {"f": lambda x: x[:, 0], "train_num": 8, "test_num": 8, **options}
    label = ",".join(f"{k}={v!r}" for k, v in options.items() if k not in ("f",)) or "f"
    raises(f"create_dataset-{label}", error, pattern, lambda env, o=options: create_dataset(**o))

for name, value, error, pattern in [
    ("strings", [["a", "b"]], ValueError, r"x must be numeric"),
    ("3-D", torch.zeros(2, 2, 2), ValueError, r"x must be 1-D or 2-D"),
    ("nan", [[1.0, math.nan]], ValueError, r"x contains NaN or Inf in 1 row"),
    ("complex", torch.zeros(2, 2, dtype=torch.complex64), ValueError, r"real-valued"),
    ("bool", torch.zeros(2, 2, dtype=torch.bool), ValueError, r"real-valued"),
]:
    raises(f"as_tensor-{name}", error, pattern, lambda env, v=value: as_tensor(v, "x"))
raises(
    "Dataset-sample-mismatch",
    ValueError,
    r"train_input has 16 samples but train_label has 3",
    lambda env: Dataset(env.x, env.x[:3, :1], env.x, env.x[:, :1]),
)
raises(
    "Dataset-empty",
    ValueError,
    r"train_input is empty",
    lambda env: Dataset(env.x[:0], env.x[:0, :1], env.x, env.x[:, :1]),
)

# ----------------------------------------------------------------------------- formulas

EXECUTING = [
    "__import__('os').system('touch marker')",
    "x.__class__",
    "(lambda: 1)()",
    "open('marker', 'w')",
    "[c for c in ().__class__.__bases__]",
    "exec('1')",
]
REFUSED = r"formula .*(is not allowed|only named functions can be called|unknown function)"
for text in EXECUTING:
    raises(f"parse_formula-{text}", ValueError, REFUSED, lambda env, t=text: parse_formula(t))
    raises(
        f"formula_to_torch-{text}",
        ValueError,
        REFUSED,
        lambda env, t=text: formula_to_torch(t, ["x"]),
    )
for text, pattern in [
    ("foo(x)", r"unknown function 'foo'"),
    ("x +", r"is not valid: invalid syntax"),
    ("", r"is not valid"),
    ("x ** y ** ", r"is not valid"),
    ("sin(x, x)", r"sin takes exactly 1 argument \(2 given\)"),
]:
    raises(f"parse_formula-{text!r}", ValueError, pattern, lambda env, t=text: parse_formula(t))
raises(
    "formula_to_torch-unknown-variable",
    ValueError,
    r"symbol y is not among the variables",
    lambda env: formula_to_torch("x + y", ["x"]),
)

# ----------------------------------------------------------------------------- io


def _edit_base_fun(config: dict) -> None:
    config["architecture"]["base_fun"] = "identity"


def _edit_symbolic_name(config: dict) -> None:
    config["symbolic_names"][0][0][0] = "cos"


def _edit_version(config: dict) -> None:
    config["format_version"] = 99


def _edit_metadata(config: dict) -> None:
    config["metadata"] = {"note": "edited"}


def _edit_huge_width(config: dict) -> None:
    config["architecture"]["width"] = [[2, 0], [10**8, 0], [1, 0]]


def _edit_grid(config: dict) -> None:
    config["architecture"]["grid"] = [4, 3]


def _resigned(edit: Callable[[dict], None]) -> Callable[[dict], None]:
    """``edit``, then the digest recomputed, as a forger who knows the format would."""

    def forge(config: dict) -> None:
        edit(config)
        config["digest"] = _digest(config)

    return forge


EDITED = r"failed its integrity check: its config \(architecture, symbolic functions\) or metadata"


def _truncated(env: Env) -> Path:
    return env.written("truncated.safetensors", env.checkpoint.read_bytes()[:-40])


def _tensors_edited(env: Env) -> Path:
    raw = bytearray(env.checkpoint.read_bytes())
    raw[-4] ^= 0xFF
    return env.written("flipped.safetensors", bytes(raw))


def _foreign(env: Env) -> Path:
    target = env.path("foreign.safetensors")
    save_file({"w": torch.zeros(2)}, target)
    return target


def _malformed_json(env: Env) -> Path:
    target = env.path("malformed.safetensors")
    save_file(load_file(env.checkpoint), target, metadata={"kanscience": "{not json"})
    return target


for name, make, pattern in [
    ("missing-file", lambda env: env.path("absent.safetensors"), r"does not exist"),
    ("truncated", _truncated, r"not a readable safetensors file"),
    ("random-bytes", lambda env: env.written("noise.safetensors", os.urandom(256)), r"readable"),
    ("empty-file", lambda env: env.written("empty.safetensors", b""), r"not a readable"),
    ("tensors-edited", _tensors_edited, r"integrity check: the tensors were edited"),
    ("base_fun-edited", lambda env: env.edited("a.safetensors", _edit_base_fun), EDITED),
    ("symbolic-edited", lambda env: env.edited("b.safetensors", _edit_symbolic_name), EDITED),
    ("metadata-edited", lambda env: env.edited("c.safetensors", _edit_metadata), EDITED),
    ("wrong-version", lambda env: env.edited("d.safetensors", _edit_version), r"format version 99"),
    ("huge-width", lambda env: env.edited("e.safetensors", _edit_huge_width), EDITED),
    (
        "huge-width-re-signed",
        lambda env: env.edited("f.safetensors", _resigned(_edit_huge_width)),
        r"width\[1\] claims 100000000 nodes, more than the \d+ numbers stored",
    ),
    (
        "grid-re-signed",
        lambda env: env.edited("g.safetensors", _resigned(_edit_grid)),
        r"does not describe a consistent model",
    ),
    ("not-kanscience", _foreign, r"has no kanscience config"),
    ("malformed-json", _malformed_json, r"malformed JSON config"),
]:
    raises(f"io.load-{name}", CheckpointError, pattern, lambda env, m=make: kio.load(m(env)))
    if name in ("missing-file", "tensors-edited", "metadata-edited"):
        raises(
            f"io.read_metadata-{name}",
            CheckpointError,
            pattern,
            lambda env, m=make: kio.read_metadata(m(env)),
        )

for location, error, pattern in [
    ("gpu", ValueError, r"map_location='gpu' is not a torch device"),
    ("cuda:99", ValueError, r"map_location='cuda:99', but this torch sees \d+ CUDA device"),
    (5, TypeError, r"map_location must be a device name or torch\.device"),
]:
    raises(
        f"io.load-map_location={location!r}",
        error,
        pattern,
        lambda env, m=location: kio.load(env.checkpoint, map_location=m),
    )
if not torch.cuda.is_available():
    raises(
        "io.load-map_location=cuda-without-cuda",
        ValueError,
        r"map_location='cuda', but this torch sees 0 CUDA device",
        lambda env: kio.load(env.checkpoint, map_location="cuda"),
    )
safe(
    "io.load-map_location=cpu",
    lambda env: kio.load(env.checkpoint, map_location="cpu"),
    lambda env, m: torch.equal(m(env.x), env.model(env.x)) or pytest.fail("outputs differ"),
)
raises(
    "io.load-model_class",
    TypeError,
    r"model_class must be KAN or a subclass",
    lambda env: kio.load(env.checkpoint, model_class=int),  # type: ignore[arg-type]
)
raises(
    "io.save-missing-folder",
    FileNotFoundError,
    r"the folder .*no_such_folder.* does not exist",
    lambda env: kio.save(env.model, env.path("no_such_folder") / "m.safetensors"),
)
raises(
    "io.save-into-a-folder",
    IsADirectoryError,
    r"is a folder",
    lambda env: kio.save(env.model, env.folder),
)
raises(
    "io.save-not-a-KAN",
    TypeError,
    r"model must be a kanscience KAN, got OrderedDict",
    lambda env: kio.save(env.model.state_dict(), env.path("x.safetensors")),  # type: ignore[arg-type]
)
raises(
    "io.save-metadata-not-str",
    TypeError,
    r"metadata must map str to str",
    lambda env: kio.save(env.model, env.path("y.safetensors"), metadata={"n": 3}),  # type: ignore[dict-item]
)
raises(
    "io.save-path-int",
    TypeError,
    r"path must be a str or os\.PathLike",
    lambda env: kio.save(env.model, 3),  # type: ignore[arg-type]
)


def _crafted_compiled(env: Env, text: str) -> Path:
    """A checkpoint whose (correctly signed) compiler metadata holds ``text`` as a formula."""
    target = env.path(f"crafted{abs(hash(text))}.safetensors")
    metadata = {
        "input_names": json.dumps(["u", "v"]),
        "compiler.expressions": json.dumps([text]),
    }
    kio.save(env.prior, target, metadata=metadata)
    return target


for text in [
    "__import__('os').system('touch marker')",
    "Symbol('u').__class__.__mro__",
    "eval('1')",
]:
    raises(
        f"load_compiled-crafted-{text}",
        CheckpointError,
        r"malformed compiler metadata",
        lambda env, t=text: compiler.load_compiled(_crafted_compiled(env, t)),
    )
raises(
    "load_compiled-plain-checkpoint",
    CheckpointError,
    r"was not saved by save_compiled",
    lambda env: compiler.load_compiled(env.checkpoint),
)

# ----------------------------------------------------------------------------- compiler

_x = sympy.Symbol("x", real=True)
for name, call, error, pattern in [
    (
        "x**100000",
        lambda env: compiler.compile_formula(_x**100000, [_x]),
        ValueError,
        r"exponent 100000 is beyond the compiler's limit of 1000",
    ),
    (
        "x**-1001",
        lambda env: compiler.compile_formula(_x**-1001, [_x]),
        compiler.UnsupportedExpressionError,
        r"limit of 1000",
    ),
    (
        "string-exec",
        lambda env: compiler.compile_formula(EXECUTING[0], ["x"]),
        ValueError,
        r"exprs\[0\] is not a formula: .*only named functions can be called",
    ),
    (
        "attribute",
        lambda env: compiler.compile_formula("x.real", ["x"]),
        ValueError,
        r"Attribute is not allowed",
    ),
    (
        "gamma",
        lambda env: compiler.compile_formula(sympy.gamma(_x), [_x]),
        compiler.UnsupportedExpressionError,
        r"cannot compile gamma",
    ),
    (
        "unknown-function",
        lambda env: compiler.compile_formula("foo(x)", ["x"]),
        ValueError,
        r"unknown function 'foo'",
    ),
    (
        "missing-variable",
        lambda env: compiler.compile_formula("x + y", ["x"]),
        ValueError,
        r"uses \['y'\], which variables \['x'\] lacks",
    ),
    (
        "ranges-reversed",
        lambda env: compiler.compile_formula("x", ["x"], ranges=(1.0, 0.0)),
        ValueError,
        r"ranges\['x'\] must be finite with lo < hi",
    ),
    (
        "ranges-missing-name",
        lambda env: compiler.compile_formula("x*y", ["x", "y"], ranges={"x": (0, 1)}),
        ValueError,
        r"missing \['y'\]",
    ),
    (
        "pole-in-range",
        lambda env: compiler.compile_formula("1/x", ["x"], ranges=(-1.0, 1.0)),
        ValueError,
        r"not finite on the requested ranges .*reaches 0",
    ),
    (
        "grid=2.5",
        lambda env: compiler.compile_formula("sin(x)", ["x"], grid=2.5),
        TypeError,
        r"grid must be an int",
    ),
    (
        "dtype=int",
        lambda env: compiler.compile_formula("sin(x)", ["x"], dtype=torch.int64),
        TypeError,
        r"dtype must be a real floating-point",
    ),
    (
        "expand_width-input-layer",
        lambda env: compiler.expand_width(env.prior, 0, 2),
        ValueError,
        r"layer must be a hidden layer in \[1, 1\], got 0",
    ),
    (
        "expand_width-negative",
        lambda env: compiler.expand_width(env.prior, 1, -2),
        ValueError,
        r"n_added_nodes must be a positive int, got -2",
    ),
    (
        "save_compiled-plain-KAN",
        lambda env: compiler.save_compiled(env.model, env.path("p.safetensors")),  # type: ignore[arg-type]
        TypeError,
        r"model must be a CompiledKAN",
    ),
]:
    raises(f"compile-{name}", error, pattern, call)


def _power_exact(env: Env, model: Any) -> None:
    x = torch.tensor([[1.0005]], dtype=torch.float64)
    assert torch.allclose(model(x), x**1000, rtol=1e-9, atol=0)


safe(
    "compile-x**1000-within-limit",
    lambda env: compiler.compile_formula(_x**1000, [_x]),
    _power_exact,
)

# ----------------------------------------------------------------------------- CLI


CLI_CASES: list[tuple[str, Callable[[Env], list[str]], str]] = [
    (
        "compile-o-missing-folder",
        lambda env: ["compile", "x*y", "--vars", "x,y", "-o", f"{env.folder}/missing/dir/m.st"],
        r"-o/--out .*: the folder .*missing/dir does not exist",
    ),
    (
        "compile-o-is-folder",
        lambda env: ["compile", "x*y", "--vars", "x,y", "-o", str(env.folder)],
        r"is a folder",
    ),
    (
        "compile-image-missing-folder",
        lambda env: ["compile", "x", "--vars", "x", "--image", f"{env.folder}/nope/a.png"],
        r"--image .*does not exist",
    ),
    ("compile-unparsable", lambda env: ["compile", "x +", "--vars", "x"], r"cannot parse formula"),
    ("compile-exec", lambda env: ["compile", EXECUTING[0], "--vars", "x"], r"cannot parse formula"),
    ("compile-unknown-var", lambda env: ["compile", "x + w", "--vars", "x"], r"not in --vars: w"),
    ("compile-no-vars", lambda env: ["compile", "x", "--vars", " , "], r"--vars must name"),
    ("compile-huge-power", lambda env: ["compile", "x**100000", "--vars", "x"], r"limit of 1000"),
    ("compile-gamma", lambda env: ["compile", "gamma(x)", "--vars", "x"], r"gamma"),
    (
        "discover-missing-file",
        lambda env: ["discover", f"{env.folder}/absent.csv", "--target", "y"],
        r"no such file",
    ),
    (
        "discover-header-only",
        lambda env: ["discover", env.csv("h.csv", "a,b,y\n"), "--target", "y"],
        r"no data rows \(only a header: a, b, y\)",
    ),
    (
        "discover-unknown-target",
        lambda env: ["discover", env.csv("t.csv", "a,y\n1,2\n"), "--target", "z"],
        r"target column 'z' not in the file",
    ),
    (
        "discover-unknown-var",
        lambda env: ["discover", env.csv("v.csv", "a,y\n1,2\n"), "--target", "y", "--vars", "q"],
        r"column\(s\) q not in the file",
    ),
    (
        "discover-text-column",
        lambda env: ["discover", env.csv("s.csv", "a,y\nx,2\nz,3\n"), "--target", "y"],
        r"column\(s\) a are not numeric",
    ),
    (
        "discover-nan-row",
        lambda env: ["discover", env.csv("n.csv", "a,y\n1,2\n,3\n"), "--target", "y"],
        r"1 row\(s\) contain NaN or Inf",
    ),
    (
        "discover-units-missing",
        lambda env: [
            "discover",
            env.csv("u.csv", "a,y\n1,2\n2,3\n"),
            "--target",
            "y",
            "--units",
            f"{env.folder}/absent.json",
        ],
        r"cannot read the units file",
    ),
    (
        "discover-units-not-json",
        lambda env: [
            "discover",
            env.csv("u2.csv", "a,y\n1,2\n2,3\n"),
            "--target",
            "y",
            "--units",
            env.csv("units.json", "{bad"),
        ],
        r"is not JSON",
    ),
    ("tree-nothing", lambda env: ["tree"], r"give a formula or --model"),
    (
        "tree-model-missing",
        lambda env: ["tree", "--model", f"{env.folder}/absent.safetensors"],
        r"does not exist",
    ),
    (
        "tree-model-corrupt",
        lambda env: ["tree", "--model", str(env.written("bad.safetensors", b"\x00" * 64))],
        r"not a readable safetensors file",
    ),
    (
        "tree-out-missing-folder",
        lambda env: ["tree", "x*y", "--vars", "x,y", "--out", f"{env.folder}/no/t.svg"],
        r"--out .*does not exist",
    ),
    ("sweep-bad-settings", lambda env: ["sweep", "I.12.1", "--settings", "{x"], r"not valid JSON"),
    (
        "sweep-settings-not-object",
        lambda env: ["sweep", "I.12.1", "--settings", "3"],
        r"must be a JSON object",
    ),
    (
        "sweep-out-missing-folder",
        lambda env: ["sweep", "I.12.1", "--out", f"{env.folder}/no/r.csv"],
        r"--out .*does not exist",
    ),
    (
        "physics-plot-missing-folder",
        lambda env: ["physics", "pendulum", "--plot", f"{env.folder}/no/p.png"],
        r"--plot .*does not exist",
    ),
]


@pytest.mark.parametrize(
    ("name", "arguments", "pattern"), CLI_CASES, ids=[case[0] for case in CLI_CASES]
)
def test_cli_bad_input(env, capsys, name, arguments, pattern):
    code = cli_main(arguments(env))
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert code == 2, (code, out, err)
    assert len(lines) == 1, err
    assert re.match(r"kanscience \w+: error: ", lines[0]), lines[0]
    assert re.search(pattern, lines[0]), lines[0]
    assert "Traceback" not in out + err


# ----------------------------------------------------------------------------- estimator

_rng = np.random.default_rng(0)
_X = _rng.uniform(1, 2, size=(6, 2))
for name, call, error, pattern in [
    (
        "1-sample",
        lambda env: KANRegressor().fit(_X[:1], _X[:1, 0]),
        ValueError,
        r"needs at least 2 samples, got 1 sample",
    ),
    (
        "2-samples-2-features",
        lambda env: KANRegressor().fit(_X[:2], _X[:2, 0]),
        ValueError,
        r"needs more samples than features, got 2 samples of 2 features",
    ),
    ("mode", lambda env: KANRegressor(mode="tree").fit(_X, _X[:, 0]), ValueError, r"mode must be"),
    (
        "nan-X",
        lambda env: KANRegressor().fit(np.where(_X > 1.5, np.nan, _X), _X[:, 0]),
        ValueError,
        r"Input X contains NaN",
    ),
    (
        "y-length",
        lambda env: KANRegressor().fit(_X, _X[:3, 0]),
        ValueError,
        r"inconsistent numbers of samples: \[6, 3\]",
    ),
    (
        "y-text",
        lambda env: KANRegressor().fit(_X, np.array(["a"] * 6)),
        ValueError,
        r"y must hold real numbers, got dtype <U1",
    ),
    (
        "constant-y",
        lambda env: KANRegressor().fit(_X, np.ones(6)),
        ValueError,
        r"y is constant \(value 1\)",
    ),
    (
        "kan-grid=2.5",
        lambda env: KANRegressor(mode="kan", grid=2.5).fit(_X, _X[:, 0]),  # type: ignore[arg-type]
        TypeError,
        r"grid must be an int",
    ),
    (
        "predict-before-fit",
        lambda env: KANRegressor().predict(_X),
        Exception,
        r"not fitted",
    ),
]:
    raises(f"KANRegressor-{name}", error, pattern, call)

_x0, _x1 = sympy.symbols("x0 x1", real=True)
_SIX = 1.01 * _x0 + 0.99 * _x1 + 0.1 * sympy.sin(0.3 * _x0 + 0.2) + 0.05
raises(
    "KANRegressor-6-constants-for-5-samples-warns",
    UserWarning,
    r"has 6 fitted constants for 5 samples",
    lambda env: warn_if_underdetermined(_SIX, 5),
)
safe(
    "KANRegressor-6-constants-for-50-samples-silent",
    lambda env: warn_if_underdetermined(_SIX, 50),
    lambda env, value: value is None or pytest.fail(repr(value)),
)
safe(
    "fitted_constants-counts-non-integers",
    lambda env: (fitted_constants(_SIX), fitted_constants(_x0 + _x1), fitted_constants(2 * _x0)),
    lambda env, counts: counts == (6, 0, 0) or pytest.fail(str(counts)),
)

# ----------------------------------------------------------------------------- discover

_T = torch.linspace(1, 2, 40, dtype=torch.float64)[:, None]
for name, call, error, pattern in [
    ("steps=-1", lambda env: DiscoverOptions(steps=-1), ValueError, r"steps"),
    ("steps=2.5", lambda env: DiscoverOptions(steps=2.5), ValueError, r"steps must be an int"),  # type: ignore[arg-type]
    ("time_budget=-1", lambda env: DiscoverOptions(time_budget=-1.0), ValueError, r"time_budget"),
    (
        "test_fraction=1.5",
        lambda env: DiscoverOptions(test_fraction=1.5),
        ValueError,
        r"test_fraction",
    ),
    ("grid=0", lambda env: DiscoverOptions(grid=0), ValueError, r"grid"),
    ("y-2-columns", lambda env: discover((_T, _T.repeat(1, 2))), ValueError, r"one output"),
    ("too-few-samples", lambda env: discover((_T[:3], _T[:3, 0])), ValueError, r"at least 8"),
    ("constant-y", lambda env: discover((_T, torch.ones(40))), ValueError, r"y is constant"),
    ("data-str", lambda env: discover("data.csv"), TypeError, r"data must be a Dataset, .*got str"),  # type: ignore[arg-type]
    (
        "var_names-duplicate",
        lambda env: discover((_T.repeat(1, 2), _T[:, 0]), ["a", "a"], time_budget=1.0),
        ValueError,
        r"var_names must be 2 distinct strings",
    ),
    (
        "units-unknown",
        lambda env: discover((_T, _T[:, 0] ** 2), ["a"], units={"a": "furlong"}),
        ValueError,
        r"unknown unit name 'furlong'",
    ),
]:
    raises(f"discover-{name}", error, pattern, call)


# ----------------------------------------------------------------------------- the tests


@pytest.fixture(scope="module")
def corpus_state(tmp_path_factory):
    """The corpus runs in an empty working folder, with the global RNG state recorded."""
    workdir = tmp_path_factory.mktemp("cwd")
    files = tmp_path_factory.mktemp("files")
    previous = os.getcwd()
    os.chdir(workdir)
    rng_state = torch.get_rng_state()
    env = Env(files)
    try:
        yield {"workdir": workdir, "rng": rng_state, "env": env}
    finally:
        os.chdir(previous)


@pytest.fixture
def env(corpus_state):
    return corpus_state["env"]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input(env, case: Case):
    if case.error is not None:
        if isinstance(case.error, type) and issubclass(case.error, Warning):
            with pytest.warns(case.error, match=case.match):
                case.call(env)
            return
        with pytest.raises(case.error, match=case.match) as info:
            case.call(env)
        assert "Traceback" not in str(info.value)
    else:
        assert case.check is not None
        case.check(env, case.call(env))


def test_from_pykan_keeps_the_offsets_of_zero_function_edges(corpus_state):
    """pykan adds ``mask * d`` on a symbolic edge whose function is its zero function; a
    converted model must compute the same (issue 18: it differed by 0.04)."""
    pytest.importorskip("kan")
    from kan.MultKAN import MultKAN

    from kanscience import from_pykan, to_pykan

    numpy_state = np.random.get_state()
    with torch.random.fork_rng():  # pykan seeds the global generators
        previous = torch.get_default_dtype()
        torch.set_default_dtype(torch.float64)
        try:
            theirs = MultKAN(width=[2, 3, 1], grid=3, auto_save=False, seed=0)
        finally:
            torch.set_default_dtype(previous)
    np.random.set_state(numpy_state)
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for layer in theirs.symbolic_fun:
            layer.mask.copy_(torch.rand(layer.mask.shape, generator=generator))
            shape = layer.affine.shape
            layer.affine.copy_(torch.randn(shape, generator=generator, dtype=torch.float64))
    x = torch.rand(32, 2, generator=generator, dtype=torch.float64) * 2 - 1
    ours = from_pykan(theirs)
    assert torch.allclose(ours(x), theirs(x), rtol=0, atol=1e-12)
    assert torch.allclose(to_pykan(ours)(x), theirs(x), rtol=0, atol=1e-12)


def test_the_corpus_is_large_enough():
    assert len(CASES) + len(CLI_CASES) >= 150
    assert len({case.id for case in CASES}) == len(CASES), "case ids must be unique"


def test_no_formula_was_executed(env):
    assert not env.marker.exists() and not Path("marker").exists()


def test_zz_no_file_written_to_the_working_directory(corpus_state):
    assert os.getcwd() == str(corpus_state["workdir"])
    assert os.listdir(corpus_state["workdir"]) == []


def test_zz_global_rng_untouched(corpus_state):
    assert torch.equal(torch.get_rng_state(), corpus_state["rng"])
