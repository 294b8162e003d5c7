"""Data-parallel training: the collectives that make ``fit`` on shards equal ``fit`` on their union.

Each process of a ``torch.distributed`` process group holds one shard of the data and the
same model. :func:`kanscience.fit` (given a ``DistributedDataParallel``-wrapped KAN, or
``distributed=True``) then takes exactly the steps that one process would take on the
union of the shards (concatenated in rank order):

- **gradients and losses**: after each evaluation, one flat ``all_reduce`` carries every
  rank's gradient and loss, weighted by its share of the batch; L-BFGS sees the global
  mean gradient (DDP's average) and the global mean loss, so every rank takes the same
  line-search decisions;
- **mini-batches**: every rank draws the same permutation of the *global* row indices
  (the single-process sampler on the union) and keeps the rows it holds;
- **grid updates**: the layer inputs are all-gathered, so every rank fits its grid to the
  union of the batch;
- **sparsity penalty**: the batch statistics (means, variances, covariances of the edge
  features) are sums over all ranks' rows, all-reduced in the forward pass; their
  backward is scaled so that the reduced gradient is the exact gradient of the penalty.

Examples
--------
Run with ``torchrun --nproc-per-node 2 examples/ddp_train.py``; the core is::

    torch.distributed.init_process_group("gloo")
    model = DistributedDataParallel(KAN([2, 5, 1], seed=0))
    fit(model, shard_of_the_data, steps=20, progress=rank == 0)
"""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor

from ..core import KAN, LayerStatistics

__all__ = ["DataParallel", "shard", "unwrap"]


def unwrap(model: Any, distributed: Any = False) -> tuple[KAN, Any]:
    """The KAN to train and the process group to train it on (None: one process).

    Parameters
    ----------
    model : KAN or DistributedDataParallel wrapping a KAN
        A DDP wrapper implies data-parallel training on its process group.
    distributed : bool or ProcessGroup
        ``True``: the default process group; a ProcessGroup: that one; ``False``: none
        (unless ``model`` is a DDP wrapper).
    """
    from torch.nn.parallel import DistributedDataParallel

    group = None
    if isinstance(model, DistributedDataParallel):
        model, group = model.module, model.process_group
    if not isinstance(model, KAN):
        raise TypeError(
            f"model must be a KAN or a DistributedDataParallel(KAN), got {type(model).__name__}"
        )
    if group is None and distributed is not False and distributed is not None:
        if not (dist.is_available() and dist.is_initialized()):
            raise ValueError(
                "distributed training needs an initialized process group; call "
                "torch.distributed.init_process_group first (or run under torchrun)"
            )
        group = dist.group.WORLD if distributed is True else distributed
    return model, group


def shard(n_rows: int, rank: int, world_size: int) -> slice:
    """Rows ``[start, stop)`` of rank ``rank`` when ``n_rows`` rows are split in contiguous shards.

    Examples
    --------
    >>> [shard(10, r, 3) for r in range(3)]
    [slice(0, 4, None), slice(4, 7, None), slice(7, 10, None)]
    """
    if not 0 <= rank < world_size:
        raise ValueError(f"rank must be in [0, {world_size}), got {rank}")
    base, extra = divmod(int(n_rows), int(world_size))
    start = rank * base + min(rank, extra)
    return slice(start, start + base + (rank < extra))


class _GlobalSum(torch.autograd.Function):
    """Sum over ranks: all-reduce in the forward, all-reduce of the gradient in the backward.

    Each rank back-propagates ``weight_r * objective_r`` with weights summing to one, so
    the all-reduced gradient at a sum replicated on every rank is the gradient of the
    global objective with respect to it (and for a statistic computed from another one,
    such as a variance around the global mean, the sum over ranks of the local gradients).
    """

    @staticmethod
    def forward(ctx: Any, local: Tensor, group: Any) -> Tensor:
        total = local.detach().clone()
        dist.all_reduce(total, group=group)
        ctx.group = group
        return total

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        total = grad.detach().clone()
        dist.all_reduce(total, group=ctx.group)
        return total, None


