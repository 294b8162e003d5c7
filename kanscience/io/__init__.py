"""Files: safetensors checkpoints, pykan interop, built-in benchmark data."""

from ._checkpoint import (
    FORMAT_VERSION,
    CheckpointError,
    load,
    read_metadata,
    save,
)
from ._feynman import (
    FeynmanEquation,
    load_feynman,
)
from ._pykan import (
    from_pykan,
    to_pykan,
)

__all__ = [
    "CheckpointError",
    "FORMAT_VERSION",
    "FeynmanEquation",
    "from_pykan",
    "load",
    "load_feynman",
    "read_metadata",
    "save",
    "to_pykan",
]
