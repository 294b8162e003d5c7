"""Files: safetensors checkpoints, pykan interop, built-in benchmark data."""

from ._checkpoint import (
    FORMAT_VERSION,
    Checkpoint,
    CheckpointError,
    load,
    read_checkpoint,
    read_metadata,
    save,
)
from ._expression import (
    expression_from_text,
    expression_to_text,
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
    "Checkpoint",
    "CheckpointError",
    "FORMAT_VERSION",
    "FeynmanEquation",
    "expression_from_text",
    "expression_to_text",
    "from_pykan",
    "load",
    "load_feynman",
    "read_checkpoint",
    "read_metadata",
    "save",
    "to_pykan",
]
