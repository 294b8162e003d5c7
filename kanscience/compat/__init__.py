"""pykan's spellings as thin wrappers over kanscience (:mod:`kanscience.compat.pykan`)."""

from .pykan import PYKAN_FIT_OPTIONS, fit_pykan, options_from_pykan

__all__ = ["PYKAN_FIT_OPTIONS", "fit_pykan", "options_from_pykan"]
