"""Exponential moving average of the weights (what gets validated and saved as the best model)."""
import copy
import math

import torch


class ModelEMA:
    """decay ramps up as d * (1 - exp(-updates / tau)) so early, noisy weights fade quickly."""

    def __init__(self, model, decay=0.9999, tau=2000, updates=0):
        self.ema = copy.deepcopy(_unwrap(model)).eval()
        for p in self.ema.parameters():
            p.requires_grad_(False)
        self.decay, self.tau, self.updates = decay, tau, updates

    def current_decay(self):
        return self.decay * (1 - math.exp(-self.updates / self.tau))

    @torch.no_grad()
    def update(self, model):
        self.updates += 1
        d = self.current_decay()
        msd = _unwrap(model).state_dict()
        for k, v in self.ema.state_dict().items():
            if v.dtype.is_floating_point:
                v.mul_(d).add_(msd[k].detach(), alpha=1 - d)
            else:
                v.copy_(msd[k])  # BN counters follow the model

    def state_dict(self):
        return {"state_dict": self.ema.state_dict(), "updates": self.updates, "decay": self.decay, "tau": self.tau}

    def load_state_dict(self, sd):
        self.ema.load_state_dict(sd["state_dict"])
        self.updates, self.decay, self.tau = sd["updates"], sd["decay"], sd["tau"]


def _unwrap(model):
    return model.module if hasattr(model, "module") else model
