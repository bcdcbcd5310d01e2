"""Multi-GPU (or multi-process CPU) training with DistributedDataParallel, launched by torchrun.

    torchrun --nproc_per_node 4 -m yolov6_edge.cli.main train --model yolov6s --data data.yaml --batch 16

torchrun sets RANK / WORLD_SIZE / LOCAL_RANK; each process trains on its share of every epoch
(EpochSampler strides by rank) with batch = --batch per process. BatchNorm is converted to SyncBatchNorm
so statistics are over the global batch. NCCL on GPUs, gloo on CPU.
"""
import os

import torch
import torch.distributed as dist
from torch import nn


def env():
    """(rank, world_size, local_rank) from torchrun's environment; (0, 1, 0) when not launched by it."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("LOCAL_RANK", 0))


def setup(device="cuda"):
    """Initialise the process group; returns (rank, world_size, device for this process)."""
    rank, world, local = env()
    if world == 1:
        return rank, world, torch.device(device)
    use_cuda = str(device).startswith("cuda") and torch.cuda.is_available()
    if use_cuda:
        torch.cuda.set_device(local)
    dist.init_process_group("nccl" if use_cuda else "gloo", rank=rank, world_size=world)
    return rank, world, torch.device(f"cuda:{local}" if use_cuda else "cpu")


def wrap(model, device):
    model = nn.SyncBatchNorm.convert_sync_batchnorm(model) if device.type == "cuda" else model
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids, find_unused_parameters=False)


def cleanup():
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
