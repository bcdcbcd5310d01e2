"""YOLOv6Lite S/M/L: the mobile family (depthwise convs, SE, hard-swish) with a 4-level head at strides 8..64.

Layer order and widths follow the official YOLOv6Lite release (Lite_EffiBackbone, Lite_EffiNeck,
Lite_EffideHead) so that its trained weights (NCNN files, see weights/ncnn.py) map onto this model one to one.
The three sizes differ only in the width multiplier.
"""

import torch
import torch.nn.functional as F
from torch import nn

from ..datasets.coco_names import COCO_NAMES
from .anchors import dist2bbox, make_anchors
from .fuse import fuse_children, fuse_conv_bn
from .head import HeadOutput, init_predictors

# stage_channels / depths are the base values before the width multiplier; the stem is fixed at 24 channels
# and the neck and head always run at 96 (the official configs do the same for every size).
_BASE = {
    "stem_channels": 24,
    "stage_channels": (32, 64, 128, 256),
    "depths": (1, 3, 7, 3),
    "mid_ratio": 0.5,
    "neck_channels": 96,
}
LITE_CONFIGS = {
    "yolov6lite-s": dict(_BASE, width=0.7),
    "yolov6lite-m": dict(_BASE, width=1.1),
    "yolov6lite-l": dict(_BASE, width=1.5),
}
STRIDES = [8, 16, 32, 64]


