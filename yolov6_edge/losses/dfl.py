"""Distribution Focal Loss: cross-entropy on the two bins around a continuous target, linearly weighted."""
import torch
import torch.nn.functional as F


def dfl_loss(logits, target):
    """logits [P, 4, reg_max+1], target [P, 4] in bin units (0 <= t < reg_max) -> [P] mean over the 4 sides."""
    tl = target.long()
    tr = tl + 1
    wl = tr.float() - target
    wr = 1 - wl
    n = logits.shape[-1]
    flat = logits.reshape(-1, n)
    left = F.cross_entropy(flat, tl.reshape(-1), reduction="none").view(tl.shape) * wl
    right = F.cross_entropy(flat, tr.clamp(max=n - 1).reshape(-1), reduction="none").view(tl.shape) * wr
    return (left + right).mean(-1)


def dfl_decode(logits, reg_max):
    """[..., 4*(reg_max+1)] logits -> [..., 4] expected distance (softmax-weighted bin index)."""
    p = logits.reshape(*logits.shape[:-1], 4, reg_max + 1).softmax(-1)
    return p @ torch.arange(reg_max + 1, dtype=p.dtype, device=p.device)
