"""Efficient decoupled head of YOLOv6 (+ DFL) and the HeadOutput every head returns in train mode."""
import math
from typing import NamedTuple

import torch
from torch import nn

from .anchors import dist2bbox, make_anchors
from .blocks import ConvBNAct
from .fuse import fuse_children


def init_predictors(cls_preds, reg_preds, prior_prob: float) -> None:
    """Start every class near prior_prob and every box at one stride per side, as the official heads do,
    so early training losses are sane."""
    with torch.no_grad():
        for conv in cls_preds:
            conv.weight.zero_()
            conv.bias.fill_(-math.log((1 - prior_prob) / prior_prob))
        for conv in reg_preds:
            conv.weight.zero_()
            conv.bias.fill_(1.0)


def replace_class_predictors(model, num_classes: int, prior_prob: float = 1e-2):
    """Give a detector (YOLOv6 or YOLOv6Lite) fresh class predictors for `num_classes` classes, in place.

    Fine-tuning a COCO model on other classes keeps everything but the last 1x1 class convs, which start
    where a new model's do (init_predictors); box regression is untouched.
    """
    head = model.head if hasattr(model, "head") else model.detect
    old = list(head.cls_preds)
    head.cls_preds = nn.ModuleList(
        nn.Conv2d(c.in_channels, num_classes, 1).to(c.weight.device, c.weight.dtype) for c in old)
    with torch.no_grad():
        for conv in head.cls_preds:
            conv.weight.zero_()
            conv.bias.fill_(-math.log((1 - prior_prob) / prior_prob))
    if hasattr(head, "num_classes"):
        head.num_classes = num_classes
    model.num_classes = num_classes
    model.names = [f"class{i}" for i in range(num_classes)]
    return model


class HeadOutput(NamedTuple):
    cls_logits: torch.Tensor      # [B, N, C]
    reg: torch.Tensor             # [B, N, 4*(reg_max+1)] if reg_max > 0 else [B, N, 4] ltrb in stride units
    anchor_points: torch.Tensor   # [N, 2] pixels
    stride_tensor: torch.Tensor   # [N, 1]
    feats: list                   # neck outputs


class DFL(nn.Module):
    """Distribution focal loss decode: expectation of a softmax over reg_max+1 bins, per box side.

    Input [B, 4*(reg_max+1), L] (4 groups of bins), output [B, 4, L] in stride units. The bin values are a
    fixed buffer (not a parameter, not saved): softmax + weighted sum export to ONNX as plain ops.
    """

    def __init__(self, reg_max: int):
        super().__init__()
        self.reg_max = reg_max
        self.register_buffer("proj", torch.arange(reg_max + 1, dtype=torch.float32), persistent=False)

    def forward(self, x):
        b, _, n = x.shape
        p = x.view(b, 4, self.reg_max + 1, n).softmax(2)
        return (p * self.proj.to(p.dtype).view(1, 1, -1, 1)).sum(2)


class EfficientDecoupledHead(nn.Module):
    """Per level: a 1x1 stem, then separate 3x3 cls and reg convs, each followed by a 1x1 prediction conv.

    reg_max > 0: the reg branch predicts DFL bin logits; reg_max == 0: ltrb distances in stride units.
    The 3.0 anchor-aided training branch (cls_preds_ab / reg_preds_ab) is not built: it is unused at
    inference, and the official importer drops those keys.
    """

    def __init__(self, channels, num_classes=80, reg_max=0, strides=(8, 16, 32), prior_prob=1e-2):
        super().__init__()
        self.num_classes, self.reg_max, self.strides = num_classes, reg_max, list(strides)
        n_reg = 4 * (reg_max + 1) if reg_max > 0 else 4
        self.stems = nn.ModuleList(ConvBNAct(c, c, 1, 1, act="silu") for c in channels)
        self.cls_convs = nn.ModuleList(ConvBNAct(c, c, 3, 1, act="silu") for c in channels)
        self.reg_convs = nn.ModuleList(ConvBNAct(c, c, 3, 1, act="silu") for c in channels)
        self.cls_preds = nn.ModuleList(nn.Conv2d(c, num_classes, 1) for c in channels)
        self.reg_preds = nn.ModuleList(nn.Conv2d(c, n_reg, 1) for c in channels)
        self.dfl = DFL(reg_max) if reg_max > 0 else None
        self._init_biases(prior_prob)

    def _init_biases(self, prior_prob):
        init_predictors(self.cls_preds, self.reg_preds, prior_prob)

    def forward(self, feats):
        cls_list, reg_list, sizes = [], [], []
        for i, x in enumerate(feats):
            sizes.append(x.shape[2:])
            x = self.stems[i](x)
            cls_list.append(self.cls_preds[i](self.cls_convs[i](x)).flatten(2))
            reg_list.append(self.reg_preds[i](self.reg_convs[i](x)).flatten(2))
        anchor_points, stride_tensor = make_anchors(sizes, self.strides, device=feats[0].device, dtype=feats[0].dtype)
        cls = torch.cat(cls_list, 2)
        reg = torch.cat(reg_list, 2)
        if self.training:
            return HeadOutput(cls.permute(0, 2, 1), reg.permute(0, 2, 1), anchor_points, stride_tensor, list(feats))
        dist = self.dfl(reg) if self.dfl is not None else reg
        boxes = dist2bbox(dist.permute(0, 2, 1) * stride_tensor, anchor_points)
        return boxes, cls.permute(0, 2, 1).sigmoid()

    def fuse(self):
        return fuse_children(self)
