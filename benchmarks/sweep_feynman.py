"""Wall time of a sweep of small fits over Feynman equations with 1, 2, ... workers.

    python benchmarks/sweep_feynman.py                      # local processes, 1 and 2 workers
    python benchmarks/sweep_feynman.py --workers 1 2 4 8 --steps 50
    python benchmarks/sweep_feynman.py --engine dask --address tcp://scheduler:8786
    python benchmarks/sweep_feynman.py --engine ray --address auto
    python benchmarks/sweep_feynman.py --function discover

Each run goes through :func:`kanscience.apps.sweep` (the same jobs every time: every
equation x every seed, a [n, 5, 1] KAN, grid 5), and the wall time includes starting the
workers. Prints one line per worker count (wall time, speed-up over the first, summed
job time, jobs that failed) and checks that every run gives the same test RMSEs. With
``--out PATH``, also writes the timings as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kanscience.apps import discover_job, fit_job, job_grid, sweep  # noqa: E402

EQUATIONS = ["I.6.2a", "I.12.1", "I.26.2", "II.27.18", "II.38.14", "I.12.5"]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--equations", nargs="+", default=EQUATIONS)
    parser.add_argument("--seeds", type=int, default=2, help="seeds per equation")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--train-num", type=int, default=500)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--engine", default="local", choices=["local", "dask", "ray"])
    parser.add_argument("--address", default=None, help="Dask scheduler or Ray cluster address")
    parser.add_argument("--function", default="fit", choices=["fit", "discover"])
    parser.add_argument("--out", default=None, help="write the timings to this JSON file")
    args = parser.parse_args(argv)

    settings = {
        "hidden": [5],
        "grid": 5,
        "steps": args.steps,
        "train_num": args.train_num,
        "test_num": 500,
    }
    if args.function == "discover":
        settings = {
            "steps": args.steps,
            "time_budget": 60,
            "train_num": args.train_num,
            "test_num": 500,
        }
    jobs = job_grid(args.equations, seeds=range(args.seeds), settings=settings)
    function = fit_job if args.function == "fit" else discover_job
    print(
        f"{len(jobs)} jobs ({len(args.equations)} equations x {args.seeds} seeds, "
        f"{args.function}), engine {args.engine}, {os.cpu_count()} CPUs",
        flush=True,
    )
    results, reference = [], None
    for workers in args.workers:
        start = time.perf_counter()
        table = sweep(
            jobs,
            function=function,
            engine=args.engine,
            workers=workers,
            address=args.address,
            progress=False,
        )
        wall = time.perf_counter() - start
        failed = int((table["status"] != "ok").sum())
        column = "test_rmse" if "test_rmse" in table else "formula"
        values = table[column].tolist()
        reference = values if reference is None else reference
        same = values == reference
        results.append(
            {
                "workers": workers,
                "wall_seconds": wall,
                "job_seconds": float(table["wall_time"].sum()),
                "failed": failed,
                "same_results": same,
            }
        )
        print(
            f"workers {workers:>2}: wall {wall:7.2f} s  speed-up "
            f"{results[0]['wall_seconds'] / wall:4.2f}x  summed job time "
            f"{results[-1]['job_seconds']:7.2f} s  failed {failed}  "
            f"{'same results' if same else 'DIFFERENT RESULTS'}",
            flush=True,
        )
        if failed:
            print(table.loc[table["status"] != "ok", ["dataset", "seed", "error"]].to_string())
        if args.engine != "local":
            break  # a cluster has the workers it has
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2))
    return {"jobs": len(jobs), "runs": results}


if __name__ == "__main__":
    main()
