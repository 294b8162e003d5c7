"""Resumable fits: ``fit(..., checkpoint_every=, checkpoint_path=, resume_from=)``.

A training checkpoint is one safetensors file (never pickle) holding everything that
decides how a fit continues: the model's parameters and buffers (grids and masks
included), the optimizer's state (L-BFGS pairs and last direction, Levenberg-Marquardt
damping, Adam moments), the state of the generator behind the mini-batches, the number of
steps taken (which also fixes the position in the grid schedule) and the History so far.
Its JSON header names the settings and the data (by digest) the fit ran with and a SHA-256
digest of all of it, tensors included, so a truncated or edited file, or a checkpoint of
another model, other settings or other data, is refused with a clear error.

A fit resumed from the checkpoint written after step ``n`` takes the same steps as the
uninterrupted fit from step ``n`` on, and ends with the same parameters (bit for bit on
the same machine and thread count). Nothing is written unless ``checkpoint_path`` is given.

Examples
--------
>>> import os, tempfile, torch
>>> from kanscience import KAN, create_dataset, fit
>>> data = create_dataset(lambda x: x[:, [0]] * x[:, [1]], n_var=2, seed=0)
>>> path = os.path.join(tempfile.mkdtemp(), "fit.safetensors")
>>> whole = KAN([2, 3, 1], seed=0)
>>> _ = fit(whole, data, steps=4, progress=False)
>>> first = KAN([2, 3, 1], seed=0)
>>> _ = fit(first, data, steps=2, progress=False, checkpoint_every=2, checkpoint_path=path)
>>> resumed = KAN([2, 3, 1], seed=1)  # any model of the same architecture
>>> history = fit(resumed, data, steps=4, progress=False, resume_from=path)
>>> len(history.train_loss), all(torch.equal(a, b) for a, b in
...     zip(resumed.state_dict().values(), whole.state_dict().values()))
(4, True)
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from typing import Any

from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import Tensor

from ..core import KAN, Dataset, json_digest, tampered_part, tensor_digest
from ._batches import Sampler
from ._options import check_integer
from ._records import History
from ._steps import Step

__all__ = ["CHECKPOINT_FORMAT", "Checkpoints", "TrainingCheckpointError"]

CHECKPOINT_FORMAT = 1
_KEY = "kanscience_fit"
# constructor arguments that only set the initial values, which the checkpoint replaces
_INITIALIZATION_ONLY = ("seed", "noise_scale", "scale_base_mu", "scale_base_sigma")


class TrainingCheckpointError(ValueError):
    """A training checkpoint is missing, corrupt or edited, or belongs to another fit."""


def _json_digest(config: Mapping[str, Any]) -> str:
    return json_digest({key: value for key, value in config.items() if key != "digest"})


def _canonical(value: Any) -> Any:
    """``value`` as it reads back from JSON (tuples become lists, dataclasses dicts)."""
    return json.loads(json.dumps(value, allow_nan=True, default=_record_fields))


def _record_fields(value: Any) -> dict[str, Any]:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {"type": type(value).__name__, **dataclasses.asdict(value)}
    raise TypeError(f"a fit setting of type {type(value).__name__} cannot be stored")


def data_digest(data: Dataset) -> str:
    """SHA-256 of the four tensors of ``data`` (what a resumed fit must train on again)."""
    names = ("train_input", "train_label", "test_input", "test_label")
    return tensor_digest({name: getattr(data, name) for name in names})


def write_checkpoint(path: str, tensors: Mapping[str, Tensor], config: dict[str, Any]) -> None:
    """Write ``tensors`` and the signed ``config`` atomically (a temporary file, then rename)."""
    stored = {name: value.detach().cpu().contiguous().clone() for name, value in tensors.items()}
    config = {
        **config,
        "format_version": CHECKPOINT_FORMAT,
        "tensor_digest": tensor_digest(stored),
    }
    config["digest"] = _json_digest(config)
    temporary = f"{path}.tmp"
    try:
        save_file(stored, temporary, metadata={_KEY: json.dumps(config, allow_nan=True)})
        os.replace(temporary, path)
    except SafetensorError as error:  # not an OSError, though it is one in substance
        raise OSError(f"could not write the training checkpoint {path!r}: {error}") from error
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def read_checkpoint(path: str) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """The tensors and config of the training checkpoint at ``path``, verified.

    Raises
    ------
    TrainingCheckpointError
        For a missing or unreadable file, a file not written by ``fit``, another format
        version, or tensors or header that fail the digest.
    """
    if not os.path.isfile(path):
        raise TrainingCheckpointError(f"resume_from: checkpoint {path!r} does not exist")
    try:
        tensors = load_file(path)
        with safe_open(path, framework="pt") as handle:
            header = handle.metadata() or {}
        config = json.loads(header[_KEY])
    except KeyError as error:
        raise TrainingCheckpointError(
            f"resume_from: {path!r} is not a training checkpoint (no {_KEY!r} header; "
            "model files from kanscience.io.save are read with kanscience.io.load)"
        ) from error
    except (SafetensorError, OSError, ValueError, RuntimeError) as error:
        raise TrainingCheckpointError(
            f"resume_from: checkpoint {path!r} is not readable (truncated or corrupt?): {error}"
        ) from error
    if not isinstance(config, dict) or config.get("format_version") != CHECKPOINT_FORMAT:
        version = config.get("format_version") if isinstance(config, dict) else None
        raise TrainingCheckpointError(
            f"resume_from: checkpoint {path!r} has format version {version!r}; this "
            f"kanscience reads version {CHECKPOINT_FORMAT}"
        )
    part = tampered_part(tensors, config, _json_digest(config))
    if part == "tensors":
        raise TrainingCheckpointError(
            f"resume_from: checkpoint {path!r} failed its integrity check: its tensors were "
            "edited or corrupted"
        )
    if part == "header":
        raise TrainingCheckpointError(
            f"resume_from: checkpoint {path!r} failed its integrity check: its header "
            "(step, settings, history) was edited or corrupted"
        )
    return tensors, config


def _architecture(model: KAN) -> dict[str, Any]:
    """The model's config without the arguments that only set its initial values."""
    config = _canonical(model.config())
    return {key: value for key, value in config.items() if key not in _INITIALIZATION_ONLY}


