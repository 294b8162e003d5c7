"""The scripts of ``benchmarks/`` as modules (the folder is not a package, and putting it
on ``sys.path`` would shadow the top-level ``compiler``)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load_benchmark(script: str, module_name: str) -> ModuleType:
    """Execute ``benchmarks/<script>.py`` as the module ``module_name`` (registered in
    ``sys.modules`` first: its dataclasses resolve annotations through it)."""
    spec = importlib.util.spec_from_file_location(module_name, BENCHMARKS / f"{script}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module
