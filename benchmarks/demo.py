"""How long a first contact takes: ``python -m kanscience demo`` in a fresh process.

Each run starts a new interpreter (so start-up and imports are counted, as a user sees
them) and times it on the wall clock; the median of ``--repeats`` runs is printed with
every run, the CPU time the runs used, and the law the demo found. The demo's target is
under 10 s wall on 2 cores (issue 19). This is a measurement, never a test: the clock
depends on the machine and on what else runs on it.

Usage::

    python benchmarks/demo.py [--repeats 3] [--out result.json] [-- demo options]

Options after ``--`` are passed to the demo (e.g. ``-- --equation I.12.1``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_once(demo_options: list[str]) -> dict:
    """One ``python -m kanscience demo`` in a fresh interpreter: wall and CPU seconds,
    exit code and the line with the law it found."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "kanscience", "demo", *demo_options],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    found = [line for line in done.stdout.splitlines() if line.startswith("discovered")]
    return {
        "wall_s": wall,
        "cpu_s": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
        "returncode": done.returncode,
        "found": found[0] if found else done.stderr.strip()[-300:],
    }


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    demo_options: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, demo_options = argv[:cut], argv[cut + 1 :]
    parser = argparse.ArgumentParser(description="Time `python -m kanscience demo`.")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", help="write the runs and the median as JSON here")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error(f"--repeats must be at least 1, got {args.repeats}")
    runs = []
    for k in range(args.repeats):
        runs.append(run_once(demo_options))
        run = runs[-1]
        print(
            f"run {k + 1}: {run['wall_s']:.2f} s wall, {run['cpu_s']:.2f} s CPU, "
            f"exit {run['returncode']}: {run['found']}"
        )
    median = statistics.median(r["wall_s"] for r in runs)
    print(f"kanscience demo {' '.join(demo_options)}: median {median:.2f} s wall of {len(runs)}")
    if args.out:
        summary = {"demo_options": demo_options, "median_wall_s": median, "runs": runs}
        Path(args.out).write_text(json.dumps(summary, indent=2))
    return 0 if all(r["returncode"] == 0 for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
