"""Speed and memory of kanscience against pykan, side by side in one process.

    python benchmarks/speed.py                 # all sections, prints ratios
    python benchmarks/speed.py --quick         # fewer repeats, no pykan wide network
    python benchmarks/speed.py --out results.json --device cuda
    python benchmarks/speed.py --sections none --peers ~/peers   # only the peers section

Sections (ARCHITECTURE/PERFORMANCE.md targets):
1. small network [2,5,1], grid 5, k 3, batch 1000: forward, forward+backward, one L-BFGS
   step, and the whole 50-step fit with test RMSE against pykan's default ``fit``, with
   our L-BFGS (pykan's algorithm) and with Levenberg-Marquardt (``opt="LM"``);
2. wide network [64,256,256,64], batch 1024: forward+backward time and peak memory against
   pykan after ``speed()`` and against the dense-GEMM floor of the same FLOP count;
3. scaling of forward+backward with the batch (256..16384) and the grid (5..50);
4. with ``--peers DIR``: forward+backward of efficient-kan and fast-kan (from checkouts of
   their repositories in DIR, not copied here) beside kanscience (and pykan on the small
   network) on the small and wide workloads and the wide one over grids 5..50.
Peak memory on the CPU is the growth of the peak RSS (VmHWM, reset just before) of a
fresh child process running one forward+backward.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kanscience import KAN, create_dataset, fit  # noqa: E402
from kanscience.train._lbfgs import FlatLBFGS  # noqa: E402


def timeit(fn, repeat: int, warmup: int = 3, device: str = "cpu") -> float:
    """Median wall time of ``fn()`` in seconds."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2]


def compare(ours, theirs, rounds: int, inner: int = 4) -> tuple[float, float]:
    """Fastest time per call of each, timed in alternating rounds of ``inner`` calls.

    Alternating keeps a drifting background load from favouring either side; the minimum
    is the least load-sensitive estimate of what the code itself costs (as ``timeit``'s
    documentation advises).
    """
    times = compare_all({"ours": ours, "theirs": theirs}, rounds, inner)
    return times["ours"], times["theirs"]


def compare_all(functions: dict, rounds: int, inner: int = 4) -> dict:
    """Fastest time per call of each function, timed in interleaved rounds (the two-sided
    :func:`compare` for any number of sides)."""
    best = {name: float("inf") for name in functions}
    for fn in functions.values():
        fn()  # warm-up
    for _ in range(rounds):
        for name, fn in functions.items():
            start = time.perf_counter()
            for _ in range(inner):
                fn()
            best[name] = min(best[name], (time.perf_counter() - start) / inner)
    return best


def _forward_backward(model, x) -> None:
    model.zero_grad(set_to_none=True)
    model(x).square().mean().backward()


def pykan_model(width, grid, k, seed, device):
    import kan

    return kan.MultKAN(width=width, grid=grid, k=k, seed=seed, auto_save=False, device=device).to(
        device
    )


def target(x):
    return torch.exp(torch.sin(torch.pi * x[:, [0]]) + x[:, [1]] ** 2)


