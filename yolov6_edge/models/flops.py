"""Count parameters and FLOPs the way the official YOLOv6 tables do.

Official tables report GFLOPs = 2 x multiply-accumulates of the convolutions (thop's MAC count at a
64x64 input, scaled to the image area, times 2), on the fused (deploy) model. Bias adds, BatchNorm,
activations and pooling are not counted. We count the same from conv output shapes seen by hooks on one
small forward; conv MACs scale exactly with the area as long as every level's size divides evenly.
"""
import torch
from torch import nn


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def conv_macs(model: nn.Module, size=(64, 64)) -> int:
    """Multiply-accumulates of every Conv2d / ConvTranspose2d for one image of `size` (H, W)."""
    total = 0

    def hook(m, inputs, output):
        nonlocal total
        kh, kw = m.kernel_size
        if isinstance(m, nn.ConvTranspose2d):
            # Each input pixel scatters one kernel into every output channel.
            total += inputs[0].numel() * kh * kw * m.out_channels // m.groups
        else:
            total += output.numel() * kh * kw * m.in_channels // m.groups

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    was_training = model.training
    try:
        model.eval()
        p = next(model.parameters())
        with torch.no_grad():
            model(torch.zeros(1, 3, *size, dtype=p.dtype, device=p.device))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return total


def gflops(model: nn.Module, img_size=(640, 640), probe=(64, 64)) -> float:
    """Official-style GFLOPs (2 x MACs) at img_size, measured at `probe` and scaled by area."""
    scale = img_size[0] * img_size[1] / (probe[0] * probe[1])
    return 2 * conv_macs(model, probe) * scale / 1e9
