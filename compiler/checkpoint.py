"""Save and load compiled KANs with the names of their inputs and the formulas they were
compiled from (a plain :func:`kanscience.io.save` keeps the model, not these).

Both go through kanscience's one checkpoint path: the names and formulas are metadata of
:func:`kanscience.io.save` (covered by its digest), and the formulas are read back by
:func:`kanscience.io.expression_from_text`, a whitelisting parser that never evaluates
text from the file.
"""

from __future__ import annotations

import json
import os
from typing import cast

import torch

from kanscience.core import FunctionLibrary
from kanscience.io import (
    CheckpointError,
    expression_from_text,
    expression_to_text,
    read_checkpoint,
    save,
)

from .build import CompiledKAN

__all__ = ["load_compiled", "save_compiled"]

# "input_names" is a convention any tool may read (the CLI labels a loaded model with it)
_NAMES, _EXPRESSIONS = "input_names", "compiler.expressions"


def save_compiled(model: CompiledKAN, path: str | os.PathLike) -> None:
    """Write ``model`` like :func:`kanscience.io.save`, with its ``input_names`` and
    ``expressions`` (as sympy ``srepr`` text) in the checkpoint's metadata."""
    if not isinstance(model, CompiledKAN):
        raise TypeError(f"model must be a CompiledKAN, got {type(model).__name__}")
    save(
        model,
        path,
        metadata={
            _NAMES: json.dumps(list(model.input_names)),
            _EXPRESSIONS: json.dumps([expression_to_text(e) for e in model.expressions]),
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
        For a file that is not a valid kanscience checkpoint, or one saved without the
        compiler's metadata (load it with :func:`kanscience.io.load`).
    """
    checkpoint = read_checkpoint(path)
    metadata = checkpoint.metadata
    if _NAMES not in metadata or _EXPRESSIONS not in metadata:
        raise CheckpointError(
            f"checkpoint {os.fspath(path)!r} was not saved by save_compiled "
            "(no input names); use kanscience.io.load"
        )
    try:
        names = json.loads(metadata[_NAMES])
        texts = json.loads(metadata[_EXPRESSIONS])
        if not isinstance(texts, list):
            raise TypeError(f"expected a list of formulas, got {type(texts).__name__}")
        expressions = [expression_from_text(text) for text in texts]
    except (ValueError, TypeError) as error:
        raise CheckpointError(
            f"checkpoint {os.fspath(path)!r} has malformed compiler metadata: {error}"
        ) from error
    model = checkpoint.to_model(
        library, map_location, CompiledKAN, input_names=names, expressions=expressions
    )
    return cast(CompiledKAN, model)
