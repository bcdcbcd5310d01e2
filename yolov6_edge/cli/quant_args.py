"""The inputs calibrate, sensitivity and qat share: which model, which images, what size, which method.

Kept here without importing yolov6_edge.quant, so `yolov6-edge --help` does not load torch.
"""
from pathlib import Path

from .checks import positive_int

CALIBRATION_METHODS = ["max", "entropy", "percentile", "mse"]  # quant.observers.METHODS, checked in tests
CHANNEL_SCALE_MODES = ["depthwise", "none"]  # quant.interface.CHANNEL_SCALE_MODES, checked in tests


def add_calibration_inputs(p, images_help: str, num_default: int, num_help: str, method_help: str = None,
                           method_default="max", method_auto=False) -> None:
    p.add_argument("model", type=Path, help="model file: our .pt, an official .pt or an NCNN .param")
    p.add_argument("--images", required=True, type=Path, help=images_help)
    p.add_argument("--num", type=positive_int, default=num_default, help=num_help)
    p.add_argument("--img", type=int, nargs=2, metavar=("H", "W"), default=None,
                   help="input size (default 320 320 for YOLOv6Lite, else 640 640)")
    choices = CALIBRATION_METHODS + (["auto"] if method_auto else [])
    p.add_argument("--method", default=method_default, choices=choices, help=method_help)
    p.add_argument("--channel-scale", default="depthwise", choices=CHANNEL_SCALE_MODES,
                   help="depthwise (default): each depthwise conv input channel gets its own quantization "
                        "step through a Mul before its Q/DQ pair; none: one step per tensor")
