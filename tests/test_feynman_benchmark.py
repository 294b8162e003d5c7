"""The protocol of ``benchmarks/feynman.py``: noise levels, halves, two folds, summaries.

Hand-made records only: nothing is run.
"""

from __future__ import annotations

import argparse
import json
import math

import pytest
from benchmark_support import load_benchmark


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("feynman", "feynman_benchmark")


def _record(position, symbolic, accuracy=None, seconds=1.0, setting=(0, {}), **fields):
    index, options = setting
    return {
        "method": "ours",
        "id": f"eq{position}",
        "position": position,
        "noise": 0.0,
        "setting": {"index": index, "options": options},
        "budget": 10.0,
        "full_budget": False,
        "seconds": seconds,
        "symbolic": symbolic,
        "accuracy": symbolic if accuracy is None else accuracy,
        **fields,
    }


A = (0, {"lamb": 1e-3})
B = (1, {"lamb": 1e-2})


def _crossed_records():
    """A solves the odd equations 1, 3, 5 and equation 2; B the even ones and equation 1."""
    records = []
    for position in range(1, 7):
        records.append(_record(position, position % 2 == 1 or position == 2, setting=A))
        records.append(_record(position, position % 2 == 0 or position == 1, setting=B))
    return records


def test_each_fold_chooses_on_one_half_and_measures_on_the_other(bench):
    protocol = bench.protocol
    rows = protocol.summarize(_crossed_records())
    folds = {f.selected_on: f for f in protocol.two_fold(rows)}
    assert set(folds) == {"odd", "even"}
    odd, even = folds["odd"], folds["even"]
    # chosen on odd: A (3/3 there); measured on even, where A solves 1 of 3
    assert (odd.setting, odd.options, odd.measured_on) == (0, {"lamb": 1e-3}, "even")
    assert (odd.selection.symbolic, odd.selection.runs) == (3, 3)
    assert (odd.measured.symbolic, odd.measured.runs) == (1, 3)
    # chosen on even: B; measured on odd, where B solves 1 of 3
    assert (even.setting, even.options, even.measured_on) == (1, {"lamb": 1e-2}, "odd")
    assert (even.measured.symbolic, even.measured.runs) == (1, 3)
    assert odd.full.symbolic == 4 and even.full.symbolic == 4
    table = protocol.format_folds(protocol.two_fold(rows))
    assert "held out, both folds" in table and "2/6 2/6" in table


def test_fold_ties_go_to_accuracy_then_to_the_faster_setting(bench):
    protocol = bench.protocol
    # same symbolic count on odd; B has one more accuracy solution there
    records = [
        _record(1, True, setting=A),
        _record(3, False, accuracy=False, setting=A),
        _record(1, True, setting=B),
        _record(3, False, accuracy=True, setting=B),
    ]
    (odd,) = [f for f in protocol.two_fold(protocol.summarize(records)) if f.selected_on == "odd"]
    assert odd.setting == 1
    # same counts; A's median time is lower
    records = [
        _record(1, True, seconds=2.0, setting=A),
        _record(3, False, seconds=4.0, setting=A),
        _record(1, True, seconds=2.0, setting=B),
        _record(3, False, seconds=9.0, setting=B),
    ]
    (odd,) = [f for f in protocol.two_fold(protocol.summarize(records)) if f.selected_on == "odd"]
    assert odd.setting == 0


def test_one_setting_reduces_to_the_two_halves_and_the_full_figure(bench):
    protocol = bench.protocol
    records = [_record(p, p in (1, 2, 4)) for p in range(1, 7)]
    (row,) = protocol.summarize(records)
    folds = {f.selected_on: f for f in protocol.two_fold([row])}
    assert folds["even"].measured == row.odd and folds["odd"].measured == row.even
    assert (row.odd.symbolic, row.even.symbolic, row.full.symbolic) == (1, 2, 3)


def test_summary_counts_solutions_medians_and_budget_overruns(bench):
    protocol = bench.protocol
    assert protocol.budget_limit(10.0) == pytest.approx(12.5, abs=1e-12)
    records = [
        _record(1, True, seconds=3.0),
        _record(2, True, accuracy=True, seconds=12.4),  # under 1.05 * 10 + 2 = 12.5
        _record(3, False, accuracy=True, seconds=12.6),  # over
        _record(4, False, accuracy=False, seconds=30.0, error="timeout"),  # over
        _record(5, False, accuracy=False, seconds=100.0, budget=None),  # no budget: not counted
    ]
    (row,) = [r for r in protocol.summarize(records) if r.group[2] == 10.0]
    assert (row.full.runs, row.full.symbolic, row.full.accuracy) == (4, 2, 3)
    assert (row.odd.runs, row.odd.symbolic, row.odd.accuracy) == (2, 1, 2)
    assert (row.even.runs, row.even.symbolic, row.even.accuracy) == (2, 1, 1)
    assert row.full.median_seconds_solved == pytest.approx(7.7, abs=1e-12)
    assert row.full.median_seconds == pytest.approx(12.5, abs=1e-12)
    assert row.max_seconds == pytest.approx(30.0, abs=1e-12)
    assert row.overruns == 2
    # a record without a budget is checked against the budget given to summarize
    (unknown,) = [r for r in protocol.summarize(records) if r.group[2] is None]
    assert unknown.overruns == 0
    (unknown,) = [r for r in protocol.summarize(records, 50.0) if r.group[2] is None]
    assert unknown.overruns == 1
    text = protocol.format_summary(protocol.summarize(records))
    assert "2/4 3/4" in text and "2/4" in text.splitlines()[1].split()[-1]


