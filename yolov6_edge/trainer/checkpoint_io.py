"""Trainer checkpoints: the project format (yolov6_edge.weights.checkpoint) plus the trainer's extras."""
import torch

from ..weights.checkpoint import save_checkpoint


def save(model, path, **extra):
    """Atomic save: model header + state_dict, and extras (epoch, optimizer, scheduler, ema, train_args, ...)."""
    return save_checkpoint(model, path, **extra)


def load(path):
    return torch.load(path, map_location="cpu", weights_only=True)
