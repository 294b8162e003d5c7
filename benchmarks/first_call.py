"""The first fit in a new process against a warm one (issue 20: no first-call wait).

    python benchmarks/first_call.py            # 5 fresh interpreters, 2-step fits
    python benchmarks/first_call.py --runs 10 --steps 2 --out first_call.json

Each run starts a new Python interpreter that imports kanscience, then times three
2-step fits of a fresh [2,5,1] network on the same data: the first pays whatever a new
process pays on first use (compilation, lazy imports, allocator warm-up), the later ones
are warm. Reported: the import time, the first fit, the warm fit (the faster of the later
two) and the wait (first - warm), as medians over the runs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = """
import json, time
start = time.perf_counter()
import torch
from kanscience import KAN, create_dataset, fit
imported = time.perf_counter() - start
torch.set_num_threads({threads})
data = create_dataset(
    lambda x: torch.exp(torch.sin(torch.pi * x[:, [0]]) + x[:, [1]] ** 2), n_var=2, seed=0
)

def timed_fit():
    model = KAN([2, 5, 1], grid=5, k=3, seed=0)
    begin = time.perf_counter()
    fit(model, data, steps={steps}, progress=False)
    return time.perf_counter() - begin

times = [timed_fit() for _ in range(3)]
print(json.dumps({{"import": imported, "first": times[0], "warm": min(times[1:])}}))
"""


def one_run(steps: int, threads: int) -> dict:
    """Import and fit times of one new interpreter."""
    result = subprocess.run(
        [sys.executable, "-c", CHILD.format(steps=steps, threads=threads)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="fresh interpreters")
    parser.add_argument("--steps", type=int, default=2, help="fit steps")
    parser.add_argument("--threads", type=int, default=2, help="torch threads in each run")
    parser.add_argument("--out", help="write the runs and medians to this JSON file")
    args = parser.parse_args(argv)
    runs = [one_run(args.steps, args.threads) for _ in range(args.runs)]
    summary = {
        key: statistics.median(run[key] for run in runs) for key in ("import", "first", "warm")
    }
    summary["wait"] = statistics.median(run["first"] - run["warm"] for run in runs)
    print(
        f"{args.runs} fresh interpreters, {args.steps}-step fit of [2,5,1] (medians): "
        f"import {summary['import']:.3f} s, first fit {summary['first']:.3f} s, "
        f"warm fit {summary['warm']:.3f} s, first-call wait {summary['wait']:.3f} s"
    )
    report = {"runs": runs, "median": summary, "steps": args.steps, "threads": args.threads}
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