def test_summary_keeps_noise_levels_apart_and_the_last_record_of_a_run(bench):
    protocol = bench.protocol
    records = [
        _record(1, False),
        _record(1, True),  # the same run again (a resumed file): this one counts
        _record(1, False, noise=0.1),
    ]
    rows = {r.group[1]: r for r in protocol.summarize(records)}
    assert set(rows) == {0.0, 0.1}
    assert (rows[0.0].full.runs, rows[0.0].full.symbolic) == (1, 1)
    assert (rows[0.1].full.runs, rows[0.1].full.symbolic) == (1, 0)
    assert math.isnan(rows[0.1].full.median_seconds_solved)


def test_noise_parser(bench):
    protocol = bench.protocol
    assert protocol.parse_noise_levels("0,1e-3,1e-2,1e-1") == [0.0, 1e-3, 1e-2, 1e-1]
    assert protocol.parse_noise_levels(" 0.05 ") == [0.05]
    for bad, message in [
        ("0,,0.1", "comma-separated numbers"),
        ("1%", "comma-separated numbers"),
        ("", "comma-separated numbers"),
        ("-0.1", ">= 0"),
        ("nan", "finite"),
        ("inf", "finite"),
        ("0.1,1e-1", "twice"),
    ]:
        with pytest.raises(ValueError, match=message) as error:
            protocol.parse_noise_levels(bad)
        assert "--noise" in str(error.value)


def test_noise_option_errors_before_running(bench, capsys):
    with pytest.raises(SystemExit) as stop:
        bench.main(["--noise", "0,abc", "--equations", "I.12.1"])
    assert stop.value.code == 2
    assert "--noise" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        bench.main(["--noise", "0.1", "--noisy"])  # one way of naming the levels
    with pytest.raises(SystemExit) as stop:
        bench.main(["--equations", "I.12.1,not.an.equation"])
    assert "not.an.equation" in capsys.readouterr().err


def test_halves_are_the_odd_and_even_positions(bench):
    protocol = bench.protocol
    order = ["a", "b", "c", "d", "e", "f"]
    assert protocol.select_equations(order, half="odd") == [(1, "a"), (3, "c"), (5, "e")]
    assert protocol.select_equations(order, half="even") == [(2, "b"), (4, "d"), (6, "f")]
    assert protocol.select_equations(order) == list(enumerate(order, start=1))
    # positions come from the full order, whatever is requested
    assert protocol.select_equations(order, ["f", "c", "d"], half="even") == [(6, "f"), (4, "d")]
    assert protocol.select_equations(order, half="odd", limit=4) == [(1, "a"), (3, "c")]
    with pytest.raises(ValueError, match="unknown equation"):
        protocol.select_equations(order, ["a", "z"])
    with pytest.raises(ValueError, match="half"):
        protocol.select_equations(order, half="first")


def test_settings_parser(bench):
    protocol = bench.protocol
    assert protocol.parse_settings([{}, {"lamb": 0.01}]) == [{}, {"lamb": 0.01}]
    for bad in ([], {"lamb": 0.01}, [{}, 3], [{1: 2}]):
        with pytest.raises(ValueError, match="--settings"):
            protocol.parse_settings(bad)


def test_a_job_finds_its_resumed_record_also_from_older_files(bench, tmp_path):
    args = argparse.Namespace(
        budget=30.0, full_budget=False, samples=100, max_train=50, seed=0, threads=1
    )
    settings = [{"lamb": 0.01}, {}]
    jobs = bench._jobs(args, [(6, "I.12.1")], [0.0, 0.1], ["ours", "pykan"], settings)
    assert len(jobs) == 2 * (2 + 1)  # pykan has no discover() settings
    for job in jobs:
        expected = 0.9 * 30.0 if job["method"] == "ours" else None
        assert job["time_budget"] == (None if expected is None else pytest.approx(expected))
    # an older record: no position, budget, setting; it ran with discover's defaults
    old = {"method": "ours", "id": "I.12.1", "noise": 0.0, "seconds": 5.0, "symbolic": True}
    path = tmp_path / "runs.jsonl"
    path.write_text(json.dumps(old) + "\n")
    (read,) = bench._read_records([path], 30.0, {"I.12.1": 6})
    assert read["position"] == 6 and read["budget"] == 30.0
    keys = {bench.protocol.run_key(bench._record(j)): j for j in jobs}
    job = keys[bench.protocol.run_key(read)]
    assert (job["noise"], job["setting"]) == (0.0, {"index": 1, "options": {}})
    full = bench._jobs(
        argparse.Namespace(**{**vars(args), "full_budget": True}),
        [(6, "I.12.1")],
        [0.0],
        ["ours"],
        [{}],
    )
    assert full[0]["time_budget"] == 30.0
    assert bench.protocol.run_key(bench._record(full[0])) != bench.protocol.run_key(read)
