"""SHA-256 digests that sign what a file holds: tensors and JSON headers.

Used by the model checkpoints (:mod:`kanscience.io`) and the training checkpoints
(:mod:`kanscience.train`), so an edited tensor or header is refused on reading.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import torch

__all__ = ["json_digest", "tampered_part", "tensor_digest"]


def tensor_digest(tensors: Mapping[str, torch.Tensor]) -> str:
    """SHA-256 over every tensor's name, dtype, shape and bytes, in name order.

    Examples
    --------
    >>> zeros, ones = {"w": torch.zeros(2)}, {"w": torch.ones(2)}
    >>> tensor_digest(zeros) == tensor_digest({"w": torch.zeros(2)}) != tensor_digest(ones)
    True
    """
    sha = hashlib.sha256()
    for name in sorted(tensors):
        tensor = tensors[name].detach().cpu().contiguous()
        sha.update(name.encode())
        sha.update(str(tensor.dtype).encode())
        sha.update(str(tuple(tensor.shape)).encode())
        flat = tensor.reshape(-1)  # a 0-d tensor has no byte view
        sha.update(flat.view(torch.uint8).numpy().tobytes() if flat.numel() else b"")
    return sha.hexdigest()


def json_digest(fields: Mapping[str, Any]) -> str:
    """SHA-256 of ``fields`` as canonical JSON (sorted keys, no spaces).

    Examples
    --------
    >>> json_digest({"a": 1, "b": [2]}) == json_digest({"b": [2], "a": 1})
    True
    """
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), allow_nan=True)
    return hashlib.sha256(text.encode()).hexdigest()


def tampered_part(
    tensors: Mapping[str, torch.Tensor], config: Mapping[str, Any], header_digest: str
) -> str | None:
    """Which signed part of a file fails its digest: ``"tensors"`` (``config`` records
    their digest as ``"tensor_digest"``), ``"header"`` (``config["digest"]`` against
    ``header_digest``, computed by the caller over the fields it signs), or None.

    Examples
    --------
    >>> t = {"w": torch.zeros(2)}
    >>> config = {"tensor_digest": tensor_digest(t), "digest": "abc"}
    >>> tampered_part(t, config, "abc"), tampered_part(t, config, "xyz")
    (None, 'header')
    >>> tampered_part({"w": torch.ones(2)}, config, "abc")
    'tensors'
    """
    if config.get("tensor_digest") != tensor_digest(tensors):
        return "tensors"
    if config.get("digest") != header_digest:
        return "header"
    return None
