"""Datasets: validated train/test tensors and synthetic data from a function.

Examples
--------
>>> import torch
>>> data = create_dataset(lambda x: x[:, [0]] * x[:, [1]], n_var=2, train_num=100, seed=0)
>>> data.train_input.shape, data.train_label.shape
(torch.Size([100, 2]), torch.Size([100, 1]))
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ._validation import check_count, check_float_dtype

__all__ = ["Dataset", "as_tensor", "create_dataset"]


def as_tensor(value: Any, name: str, dtype: torch.dtype | None = None) -> Tensor:
    """Convert a tensor, numpy array, pandas object or nested list to a 2-D float tensor.

    Raises
    ------
    ValueError
        If the data are not numeric, not 1-D or 2-D, or contain NaN or Inf.
    """
    if hasattr(value, "to_numpy") and not isinstance(value, Tensor):  # pandas
        value = value.to_numpy()
    if isinstance(value, Tensor):
        tensor = value
    else:
        try:
            array = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{name} must be numeric, got {type(value).__name__}") from error
        tensor = torch.from_numpy(np.require(array, requirements="W"))  # copy read-only arrays
    if tensor.dtype.is_complex or tensor.dtype == torch.bool:
        raise ValueError(f"{name} must be real-valued numbers, got dtype {tensor.dtype}")
    tensor = tensor.to(
        dtype or (tensor.dtype if tensor.is_floating_point() else torch.get_default_dtype())
    )
    if tensor.ndim == 1:
        tensor = tensor[:, None]
    if tensor.ndim != 2:
        raise ValueError(
            f"{name} must be 1-D or 2-D (samples, features), got shape {tuple(tensor.shape)}"
        )
    if not torch.isfinite(tensor).all():
        bad = int((~torch.isfinite(tensor)).any(dim=1).sum())
        raise ValueError(f"{name} contains NaN or Inf in {bad} row(s)")
    return tensor


@dataclass(frozen=True)
class Dataset:
    """Train and test splits, each a (samples, features) input and a (samples, outputs) label.

    Construct directly (inputs are validated and converted) or from pykan's dict with
    :meth:`from_dict`.
    """

    train_input: Tensor
    train_label: Tensor
    test_input: Tensor
    test_label: Tensor

    def __post_init__(self) -> None:
        names = ("train_input", "train_label", "test_input", "test_label")
        values = {n: as_tensor(getattr(self, n), n) for n in names}
        dtype = values["train_input"].dtype
        for name, value in values.items():
            object.__setattr__(self, name, value.to(dtype))
        for split in ("train", "test"):
            x, y = values[f"{split}_input"], values[f"{split}_label"]
            if x.shape[0] != y.shape[0]:
                raise ValueError(
                    f"{split}_input has {x.shape[0]} samples but {split}_label has {y.shape[0]}"
                )
            if x.shape[0] == 0:
                raise ValueError(f"{split}_input is empty")
        if values["train_input"].shape[1] != values["test_input"].shape[1]:
            raise ValueError(
                f"train_input has {values['train_input'].shape[1]} features but test_input has "
                f"{values['test_input'].shape[1]}"
            )
        if values["train_label"].shape[1] != values["test_label"].shape[1]:
            raise ValueError("train_label and test_label have different numbers of outputs")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Dataset:
        """From pykan's ``{'train_input', 'train_label', 'test_input', 'test_label'}`` dict."""
        missing = {"train_input", "train_label", "test_input", "test_label"} - set(data)
        if missing:
            raise ValueError(f"dataset dict is missing {sorted(missing)}")
        return cls(data["train_input"], data["train_label"], data["test_input"], data["test_label"])

    @classmethod
    def coerce(cls, data: Dataset | Mapping[str, Any]) -> Dataset:
        """Accept a Dataset or a pykan-style dict (TypeError for anything else)."""
        if isinstance(data, Dataset):
            return data
        if not isinstance(data, Mapping):
            raise TypeError(
                "data must be a Dataset or a dict with train_input, train_label, test_input "
                f"and test_label, got {type(data).__name__}"
            )
        return cls.from_dict(data)

    def to(self, *args: Any, **kwargs: Any) -> Dataset:
        """Move or cast all four tensors (``torch.Tensor.to`` arguments)."""
        return Dataset(
            *(
                getattr(self, n).to(*args, **kwargs)
                for n in ("train_input", "train_label", "test_input", "test_label")
            )
        )

    def as_dict(self) -> dict[str, Tensor]:
        """pykan's dict form."""
        return {
            n: getattr(self, n) for n in ("train_input", "train_label", "test_input", "test_label")
        }

    @property
    def n_in(self) -> int:
        return int(self.train_input.shape[1])

    @property
    def n_out(self) -> int:
        return int(self.train_label.shape[1])


