"""Plain configs of the YOLOv6 family: the 3.0 release (N/S/M/L) and the v1 paper (N/T/S/M/L).

Values are those of the official configs (configs/*.py of meituan/YOLOv6: 3.0 at release 0.3.0+, v1 at
release 0.2.0, T from 0.1.0): base repeats and widths scaled by depth/width multipliers exactly as the
official builder does.
"""
import math
from dataclasses import dataclass, field

BACKBONE_REPEATS = (1, 6, 12, 18, 6)
BACKBONE_CHANNELS = (64, 128, 256, 512, 1024)
NECK_REPEATS = (12, 12, 12, 12)
NECK_CHANNELS = (256, 128, 128, 256, 256, 512)
# P6 models (N6/S6/M6/L6: a stride-64 level, 1280 input): 6 backbone and 6 neck widths, 12 repeats.
P6_REPEATS = (1, 6, 12, 18, 6, 6) + (12,) * 6
P6_CHANNELS = (64, 128, 256, 512, 768, 1024) + (512, 256, 128, 256, 512, 1024)


@dataclass(frozen=True)
class YOLOv6Config:
    name: str
    depth: float
    width: float
    backbone: str            # "efficientrep" | "cspbep"
    neck: str                # one of NECKS
    block: str = "repvgg"    # basic block: "repvgg", "conv_silu" or "conv_relu" (base / RepOpt models)
    csp_e: float = 0.5       # CSP split ratio (cspbep backbones / csp necks only)
    fuse_p2: bool = False    # backbone also returns the stride-4 map (BiFPAN necks need it)
    cspsppf: bool = False    # CSP form of the SPPF at the end of the backbone
    reg_max: int = 0         # DFL bins - 1; 0 = plain ltrb regression
    strides: tuple = (8, 16, 32)
    base_repeats: tuple = field(default=BACKBONE_REPEATS + NECK_REPEATS)
    base_channels: tuple = field(default=BACKBONE_CHANNELS + NECK_CHANNELS)
    # Scaled lists given outright: a model read from an official checkpoint's layout (weights/official_arch.py)
    # has its widths and repeats, not the multipliers that made them.
    channels_list: tuple = None
    repeats_list: tuple = None
    stage_block: str = "bepc3"  # CSP stage of cspbep / csp necks: "bepc3" or "mbla" (MBLABlock)
    p6: bool = False            # five backbone stages and a 4-level neck/head (strides 8..64)

    @property
    def repeats(self) -> list:
        """Official rule: repeats > 1 scale by depth (rounded, at least 1); a single block stays single."""
        if self.repeats_list is not None:
            return list(self.repeats_list)
        return [max(round(n * self.depth), 1) if n > 1 else n for n in self.base_repeats]

    @property
    def channels(self) -> list:
        """Official rule: widths scale by width, rounded up to a multiple of 8."""
        if self.channels_list is not None:
            return list(self.channels_list)
        return [math.ceil(c * self.width / 8) * 8 for c in self.base_channels]

    def to_arch(self) -> dict:
        """Plain-typed description a checkpoint can carry (and build_from_arch rebuild) without the name list."""
        return {"family": "yolov6", "backbone": self.backbone, "neck": self.neck, "block": self.block,
                "csp_e": float(self.csp_e), "fuse_p2": bool(self.fuse_p2), "cspsppf": bool(self.cspsppf),
                "reg_max": int(self.reg_max), "strides": [int(s) for s in self.strides],
                "channels": [int(c) for c in self.channels], "repeats": [int(n) for n in self.repeats],
                "stage_block": self.stage_block, "p6": bool(self.p6)}

    @classmethod
    def from_arch(cls, name: str, arch: dict) -> "YOLOv6Config":
        return cls(name, 1.0, 1.0, arch["backbone"], arch["neck"], arch["block"], float(arch["csp_e"]),
                   bool(arch["fuse_p2"]), bool(arch["cspsppf"]), int(arch["reg_max"]),
                   tuple(int(s) for s in arch["strides"]),
                   channels_list=tuple(int(c) for c in arch["channels"]),
                   repeats_list=tuple(int(n) for n in arch["repeats"]),
                   stage_block=str(arch.get("stage_block", "bepc3")), p6=bool(arch.get("p6", False)))


NECKS = ("reppan", "csprep_pan", "repbifpan", "csprep_bifpan")  # (+ the P6 forms of the BiFPAN ones)

YOLOV6_CONFIGS = {
    # 3.0 release: BiFPAN necks with P2 fusion; N/S use CSP-SPPF; M/L are CSP models with DFL (reg_max 16).
    "yolov6n": YOLOv6Config("yolov6n", 0.33, 0.25, "efficientrep", "repbifpan", fuse_p2=True, cspsppf=True),
    "yolov6s": YOLOv6Config("yolov6s", 0.33, 0.50, "efficientrep", "repbifpan", fuse_p2=True, cspsppf=True),
    "yolov6m": YOLOv6Config("yolov6m", 0.60, 0.75, "cspbep", "csprep_bifpan", csp_e=2 / 3, fuse_p2=True,
                            reg_max=16),
    "yolov6l": YOLOv6Config("yolov6l", 1.0, 1.0, "cspbep", "csprep_bifpan", block="conv_silu", csp_e=0.5,
                            fuse_p2=True, reg_max=16),
    # v1 paper (release 0.2.0): RepPAN necks, SimSPPF.
    "yolov6n-v1": YOLOv6Config("yolov6n-v1", 0.33, 0.25, "efficientrep", "reppan"),
    # T: the published 15.0M / 36.7G belong to the 0.1.0 tiny config (depth 0.25, width 0.50), used here;
    # release 0.2.0's configs/yolov6t.py (depth 0.33, width 0.375) is a different, 9.7M model.
    "yolov6t-v1": YOLOv6Config("yolov6t-v1", 0.25, 0.50, "efficientrep", "reppan"),
    "yolov6s-v1": YOLOv6Config("yolov6s-v1", 0.33, 0.50, "efficientrep", "reppan"),
    "yolov6m-v1": YOLOv6Config("yolov6m-v1", 0.60, 0.75, "cspbep", "csprep_pan", csp_e=2 / 3, reg_max=16),
    "yolov6l-v1": YOLOv6Config("yolov6l-v1", 1.0, 1.0, "cspbep", "csprep_pan", block="conv_silu", csp_e=0.5,
                               reg_max=16),
}
