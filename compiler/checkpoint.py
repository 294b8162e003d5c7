"""Save and load compiled KANs with the names of their inputs and the formulas they were
compiled from (a plain :func:`kanscience.io._checkpoint.save` keeps the model, not these)."""

from __future__ import annotations

import json
import os
from typing import cast

import sympy
import torch

from kanscience.core import FunctionLibrary
from kanscience.io import CheckpointError, load, read_metadata, save

from .build import CompiledKAN

__all__ = ["load_compiled", "save_compiled"]

# "input_names" is a convention any tool may read (the CLI labels a loaded model with it)
_NAMES, _EXPRESSIONS = "input_names", "compiler.expressions"


def save_compiled(model: CompiledKAN, path: str | os.PathLike) -> None:
    """Write ``model`` like :func:`kanscience.io._checkpoint.save`, with its ``input_names`` and
    ``expressions`` (as sympy ``srepr`` strings) in the checkpoint's metadata."""
    if not isinstance(model, CompiledKAN):
        raise TypeError(f"model must be a CompiledKAN, got {type(model).__name__}")
    save(
        model,
        path,
        metadata={
            _NAMES: json.dumps(list(model.input_names)),
            _EXPRESSIONS: json.dumps([sympy.srepr(e) for e in model.expressions]),
        },
    )


def load_compiled(
    path: str | os.PathLike,
    library: FunctionLibrary | None = None,
    map_location: str | torch.device | None = None,
) -> CompiledKAN:
    """Rebuild a model written by :func:`save_compiled` as a :class:`CompiledKAN`.

    Raises
    ------
    CheckpointError
        For a file that is not a kanscience checkpoint, or one saved without the
        compiler's metadata (load it with :func:`kanscience.io._checkpoint.load`).
    """
    metadata = read_metadata(path)
    if _NAMES not in metadata or _EXPRESSIONS not in metadata:
        raise CheckpointError(
            f"checkpoint {os.fspath(path)!r} was not saved by save_compiled "
            "(no input names); use kanscience.io._checkpoint.load"
        )
    try:
        names = json.loads(metadata[_NAMES])
        expressions = [sympy.sympify(text) for text in json.loads(metadata[_EXPRESSIONS])]
    except (ValueError, TypeError, SyntaxError, sympy.SympifyError) as error:
        raise CheckpointError(
            f"checkpoint {os.fspath(path)!r} has malformed compiler metadata: {error}"
        ) from error
    return cast(
        CompiledKAN,
        load(
            path,
            library,
            map_location,
            model_class=CompiledKAN,
            input_names=names,
            expressions=expressions,
        ),
    )
