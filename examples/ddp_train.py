"""Data-parallel KAN training, launched with torchrun.

One machine, two processes on the CPU (gloo)::

    torchrun --standalone --nproc-per-node 2 examples/ddp_train.py --steps 20 --check

One machine, one process per GPU (NCCL is chosen when CUDA is available)::

    torchrun --standalone --nproc-per-node 4 examples/ddp_train.py --train-num 100000

Several machines (run the same line on each, ``--node-rank`` 0..N-1 where needed)::

    torchrun --nnodes 2 --nproc-per-node 8 --rdzv-backend c10d \\
        --rdzv-endpoint HOST:29500 examples/ddp_train.py

What it does: every process builds the same seeded dataset, keeps its contiguous shard
(:func:`kanscience.train.shard`), wraps the same KAN in
``DistributedDataParallel`` and calls :func:`kanscience.fit` unchanged. ``fit`` then
takes exactly the steps of one process on the whole data: gradients and losses are
all-reduced (so L-BFGS line searches agree on every rank), mini-batches are drawn from
the global row indices, grid updates see the all-gathered inputs and the sparsity penalty
uses statistics over all rows. With ``--check``, rank 0 also trains a copy in one
process on the whole data and prints the largest parameter difference: the two runs
differ only by rounding (sums taken in another order), ~1e-8 in float64 after a few
steps. L-BFGS amplifies rounding roughly a hundredfold per step, so over tens of steps
the runs drift apart as far as one process does when its rows are merely reordered;
they reach the same loss, not the same bits.

Writes no file; rank 0 prints the losses.
"""

from __future__ import annotations

import argparse
import os

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from kanscience import KAN, Dataset, Penalty, create_dataset, fit
from kanscience.train import shard


def target(x: torch.Tensor) -> torch.Tensor:
    """The KAN 2.0 paper's example, exp(sin(pi x) + y^2)."""
    return torch.exp(torch.sin(torch.pi * x[:, [0]]) + x[:, [1]] ** 2)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--train-num", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=-1, help="global mini-batch (-1: all rows)")
    parser.add_argument("--lamb", type=float, default=0.0, help="sparsity penalty weight")
    parser.add_argument(
        "--check", action="store_true", help="compare with one process trained on the whole data"
    )
    args = parser.parse_args(argv)

    cuda = torch.cuda.is_available()
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = torch.device("cuda", local_rank) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    else:
        torch.set_num_threads(1)  # one core per process
    dist.init_process_group("nccl" if cuda else "gloo")  # reads torchrun's environment
    rank, world_size = dist.get_rank(), dist.get_world_size()
    try:
        data = create_dataset(
            target, n_var=2, train_num=args.train_num, test_num=1000, seed=0, dtype=torch.float64
        )
        train = shard(args.train_num, rank, world_size)
        test = shard(1000, rank, world_size)
        mine = Dataset(
            data.train_input[train],
            data.train_label[train],
            data.test_input[test],
            data.test_label[test],
        ).to(device)

        model = KAN([2, 5, 1], grid=5, seed=0, dtype=torch.float64).to(device)
        reference = model.copy() if args.check and rank == 0 else None
        ddp = DistributedDataParallel(model, device_ids=[local_rank] if cuda else None)
        settings = {"steps": args.steps, "batch": args.batch, "penalty": Penalty(lamb=args.lamb)}
        history = fit(ddp, mine, progress=rank == 0, **settings)
        if rank == 0:
            print(
                f"{world_size} processes: train RMSE {history.train_loss[-1]:.3e}, "
                f"test RMSE {history.test_loss[-1]:.3e}, {history.seconds:.1f} s"
            )
        if reference is not None:
            single = fit(reference, data.to(device), progress=False, **settings)
            difference = max(
                float((p - q).detach().abs().max())
                for p, q in zip(model.parameters(), reference.parameters())
            )
            print(
                f"1 process:   train RMSE {single.train_loss[-1]:.3e}, "
                f"test RMSE {single.test_loss[-1]:.3e}, {single.seconds:.1f} s; "
                f"largest parameter difference {difference:.1e}"
            )
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
