"""MkDocs hook: pages made from files outside ``docs/``, so nothing is copied by hand.

- ``index.md`` is the README, ``architecture.md`` is ARCHITECTURE.md (links between them
  rewritten to the pages);
- ``tutorials/<name>.md`` is each jupytext tutorial ``tutorials/<name>.py`` (the source of
  the paired notebook): markdown cells as text, code cells as Python blocks, not executed
  (the test suite runs them).

Listed in mkdocs.yml under ``hooks``; the nav names the pages made here.
"""

from __future__ import annotations

import re
from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[2]

# a file of the repository -> the page that shows it
_ROOT_PAGES = {"README.md": "index.md", "ARCHITECTURE.md": "architecture.md"}

# "# %%" opens a code cell, "# %% [markdown]" a markdown cell
_CELL = re.compile(r"^# %%(?P<title>[^\[]*)(?P<kind>\[markdown\])?\s*$")


def tutorial_markdown(source: str) -> str:
    """A jupytext percent script as markdown: its markdown cells uncommented, its code
    cells in fenced Python blocks, the jupytext header dropped."""
    lines = source.splitlines()
    if lines and lines[0] == "# ---":  # the jupytext header, up to the next "# ---"
        end = lines.index("# ---", 1)
        lines = lines[end + 1 :]
    cells: list[tuple[bool, list[str]]] = []
    for line in lines:
        opened = _CELL.match(line)
        if opened:
            cells.append((opened.group("kind") is not None, []))
        elif cells:
            cells[-1][1].append(line)
        elif line.strip():
            cells.append((False, [line]))
    blocks = []
    for is_markdown, body in cells:
        text = "\n".join(body).strip("\n")
        if not text.strip():
            continue
        if is_markdown:
            blocks.append("\n".join(re.sub(r"^# ?", "", line) for line in text.splitlines()))
        else:
            blocks.append(f"```python\n{text}\n```")
    return "\n\n".join(blocks) + "\n"


def _link_pages(markdown: str) -> str:
    """Links to the repository's root files pointed at their pages."""
    for file, page in _ROOT_PAGES.items():
        markdown = markdown.replace(f"]({file})", f"]({page})")
    return markdown


def on_files(files: Files, config: MkDocsConfig) -> Files:
    for file, page in _ROOT_PAGES.items():
        content = _link_pages((ROOT / file).read_text(encoding="utf-8"))
        files.append(File.generated(config, page, content=content))
    for script in sorted((ROOT / "tutorials").glob("*.py")):
        markdown = tutorial_markdown(script.read_text(encoding="utf-8"))
        note = (
            f"*The source is `tutorials/{script.name}` (paired with "
            f"`tutorials/{script.stem}.ipynb`); the test suite runs it.*\n\n"
        )
        first_heading = markdown.find("\n\n") + 2 if markdown.startswith("# ") else 0
        markdown = markdown[:first_heading] + note + markdown[first_heading:]
        files.append(File.generated(config, f"tutorials/{script.stem}.md", content=markdown))
    return files
