"""The measuring protocol of ``benchmarks/feynman.py``: noise levels, halves, folds, tables.

Pure functions on run records (dicts, one per run, as ``feynman.py`` writes them to its
JSON-lines files), so that the protocol is tested without running anything:

- noise levels are fractions of the target's RMS (SRBench: 0, 1e-3, 1e-2, 1e-1);
- equations are numbered by their position in ``load_feynman()``'s order, from 1; the odd
  half is positions 1, 3, 5, ..., the even half 2, 4, 6, ...;
- two folds: settings chosen on the odd half and measured on the even one, and the
  reverse (:func:`two_fold`);
- the budget check: a run is over its budget when its wall time exceeds
  ``BUDGET_FACTOR * budget + BUDGET_SLACK`` seconds.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

SRBENCH_NOISE_LEVELS = (0.0, 1e-3, 1e-2, 1e-1)
BUDGET_FACTOR = 1.05
BUDGET_SLACK = 2.0  # seconds
HALVES = ("odd", "even")


def parse_noise_levels(text: str) -> list[float]:
    """Noise levels from a comma-separated list such as ``"0,1e-3,1e-2,1e-1"``.

    Raises ``ValueError`` naming ``--noise`` for an empty item, a non-number, a negative or
    non-finite level, or a repeated level.

    >>> parse_noise_levels("0,1e-3,1e-2,1e-1")
    [0.0, 0.001, 0.01, 0.1]
    """
    levels: list[float] = []
    for item in text.split(","):
        item = item.strip()
        try:
            level = float(item)
        except ValueError:
            raise ValueError(
                f"--noise expects comma-separated numbers (fractions of the target's RMS, "
                f"e.g. 0,1e-3,1e-2,1e-1); got {item!r} in {text!r}"
            ) from None
        if not math.isfinite(level) or level < 0:
            raise ValueError(f"--noise levels must be finite and >= 0; got {item!r} in {text!r}")
        if level in levels:
            raise ValueError(f"--noise level {item!r} appears twice in {text!r}")
        levels.append(level)
    return levels


def parse_settings(value: object) -> list[dict]:
    """Validate a settings list (parsed JSON): a non-empty list of dicts with string keys.

    >>> parse_settings([{}, {"lamb": 0.01}])
    [{}, {'lamb': 0.01}]
    """
    if not isinstance(value, list) or not value:
        raise ValueError(
            f"--settings expects a JSON list of dicts of discover() options, e.g. "
            f'[{{}}, {{"lamb": 0.01}}]; got {type(value).__name__} {value!r:.80}'
        )
    for index, options in enumerate(value):
        if not isinstance(options, dict) or not all(isinstance(k, str) for k in options):
            raise ValueError(
                f"--settings entry {index} must be a dict with string keys; got {options!r:.80}"
            )
    return [dict(options) for options in value]


def setting_key(options: dict) -> str:
    """A canonical text of a setting's options (the same dict gives the same text)."""
    return json.dumps(options, sort_keys=True)


def record_setting(record: dict) -> tuple[int, dict]:
    """``(index, options)`` of a record's setting; records without one ran with ``{}``."""
    setting = record.get("setting") or {"index": 0, "options": {}}
    return int(setting["index"]), dict(setting["options"])


def half_of(position: int) -> str:
    """``"odd"`` or ``"even"``: the half of the equation at 1-based ``position``."""
    if position < 1:
        raise ValueError(f"position must be >= 1 (1-based), got {position}")
    return "odd" if position % 2 == 1 else "even"


def select_equations(
    order: Sequence[str],
    requested: Sequence[str] | None = None,
    half: str | None = None,
    limit: int | None = None,
) -> list[tuple[int, str]]:
    """``(position, id)`` of the equations to run, in the order of ``requested``.

    ``order``: all ids, whose 1-based positions number the equations; ``requested``: ids to
    run (default: all, in ``order``); ``limit``: the first so many of them; ``half``:
    ``"odd"`` or ``"even"`` keeps the positions of that half of ``order`` (after
    ``limit``), ``None`` all.

    >>> select_equations(["a", "b", "c", "d", "e", "f"], half="odd")
    [(1, 'a'), (3, 'c'), (5, 'e')]
    """
    if half not in (None, *HALVES):
        raise ValueError(f"half must be 'odd', 'even' or None, got {half!r}")
    positions = {equation_id: p for p, equation_id in enumerate(order, start=1)}
    ids = list(order if requested is None else requested)
    unknown = [i for i in ids if i not in positions]
    if unknown:
        raise ValueError(f"unknown equation id(s) {unknown}; known: {list(order)}")
    ids = ids if limit is None else ids[:limit]
    return [(positions[i], i) for i in ids if half is None or half_of(positions[i]) == half]