def make_divisible(value: float, divisor: int = 16) -> int:
    """Round a scaled width to a multiple of `divisor`, never dropping more than 10% below it."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


def channel_shuffle(x, groups: int = 2):
    # unflatten/transpose/flatten rather than view(b, g, c//g, h, w): no Python ints taken from the shape,
    # so the model traces (torch.fx, ONNX) without baking in a batch size.
    return x.unflatten(1, (groups, -1)).transpose(1, 2).flatten(1, 2)


class ConvBN(nn.Module):
    """Conv2d + BatchNorm + hard-swish (or no activation); fuse() folds the BatchNorm into the conv."""

    def __init__(self, c_in, c_out, k=1, s=1, groups=1, act=True, bias=False):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, k, s, k // 2, groups=groups, bias=bias)
        self.bn = nn.BatchNorm2d(c_out, eps=1e-3, momentum=0.03)
        self.act = nn.Hardswish() if act else nn.Identity()

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))

    def fuse(self):
        if isinstance(self.bn, nn.BatchNorm2d):
            self.conv = fuse_conv_bn(self.conv, self.bn)
            self.bn = nn.Identity()
        return self


class SEBlock(nn.Module):
    """Squeeze-and-excitation with a hard-sigmoid gate; its convs carry biases and no BatchNorm."""

    def __init__(self, channels, reduction=4):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.reduce = nn.Conv2d(channels, channels // reduction, 1)
        self.relu = nn.ReLU()
        self.expand = nn.Conv2d(channels // reduction, channels, 1)
        self.gate = nn.Hardsigmoid()

    def forward(self, x):
        return x * self.gate(self.expand(self.relu(self.reduce(self.pool(x)))))

    def fuse(self):
        return self


class EffiBlockS1(nn.Module):
    """Stride-1 ShuffleNetV2-style unit: half the channels pass through, the other half go pw-dw-SE-pw."""

    def __init__(self, channels, mid_channels):
        super().__init__()
        self.pw_in = ConvBN(channels // 2, mid_channels)
        self.dw = ConvBN(mid_channels, mid_channels, 3, 1, groups=mid_channels, act=False)
        self.se = SEBlock(mid_channels)
        self.pw_out = ConvBN(mid_channels, channels // 2)

    def forward(self, x):
        keep, x = x.chunk(2, 1)
        x = self.pw_out(self.se(self.dw(self.pw_in(x))))
        return channel_shuffle(torch.cat((keep, x), 1), 2)

    def fuse(self):
        return fuse_children(self)


class EffiBlockS2(nn.Module):
    """Stride-2 unit: a dw-pw branch and a pw-dw-SE-pw branch, concatenated and mixed by a dw + pw conv."""

    def __init__(self, c_in, mid_channels, c_out):
        super().__init__()
        half_mid, half_out = mid_channels // 2, c_out // 2
        self.short_dw = ConvBN(c_in, c_in, 3, 2, groups=c_in, act=False)
        self.short_pw = ConvBN(c_in, half_out)
        self.main_pw_in = ConvBN(c_in, half_mid)
        self.main_dw = ConvBN(half_mid, half_mid, 3, 2, groups=half_mid, act=False)
        self.main_se = SEBlock(half_mid)
        self.main_pw_out = ConvBN(half_mid, half_out)
        self.mix_dw = ConvBN(c_out, c_out, 3, 1, groups=c_out)
        self.mix_pw = ConvBN(c_out, c_out)

    def forward(self, x):
        short = self.short_pw(self.short_dw(x))
        main = self.main_pw_out(self.main_se(self.main_dw(self.main_pw_in(x))))
        return self.mix_pw(self.mix_dw(torch.cat((short, main), 1)))

    def fuse(self):
        return fuse_children(self)


class DPBlock(nn.Module):
    """Depthwise k x k then pointwise conv, each with BatchNorm and hard-swish (both convs carry a bias)."""

    def __init__(self, channels, k=5, s=1):
        super().__init__()
        self.dw = ConvBN(channels, channels, k, s, groups=channels, bias=True)
        self.pw = ConvBN(channels, channels, 1, bias=True)

    def forward(self, x):
        return self.pw(self.dw(x))

    def fuse(self):
        return fuse_children(self)


class DarknetBlock(nn.Module):
    """1x1 conv followed by a DPBlock (the bottleneck inside CSPBlock; expansion 1)."""

    def __init__(self, channels, k=5):
        super().__init__()
        self.pw = ConvBN(channels, channels)
        self.dp = DPBlock(channels, k)

    def forward(self, x):
        return self.dp(self.pw(x))

    def fuse(self):
        return fuse_children(self)


class CSPBlock(nn.Module):
    """Cross-stage partial block: one half through a DarknetBlock, the other straight, then a 1x1 merge."""

    def __init__(self, c_in, c_out, k=5):
        super().__init__()
        mid = c_out // 2
        self.pw_main = ConvBN(c_in, mid)
        self.pw_short = ConvBN(c_in, mid)
        self.pw_merge = ConvBN(2 * mid, c_out)
        self.block = DarknetBlock(mid, k)

    def forward(self, x):
        return self.pw_merge(torch.cat((self.block(self.pw_main(x)), self.pw_short(x)), 1))

    def fuse(self):
        return fuse_children(self)


class LiteBackbone(nn.Module):
    """Stem + 4 stages (first block stride 2, then stride-1 blocks); returns the stride 8, 16, 32 maps."""

    def __init__(self, stem_channels, stage_channels, mid_channels, depths):
        super().__init__()
        self.stem = ConvBN(3, stem_channels, 3, 2)
        c_in = stem_channels
        stages = []
        for c_out, mid, depth in zip(stage_channels, mid_channels, depths):
            blocks = [EffiBlockS2(c_in, mid, c_out)] + [EffiBlockS1(c_out, mid) for _ in range(depth - 1)]
            stages.append(nn.Sequential(*blocks))
            c_in = c_out
        self.stages = nn.ModuleList(stages)

    def forward(self, x):
        x = self.stem(x)
        outputs = []
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i >= 1:  # the stride-4 stage feeds only the next stage, not the neck
                outputs.append(x)
        return outputs

    def fuse(self):
        return fuse_children(self)


class LiteNeck(nn.Module):
    """Top-down then bottom-up CSP fusion at strides 8-32, plus a stride-64 level; all levels `channels` wide."""

    def __init__(self, in_channels, channels):
        super().__init__()
        c3, c4, c5 = in_channels
        self.reduce5 = ConvBN(c5, channels)
        self.reduce4 = ConvBN(c4, channels)
        self.reduce3 = ConvBN(c3, channels)
        self.top_down4 = CSPBlock(2 * channels, channels)
        self.top_down3 = CSPBlock(2 * channels, channels)
        self.down3 = DPBlock(channels, 5, 2)
        self.bottom_up4 = CSPBlock(2 * channels, channels)
        self.down4 = DPBlock(channels, 5, 2)
        self.bottom_up5 = CSPBlock(2 * channels, channels)
        self.p6_from_top = DPBlock(channels, 5, 2)
        self.p6_from_p5 = DPBlock(channels, 5, 2)

    def forward(self, feats):
        x3, x4, x5 = feats
        top5 = self.reduce5(x5)
        up = F.interpolate(top5, scale_factor=2.0, mode="nearest")
        mid4 = self.top_down4(torch.cat((up, self.reduce4(x4)), 1))
        up = F.interpolate(mid4, scale_factor=2.0, mode="nearest")
        p3 = self.top_down3(torch.cat((up, self.reduce3(x3)), 1))
        p4 = self.bottom_up4(torch.cat((self.down3(p3), mid4), 1))
        p5 = self.bottom_up5(torch.cat((self.down4(p4), top5), 1))
        p6 = self.p6_from_top(top5) + self.p6_from_p5(p5)
        return [p3, p4, p5, p6]

    def fuse(self):
        return fuse_children(self)


class LiteHead(nn.Module):
    """Decoupled head, one set of layers per level: stem DPBlock, then cls and reg DPBlocks and 1x1 predictors."""

    def __init__(self, channels, num_classes, num_levels=4, prior_prob=1e-2):
        super().__init__()
        self.stems = nn.ModuleList(DPBlock(channels) for _ in range(num_levels))
        self.cls_convs = nn.ModuleList(DPBlock(channels) for _ in range(num_levels))
        self.reg_convs = nn.ModuleList(DPBlock(channels) for _ in range(num_levels))
        self.cls_preds = nn.ModuleList(nn.Conv2d(channels, num_classes, 1) for _ in range(num_levels))
        self.reg_preds = nn.ModuleList(nn.Conv2d(channels, 4, 1) for _ in range(num_levels))
        init_predictors(self.cls_preds, self.reg_preds, prior_prob)

    def forward(self, feats):
        """Per level (cls_logits [B, C, h, w], reg [B, 4, h, w] ltrb in stride units)."""
        outputs = []
        for i, x in enumerate(feats):
            x = self.stems[i](x)
            outputs.append((self.cls_preds[i](self.cls_convs[i](x)), self.reg_preds[i](self.reg_convs[i](x))))
        return outputs

    def fuse(self):
        return fuse_children(self)


class YOLOv6Lite(nn.Module):
    """A YOLOv6Lite detector following the model contract in docs/ARCHITECTURE.md."""

    def __init__(self, config: dict, num_classes: int = 80, model_name: str = "yolov6lite", names=None):
        super().__init__()
        if "stage_out" in config:  # widths given outright (a model read from an official checkpoint's layout)
            stage_channels, mid_channels = list(config["stage_out"]), list(config["stage_mid"])
        else:
            width = config["width"]
            stage_channels = [make_divisible(c * width) for c in config["stage_channels"]]
            mid_channels = [make_divisible(int(c * config["mid_ratio"]), 8) for c in stage_channels]
        self.arch = {"family": "lite", "stem_channels": int(config["stem_channels"]),
                     "stage_out": [int(c) for c in stage_channels], "stage_mid": [int(c) for c in mid_channels],
                     "depths": [int(d) for d in config["depths"]], "neck_channels": int(config["neck_channels"])}
        self.backbone = LiteBackbone(config["stem_channels"], stage_channels, mid_channels, config["depths"])
        self.neck = LiteNeck(stage_channels[1:], config["neck_channels"])
        self.head = LiteHead(config["neck_channels"], num_classes, len(STRIDES))
        self.num_classes = num_classes
        self.names = list(names) if names is not None else (
            list(COCO_NAMES) if num_classes == len(COCO_NAMES) else [f"class{i}" for i in range(num_classes)])
        self.strides = list(STRIDES)
        self.model_name = model_name
        self.reg_max = 0

    @property
    def is_fused(self) -> bool:
        return not any(isinstance(m, nn.BatchNorm2d) for m in self.modules())

    def fuse(self):
        return fuse_children(self)

    def forward_features(self, x):
        return self.neck(self.backbone(x))

    def forward_levels(self, x):
        """Raw head outputs per level, before flattening and decoding (what NCNN exports as out0..out3)."""
        return self.head(self.forward_features(x))

    def forward(self, x):
        feats = self.forward_features(x)
        levels = self.head(feats)
        cls = torch.cat([c.flatten(2) for c, _ in levels], 2).transpose(1, 2)
        reg = torch.cat([r.flatten(2) for _, r in levels], 2).transpose(1, 2)
        sizes = [tuple(c.shape[2:]) for c, _ in levels]
        anchor_points, stride_tensor = make_anchors(sizes, self.strides, device=x.device, dtype=cls.dtype)
        if self.training:
            return HeadOutput(cls_logits=cls, reg=reg, anchor_points=anchor_points,
                              stride_tensor=stride_tensor, feats=feats)
        return dist2bbox(reg * stride_tensor, anchor_points), cls.sigmoid()


def build_lite(name: str, num_classes: int = 80, names=None) -> YOLOv6Lite:
    """Return an unfused, randomly initialised YOLOv6Lite ('yolov6lite-s', '-m' or '-l')."""
    key = name.lower()
    if key not in LITE_CONFIGS:
        raise ValueError(f"unknown YOLOv6Lite model '{name}' (known: {', '.join(sorted(LITE_CONFIGS))})")
    return YOLOv6Lite(LITE_CONFIGS[key], num_classes, key, names)
