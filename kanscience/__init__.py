"""kanscience: symbolic-modular scientific discovery with Kolmogorov-Arnold Networks."""

from .attribution import Attribution, attribute, feature_interaction
from .data import Dataset, FeynmanEquation, create_dataset, load_feynman
from .functions import DEFAULT_LIBRARY, FunctionLibrary, SymbolicFunction, get_function
from .interop import from_pykan, to_pykan
from .layers import KANLayer
from .network import KAN
from .trace import forward_with_statistics, trace
from .train import History, TrainingDivergedError, fit

__version__ = "0.1.0"

MultKAN = KAN

__all__ = [
    "Attribution",
    "DEFAULT_LIBRARY",
    "Dataset",
    "FeynmanEquation",
    "FunctionLibrary",
    "History",
    "KAN",
    "KANLayer",
    "MultKAN",
    "SymbolicFunction",
    "TrainingDivergedError",
    "attribute",
    "create_dataset",
    "feature_interaction",
    "fit",
    "forward_with_statistics",
    "from_pykan",
    "get_function",
    "load_feynman",
    "to_pykan",
    "trace",
]
