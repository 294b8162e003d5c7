"""The rows each step trains and tests on: the whole split, or a seeded mini-batch."""

from __future__ import annotations

import torch

from ..core import Dataset
from ._distributed import DataParallel
from ._records import Batch

__all__ = ["Sampler"]


class Sampler:
    """Draws the train and test batches of a fit, with their row indices.

    Parameters
    ----------
    data : Dataset
        This process's data (its shard in data-parallel training), on the model's device.
    batch : int
        Mini-batch size; -1 (or at least the number of rows) for the whole split.
    seed : int
        Seed of the private generator behind the mini-batches.
    comm : DataParallel or None
        In data-parallel training, the batches are this rank's part of global ones.
    """

    def __init__(self, data: Dataset, batch: int, seed: int, comm: DataParallel | None) -> None:
        self.data, self.batch, self.comm = data, batch, comm
        device = data.train_input.device
        local = {"train": data.train_input.shape[0], "test": data.test_input.shape[0]}
        self.rows = (
            local if comm is None else {"train": comm.n_train, "test": comm.n_test}
        )  # rows of the whole data (the union of the shards)
        self.index = {split: torch.arange(n, device=device) for split, n in local.items()}
        self.generator = torch.Generator().manual_seed(int(seed))

    @property
    def full_batch(self) -> bool:
        """Whether every training step sees the whole training split."""
        return self.whole("train")

    def whole(self, split: str) -> bool:
        return (
            self.batch == -1 or self.batch >= self.rows["train"] or self.batch >= self.rows[split]
        )

    def draw(self, split: str) -> Batch:
        """All rows of ``split``, or a random mini-batch (this rank's part of a global one)."""
        inputs = getattr(self.data, f"{split}_input")
        labels = getattr(self.data, f"{split}_label")
        comm = self.comm
        if self.whole(split):
            if comm is not None:
                comm.select(split)
            return Batch(inputs, labels, self.index[split], split)
        if comm is None:
            index = torch.randperm(self.rows[split], generator=self.generator)[: self.batch]
        else:
            index = comm.select(split, self.generator, self.batch)
            assert index is not None  # a generator always selects rows
        index = index.to(inputs.device)
        return Batch(inputs[index], labels[index], index, split)
