"""The command line, driven as a user would: subprocess, files in tmp_path, exit codes."""

from __future__ import annotations

import re
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


def test_an_unknown_physics_case_is_named_with_the_cases_there_are(tmp_path):
    import physics_examples

    result = run("physics", "no_such_case", cwd=tmp_path)
    assert result.returncode == 2
    assert "'no_such_case'" in result.stderr
    assert all(case in result.stderr for case in physics_examples.CASES)
    assert list(tmp_path.iterdir()) == []


def test_the_discover_report_saves_its_model_through_the_compiler_checkpoint(tmp_path):
    """The report's model is written by the one checkpoint path (``save_compiled``), so it
    keeps its input names and formula, and computes the best formula exactly."""
    from compiler import load_compiled
    from kanscience.apps._cli_commands import _save_report
    from kanscience.discover import Candidate, DiscoveryResult

    a, b = sympy.symbols("a b", real=True)
    best = Candidate(expr=a * b + a / 2, complexity=7, test_rmse=0.0, test_r2=1.0)
    result = DiscoveryResult((best,), variables=(a, b))
    x = np.random.default_rng(0).uniform(0.5, 2, (50, 2))
    _save_report(tmp_path / "report", result, ["a", "b"], x, x[:, 0] * x[:, 1] + x[:, 0] / 2)
    written = sorted(p.name for p in (tmp_path / "report").iterdir())
    assert written == ["front.json", "front.png", "index.html", "model.safetensors", "tree.svg"]
    model = load_compiled(tmp_path / "report" / "model.safetensors")
    assert model.input_names == ("a", "b") and model.expressions == (best.expr,)
    z = torch.as_tensor(x, dtype=torch.float64)
    expected = z[:, 0] * z[:, 1] + z[:, 0] / 2
    torch.testing.assert_close(model(z)[:, 0], expected, atol=1e-10, rtol=1e-10)


def test_discover_with_units_searches_dimensionless_groups(tmp_path):
    rng = np.random.default_rng(0)
    q, eps, r = rng.uniform(1, 3, (3, 300))
    table = tmp_path / "coulomb.csv"
    table.write_text(
        "q,eps,r,F\n"
        + "\n".join(f"{a},{b},{c},{2 * a * a / (b * c * c)}" for a, b, c in zip(q, eps, r))
    )
    units = tmp_path / "units.json"
    units.write_text('{"variables": {"q": "C", "eps": "F/m", "r": "m"}, "target": "N"}')
    result = run(
        "discover", str(table), "--target", "F", "--units", str(units), "--quiet", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    best = next(line for line in result.stdout.splitlines() if line.strip().startswith("1 "))
    symbols = {n: sympy.Symbol(n, real=True) for n in ("q", "eps", "r")}
    formula = sympy.parse_expr(best.split(maxsplit=4)[4], local_dict=symbols)
    assert (
        sympy.simplify(formula - 2 * symbols["q"] ** 2 / (symbols["eps"] * symbols["r"] ** 2)) == 0
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{", "is not JSON"),
        ('{"variables": {"q": "furlong", "eps": "F/m", "r": "m"}}', "unknown unit name 'furlong'"),
        ('{"variables": {"q": "C"}}', r"lacks the variables \['eps', 'r'\]"),
        ('["C"]', '"variables" object'),
    ],
)
def test_bad_units_files_give_one_line_errors(tmp_path, content, message):
    table = tmp_path / "t.csv"
    table.write_text("q,eps,r,F\n" + "\n".join(f"{i + 1},{i + 2},{i + 3},{i}" for i in range(20)))
    units = tmp_path / "units.json"
    units.write_text(content)
    result = run("discover", str(table), "--target", "F", "--units", str(units), cwd=tmp_path)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert re.search(message, result.stderr), result.stderr
