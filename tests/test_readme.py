"""README.md's Python examples run as written (in a temporary folder, in order)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_opens_with_the_two_commands():
    text = README.read_text()
    commands = re.findall(r"```bash\n(.*?)```", text, flags=re.S)[:2]
    assert commands[0].strip() == "pip install torch==2.13.0 && pip install . && kanscience demo"
    assert commands[1].strip() == (
        'pip install torch==2.13.0 && pip install -e ".[test]" && python -m pytest -q'
    )
    assert text.index("```bash") < text.index("```python")


@pytest.mark.slow
def test_python_examples_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for index, block in enumerate(BLOCKS):
        code = block.replace("time_budget=60", "time_budget=None")  # results, not the clock
        try:
            exec(compile(code, f"README.md python block {index + 1}", "exec"), namespace)
        except Exception as error:  # pragma: no cover - the message names the block
            raise AssertionError(f"README python block {index + 1} fails: {error!r}") from error
    assert str(namespace["result"].best.expr) == "m*sin(theta)"
    assert namespace["history"].train_loss[-1] < 1e-2
    epochs = namespace["streamed"].epoch_loss
    assert len(epochs) == 3 and epochs[0] > epochs[1] > epochs[2]