def budget_limit(budget: float) -> float:
    """The wall time (seconds) above which a run of ``budget`` seconds is over budget."""
    return BUDGET_FACTOR * budget + BUDGET_SLACK


@dataclass(frozen=True)
class Tally:
    """Counts over a set of runs (one per equation)."""

    runs: int
    symbolic: int
    accuracy: int
    median_seconds: float  # over all runs (nan when there are none)
    median_seconds_solved: float  # over the runs with a symbolic solution (nan when none)

    def text(self) -> str:
        return f"{self.symbolic}/{self.runs} {self.accuracy}/{self.runs}"


def tally(records: Iterable[dict]) -> Tally:
    """Symbolic and accuracy solutions and median wall times of ``records``."""
    records = list(records)
    seconds = [r["seconds"] for r in records]
    solved = [r["seconds"] for r in records if r["symbolic"]]
    return Tally(
        runs=len(records),
        symbolic=sum(bool(r["symbolic"]) for r in records),
        accuracy=sum(bool(r["accuracy"]) for r in records),
        median_seconds=statistics.median(seconds) if seconds else math.nan,
        median_seconds_solved=statistics.median(solved) if solved else math.nan,
    )


def group_key(record: dict) -> tuple:
    """Runs of one experiment: method, noise, budget (``None`` if unrecorded), full budget."""
    return (
        record["method"],
        float(record["noise"]),
        record.get("budget"),
        bool(record.get("full_budget", False)),
    )


def run_key(record: dict) -> tuple:
    """One run: its experiment, its setting and its equation (the last record wins)."""
    return (*group_key(record), setting_key(record_setting(record)[1]), record["id"])


def latest(records: Iterable[dict]) -> list[dict]:
    """``records`` with one record per run (the last one read), in first-seen order."""
    unique: dict[tuple, dict] = {}
    for record in records:
        unique[run_key(record)] = record
    return list(unique.values())


@dataclass(frozen=True)
class SummaryRow:
    """One (method, noise, budget, full budget, setting): counts per half and in full."""

    group: tuple
    setting: int
    options: dict
    odd: Tally
    even: Tally
    full: Tally
    max_seconds: float
    overruns: int  # runs with seconds > budget_limit(budget)


def _by_setting(records: list[dict]) -> dict[tuple, dict[str, list[dict]]]:
    """Records grouped by (group, setting key), then by half (and "full")."""
    groups: dict[tuple, dict[str, list[dict]]] = {}
    for record in records:
        key = (group_key(record), setting_key(record_setting(record)[1]))
        halves = groups.setdefault(key, {"odd": [], "even": [], "full": []})
        halves[half_of(record["position"])].append(record)
        halves["full"].append(record)
    return groups


def summarize(records: Iterable[dict], budget: float | None = None) -> list[SummaryRow]:
    """One row per (method, noise, budget, full budget, setting) of ``records``.

    Every record needs ``position`` (1-based). ``budget`` is used for records that do not
    carry their own; without either, a run's overrun is not counted.
    """
    rows = []
    for (group, _), halves in _by_setting(latest(records)).items():
        full = halves["full"]
        index, options = record_setting(full[0])
        over = 0
        for record in full:
            run_budget = budget if record.get("budget") is None else record["budget"]
            over += run_budget is not None and record["seconds"] > budget_limit(run_budget)
        rows.append(
            SummaryRow(
                group=group,
                setting=index,
                options=options,
                odd=tally(halves["odd"]),
                even=tally(halves["even"]),
                full=tally(full),
                max_seconds=max(r["seconds"] for r in full),
                overruns=over,
            )
        )
    return rows