def small_network(args) -> dict:
    device = args.device
    data = create_dataset(target, n_var=2, train_num=1000, test_num=1000, seed=0).to(device)
    x = data.train_input
    ours = KAN([2, 5, 1], grid=5, k=3, seed=0).to(device)
    theirs = pykan_model([2, 5, 1], 5, 3, 0, device)
    out = {}

    def forward(model):
        with torch.no_grad():
            model(x)

    forward_backward = functools.partial(_forward_backward, x=x)
    rounds = 5 if args.quick else 30
    for name, fn in (("forward", forward), ("forward_backward", forward_backward)):
        run_ours, run_theirs = functools.partial(fn, ours), functools.partial(fn, theirs)
        if device == "cuda":
            a = timeit(run_ours, 4 * rounds, device=device)
            b = timeit(run_theirs, rounds, device=device)
        else:
            a, b = compare(run_ours, run_theirs, rounds)
        out[name] = {"kanscience_s": a, "pykan_s": b, "speedup": b / a}

    y = data.train_label

    def lbfgs_step_ours():
        model = KAN([2, 5, 1], grid=5, k=3, seed=0).to(device)
        optimizer = FlatLBFGS(
            list(model.parameters()), max_iter=20, tolerance_grad=1e-32, tolerance_change=1e-32
        )

        def closure():
            loss = (model(x) - y).square().mean()
            loss.backward()
            return loss.detach()

        start = time.perf_counter()
        optimizer.step(closure)
        return time.perf_counter() - start, optimizer.n_evaluations

    def lbfgs_step_pykan():
        from kan.LBFGS import LBFGS

        model = pykan_model([2, 5, 1], 5, 3, 0, device)
        optimizer = LBFGS(
            model.parameters(),
            lr=1.0,
            history_size=10,
            line_search_fn="strong_wolfe",
            tolerance_grad=1e-32,
            tolerance_change=1e-32,
            tolerance_ys=1e-32,
        )

        def closure():
            optimizer.zero_grad()
            loss = (model(x) - y).square().mean()
            loss.backward()
            return loss

        start = time.perf_counter()
        optimizer.step(closure)
        return time.perf_counter() - start

    a = sorted(lbfgs_step_ours()[0] for _ in range(3 if args.quick else 7))[1]
    b = sorted(lbfgs_step_pykan() for _ in range(3))[1]
    out["lbfgs_step"] = {"kanscience_s": a, "pykan_s": b, "speedup": b / a}

    def fit_ours(opt):
        model = KAN([2, 5, 1], grid=5, k=3, seed=0).to(device)
        start = time.perf_counter()
        history = fit(model, data, steps=50, opt=opt, progress=False)
        return time.perf_counter() - start, history

    def fit_pykan():
        model = pykan_model([2, 5, 1], 5, 3, 0, device)
        start = time.perf_counter()
        with contextlib.redirect_stderr(io.StringIO()):  # pykan's progress bar
            results = model.fit(data.as_dict(), steps=50, log=10**9)
        return time.perf_counter() - start, float(results["test_loss"][-1])

    # interleaved repeats, median of each: the machine's load drifts during the run
    runs = {"LBFGS": [], "LM": [], "pykan": []}
    for _ in range(1 if args.quick else 3):
        runs["pykan"].append(fit_pykan())
        runs["LBFGS"].append(fit_ours("LBFGS"))
        runs["LM"].append(fit_ours("LM"))
    median = {
        key: sorted(value, key=lambda r: r[0])[len(value) // 2] for key, value in runs.items()
    }
    pykan_fit, pykan_rmse = median["pykan"]
    for key, opt in (("fit_50_steps", "LBFGS"), ("fit_50_steps_lm", "LM")):
        seconds, history = median[opt]
        out[key] = {
            "kanscience_s": seconds,
            "pykan_s": pykan_fit,
            "speedup": pykan_fit / seconds,
            "kanscience_test_rmse": history.test_loss[-1],
            "pykan_test_rmse": pykan_rmse,
            "kanscience_evaluations": history.n_evaluations,
        }
    return out


_MEMORY_CHILD = r"""
import sys, torch
sys.path.insert(0, {root!r})
torch.set_num_threads({threads})
which = {which!r}
x = torch.rand(1024, 64) * 2 - 1
if which == "kanscience":
    from kanscience import KAN
    model = KAN([64, 256, 256, 64], grid=5, k=3, seed=0)
elif which == "pykan":
    import kan
    model = kan.MultKAN(width=[64, 256, 256, 64], grid=5, k=3, seed=0, auto_save=False)
    model.speed()
else:
    weights = [torch.randn(64 * 9, 256, requires_grad=True),
               torch.randn(256 * 9, 256, requires_grad=True),
               torch.randn(256 * 9, 64, requires_grad=True)]
    feats = [torch.rand(1024, 64 * 9), torch.rand(1024, 256 * 9), torch.rand(1024, 256 * 9)]
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1])
open("/proc/self/clear_refs", "w").write("5")  # reset the peak RSS (VmHWM) to the current RSS
before = status("VmRSS:")
if which == "dense":
    loss = sum((f @ w).square().mean() for f, w in zip(feats, weights))
else:
    loss = model(x).square().mean()
loss.backward()
print((status("VmHWM:") - before) / 1024)
"""


def peak_memory_mib(which: str, threads: int) -> float:
    code = _MEMORY_CHILD.format(
        root=str(Path(__file__).resolve().parents[1]), threads=threads, which=which
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    return float(result.stdout.strip().splitlines()[-1])


def wide_network(args) -> dict:
    device = args.device
    x = torch.rand(1024, 64, device=device) * 2 - 1
    ours = KAN([64, 256, 256, 64], grid=5, k=3, seed=0).to(device)

    fb = functools.partial(_forward_backward, x=x)

    out = {"kanscience_s": timeit(lambda: fb(ours), 3 if args.quick else 10, 1, device)}
    # floor: the same contraction as dense GEMMs, forward and backward
    sizes = [(64, 256), (256, 256), (256, 64)]
    feats = [torch.rand(1024, i * 9, device=device) for i, _ in sizes]
    weights = [torch.randn(i * 9, o, device=device, requires_grad=True) for i, o in sizes]
    inputs = [f.clone().requires_grad_() for f in feats]

    def dense():
        loss = sum((f @ w).square().mean() for f, w in zip(inputs, weights))
        loss.backward()

    out["dense_floor_s"] = timeit(dense, 10, 2, device)
    out["ratio_to_floor"] = out["kanscience_s"] / out["dense_floor_s"]
    if not args.quick:
        theirs = pykan_model([64, 256, 256, 64], 5, 3, 0, device)
        theirs.speed()
        out["pykan_speed_s"] = timeit(lambda: fb(theirs), 2, 1, device)
        out["speedup_vs_pykan_speed"] = out["pykan_speed_s"] / out["kanscience_s"]
    if device == "cpu":
        out["kanscience_peak_mib"] = peak_memory_mib("kanscience", args.threads)
        out["dense_peak_mib"] = peak_memory_mib("dense", args.threads)
        if not args.quick:
            out["pykan_speed_peak_mib"] = peak_memory_mib("pykan", args.threads)
            out["memory_fraction_of_pykan"] = (
                out["kanscience_peak_mib"] / out["pykan_speed_peak_mib"]
            )
    else:
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        fb(ours)
        out["kanscience_peak_mib"] = (torch.cuda.max_memory_allocated() - base) / 2**20
    return out


def _step(model, x) -> None:
    model(x).square().mean().backward()


def scaling(args) -> dict:
    device = args.device
    out = {"batch": {}, "grid": {}}
    for batch in (256, 1024, 4096, 16384):
        model = KAN([64, 256, 256, 64], grid=5, seed=0).to(device)
        x = torch.rand(batch, 64, device=device) * 2 - 1
        out["batch"][batch] = timeit(functools.partial(_step, model, x), 3, 1, device)
    x = torch.rand(1024, 64, device=device) * 2 - 1
    for grid in (5, 10, 20, 50):
        model = KAN([64, 256, 256, 64], grid=grid, seed=0).to(device)
        out["grid"][grid] = timeit(functools.partial(_step, model, x), 3, 1, device)
    return out


PEERS = {
    # name: (folder of the checkout, import root inside it, module)
    "efficient-kan": ("efficient-kan", "src", "efficient_kan"),
    "fast-kan": ("fast-kan", ".", "fastkan"),
}


def load_peers(folder: str) -> dict:
    """The peers' model constructors ``make(width, grid, k)`` from their checkouts in
    ``folder`` (``git clone https://github.com/Blealtan/efficient-kan`` and
    ``https://github.com/ZiyaoLi/fast-kan`` there; efficient-kan needs ``einops``).
    fast-kan's Gaussian bases get as many functions per edge as a B-spline of grid ``grid``
    and order ``k`` has (``grid + k``)."""
    import importlib.util

    root = Path(folder)
    modules = {}
    for name, (checkout, inside, module) in PEERS.items():
        package = root / checkout / inside / module
        if not (package / "__init__.py").is_file():
            raise SystemExit(f"--peers: no {module} package at {package} (a checkout of {name})")
        spec = importlib.util.spec_from_file_location(
            module, package / "__init__.py", submodule_search_locations=[str(package)]
        )
        assert spec is not None and spec.loader is not None
        modules[name] = importlib.util.module_from_spec(spec)
        sys.modules[module] = modules[name]  # for the package's relative imports
        spec.loader.exec_module(modules[name])
    efficient, fast = modules["efficient-kan"], modules["fast-kan"]
    return {
        "efficient-kan": lambda width, grid, k: efficient.KAN(
            width, grid_size=grid, spline_order=k
        ),
        "fast-kan": lambda width, grid, k: fast.FastKAN(width, num_grids=grid + k),
    }


def peers(args) -> dict:
    """Forward+backward of kanscience, pykan (small only), efficient-kan and fast-kan on
    the small and wide workloads and the wide one over grids 5..50, float32, interleaved."""
    makers = load_peers(args.peers)
    device = args.device
    workloads = {
        "small": ([2, 5, 1], 1000, (5,)),
        "wide": ([64, 256, 256, 64], 1024, (5,)),
        "grid": ([64, 256, 256, 64], 1024, (5, 10, 20, 50)),
    }
    rounds = 3 if args.quick else 10
    out: dict = {}
    for workload, (width, batch, grids) in workloads.items():
        x = torch.rand(batch, width[0], device=device) * 2 - 1
        for grid in grids:
            torch.manual_seed(0)
            # list(width): pykan's MultKAN rewrites the list it is given in place
            models: dict[str, torch.nn.Module] = {
                "kanscience": KAN(list(width), grid=grid, k=3, seed=0).to(device)
            }
            if workload == "small":
                models["pykan"] = pykan_model(list(width), grid, 3, 0, device)
            models.update(
                {name: make(list(width), grid, 3).to(device) for name, make in makers.items()}
            )
            times = compare_all(
                {name: functools.partial(_forward_backward, m, x) for name, m in models.items()},
                rounds,
            )
            key = workload if workload != "grid" else f"grid_{grid}"
            out[key] = {f"{name}_s": t for name, t in times.items()}
            line = "  ".join(f"{name} {t * 1e3:8.2f} ms" for name, t in times.items())
            print(f"peers {key:8s} {line}", flush=True)
    return out


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sections", default="small,wide,scaling")
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    parser.add_argument(
        "--peers",
        default=None,
        metavar="DIR",
        help="also time efficient-kan and fast-kan from their checkouts in DIR",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    results = {
        "torch": torch.__version__,
        "threads": args.threads,
        "device": args.device,
        "machine": platform.processor() or platform.machine(),
    }
    sections = args.sections.split(",")
    if "small" in sections:
        results["small"] = small_network(args)
        for name, row in results["small"].items():
            print(
                f"small {name:17s} ours {row['kanscience_s'] * 1e3:9.2f} ms  pykan "
                f"{row['pykan_s'] * 1e3:9.2f} ms  speedup {row['speedup']:6.1f}x",
                flush=True,
            )
        for key in ("fit_50_steps", "fit_50_steps_lm"):
            fit_row = results["small"][key]
            print(
                f"  {key} test RMSE: ours {fit_row['kanscience_test_rmse']:.2e} "
                f"({fit_row['kanscience_evaluations']} evaluations), "
                f"pykan {fit_row['pykan_test_rmse']:.2e}"
            )
    if "wide" in sections:
        results["wide"] = wide_network(args)
        print("wide", json.dumps(results["wide"], indent=1), flush=True)
    if "scaling" in sections:
        results["scaling"] = scaling(args)
        print("scaling", json.dumps(results["scaling"], indent=1), flush=True)
    if args.peers:
        results["peers"] = peers(args)
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
