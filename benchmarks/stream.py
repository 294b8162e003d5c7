"""Training on data larger than one batch (``fit_stream``): time per epoch against the rows,
and peak memory against one batch's.

    python benchmarks/stream.py                       # 10^4, 10^5 and 10^6 rows x 10 features
    python benchmarks/stream.py --rows 10000,100000 --out stream.json

Each size runs in a fresh child process: the rows are made in memory (a tensor source),
then the peak RSS is reset (``/proc/self/clear_refs``) and two epochs of mini-batches are
trained ([10, 5, 1], grid 5, batch 4096, float32, Adam, one grid update from a sample of
one batch's rows at the first step); the time per epoch is the second epoch's. The peak
memory of a fit is the growth of the peak RSS (VmHWM) over the RSS before it; one batch's
working set is the same growth for a source of one batch.
Issue 20's targets: peak memory within 2x of one batch's working set, time per epoch
linear in the rows within 20% from 10^4 to 10^6 (seconds per row of each size against
10^6's).
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_CHILD = """
import sys, time, torch
sys.path.insert(0, {root!r})
torch.set_num_threads({threads})
from kanscience import KAN
from kanscience.train import GridSchedule, fit_stream

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1])

rows, features, batch = {rows}, {features}, {batch}
g = torch.Generator().manual_seed(0)
x = torch.rand(rows, features, generator=g) * 2 - 1
y = (torch.sin(3 * x[:, :1]) + x[:, 1:2] ** 2 + 0.5 * x[:, 2:3] * x[:, 3:4])
model = KAN([features, 5, 1], grid=5, k=3, seed=0)
warm = KAN([features, 5, 1], grid=5, k=3, seed=0)  # first-call costs outside the timing
fit_stream(warm, (x[:batch], y[:batch]), epochs=1, batch=batch, progress=False)
open("/proc/self/clear_refs", "w").write("5")  # reset the peak RSS (VmHWM) to the current RSS
before = status("VmRSS:")
history = fit_stream(model, (x, y), epochs=2, batch=batch, grid_schedule=GridSchedule(1, -1, 1),
                     grid_sample=batch, progress=False)
print(history.epoch_seconds[-1], (status("VmHWM:") - before) / 1024, history.epoch_loss[-1])
"""


def run_child(rows: int, features: int, batch: int, threads: int) -> dict:
    code = _CHILD.format(root=str(ROOT), threads=threads, rows=rows, features=features, batch=batch)
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    seconds, peak_mib, rmse = map(float, result.stdout.split())
    return {"rows": rows, "seconds": seconds, "peak_mib": peak_mib, "epoch_rmse": rmse}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", default="10000,100000,1000000")
    parser.add_argument("--features", type=int, default=10)
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    sizes = [int(float(r)) for r in args.rows.split(",")]
    if any(r < 1 for r in sizes) or args.batch < 1 or args.features < 4:
        parser.error("--rows and --batch must be >= 1, --features >= 4 (the law uses four)")
    one_batch = run_child(args.batch, args.features, args.batch, args.threads)
    runs = [run_child(r, args.features, args.batch, args.threads) for r in sizes]
    largest = runs[-1]
    per_row = largest["seconds"] / largest["rows"]
    print(f"one batch ({args.batch} rows): working set {one_batch['peak_mib']:.1f} MiB")
    print(
        f"{'rows':>9} {'s/epoch':>9} {'us/row':>8} {'vs largest':>10} {'peak MiB':>9} "
        f"{'x batch':>8}"
    )
    for run in runs:
        run["per_row_ratio"] = run["seconds"] / run["rows"] / per_row
        run["peak_ratio"] = run["peak_mib"] / max(one_batch["peak_mib"], 1e-9)
        print(
            f"{run['rows']:>9} {run['seconds']:>9.3f} {1e6 * run['seconds'] / run['rows']:>8.2f} "
            f"{run['per_row_ratio']:>10.2f} {run['peak_mib']:>9.1f} {run['peak_ratio']:>8.2f}"
        )
    out = {
        "machine": platform.processor() or platform.machine(),
        "threads": args.threads,
        "batch": args.batch,
        "one_batch": one_batch,
        "runs": runs,
    }
    if args.out:
        Path(args.out).write_text(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
