"""Folding a BatchNorm into the convolution before it, and fusing a module tree: written once, here.

Every block's fuse() (blocks.py, lite.py), RepOptimizer's standard form (trainer/repopt.py) and the official
importer's folding of the BatchNorms a deploy-form file still holds (weights/official.py) use these.
"""
import torch
from torch import nn


def fold_batchnorm(weight, bias, mean, var, gamma, beta, eps):
    """(weight, bias) of one convolution computing bn(conv(x)) in eval mode, from the conv's weight and bias
    (None: no bias) and the BatchNorm's running mean / var, affine gamma / beta and eps. Computed in the
    tensors' own dtype: the caller picks the precision (weights/official.py folds in float64)."""
    scale = gamma / (var + eps).sqrt()
    bias = bias if bias is not None else torch.zeros_like(mean)
    return weight * scale.reshape(-1, 1, 1, 1), (bias - mean) * scale + beta


def fuse_conv_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """Return one Conv2d (with bias) computing bn(conv(x)) in eval mode."""
    fused = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                      conv.dilation, conv.groups, bias=True).to(conv.weight.device, conv.weight.dtype)
    with torch.no_grad():
        weight, bias = fold_batchnorm(conv.weight, conv.bias, bn.running_mean, bn.running_var, bn.weight, bn.bias,
                                      bn.eps)
        fused.weight.copy_(weight)
        fused.bias.copy_(bias)
    return fused


def fuse_children(module: nn.Module) -> nn.Module:
    """Call fuse() on every direct child that has one, recurse into plain containers (Sequential,
    ModuleList), which have none; returns `module`."""
    for child in module.children():
        if hasattr(child, "fuse"):
            child.fuse()
        else:
            fuse_children(child)
    return module
