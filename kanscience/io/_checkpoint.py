"""Checkpoints: one safetensors file, tensors plus a versioned JSON config, never pickle.

The JSON (stored in the safetensors header's metadata) holds the architecture, the
symbolic function names of every edge, the user's metadata, the format version and a
SHA-256 digest of all of these and of the tensor data, so a truncated file, or one whose
tensors, config or metadata were edited, is refused with a clear message. The claimed
shapes are checked against the stored tensors before a model is built.

This is the one path by which kanscience writes and reads models: the kanpiler's
``save_compiled`` stores its extra fields as metadata through :func:`save`.

Examples
--------
>>> import torch, tempfile, os
>>> from kanscience import KAN
>>> model = KAN([2, 3, 1], seed=0)
>>> path = os.path.join(tempfile.mkdtemp(), "model.safetensors")
>>> save(model, path, metadata={"note": "an example"})
>>> x = torch.rand(5, 2)
>>> bool(torch.equal(load(path)(x), model(x)))
True
>>> read_checkpoint(path).metadata
{'note': 'an example'}
"""

from __future__ import annotations

import errno
import json
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from ..core import (
    KAN,
    FunctionLibrary,
    KANLayer,
    json_digest,
    resolve_library,
    tampered_part,
    tensor_digest,
)
from ._architecture import check_architecture

__all__ = [
    "FORMAT_VERSION",
    "Checkpoint",
    "CheckpointError",
    "load",
    "read_checkpoint",
    "read_metadata",
    "save",
]

FORMAT_VERSION = 2
# version 1 hashed the tensors only; its files are still read (with a warning)
_TENSORS_ONLY_VERSION = 1
_KEY = "kanscience"
_SIGNED_FIELDS = ("format_version", "architecture", "symbolic_names", "metadata", "tensor_digest")


class CheckpointError(ValueError):
    """A checkpoint file is missing, truncated, edited or from an incompatible version."""


def _digest(config: Mapping[str, Any]) -> str:
    """SHA-256 of the signed config fields (canonical JSON), the tensors' digest included."""
    return json_digest({field: config.get(field) for field in _SIGNED_FIELDS})


