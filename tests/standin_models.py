"""Small models the tests share (torch): stand-ins that follow the model contract, and weight randomizers.

A test module imports what it needs from here (or another helper module in tests/), never from another test
module: tests/test_test_imports.py checks that.
"""
import numpy as np
import torch
from torch import nn

from yolov6_edge.models import blocks as B
from yolov6_edge.models.anchors import dist2bbox, make_anchors
from yolov6_edge.models.head import HeadOutput


class TinyContractModel(torch.nn.Module):
    """A few-layer stand-in that follows the model contract: makes export tests that only check the file's
    structure (not the network) fast."""

    def __init__(self, num_classes=3):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4 + num_classes, 8, stride=8)
        torch.nn.init.normal_(self.conv.weight, std=0.3)  # spread scores over (0, 1): NMS gets real work
        self.names = [f"c{i}" for i in range(num_classes)]
        self.strides, self.model_name, self.num_classes, self.reg_max, self.is_fused = [8], "tiny", num_classes, 0, True

    def fuse(self):
        return self

    def forward(self, x):
        from yolov6_edge.models.anchors import dist2bbox, make_anchors

        f = self.conv(x)
        y = f.flatten(2).transpose(1, 2)
        points, _ = make_anchors([tuple(f.shape[2:])], self.strides, dtype=y.dtype)
        return dist2bbox(y[..., :4].abs() * 16, points), y[..., 4:].sigmoid()


def tiny_contract_onnx(path, img_size=(64, 64), seed=0, **kw):
    """TinyContractModel, seeded, exported to ONNX at `path`: 3 classes, with detections on most images at conf
    0.2-0.3 (tests that compare results assert they are not empty)."""
    from yolov6_edge.export.onnx import export_onnx

    torch.manual_seed(seed)
    return export_onnx(TinyContractModel().eval(), path, img_size=img_size, **kw)


def randomize_(model: nn.Module, seed: int = 0) -> nn.Module:
    """Random conv weights (fan-in scaled, so deep stacks stay O(1)) and random BN stats and affine."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                fan_in = m.weight[0].numel() if isinstance(m, nn.Conv2d) else m.weight.shape[0] // m.groups * 4
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) / fan_in ** 0.5)
                if m.bias is not None:
                    m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
            elif isinstance(m, nn.BatchNorm2d):
                c = m.num_features
                m.weight.copy_(torch.rand(c, generator=g) * 0.8 + 0.4)
                m.bias.copy_(torch.randn(c, generator=g) * 0.2)
                m.running_mean.copy_(torch.randn(c, generator=g) * 0.2)
                m.running_var.copy_(torch.rand(c, generator=g) * 1.5 + 0.5)
            elif isinstance(m, B.BottleRep) and isinstance(m.alpha, nn.Parameter):
                m.alpha.fill_(float(torch.rand(1, generator=g)) + 0.5)
    return model


def _conv(c1, c2, s, bn):
    layers = [nn.Conv2d(c1, c2, 3, s, 1, bias=not bn)]
    if bn:
        layers.append(nn.BatchNorm2d(c2))
    layers.append(nn.SiLU())
    return nn.Sequential(*layers)


class TinyDetector(nn.Module):
    """A tiny stand-in detector for trainer tests: two levels (strides 8, 16), optional DFL, BatchNorm or not.
    The real models take minutes to train; this follows the same contract (docs/ARCHITECTURE.md)."""

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


class TinyDet(nn.Module):
    """Small detector-shaped model with the patterns that matter for placement: a Concat feeding a Conv
    through a channel shuffle, a residual Add, a depthwise Conv, two outputs (boxes, scores)."""

    def __init__(self, c=8, num_classes=3):
        super().__init__()
        self.stem = nn.Conv2d(3, c, 3, 2, 1)
        self.a = nn.Conv2d(c, c, 3, 1, 1)
        self.b = nn.Conv2d(c, c, 1)
        self.dw = nn.Conv2d(2 * c, 2 * c, 3, 1, 1, groups=2 * c)
        self.res = nn.Conv2d(2 * c, 2 * c, 3, 1, 1)
        self.cls = nn.Conv2d(2 * c, num_classes, 1)
        self.reg = nn.Conv2d(2 * c, 4, 1)
        self.act = nn.Hardswish()

    def forward(self, x):
        x = self.act(self.stem(x))
        y = torch.cat((self.act(self.a(x)), self.act(self.b(x))), 1)
        b, c, h, w = y.shape
        y = y.view(b, 2, c // 2, h, w).transpose(1, 2).reshape(b, c, h, w)  # channel shuffle
        y = self.act(self.dw(y))
        y = self.res(y) + y  # residual
        scores = torch.sigmoid(self.cls(y)).flatten(2).transpose(1, 2)
        boxes = self.reg(y).flatten(2).transpose(1, 2)
        return boxes, scores


def tiny(seed=0):
    torch.manual_seed(seed)
    return TinyDet().eval()


def batches(n=4, size=32, seed=1):
    g = torch.Generator().manual_seed(seed)
    return [torch.rand(2, 3, size, size, generator=g) for _ in range(n)]


def calibration_images(folder, n=4, mark=True):
    """`n` random 60x80 PNGs in `folder` (made here), each with a bright 30x30 block unless mark=False."""
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        img = rng.integers(0, 255, (60, 80, 3), dtype=np.uint8)
        if mark:
            img[10:40, 20:50] = 230
        cv2.imwrite(str(folder / f"{i}.png"), img)
    return folder


def random_fused_lite(num_classes=3, seed=0):
    """A fused YOLOv6Lite-S with fan-in-scaled N(0, 1/fan_in) conv weights: activations stay in range through
    the whole network, so quantization faults show in its outputs (the model's own init zeroes the predictors)."""
    from yolov6_edge.models import build_model

    torch.manual_seed(seed)
    model = build_model("yolov6lite-s", num_classes=num_classes).eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                m.weight.normal_(0, (1.0 / m.weight[0].numel()) ** 0.5)
    model.fuse()
    return model