def _score(tallied: Tally, index: int) -> tuple:
    """Larger is better: symbolic, then accuracy, then lower median time, then lower index."""
    median = tallied.median_seconds if math.isfinite(tallied.median_seconds) else math.inf
    return (tallied.symbolic, tallied.accuracy, -median, -index)


@dataclass(frozen=True)
class Fold:
    """A setting chosen on ``selected_on`` and measured on the other half."""

    group: tuple
    selected_on: str
    measured_on: str
    setting: int
    options: dict
    selection: Tally
    measured: Tally
    full: Tally  # the chosen setting on all equations


def two_fold(rows: Sequence[SummaryRow]) -> list[Fold]:
    """For each experiment of ``rows`` (see :func:`summarize`) and each half: the setting with
    the most symbolic solutions on that half (ties: more accuracy solutions, then lower
    median time, then the first setting), measured on the other half."""
    groups: dict[tuple, list[SummaryRow]] = {}
    for row in rows:
        groups.setdefault(row.group, []).append(row)
    folds = []
    for group, candidates in groups.items():
        for selected_on, measured_on in (("odd", "even"), ("even", "odd")):
            best = max(candidates, key=lambda r: _score(getattr(r, selected_on), r.setting))
            folds.append(
                Fold(
                    group=group,
                    selected_on=selected_on,
                    measured_on=measured_on,
                    setting=best.setting,
                    options=best.options,
                    selection=getattr(best, selected_on),
                    measured=getattr(best, measured_on),
                    full=best.full,
                )
            )
    return folds


def _label(group: tuple) -> str:
    method, noise, budget, full_budget = group
    budget_text = "?" if budget is None else f"{budget:g}"
    return f"{method}{' full' if full_budget else ''} noise={noise:g} budget={budget_text}s"


def _seconds(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.1f}"


def format_summary(rows: Sequence[SummaryRow]) -> str:
    """The summary table: per experiment and setting, ``symbolic/runs accuracy/runs`` on the
    odd half, the even half and all equations; median seconds (solved runs, all runs);
    the largest wall time and the runs over ``budget_limit``."""
    header = (
        f"{'method / noise / budget':38s} {'set':>3s} {'odd S A':>11s} {'even S A':>11s} "
        f"{'full S A':>11s} {'med s solved':>12s} {'med s all':>9s} {'max s':>7s} "
        f"{'over 1.05b+2':>12s}"
    )
    lines = [header]
    for row in rows:
        lines.append(
            f"{_label(row.group):38s} {row.setting:3d} {row.odd.text():>11s} "
            f"{row.even.text():>11s} {row.full.text():>11s} "
            f"{_seconds(row.full.median_seconds_solved):>12s} "
            f"{_seconds(row.full.median_seconds):>9s} {row.max_seconds:7.1f} "
            f"{f'{row.overruns}/{row.full.runs}':>12s}"
        )
    settings = {row.setting: row.options for row in rows}
    lines += [f"  setting {index}: {setting_key(settings[index])}" for index in sorted(settings)]
    return "\n".join(lines)


def format_folds(folds: Sequence[Fold]) -> str:
    """The two-fold table: per experiment, each fold's chosen setting, its counts on the
    selection half and on the held-out half, the chosen setting on all equations, and
    the held-out total of the two folds."""
    lines = [
        f"{'method / noise / budget':38s} {'chosen on':>9s} {'set':>3s} {'selection S A':>13s} "
        f"{'held out S A':>13s} {'full S A':>11s}"
    ]
    groups: dict[tuple, list[Fold]] = {}
    for fold in folds:
        groups.setdefault(fold.group, []).append(fold)
    for group, pair in groups.items():
        for fold in pair:
            lines.append(
                f"{_label(group):38s} {fold.selected_on:>9s} {fold.setting:3d} "
                f"{fold.selection.text():>13s} {fold.measured.text():>13s} "
                f"{fold.full.text():>11s}"
            )
        runs = sum(f.measured.runs for f in pair)
        symbolic = sum(f.measured.symbolic for f in pair)
        accuracy = sum(f.measured.accuracy for f in pair)
        lines.append(
            f"{'':38s} {'held out, both folds':>27s} {f'{symbolic}/{runs} {accuracy}/{runs}':>13s}"
        )
    return "\n".join(lines)