def _part(tensors: Mapping[str, Tensor], part: str) -> dict[str, Tensor]:
    prefix = f"{part}."
    return {name[len(prefix) :]: t for name, t in tensors.items() if name.startswith(prefix)}


def _path(name: str, value: Any) -> str:
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{name} must be a path (str or PathLike), got {type(value).__name__}")
    return os.fspath(value)


class Checkpoints:
    """When and where a fit writes its training checkpoints, and what it resumes from.

    Built by :meth:`from_options` from ``fit``'s arguments; ``train`` calls
    :meth:`resume_` before its first step and :meth:`write` after each completed step
    that :meth:`due` names (not after a step at which a callback stops the fit).

    Parameters
    ----------
    every : int or None
        Write after every ``every`` completed steps (None: never).
    path : str or None
        The file written (replaced atomically each time).
    resume_from : str or None
        The checkpoint to continue from.
    resumed : (tensors, config) or None
        That checkpoint, read and verified (:func:`read_checkpoint`).
    settings : dict
        The fit's settings that decide its steps (JSON values), stored and compared.
    """

    def __init__(
        self,
        every: int | None,
        path: str | None,
        resume_from: str | None,
        resumed: tuple[dict[str, Tensor], dict[str, Any]] | None,
        settings: dict[str, Any],
    ) -> None:
        self.every, self.path, self.settings = every, path, settings
        self.resume_from, self.resumed = resume_from, resumed
        self._data_digest: str | None = None

    @classmethod
    def from_options(
        cls,
        checkpoint_every: Any,
        checkpoint_path: Any,
        resume_from: Any,
        distributed: bool,
        **settings: Any,
    ) -> Checkpoints | None:
        """Validate ``fit``'s checkpoint arguments; None when the fit neither writes nor resumes.

        ``settings`` are the fit's options that decide its steps (optimizer, batch, seed,
        penalty, grid schedule, ...); a resumed fit must have the same ones.

        Raises
        ------
        TypeError, ValueError
            For a bad ``checkpoint_every``, a path without the other argument, or
            checkpointing in distributed training.
        FileNotFoundError
            If ``checkpoint_path``'s folder does not exist.
        TrainingCheckpointError
            If ``resume_from`` is missing, corrupt or edited.
        """
        if checkpoint_every is None and checkpoint_path is None and resume_from is None:
            return None
        if distributed:
            raise ValueError(
                "checkpoint_every and resume_from are not supported in distributed training"
            )
        if (checkpoint_every is None) != (checkpoint_path is None):
            raise ValueError(
                "checkpoint_every and checkpoint_path go together: got checkpoint_every="
                f"{checkpoint_every!r} and checkpoint_path={checkpoint_path!r}"
            )
        every = path = None
        if checkpoint_every is not None:
            every = check_integer("checkpoint_every", checkpoint_every, 1)
            path = _path("checkpoint_path", checkpoint_path)
            folder = os.path.dirname(os.path.abspath(path))
            if not os.path.isdir(folder):
                raise FileNotFoundError(
                    f"checkpoint_path {path!r}: the folder {folder!r} does not exist"
                )
            if os.path.isdir(path):
                raise IsADirectoryError(f"checkpoint_path {path!r} is a folder, not a file")
        resume = _path("resume_from", resume_from) if resume_from is not None else None
        resumed = read_checkpoint(resume) if resume is not None else None
        return cls(every, path, resume, resumed, _canonical(settings))

    def data_digest(self, data: Dataset) -> str:
        if self._data_digest is None:
            self._data_digest = data_digest(data)
        return self._data_digest

    # ------------------------------------------------------------------ resume
    def resume_(
        self, model: KAN, step: Step, sampler: Sampler, history: History, steps: int
    ) -> int:
        """Load the checkpoint into the model, optimizer, sampler and History (in place).

        Returns the number of steps already taken (0 when not resuming). The model is left
        as it was if the checkpoint does not fit this model, these settings or this data.

        Raises
        ------
        TrainingCheckpointError
            If the checkpoint was written for another architecture, other settings or
            other data, or has taken more than ``steps`` steps.
        """
        if self.resumed is None:
            return 0
        tensors, config = self.resumed
        where = f"resume_from: checkpoint {self.resume_from!r}"
        self._check_compatible(model, sampler.data, config, steps)
        state = model.state_dict()
        model_tensors = _part(tensors, "model")
        if set(model_tensors) != set(state) or any(
            model_tensors[n].shape != t.shape or model_tensors[n].dtype != t.dtype
            for n, t in state.items()
        ):
            raise TrainingCheckpointError(
                f"{where} holds tensors of other names, shapes or dtypes than this model"
            )
        before = {name: t.detach().clone() for name, t in state.items()}
        try:
            model.load_state_dict(model_tensors, strict=True)
            optimizer = config["optimizer"]
            step.load_state(_part(tensors, "optimizer"), optimizer["scalars"])
            sampler.generator.set_state(tensors["sampler.generator"])
            _load_history(history, config["history"], config["completed_steps"])
        except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as error:
            model.load_state_dict(before)
            raise TrainingCheckpointError(f"{where} has a malformed state: {error}") from error
        return int(config["completed_steps"])

    def _check_compatible(
        self, model: KAN, data: Dataset, config: dict[str, Any], steps: int
    ) -> None:
        problems = []
        if config.get("architecture") != _architecture(model) or config.get(
            "symbolic_names"
        ) != _canonical([layer.symbolic_names for layer in model.layers]):
            problems.append("it was written for another architecture or symbolic functions")
        saved = config.get("settings", {})
        differ = sorted(k for k in {*saved, *self.settings} if saved.get(k) != self.settings.get(k))
        if differ:
            pairs = ", ".join(
                f"{k}={saved.get(k)!r} there, {self.settings.get(k)!r} here" for k in differ
            )
            problems.append(f"it was written with other settings ({pairs})")
        if config.get("data_digest") != self.data_digest(data):
            problems.append("it was written while training on other data")
        completed = config.get("completed_steps")
        if not isinstance(completed, int) or not 0 <= completed <= steps:
            problems.append(f"it has taken {completed!r} steps, more than steps={steps}")
        if problems:
            raise TrainingCheckpointError(
                f"resume_from: cannot continue this fit from {self.resume_from!r}: "
                + "; ".join(problems)
            )

    # ------------------------------------------------------------------ write
    def due(self, completed_steps: int) -> bool:
        """Whether a checkpoint is written after ``completed_steps`` steps."""
        return self.every is not None and completed_steps % self.every == 0

    def write(
        self,
        model: KAN,
        step: Step,
        sampler: Sampler,
        history: History,
        completed_steps: int,
        seconds: float,
    ) -> None:
        """Write the state after ``completed_steps`` steps to ``path``."""
        assert self.path is not None
        optimizer_tensors, scalars = step.state()
        tensors = {f"model.{name}": t for name, t in model.state_dict().items()}
        tensors.update({f"optimizer.{name}": t for name, t in optimizer_tensors.items()})
        tensors["sampler.generator"] = sampler.generator.get_state()
        record = dataclasses.asdict(history)
        record["seconds"] = seconds
        config = {
            "completed_steps": completed_steps,
            "settings": self.settings,
            "data_digest": self.data_digest(sampler.data),
            "architecture": _architecture(model),
            "symbolic_names": _canonical([layer.symbolic_names for layer in model.layers]),
            "optimizer": {"name": step.name, "scalars": _canonical(scalars)},
            "history": record,
        }
        write_checkpoint(self.path, tensors, config)


def _load_history(history: History, record: dict[str, Any], completed: int) -> None:
    """Put the checkpoint's History (``completed`` steps) into ``history``."""
    lists = [record["train_loss"], record["test_loss"], record["reg"]]
    if any(len(values) != completed for values in lists):
        raise ValueError(f"its History does not have {completed} entries")
    if set(record["metrics"]) != set(history.metrics):
        raise ValueError(
            f"its History has metrics {sorted(record['metrics'])}, this fit "
            f"{sorted(history.metrics)}"
        )
    history.train_loss[:] = [float(v) for v in record["train_loss"]]
    history.test_loss[:] = [float(v) for v in record["test_loss"]]
    history.reg[:] = [float(v) for v in record["reg"]]
    for name in history.metrics:
        history.metrics[name][:] = [float(v) for v in record["metrics"][name]]
    history.n_evaluations = int(record["n_evaluations"])
    history.seconds = float(record["seconds"])
