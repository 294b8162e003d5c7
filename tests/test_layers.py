"""The package's layers, read from the source: imports point one way only.

core <- train <- (analysis, symbolic, structure) <- (discover, physics) <- apps; io needs
only core, plot only analysis and below. The compiler imports public kanscience names
only, and kanscience imports the compiler only inside the CLI. ARCHITECTURE.md describes
the same order; this test keeps it true.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "kanscience"

# each package may import itself and the packages listed (directly or through them)
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "train": {"core"},
    "io": {"core"},
    "analysis": {"core", "train"},
    "symbolic": {"core", "train"},
    "structure": {"core", "train"},
    "plot": {"core", "train", "analysis"},
    "discover": {"core", "train", "analysis", "symbolic", "structure"},
    "physics": {"core", "train", "analysis", "symbolic", "structure", "discover"},
    "compat": {"core", "train"},
    "apps": {
        "core",
        "train",
        "analysis",
        "symbolic",
        "structure",
        "discover",
        "physics",
        "io",
        "plot",
        "compat",
    },
}
ALL = set(ALLOWED)


def _package_of(path: Path) -> str | None:
    parts = path.relative_to(PACKAGE).parts
    return parts[0] if len(parts) > 1 else None


def _imported_modules(path: Path) -> list[tuple[str, int]]:
    """Absolute dotted names of the modules imported by ``path``, with line numbers."""
    module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    package = package.removesuffix(".__init__")
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            found.append((name, node.lineno))
            found += [(f"{name}.{alias.name}", node.lineno) for alias in node.names]
    return found


def _is_cli(path: Path) -> bool:
    """The command line (``apps/cli.py`` and its ``_cli_*`` modules) may use the compiler."""
    return path.parent == PACKAGE / "apps" and (
        path.name == "cli.py" or path.name.startswith("_cli")
    )


def _sources(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def test_every_package_is_assigned_a_layer():
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert packages == ALL


@pytest.mark.parametrize("path", _sources(PACKAGE), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_down_the_layers(path: Path):
    own = _package_of(path)
    violations = []
    for name, line in _imported_modules(path):
        parts = name.split(".")
        if parts[0] == "compiler" and not _is_cli(path):
            violations.append(f"line {line}: imports the compiler ({name})")
        if parts[0] != "kanscience" or len(parts) < 2 or parts[1] not in ALL:
            continue
        target = parts[1]
        if own is None:  # kanscience/__init__.py and __main__.py sit above every layer
            continue
        if target != own and target not in ALLOWED[own]:
            violations.append(f"line {line}: {own} imports {target} ({name})")
    assert not violations, f"{path.relative_to(ROOT)}: " + "; ".join(violations)


def test_layer_order_has_no_cycles():
    order: list[str] = []
    remaining = dict(ALLOWED)
    while remaining:
        ready = [p for p, deps in remaining.items() if deps <= set(order)]
        assert ready, f"cycle among {sorted(remaining)}"
        order += sorted(ready)
        for p in ready:
            del remaining[p]
    assert order[0] == "core" and order[-1] == "apps"


@pytest.mark.parametrize("path", _sources(ROOT / "compiler"), ids=lambda p: p.name)
def test_compiler_uses_only_public_kanscience_names(path: Path):
    private = [
        f"line {line}: {name}"
        for name, line in _imported_modules(path)
        if name.startswith("kanscience") and any(p.startswith("_") for p in name.split("."))
    ]
    assert not private, f"compiler/{path.name} imports private kanscience modules: {private}"
