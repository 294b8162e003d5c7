"""Checkpoints: one safetensors file, tensors plus a versioned JSON config, never pickle.

The JSON (stored in the safetensors header's metadata) holds the architecture, the
symbolic function names of every edge, the format version and a SHA-256 digest of the
tensor data, so a truncated or edited file is refused with a clear message.

Examples
--------
>>> import torch, tempfile, os
>>> from kanscience import KAN
>>> model = KAN([2, 3, 1], seed=0)
>>> path = os.path.join(tempfile.mkdtemp(), "model.safetensors")
>>> save(model, path)
>>> x = torch.rand(5, 2)
>>> bool(torch.equal(load(path)(x), model(x)))
True
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..core import KAN, FunctionLibrary, resolve_library

__all__ = ["FORMAT_VERSION", "CheckpointError", "load", "read_metadata", "save"]

FORMAT_VERSION = 1
_KEY = "kanscience"


class CheckpointError(ValueError):
    """A checkpoint file is missing, truncated, edited or from an incompatible version."""


def _digest(tensors: dict[str, torch.Tensor]) -> str:
    sha = hashlib.sha256()
    for name in sorted(tensors):
        tensor = tensors[name].detach().cpu().contiguous()
        sha.update(name.encode())
        sha.update(str(tensor.dtype).encode())
        sha.update(str(tuple(tensor.shape)).encode())
        sha.update(tensor.view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return sha.hexdigest()


def save(model: KAN, path: str | os.PathLike, metadata: Mapping[str, str] | None = None) -> None:
    """Write ``model`` to ``path`` (conventionally ``*.safetensors``).

    Parameters
    ----------
    model : KAN
    path : str or PathLike
        Destination file; its folder must exist. Written atomically (temp file + rename).
    metadata : mapping of str to str, optional
        Stored with the model and returned by :func:`read_metadata` (for example the
        names of the inputs, or how the model was made).
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
    config = {
        "format_version": FORMAT_VERSION,
        "architecture": model.config(),
        "symbolic_names": [layer.symbolic_names for layer in model.layers],
        "digest": _digest(tensors),
        "metadata": metadata,
    }
    path = os.fspath(path)
    temporary = f"{path}.tmp"
    save_file(tensors, temporary, metadata={_KEY: json.dumps(config)})
    os.replace(temporary, path)


def _read(path: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    if not os.path.isfile(path):
        raise CheckpointError(f"checkpoint {path!r} does not exist")
    try:
        tensors = load_file(path)
        from safetensors import safe_open

        with safe_open(path, framework="pt") as handle:
            metadata = handle.metadata() or {}
    except (SafetensorError, OSError, ValueError, RuntimeError) as error:
        raise CheckpointError(
            f"checkpoint {path!r} is not a readable safetensors file "
            f"(truncated or corrupt?): {error}"
        ) from error
    if _KEY not in metadata:
        raise CheckpointError(
            f"checkpoint {path!r} has no kanscience config; not saved by kanscience.io._checkpoint.save"
        )
    try:
        config = json.loads(metadata[_KEY])
    except json.JSONDecodeError as error:
        raise CheckpointError(
            f"checkpoint {path!r} has a malformed JSON config: {error}"
        ) from error
    return tensors, config


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The ``metadata`` saved with the model at ``path`` (empty if none was given).

    Raises
    ------
    CheckpointError
        For a missing or unreadable file, or malformed metadata.
    """
    _, config = _read(os.fspath(path))
    metadata = config.get("metadata", {})
    if not isinstance(metadata, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise CheckpointError(f"checkpoint {os.fspath(path)!r} has malformed metadata")
    return metadata


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
    """
    if not (isinstance(model_class, type) and issubclass(model_class, KAN)):
        raise TypeError(f"model_class must be KAN or a subclass, got {model_class!r}")
    path = os.fspath(path)
    tensors, config = _read(path)
    version = config.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {path!r} has format version {version!r}; this kanscience reads {FORMAT_VERSION}"
        )
    if config.get("digest") != _digest(tensors):
        raise CheckpointError(
            f"checkpoint {path!r} failed its integrity check: the tensors were edited or corrupted"
        )
    try:
        architecture = dict(config["architecture"])
        names = config["symbolic_names"]
        library_names = architecture.pop("library")
        lib = resolve_library(library)
        missing = [n for n in library_names if n not in lib]
        if missing:
            raise CheckpointError(
                f"checkpoint {path!r} needs symbolic functions {missing} "
                "that are not in the library; pass library="
            )
        dtype = next(iter(tensors.values())).dtype
        model = model_class(
            **architecture, library=lib.subset(library_names), dtype=dtype, **init_kwargs
        )
        model.load_state_dict(tensors, strict=True)
        if len(names) != model.depth:
            raise ValueError("symbolic_names does not match the number of layers")
        for layer, layer_names in zip(model.layers, names):
            if len(layer_names) != layer.in_dim or any(
                len(row) != layer.out_dim for row in layer_names
            ):
                raise ValueError("symbolic_names does not match the layer shapes")
            for i, row in enumerate(layer_names):
                for j, name in enumerate(row):
                    layer.set_symbolic_name(i, j, name)
    except CheckpointError:
        raise
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        raise CheckpointError(
            f"checkpoint {path!r} does not describe a consistent model: {error}"
        ) from error
    return model.to(map_location) if map_location is not None else model
