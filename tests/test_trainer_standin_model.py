"""A tiny stand-in detector that follows the model contract (docs/ARCHITECTURE.md), for trainer tests.

The real YOLOv6 models are built by another part; trainer tests must not wait for them or spend minutes on
them, so they train this: two levels (strides 8, 16), optional DFL, BatchNorm or not.
"""
import collections

import torch
from torch import nn

try:
    from yolov6_edge.models.head import HeadOutput
except ImportError:  # the head module is written elsewhere; same fields, same order
    HeadOutput = collections.namedtuple("HeadOutput", "cls_logits reg anchor_points stride_tensor feats")

from yolov6_edge.models.anchors import dist2bbox, make_anchors


def _conv(c1, c2, s, bn):
    layers = [nn.Conv2d(c1, c2, 3, s, 1, bias=not bn)]
    if bn:
        layers.append(nn.BatchNorm2d(c2))
    layers.append(nn.SiLU())
    return nn.Sequential(*layers)


class TinyDetector(nn.Module):
    def __init__(self, num_classes=5, reg_max=0, width=16, bn=True):
        super().__init__()
        self.num_classes, self.reg_max, self.strides = num_classes, reg_max, [8, 16]
        self.names = [f"c{i}" for i in range(num_classes)]
        self.model_name = "tiny-standin"
        w = width
        self.stem = nn.Sequential(_conv(3, w, 2, bn), _conv(w, w, 2, bn), _conv(w, 2 * w, 2, bn))  # /8
        self.down = _conv(2 * w, 2 * w, 2, bn)  # /16
        no = 4 * (reg_max + 1)
        self.cls = nn.ModuleList(nn.Conv2d(2 * w, num_classes, 1) for _ in range(2))
        self.reg = nn.ModuleList(nn.Conv2d(2 * w, no, 1) for _ in range(2))
        for c in self.cls:
            nn.init.constant_(c.bias, -4.6)  # prior p=0.01, as detection heads do
        for r in self.reg:
            nn.init.constant_(r.bias, 1.0)
        self.is_fused = not bn

    def forward_features(self, x):
        p3 = self.stem(x)
        return [p3, self.down(p3)]

    def forward(self, x):
        feats = self.forward_features(x)
        cls = torch.cat([h(f).flatten(2).transpose(1, 2) for h, f in zip(self.cls, feats)], 1)
        reg = torch.cat([h(f).flatten(2).transpose(1, 2) for h, f in zip(self.reg, feats)], 1)
        ap, st = make_anchors([f.shape[2:] for f in feats], self.strides, device=x.device, dtype=x.dtype)
        if self.reg_max == 0:
            reg = nn.functional.softplus(reg)  # distances are non-negative
        if self.training:
            return HeadOutput(cls, reg, ap, st, feats)
        if self.reg_max > 0:
            p = reg.view(*reg.shape[:2], 4, self.reg_max + 1).softmax(-1)
            reg = p @ torch.arange(self.reg_max + 1, dtype=p.dtype, device=p.device)
        return dist2bbox(reg * st, ap), cls.sigmoid()


def test_standin_model_follows_the_contract():
    m = TinyDetector(reg_max=4).train()
    out = m(torch.zeros(2, 3, 64, 96))
    n = 8 * 12 + 4 * 6
    assert out.cls_logits.shape == (2, n, 5) and out.reg.shape == (2, n, 20)
    assert out.anchor_points.shape == (n, 2) and out.stride_tensor.shape == (n, 1)
    boxes, scores = m.eval()(torch.zeros(1, 3, 64, 96))
    assert boxes.shape == (1, n, 4) and scores.shape == (1, n, 5)
    assert (scores >= 0).all() and (scores <= 1).all()
