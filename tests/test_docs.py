"""The documentation site's table of contents keeps up with the code: every tutorial
notebook and every public package has a page in mkdocs.yml's nav, and each API page
renders the package it is named after. (The build itself, ``mkdocs build --strict``,
runs in .ci/run; this test only reads files.)"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _nav_pages(entries: object) -> list[str]:
    """Every page path of a mkdocs nav (strings, titled pages, sections), in order."""
    if isinstance(entries, str):
        return [entries]
    if isinstance(entries, dict):
        return [page for value in entries.values() for page in _nav_pages(value)]
    if isinstance(entries, list):
        return [page for entry in entries for page in _nav_pages(entry)]
    raise AssertionError(f"unexpected nav entry {entries!r}")


def _nav() -> list[str]:
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    return _nav_pages(config["nav"])


def _public_packages() -> list[str]:
    """kanscience and its subpackages whose names do not start with an underscore, and
    the compiler, as dotted names."""
    packages = ["kanscience", "compiler"]
    for init in sorted((ROOT / "kanscience").glob("*/__init__.py")):
        if not init.parent.name.startswith("_"):
            packages.append(f"kanscience.{init.parent.name}")
    return packages


def test_nav_lists_every_tutorial_notebook_once():
    notebooks = sorted((ROOT / "tutorials").glob("*.ipynb"))
    assert len(notebooks) >= 10
    nav = _nav()
    for notebook in notebooks:
        # the page is made from the jupytext source of the notebook (docs/_hooks/pages.py)
        assert notebook.with_suffix(".py").is_file(), f"{notebook.name} has no .py pair"
        assert nav.count(f"tutorials/{notebook.stem}.md") == 1, f"{notebook.name} not in nav"
    listed = [page for page in nav if page.startswith("tutorials/")]
    assert len(listed) == len(notebooks), f"nav lists tutorials that do not exist: {listed}"


def test_nav_has_an_api_page_for_every_public_package():
    nav = _nav()
    rendered: dict[str, str] = {}
    for page in nav:
        if page.startswith("api/"):
            text = (ROOT / "docs" / page).read_text(encoding="utf-8")
            for name in re.findall(r"^::: ([\w.]+)$", text, flags=re.MULTILINE):
                rendered[name] = page
    packages = _public_packages()
    assert {"kanscience.core", "kanscience.discover", "kanscience.physics"} <= set(packages)
    missing = [p for p in packages if p not in rendered]
    assert not missing, f"packages without an API page in mkdocs.yml's nav: {missing}"


def test_home_and_hook_pages_are_in_the_nav():
    nav = _nav()
    assert nav[0] == "index.md"
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    for hook in config["hooks"]:
        assert (ROOT / hook).is_file()
    static = {p for p in nav if not p.startswith("tutorials/")} - {"index.md", "architecture.md"}
    absent = [p for p in static if not (ROOT / "docs" / p).is_file()]
    assert not absent, f"nav pages missing from docs/: {absent}"
