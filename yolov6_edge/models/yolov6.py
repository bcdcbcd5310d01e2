"""YOLOv6 detector (EfficientRep/CSPBep backbone + Rep-PAN neck + efficient decoupled head), built by name."""
import functools

from torch import nn

from ..datasets.coco_names import COCO_NAMES
from .blocks import (QARepVGGBlock, RepVGGBlock, conv_relu_bias_block, conv_relu_block, conv_silu_bias_block,
                     conv_silu_block, qarepvgg_v1_block)
from .configs import YOLOV6_CONFIGS, YOLOv6Config
from .efficientrep import CSPBepBackbone, EfficientRep
from .head import EfficientDecoupledHead
from .reppan import CSPRepBiFPAN, CSPRepBiFPAN6, CSPRepPAN, RepBiFPAN, RepBiFPAN6, RepPAN


_BASIC_BLOCKS = {"repvgg": RepVGGBlock, "conv_silu": conv_silu_block, "conv_relu": conv_relu_block,
                 "conv_silu_bias": conv_silu_bias_block, "conv_relu_bias": conv_relu_bias_block,
                 "qarepvgg2": QARepVGGBlock, "qarepvgg": qarepvgg_v1_block}


def _basic_block(kind):
    if kind not in _BASIC_BLOCKS:
        raise ValueError(f"unknown basic block '{kind}'")
    return _BASIC_BLOCKS[kind]


class YOLOv6(nn.Module):
    """Model contract of docs/ARCHITECTURE.md: eval -> (boxes xyxy pixels, sigmoid scores); train -> HeadOutput."""

    def __init__(self, cfg: YOLOv6Config, num_classes: int = 80, names=None):
        super().__init__()
        block = _basic_block(cfg.block)
        ch, rep = cfg.channels, cfg.repeats
        if cfg.backbone == "efficientrep":
            self.backbone = EfficientRep(ch, rep, block, cfg.fuse_p2, cfg.cspsppf)
        elif cfg.backbone == "cspbep":
            self.backbone = CSPBepBackbone(ch, rep, block, cfg.csp_e, cfg.fuse_p2, cfg.cspsppf, cfg.stage_block)
        else:
            raise ValueError(f"unknown backbone '{cfg.backbone}'")
        neck = {"reppan": RepPAN, "repbifpan": RepBiFPAN,
                "csprep_pan": functools.partial(CSPRepPAN, csp_e=cfg.csp_e, stage_block=cfg.stage_block),
                "csprep_bifpan": functools.partial(CSPRepBiFPAN, csp_e=cfg.csp_e, stage_block=cfg.stage_block),
                "repbifpan6": RepBiFPAN6,
                "csprep_bifpan6": functools.partial(CSPRepBiFPAN6, csp_e=cfg.csp_e, stage_block=cfg.stage_block),
                }[cfg.neck]
        if cfg.neck.endswith("6") != cfg.p6 or len(ch) != (12 if cfg.p6 else 11):
            raise ValueError("P6 models need a P6 neck and 12 widths / repeats; the others 11")
        if cfg.neck.rstrip("6").endswith("bifpan") != cfg.fuse_p2:
            raise ValueError("BiFPAN necks need the backbone's P2 output (fuse_p2) and the others must not get it")
        self.neck = neck(ch, rep, block)
        # Attribute name `detect` matches the official layout (detect.stems.0..., detect.cls_preds.0...).
        head_channels = ch[8:12] if cfg.p6 else [ch[6], ch[8], ch[10]]
        self.detect = EfficientDecoupledHead(head_channels, num_classes, cfg.reg_max, cfg.strides)
        self.cfg = cfg
        self.model_name = cfg.name
        self.num_classes = num_classes
        self.reg_max = cfg.reg_max
        self.strides = list(cfg.strides)
        self.names = list(names) if names is not None else [f"class{i}" for i in range(num_classes)]
        self.is_fused = False

    @property
    def arch(self) -> dict:
        return self.cfg.to_arch()

    def forward_features(self, x):
        return self.neck(self.backbone(x))

    def forward(self, x):
        return self.detect(self.forward_features(x))

    def fuse(self):
        """Fold every RepVGG branch and BatchNorm into single convolutions, in place; returns self."""
        if not self.is_fused:
            for part in (self.backbone, self.neck, self.detect):
                part.fuse()
            self.is_fused = True
        return self


def build_yolov6(name: str, num_classes: int = 80, names=None) -> YOLOv6:
    """An unfused, randomly initialised YOLOv6 of the named config (see configs.YOLOV6_CONFIGS)."""
    key = name.lower()
    if key not in YOLOV6_CONFIGS:
        raise ValueError(f"unknown model '{name}' (known: {', '.join(sorted(YOLOV6_CONFIGS))})")
    if names is None and num_classes == len(COCO_NAMES):
        names = COCO_NAMES
    return YOLOv6(YOLOV6_CONFIGS[key], num_classes, names)


def build_yolov6_arch(name: str, arch: dict, num_classes: int = 80, names=None) -> YOLOv6:
    """An unfused YOLOv6 from a plain arch dict (YOLOv6Config.to_arch), named `name`."""
    if names is None and num_classes == len(COCO_NAMES):
        names = COCO_NAMES
    return YOLOv6(YOLOv6Config.from_arch(name, arch), num_classes, names)