def save(model: KAN, path: str | os.PathLike, metadata: Mapping[str, str] | None = None) -> None:
    """Write ``model`` to ``path`` (conventionally ``*.safetensors``).

    Parameters
    ----------
    model : KAN
    path : str or PathLike
        Destination file; its folder must exist. Written atomically (temp file + rename).
    metadata : mapping of str to str, optional
        Stored with the model, covered by the digest, and returned by
        :func:`read_metadata` (for example the names of the inputs, or how the model
        was made).

    Raises
    ------
    FileNotFoundError
        If the folder of ``path`` does not exist (naming it).
    IsADirectoryError
        If ``path`` is a folder.
    OSError
        If the file cannot be written.
    TypeError
        For a model that is not a KAN or metadata that are not str to str.
    """
    if not isinstance(model, KAN):
        raise TypeError(f"model must be a kanscience KAN, got {type(model).__name__}")
    metadata = dict(metadata or {})
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise TypeError(f"metadata must map str to str, got {metadata!r}")
    tensors = {
        name: value.detach().cpu().contiguous().clone()
        for name, value in model.state_dict().items()
    }
    config: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "architecture": model.config(),
        "symbolic_names": [layer.symbolic_names for layer in model.layers],
        "metadata": metadata,
        "tensor_digest": tensor_digest(tensors),
    }
    config["digest"] = _digest(config)
    path = _writable_path(path)
    temporary = f"{path}.tmp"
    try:
        save_file(tensors, temporary, metadata={_KEY: json.dumps(config)})
        os.replace(temporary, path)
    except SafetensorError as error:  # safetensors' I/O errors are not OSErrors
        raise OSError(f"cannot write checkpoint {path!r}: {error}") from error
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def _writable_path(path: str | os.PathLike) -> str:
    """``path`` as a str after checking that its folder exists and it is not a folder."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    path = os.fspath(path)
    if not isinstance(path, str):
        raise TypeError(f"path must be a text path, got {path!r}")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(
            errno.ENOENT, f"cannot save: the folder {folder!r} does not exist", path
        )
    if os.path.isdir(path):
        raise IsADirectoryError(errno.EISDIR, "cannot save: the path is a folder", path)
    return path


def _check_device(map_location: str | torch.device | None) -> torch.device | None:
    """``map_location`` as a device that this torch can use, or a ValueError naming it."""
    if map_location is None:
        return None
    if not isinstance(map_location, (str, torch.device)):
        raise TypeError(f"map_location must be a device name or torch.device, got {map_location!r}")
    try:
        device = torch.device(map_location)
    except (RuntimeError, ValueError) as error:
        raise ValueError(
            f"map_location={map_location!r} is not a torch device (try 'cpu' or 'cuda:0')"
        ) from error
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if (device.index or 0) >= count:
            raise ValueError(
                f"map_location={map_location!r}, but this torch sees {count} CUDA device(s)"
            )
    elif device.type not in ("cpu", "meta"):
        backend = getattr(torch, device.type, None)
        available = getattr(backend, "is_available", None)
        if not (callable(available) and available()):
            raise ValueError(f"map_location={map_location!r}, but that device is not available")
    return device


def _read(path: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    if not os.path.isfile(path):
        raise CheckpointError(f"checkpoint {path!r} does not exist")
    try:
        tensors = load_file(path)
        with safe_open(path, framework="pt") as handle:
            header = handle.metadata() or {}
    except (SafetensorError, OSError, ValueError, RuntimeError) as error:
        raise CheckpointError(
            f"checkpoint {path!r} is not a readable safetensors file "
            f"(truncated or corrupt?): {error}"
        ) from error
    if _KEY not in header:
        raise CheckpointError(
            f"checkpoint {path!r} has no kanscience config; not saved by kanscience.io.save"
        )
    try:
        config = json.loads(header[_KEY])
    except json.JSONDecodeError as error:
        raise CheckpointError(
            f"checkpoint {path!r} has a malformed JSON config: {error}"
        ) from error
    if not isinstance(config, dict):
        raise CheckpointError(f"checkpoint {path!r} has a malformed JSON config: not an object")
    return tensors, config


def _verify(path: str, tensors: Mapping[str, torch.Tensor], config: Mapping[str, Any]) -> None:
    version = config.get("format_version")
    if version == FORMAT_VERSION:
        part = tampered_part(tensors, config, _digest(config))
        if part == "tensors":
            raise CheckpointError(
                f"checkpoint {path!r} failed its integrity check: the tensors were edited "
                "or corrupted"
            )
        if part == "header":
            raise CheckpointError(
                f"checkpoint {path!r} failed its integrity check: its config (architecture, "
                "symbolic functions) or metadata were edited or corrupted"
            )
    elif version == _TENSORS_ONLY_VERSION:
        if config.get("digest") != tensor_digest(tensors):
            raise CheckpointError(
                f"checkpoint {path!r} failed its integrity check: the tensors were edited "
                "or corrupted"
            )
        warnings.warn(
            f"checkpoint {path!r} has format version {_TENSORS_ONLY_VERSION}, whose digest "
            "does not cover its config and metadata; save it again to protect them",
            UserWarning,
            stacklevel=4,
        )
    else:
        raise CheckpointError(
            f"checkpoint {path!r} has format version {version!r}; this kanscience reads "
            f"{FORMAT_VERSION} (and {_TENSORS_ONLY_VERSION})"
        )


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint read and verified by :func:`read_checkpoint`.

    Attributes
    ----------
    path : str
    tensors : dict of str to Tensor
        The model's state dict.
    architecture : dict
        ``KAN.config()`` of the saved model, checked against the tensors' shapes.
    symbolic_names : list
        Per layer, the symbolic function name of every edge.
    metadata : dict of str to str
        What was passed to :func:`save`.
    """

    path: str
    tensors: dict[str, torch.Tensor]
    architecture: dict[str, Any]
    symbolic_names: list[list[list[str]]]
    metadata: dict[str, str]

    def to_model(
        self,
        library: FunctionLibrary | None = None,
        map_location: str | torch.device | None = None,
        model_class: type[KAN] = KAN,
        **init_kwargs: Any,
    ) -> KAN:
        """Build the saved model; the arguments are those of :func:`load`."""
        device = _check_device(map_location)
        if not (isinstance(model_class, type) and issubclass(model_class, KAN)):
            raise TypeError(f"model_class must be KAN or a subclass, got {model_class!r}")
        architecture = dict(self.architecture)
        library_names = architecture.pop("library", None)
        if not isinstance(library_names, list) or not all(
            isinstance(n, str) for n in library_names
        ):
            raise CheckpointError(f"checkpoint {self.path!r} has a malformed function library")
        lib = resolve_library(library)
        missing = [n for n in library_names if n not in lib]
        if missing:
            raise CheckpointError(
                f"checkpoint {self.path!r} needs symbolic functions {missing} "
                "that are not in the library; pass library="
            )
        try:
            dtype = next(iter(self.tensors.values())).dtype
            # the shapes were checked against the stored tensors: the size is that of the file
            init_kwargs.setdefault("allow_large", True)
            model = model_class(
                **architecture, library=lib.subset(library_names), dtype=dtype, **init_kwargs
            )
            model.load_state_dict(self.tensors, strict=True)
            for layer, layer_names in zip(model.layers, self.symbolic_names):
                for i, row in enumerate(layer_names):
                    for j, name in enumerate(row):
                        cast(KANLayer, layer).set_symbolic_name(i, j, name)
        except (KeyError, TypeError, ValueError, RuntimeError) as error:
            raise CheckpointError(
                f"checkpoint {self.path!r} does not describe a consistent model: {error}"
            ) from error
        return model.to(device) if device is not None else model


