"""The inputs calibrate, sensitivity and qat share: which model, which images, what size, which method.

Kept here without importing torch, so `yolov6-edge --help` does not load it. With recipe=True (calibrate,
qat) every setting defaults to None, so a `--recipe` file fills what the command line leaves out and the
QuantRecipe defaults (quant/recipe.py) fill the rest.
"""
from pathlib import Path

from ..quant.recipe import CHANNEL_SCALE_MODES, METHODS as CALIBRATION_METHODS, TARGET_CHOICES, QuantRecipe
from .checks import positive_int

DEFAULTS = QuantRecipe()


def add_calibration_inputs(p, images_help: str, num_default: int, num_help: str, method_help: str = None,
                           method_default=DEFAULTS.method, method_auto=False, recipe=False) -> None:
    p.add_argument("model", type=Path, help="model file: our .pt, an official .pt or an NCNN .param")
    if recipe:
        p.add_argument("--recipe", type=Path, default=None,
                       help="calibration recipe YAML (e.g. calibration/yolov6lite_coco.yaml); flags override it")
    p.add_argument("--images", required=not recipe, type=Path, default=None, help=images_help)
    p.add_argument("--num", type=positive_int, default=None if recipe else num_default,
                   help=num_help + (f" (default {num_default})" if recipe else ""))
    p.add_argument("--img", type=int, nargs=2, metavar=("H", "W"), default=None,
                   help="input size (default 320 320 for YOLOv6Lite, else 640 640)")
    choices = list(CALIBRATION_METHODS) + (["auto"] if method_auto else [])
    p.add_argument("--method", default=None if recipe else method_default, choices=choices, help=method_help)
    p.add_argument("--channel-scale", default=None if recipe else "depthwise", choices=CHANNEL_SCALE_MODES,
                   help="depthwise (default): each depthwise conv input channel gets its own quantization "
                        "step through a Mul before its Q/DQ pair; none: one step per tensor")
    if recipe:
        p.add_argument("--target", default=None, choices=TARGET_CHOICES,
                       help="runtime the Q/DQ placement is for (default tensorrt): tensorrt (signed INT8, zero "
                            "points 0), openvino, onnxruntime, or cpu (writes the faster of the two CPU "
                            "placements that agrees with the reference on this machine); docs/QUANTIZATION.md")
        p.add_argument("--weight-bits", type=_weight_bits, default=None, metavar="{7,8,layer,channel}",
                       help="weight bits (default 8 for tensorrt). On x86 CPUs without VNNI the CPU runtimes sum "
                            "pairs of u8 x s8 products in int16, which 8-bit weights can saturate: layer gives 8 "
                            "bits to every conv whose pairs cannot, 7 to the rest; channel (default for "
                            "openvino/onnxruntime, and for cpu where this CPU lacks VNNI) does it per output "
                            "channel with 63-127 levels; cpu takes 8 where this CPU has VNNI")


def _weight_bits(value):
    if value in ("7", "8"):
        return int(value)
    if value in ("layer", "channel"):
        return value
    import argparse

    raise argparse.ArgumentTypeError(f"expected 7, 8, layer or channel, not {value!r}")


def recipe_from_args(args, **extra):
    """The QuantRecipe of a calibrate/qat command line: the --recipe file (or defaults), then the flags."""
    return QuantRecipe.load(args.recipe, images=str(args.images) if args.images else None, num=args.num,
                            img_size=tuple(args.img) if args.img else None, method=args.method,
                            channel_scale=args.channel_scale, target=args.target, weight_bits=args.weight_bits,
                            **extra)