class DataParallel:
    """The process-group side of one data-parallel fit (used by :func:`kanscience.fit`).

    Parameters
    ----------
    group : ProcessGroup
    n_train, n_test : int
        Rows of this rank's shard (each shard must have at least one).
    device : torch.device
        Where the collectives' tensors live (CPU for gloo, CUDA for NCCL).
    settings : sequence of int
        Values that must agree on every rank (seed, batch, steps...); a ValueError on every
        rank otherwise.

    Attributes
    ----------
    rank, world_size : int
    n_train, n_test : int
        Rows of the union of the shards.
    weight : float
        This rank's share of the current batch (its rows over the batch's rows).
    """

    def __init__(
        self,
        group: Any,
        n_train: int,
        n_test: int,
        device: torch.device,
        settings: tuple[int, ...] = (),
    ) -> None:
        self.group = group
        self.rank, self.world_size = dist.get_rank(group), dist.get_world_size(group)
        self.device = device
        mine = torch.tensor([n_train, n_test, *settings], dtype=torch.int64, device=device)
        every = [torch.empty_like(mine) for _ in range(self.world_size)]
        dist.all_gather(every, mine, group=group)
        table = torch.stack(every).cpu()
        if (table[:, 2:] != table[0, 2:]).any():
            raise ValueError(
                f"fit settings differ between ranks (seed, batch, steps, number of "
                f"parameters per rank: {table[:, 2:].tolist()}); pass the same ones"
            )
        if (table[:, :2] < 1).any():
            raise ValueError(
                "every rank needs at least one training and one test row, got "
                f"(train, test) rows per rank {table[:, :2].tolist()}"
            )
        self.sizes = {"train": table[:, 0].tolist(), "test": table[:, 1].tolist()}
        self.n_train, self.n_test = sum(self.sizes["train"]), sum(self.sizes["test"])
        self.counts: list[int] = []
        self.n_batch = 0
        self.weight = 0.0
        self._live = 0.0

    # ------------------------------------------------------------ batches
    def select(
        self, split: str, generator: torch.Generator | None = None, batch: int = -1
    ) -> Tensor | None:
        """This rank's rows of the step's global batch.

        With a generator: the first ``batch`` entries of one permutation of the global
        row indices (identical on every rank, as one process on the union would draw it),
        restricted to this shard. Without: the whole shard (returns None).
        A rank with no row in the batch gets row 0 with weight 0 (it still joins the
        collectives but contributes nothing).
        """
        sizes = self.sizes[split]
        if generator is None:
            counts, index = list(sizes), None
        else:
            chosen = torch.randperm(sum(sizes), generator=generator)[:batch]
            bounds = torch.tensor(sizes).cumsum(0)
            owner = torch.bucketize(chosen, bounds, right=True)
            counts = torch.bincount(owner, minlength=self.world_size).tolist()
            start = int(bounds[self.rank]) - sizes[self.rank]
            index = chosen[owner == self.rank] - start
            if index.numel() == 0:
                index = torch.zeros(1, dtype=torch.long)
        self.counts, self.n_batch = counts, sum(counts)
        self.weight = counts[self.rank] / self.n_batch
        self._live = 1.0 if counts[self.rank] else 0.0
        return index

    def gather_rows(self, x: Tensor) -> Tensor:
        """The rows of the current batch from every rank, concatenated in rank order."""
        width = max(self.counts)
        padded = x.new_zeros(width, *x.shape[1:])
        padded[: self.counts[self.rank]] = x[: self.counts[self.rank]]
        every = [torch.empty_like(padded) for _ in range(self.world_size)]
        dist.all_gather(every, padded, group=self.group)
        return torch.cat([rows[:count] for rows, count in zip(every, self.counts)])

    # ------------------------------------------------------------ reductions
    def average(self, value: Tensor) -> Tensor:
        """Batch-weighted mean over ranks of a per-rank mean (not differentiable)."""
        total = (value.detach() * self.weight if self._live else torch.zeros_like(value)).clone()
        dist.all_reduce(total, group=self.group)
        return total

    def any(self, flag: bool) -> bool:
        """Whether ``flag`` holds on any rank (the same answer on every rank)."""
        value = torch.tensor([float(flag)], device=self.device)
        dist.all_reduce(value, op=dist.ReduceOp.MAX, group=self.group)
        return bool(value.item())

    def backward(self, value: Tensor, params: list[Tensor], state: dict[str, Tensor]) -> Tensor:
        """Backward of this rank's objective, then one all-reduce of gradients and losses.

        Leaves the global mean gradient in ``p.grad``, sets ``state['loss']`` to the global
        loss and returns the global objective. A rank without rows in the batch runs its
        backward too (with weight 0): the statistics' backward holds collectives.
        """
        (value * self.weight).backward()
        grads = [
            p.grad.reshape(-1)
            if p.grad is not None
            else torch.zeros(p.numel(), dtype=p.dtype, device=p.device)
            for p in params
        ]
        scalars = torch.stack([value.detach(), state["loss"]]).to(grads[0].dtype) * self.weight
        flat = torch.cat([*grads, scalars if self._live else torch.zeros_like(scalars)])
        dist.all_reduce(flat, group=self.group)
        for p, g in zip(params, flat[:-2].split([p.numel() for p in params])):
            p.grad = g.view_as(p)
        state["loss"] = flat[-1].to(state["loss"].dtype)
        return flat[-2].to(value.dtype)

    @torch.no_grad()
    def broadcast_(self, model: KAN) -> None:
        """Copy rank 0's parameters and buffers to every rank (as DDP does at wrap time)."""
        for tensor in [*model.parameters(), *model.buffers()]:
            dist.broadcast(tensor.data, group=self.group, group_src=0)

    # ------------------------------------------------------------ statistics
    def _sum(self, local: Tensor) -> Tensor:
        """Differentiable sum over all rows of all ranks of per-rank row sums ``local``."""
        return _GlobalSum.apply(local * self._live, self.group)

    def mean(self, x: Tensor) -> Tensor:
        """Mean over the rows of the global batch of ``x`` (rows, ...)."""
        return self._sum(x.sum(0)) / self.n_batch

    def std(self, x: Tensor) -> Tensor:
        """``x.std(0)`` over the rows of the global batch (unbiased, two-pass)."""
        centered = x - self.mean(x)
        return (self._sum((centered * centered).sum(0)) / max(self.n_batch - 1, 1)).sqrt()

    def _edge_std(self, features: Tensor, weight: Tensor) -> Tensor:
        """Global version of ``trace._std_from_covariance``."""
        centered = features - self.mean(features)
        covariance = self._sum(torch.einsum("bip,biq->ipq", centered, centered))
        covariance = covariance / max(self.n_batch - 1, 1)
        variance = torch.einsum("ipo,ipq,iqo->io", weight, covariance, weight)
        return variance.clamp_min(1e-30).sqrt()

    def forward_with_statistics(
        self, model: KAN, x: Tensor, singularity_avoiding: bool = False, y_th: float = 10.0
    ) -> tuple[Tensor, list[LayerStatistics]]:
        """:func:`kanscience.core.forward_with_statistics` on the global batch's statistics."""
        x = model.check_input(x)
        statistics = []
        for index, layer in enumerate(model.layers):
            features = layer.features(x)
            weight = layer.spline_weight().reshape(layer.in_dim, -1, layer.out_dim)
            subnodes = features.reshape(x.shape[0], -1) @ weight.reshape(-1, layer.out_dim)
            numeric_std = self._edge_std(features, weight)
            total_std = numeric_std
            for name, (ins, outs) in layer.symbolic_groups().items():
                symbolic = layer.symbolic_edge_values(
                    x, ins, outs, name, singularity_avoiding, y_th
                )
                numeric = torch.einsum("bep,pe->be", features[:, ins, :], weight[ins, :, outs].t())
                edge_std = self.std(numeric + symbolic).clamp_min(1e-15)
                total_std = total_std.index_put((ins, outs), edge_std)
                subnodes = subnodes.index_add(1, outs, symbolic)
            statistics.append(
                LayerStatistics(self.std(x), numeric_std, total_std, self.std(subnodes))
            )
            x = model.nodes_from_subnodes(subnodes, index)
        return x, statistics
