"""The command line, driven as a user would: subprocess, files in tmp_path, exit codes."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import sympy
import torch


def run(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "kanscience.apps.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture
def table(tmp_path):
    rng = np.random.default_rng(0)
    a, b = rng.uniform(0.5, 2, 400), rng.uniform(0.5, 2, 400)
    path = tmp_path / "data.csv"
    path.write_text("a,b,y\n" + "\n".join(f"{u},{v},{u * v + 0.5 * u}" for u, v in zip(a, b)))
    return path


@pytest.mark.slow
def test_discover_prints_the_law_and_writes_only_when_asked(table, tmp_path):
    result = run(
        "discover", str(table), "--target", "y", "--time-budget", "120", "--quiet", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if line.strip().startswith("1 ")]
    formula = sympy.parse_expr(
        rows[0].split(maxsplit=4)[4], local_dict={n: sympy.Symbol(n, real=True) for n in "ab"}
    )
    a, b = sympy.symbols("a b", real=True)
    difference = sympy.lambdify([a, b], formula - (a * b + a / 2))
    points = np.random.default_rng(1).uniform(0.5, 2, (20, 2))
    assert np.abs(difference(points[:, 0], points[:, 1])).max() < 1e-9
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.csv"]


@pytest.mark.parametrize(
    "content, args, message",
    [
        ("a,b,y\n1,2,3\n", ["--target", "z"], "target column 'z' not in the file"),
        ("a,b,y\n1,2,3\n", ["--target", "y", "--vars", "a,c"], "column(s) c not in the file"),
        ("a,b,y\n1,x,3\n2,y,4\n", ["--target", "y"], "column(s) b are not numeric"),
        ("a,b,y\n1,2,3\n1,,4\n", ["--target", "y"], "NaN or Inf"),
    ],
)
def test_bad_tables_give_one_line_errors_and_exit_code_2(tmp_path, content, args, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    result = run("discover", str(path), *args, cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_missing_file(tmp_path):
    result = run("discover", "nothing.csv", "--target", "y", cwd=tmp_path)
    assert result.returncode == 2 and "no such file: nothing.csv" in result.stderr


def test_compile_writes_a_checkpoint_that_computes_the_formula(tmp_path):
    result = run(
        "compile", "x*sin(y) + exp(x)", "--vars", "x,y", "-o", "model.safetensors", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert "width" in result.stdout
    from kanscience.io._checkpoint import load

    model = load(tmp_path / "model.safetensors")
    x = torch.rand(50, 2, dtype=torch.float64)
    expected = x[:, 0] * torch.sin(x[:, 1]) + torch.exp(x[:, 0])
    torch.testing.assert_close(model(x)[:, 0], expected, atol=1e-10, rtol=1e-10)
    # the checkpoint names its inputs: the tree of the saved model uses them
    tree = run("tree", "--model", "model.safetensors", cwd=tmp_path)
    assert tree.returncode == 0, tree.stderr
    assert tree.stdout.strip() == "general(x,y)"  # x sin(y) + exp(x) does not split


def test_compile_rejects_unknown_variables(tmp_path):
    result = run("compile", "x*z", "--vars", "x,y", cwd=tmp_path)
    assert result.returncode == 2 and "not in --vars: z" in result.stderr


def test_tree_of_a_formula(tmp_path):
    result = run("tree", "(a+b)*(c+d)", "--vars", "a,b,c,d", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "mul(add(a,b),add(c,d))"


def test_every_subcommand_has_help(tmp_path):
    for command in ("demo", "discover", "compile", "tree", "sweep", "physics"):
        result = run(command, "--help", cwd=tmp_path)
        assert result.returncode == 0 and "usage: kanscience " + command in result.stdout


def test_physics_case_checks_its_law_and_writes_the_requested_plot(tmp_path):
    # (without --plot nothing is written: tests/test_physics_plots.py::run_as_script)
    result = run("physics", "schwarzschild", "--steps", "30", "--plot", "law.png", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "log" in result.stdout
    assert [p.name for p in tmp_path.iterdir()] == ["law.png"]
    assert (tmp_path / "law.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