def create_dataset(
    f: Callable[[Tensor], Tensor],
    n_var: int = 2,
    ranges: Sequence[float] | Sequence[Sequence[float]] = (-1.0, 1.0),
    train_num: int = 1000,
    test_num: int = 1000,
    seed: int = 0,
    normalize_input: bool = False,
    normalize_label: bool = False,
    dtype: torch.dtype | None = None,
) -> Dataset:
    """Sample inputs uniformly in ``ranges`` and label them with ``f``.

    Parameters
    ----------
    f : callable
        Maps a (samples, n_var) tensor to (samples,) or (samples, n_out) labels.
    n_var : int
    ranges : (lo, hi) for every variable, or one (lo, hi) per variable.
    train_num, test_num : int
    seed : int
        Seed of a private generator (the global RNG is untouched).
    normalize_input, normalize_label : bool
        Standardize with the training split's mean and std.

    Raises
    ------
    TypeError
        For a non-callable ``f``, counts or a seed that are not ints, a dtype that is not
        a real floating-point one.
    ValueError
        For counts below 1, a malformed ``ranges``, or labels that are NaN/Inf or of the
        wrong length.
    """
    if not callable(f):
        raise TypeError(f"f must be callable, got {f!r} ({type(f).__name__})")
    n_var = check_count("n_var", n_var, 1)
    train_num = check_count("train_num", train_num, 1)
    test_num = check_count("test_num", test_num, 1)
    seed = check_count("seed", seed, -(2**63))
    try:
        bounds = torch.as_tensor(ranges, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError) as error:
        raise ValueError(f"ranges must be (lo, hi) or {n_var} pairs, got {ranges!r}") from error
    if bounds.shape == (2,):
        bounds = bounds[None, :].expand(n_var, 2)
    if (
        bounds.shape != (n_var, 2)
        or not bool(torch.isfinite(bounds).all())
        or not bool((bounds[:, 1] > bounds[:, 0]).all())
    ):
        raise ValueError(
            f"ranges must be (lo, hi) or {n_var} pairs of finite numbers with lo < hi, "
            f"got {ranges!r}"
        )
    dtype = check_float_dtype(dtype or torch.get_default_dtype())
    generator = torch.Generator().manual_seed(int(seed))

    def label(x: Tensor) -> Tensor:
        y = f(x)
        if not isinstance(y, Tensor):
            y = torch.as_tensor(np.asarray(y), dtype=dtype)
        if y.ndim == 1:
            y = y[:, None]
        if y.shape[0] != x.shape[0]:
            raise ValueError(f"f returned {y.shape[0]} labels for {x.shape[0]} samples")
        return y.to(dtype)

    # pykan's sampling order (train then test column, variable by variable), so the same
    # seed gives pykan's data in float32
    train_x = torch.empty(train_num, n_var, dtype=dtype)
    test_x = torch.empty(test_num, n_var, dtype=dtype)
    for i in range(n_var):
        lo, width = float(bounds[i, 0]), float(bounds[i, 1] - bounds[i, 0])
        train_x[:, i] = torch.rand(train_num, generator=generator, dtype=dtype) * width + lo
        test_x[:, i] = torch.rand(test_num, generator=generator, dtype=dtype) * width + lo
    train_y, test_y = label(train_x), label(test_x)
    if normalize_input:
        mean, std = train_x.mean(0), train_x.std(0)
        train_x, test_x = (train_x - mean) / std, (test_x - mean) / std
    if normalize_label:
        mean, std = train_y.mean(0), train_y.std(0)
        train_y, test_y = (train_y - mean) / std, (test_y - mean) / std
    return Dataset(train_x, train_y, test_x, test_y)
