"""The symbolic-solution judge of ``benchmarks/feynman.py`` (SRBench's rule on the domain)."""

from __future__ import annotations

import pytest
import sympy
from benchmark_support import load_benchmark

from kanscience import load_feynman


@pytest.fixture(scope="module")
def judge():
    return load_benchmark("feynman", "feynman_benchmark")


def _parse(text: str, names: list[str]) -> sympy.Expr:
    return sympy.sympify(text, locals={v: sympy.Symbol(v, real=True) for v in names})


@pytest.mark.parametrize(
    "text, expected",
    [
        ("sqrt(gamma)*sqrt(pr)/sqrt(rho)", True),  # equal where the variables are positive
        ("1.0000001*sqrt(gamma*pr/rho) + 0.37", True),  # rounding, then a constant offset
        ("2.5*sqrt(gamma*pr/rho)", True),  # a constant factor
        ("sqrt(gamma*pr/rho) + 0.01*rho", False),
        ("sqrt(gamma*pr)/rho", False),
    ],
)
def test_judge_on_the_positive_domain(judge, text, expected):
    (equation,) = load_feynman(["I.47.23"])
    assert judge.positive_variables(equation) == ["gamma", "pr", "rho"]
    model = _parse(text, list(equation.variables))
    assert (
        judge.is_symbolic_solution(
            model, equation.expression(), positive=judge.positive_variables(equation)
        )
        is expected
    )


def test_judge_without_positivity_keeps_the_real_line(judge):
    (equation,) = load_feynman(["I.47.23"])
    model = _parse("sqrt(gamma)*sqrt(pr)/sqrt(rho)", list(equation.variables))
    assert not judge.is_symbolic_solution(model, equation.expression())


def test_rejudge_reads_the_record_formula(judge):
    record = {
        "method": "ours",
        "id": "I.47.23",
        "noise": 0.0,
        "symbolic": False,
        "expr": "sqrt(gamma)*sqrt(pr)/sqrt(rho)",
    }
    assert judge.rejudge(record)["symbolic"] is True
    assert judge.rejudge({**record, "expr": "gamma*pr"})["symbolic"] is False
    assert judge.rejudge({**record, "expr": None}) == {**record, "expr": None}
