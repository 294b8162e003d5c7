"""auto_symbolic speed and fit quality: kanscience vs pykan 0.2.8 on the same network.

Both fix every edge of one [4, 5, 5, 1] network (pykan's initialization, seed 0, trained
by pykan's ``fit`` for ``--train-steps`` L-BFGS steps on
``exp(sin(pi x1) + x2^2) + x3 * x4`` so that the edges carry real curves, the same 1000
inputs) with pykan's default library, ranges and grid (101 x 101, 3 zoom levels).
pykan takes tens of seconds per edge; ``--pykan-edges N`` times only its N most active edges
(through ``suggest_symbolic`` + ``fix_symbolic``, which is what its ``auto_symbolic`` does
per edge) and extrapolates to all edges (reported as such).

Quality: for each edge both methods' choices ``c f(a x + b) + d`` are scored by the same
exact r2 against that edge's activation.

Usage::

    python benchmarks/auto_symbolic.py --threads 1 --pykan-edges 3 [--out result.json]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import time
import warnings

import torch

from kanscience.core import DEFAULT_LIBRARY, trace
from kanscience.io import from_pykan
from kanscience.symbolic import auto_symbolic


def _r2(x: torch.Tensor, y: torch.Tensor, name: str, params) -> float:
    a, b, c, d = (float(v) for v in params)
    fit = c * DEFAULT_LIBRARY[name].torch_fn(a * x + b) + d
    sst = float(((y - y.mean()) ** 2).sum())
    sse = float(((fit - y) ** 2).sum())
    return 1.0 - sse / sst if sst > 0 else float(sse == 0)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument(
        "--pykan-edges",
        type=int,
        default=None,
        help="time pykan on this many edges and extrapolate (default: all)",
    )
    parser.add_argument(
        "--train-steps",
        type=int,
        default=20,
        help="pykan fit steps before the symbolic search (0: untrained)",
    )
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    args = parser.parse_args(argv)
    if args.pykan_edges is not None and args.pykan_edges < 1:
        parser.error(
            f"--pykan-edges must be at least 1 (or left out for all), got {args.pykan_edges}"
        )
    torch.set_num_threads(args.threads)
    from kan import KAN as PyKAN

    pykan_model = PyKAN(width=[4, 5, 5, 1], grid=5, k=3, seed=0, auto_save=False)
    x = torch.rand(args.samples, 4, generator=torch.Generator().manual_seed(0)) * 2 - 1
    if args.train_steps:
        y = torch.exp(torch.sin(torch.pi * x[:, [0]]) + x[:, [1]] ** 2) + x[:, [2]] * x[:, [3]]
        dataset = {"train_input": x, "train_label": y, "test_input": x, "test_label": y}
        with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            pykan_model.fit(dataset, steps=args.train_steps, log=10**9)
    ours_model = from_pykan(pykan_model)
    with torch.no_grad():
        pykan_model(x)  # pykan fits from the activations cached by its last forward
        traces = trace(ours_model.to(torch.float64), x.double())
    edges = [
        (layer, i, j)
        for layer, t in enumerate(traces)
        for i in range(t.activations.shape[1])
        for j in range(t.activations.shape[2])
    ]

    start = time.perf_counter()
    result = auto_symbolic(ours_model, x.double())
    ours_seconds = time.perf_counter() - start
    ours = {(c.layer, c.i, c.j): c for c in result.report}

    # pykan's time per edge hardly depends on the edge; its quality does: time (and
    # compare) the most active edges
    spread = {
        (layer, i, j): float(traces[layer].activations[:, i, j].std()) for layer, i, j in edges
    }
    by_activity = sorted(edges, key=lambda e: -spread[e])
    timed = edges if args.pykan_edges is None else by_activity[: args.pykan_edges]
    pykan_choices = {}
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for layer, i, j in timed:
            name, _, _, _ = pykan_model.suggest_symbolic(layer, i, j, verbose=False)
            pykan_model.fix_symbolic(layer, i, j, name, verbose=False, log_history=False)
            params = pykan_model.symbolic_fun[layer].affine[j, i].detach().double().tolist()
            pykan_choices[(layer, i, j)] = (name, params)
    pykan_measured = time.perf_counter() - start
    pykan_seconds = pykan_measured * len(edges) / len(timed)

    quality = []
    for edge, (name, params) in pykan_choices.items():
        layer, i, j = edge
        x_e = traces[layer].inputs[:, i]
        y_e = traces[layer].activations[:, i, j]
        mine = ours[edge]
        quality.append(
            {
                "edge": list(edge),
                "ours": mine.name,
                "ours_r2": mine.r2,
                "pykan": name,
                "pykan_r2": _r2(x_e, y_e, name, params),
            }
        )
    summary = {
        "network": [4, 5, 5, 1],
        "edges": len(edges),
        "samples": args.samples,
        "train_steps": args.train_steps,
        "ours_functions": sorted({c.name for c in result.report}),
        "threads": args.threads,
        "ours_seconds": ours_seconds,
        "pykan_seconds": pykan_seconds,
        "pykan_edges_timed": len(timed),
        "pykan_extrapolated": len(timed) < len(edges),
        "speedup": pykan_seconds / ours_seconds,
        "mean_r2_ours": sum(q["ours_r2"] for q in quality) / max(len(quality), 1),
        "mean_r2_pykan": sum(q["pykan_r2"] for q in quality) / max(len(quality), 1),
        "same_choice": sum(q["ours"] == q["pykan"] for q in quality),
        "edges_compared": quality,
    }
    note = f" (extrapolated from {len(timed)} edges)" if summary["pykan_extrapolated"] else ""
    print(
        f"auto_symbolic on [4, 5, 5, 1], {len(edges)} edges, {args.samples} samples, "
        f"{args.threads} thread(s)"
    )
    print(
        f"  trained {args.train_steps} steps; our choices: {', '.join(summary['ours_functions'])}"
    )
    print(f"  kanscience: {ours_seconds:8.2f} s")
    print(f"  pykan:      {pykan_seconds:8.2f} s{note}")
    print(f"  speedup:    {summary['speedup']:8.1f}x")
    print(
        f"  mean r2 on the compared edges: ours {summary['mean_r2_ours']:.6f}, "
        f"pykan {summary['mean_r2_pykan']:.6f}; same function on {summary['same_choice']}/"
        f"{len(quality)}"
    )
    if args.out:
        with open(args.out, "w") as handle:
            json.dump(summary, handle, indent=1)
    return summary


if __name__ == "__main__":
    main()