def read_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read and verify the checkpoint at ``path`` without building the model.

    Raises
    ------
    CheckpointError
        For a missing, truncated or unreadable file; an unknown format version; tensors,
        config or metadata that fail the digest; or a config whose claimed shapes the
        tensors do not have.
    """
    path = os.fspath(path)
    tensors, config = _read(path)
    _verify(path, tensors, config)
    metadata = config.get("metadata", {})
    if not isinstance(metadata, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise CheckpointError(f"checkpoint {path!r} has malformed metadata")
    architecture = config.get("architecture")
    if not isinstance(architecture, dict) or not tensors:
        raise CheckpointError(f"checkpoint {path!r} does not describe a consistent model")
    names = config.get("symbolic_names")
    try:
        check_architecture(architecture, names, tensors)
    except ValueError as error:
        raise CheckpointError(
            f"checkpoint {path!r} does not describe a consistent model: {error}"
        ) from error
    return Checkpoint(path, tensors, architecture, cast(list, names), metadata)


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The ``metadata`` saved with the model at ``path`` (empty if none was given).

    Raises
    ------
    CheckpointError
        As :func:`read_checkpoint`.
    """
    return read_checkpoint(path).metadata


def load(
    path: str | os.PathLike,
    library: FunctionLibrary | None = None,
    map_location: str | torch.device | None = None,
    model_class: type[KAN] = KAN,
    **init_kwargs: Any,
) -> KAN:
    """Rebuild the model saved at ``path``.

    Parameters
    ----------
    path : str or PathLike
    library : FunctionLibrary, optional
        Needed when the model uses functions beyond the built-in library.
    map_location : device, optional
    model_class : subclass of KAN, optional
        The class to rebuild (a subclass adding attributes, e.g. the kanpiler's
        ``CompiledKAN``), constructed with the saved architecture and ``init_kwargs``.

    Raises
    ------
    CheckpointError
        For a missing, truncated, edited or incompatible file.
    ValueError
        For a ``map_location`` that is not a device, or one this torch cannot use.
    """
    _check_device(map_location)
    if not (isinstance(model_class, type) and issubclass(model_class, KAN)):
        raise TypeError(f"model_class must be KAN or a subclass, got {model_class!r}")
    return read_checkpoint(path).to_model(library, map_location, model_class, **init_kwargs)
