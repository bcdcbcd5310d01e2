"""SGD (momentum + Nesterov) with three parameter groups, warm-up, and cosine / linear LR schedules.

Weight decay goes to conv/linear weights only: normalisation weights and biases are left undecayed.
"""
import math

import numpy as np
import torch
from torch import nn


def param_groups(model, weight_decay):
    decay, no_decay_norm, bias = [], [], []
    seen = set()
    for module in model.modules():
        for name, p in module.named_parameters(recurse=False):
            if not p.requires_grad or id(p) in seen:
                continue
            seen.add(id(p))
            if name == "bias":
                bias.append(p)
            elif isinstance(module, (nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.LayerNorm)) or p.ndim <= 1:
                no_decay_norm.append(p)
            else:
                decay.append(p)
    return [{"params": no_decay_norm, "weight_decay": 0.0, "name": "norm"},
            {"params": decay, "weight_decay": weight_decay, "name": "weight"},
            {"params": bias, "weight_decay": 0.0, "name": "bias"}]


def build_optimizer(model, lr0=0.01, momentum=0.937, weight_decay=5e-4, optimizer="sgd"):
    groups = [g for g in param_groups(model, weight_decay) if g["params"]]
    if optimizer == "sgd":
        return torch.optim.SGD(groups, lr=lr0, momentum=momentum, nesterov=True)
    if optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=lr0, betas=(momentum, 0.999))
    raise ValueError(f"unknown optimizer '{optimizer}' (sgd, adamw)")


def lr_lambda(kind, epochs, lrf):
    """Multiplier of lr0 at (fractional) epoch x: from 1 down to lrf."""
    if kind == "cosine":
        return lambda x: ((1 - math.cos(x * math.pi / epochs)) / 2) * (lrf - 1) + 1
    if kind == "linear":
        return lambda x: (1 - x / epochs) * (1.0 - lrf) + lrf
    raise ValueError(f"unknown schedule '{kind}' (cosine, linear)")


class Scheduler:
    """Sets lr and momentum every iteration: linear warm-up (bias lr falls from warmup_bias_lr, the others rise
    from 0, momentum rises from warmup_momentum), then the epoch schedule."""

    def __init__(self, optimizer, epochs, iters_per_epoch, lr0=0.01, lrf=0.01, kind="cosine", momentum=0.937,
                 warmup_epochs=3.0, warmup_bias_lr=0.1, warmup_momentum=0.8, min_warmup_iters=100):
        self.opt, self.epochs, self.ipe = optimizer, epochs, iters_per_epoch
        self.lr0, self.momentum = lr0, momentum
        self.lf = lr_lambda(kind, epochs, lrf)
        total = epochs * iters_per_epoch
        self.warmup_iters = int(min(max(warmup_epochs * iters_per_epoch, min_warmup_iters), total // 2)) \
            if warmup_epochs > 0 else 0
        self.warmup_bias_lr, self.warmup_momentum = warmup_bias_lr, warmup_momentum
        self.step_num = 0

    def step(self):
        """Call before each optimizer step; returns the current base lr."""
        it, epoch = self.step_num, min(self.step_num // self.ipe, self.epochs)  # past the end: stay at lrf
        target = self.lr0 * self.lf(epoch)
        for g in self.opt.param_groups:
            if it < self.warmup_iters:
                start = self.warmup_bias_lr if g.get("name") == "bias" else 0.0
                g["lr"] = float(np.interp(it, [0, self.warmup_iters], [start, target]))
                if "momentum" in g:
                    g["momentum"] = float(np.interp(it, [0, self.warmup_iters], [self.warmup_momentum,
                                                                                 self.momentum]))
            else:
                g["lr"] = target
                if "momentum" in g:
                    g["momentum"] = self.momentum
        self.step_num += 1
        return target

    def state_dict(self):
        return {"step_num": self.step_num}

    def load_state_dict(self, sd):
        self.step_num = sd["step_num"]
