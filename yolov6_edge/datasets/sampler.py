"""Epoch-seeded shuffling that also carries (epoch, mosaic on/off) to the dataset.

Persistent workers hold their own copy of the dataset, so per-epoch switches cannot be set on it; the sampler
hands them over with each index instead. The order depends only on (seed, epoch), so a resumed run sees the
same batches as an uninterrupted one; with world_size > 1 each rank takes its own strided share.
"""
import torch
from torch.utils.data import Sampler


class EpochSampler(Sampler):
    def __init__(self, n, shuffle=True, seed=0, rank=0, world_size=1):
        self.n, self.shuffle, self.seed, self.rank, self.world = n, shuffle, seed, rank, world_size
        self.epoch, self.mosaic = 0, True
        self.per_rank = (n + world_size - 1) // world_size

    def set_epoch(self, epoch, mosaic=True):
        self.epoch, self.mosaic = epoch, mosaic

    def __iter__(self):
        if self.shuffle:
            g = torch.Generator()
            g.manual_seed(self.seed * 100_003 + self.epoch)
            order = torch.randperm(self.n, generator=g).tolist()
        else:
            order = list(range(self.n))
        order += order[: self.per_rank * self.world - self.n]  # pad so every rank gets as many
        for i in order[self.rank::self.world]:
            yield (i, self.epoch, self.mosaic)

    def __len__(self):
        return self.per_rank
