"""Model family: build a YOLOv6 / YOLOv6Lite detector by name.

Names: yolov6n, yolov6s, yolov6m, yolov6l (3.0 release); yolov6n-v1, yolov6t-v1, yolov6s-v1, yolov6m-v1,
yolov6l-v1 (the v1 paper); yolov6lite-s, yolov6lite-m, yolov6lite-l.
"""


def build_model(name: str, num_classes: int = 80):
    """Return an unfused, randomly initialised model (an nn.Module) for `name`."""
    name = name.lower()
    if name.startswith("yolov6lite"):
        from .lite import build_lite

        return build_lite(name, num_classes)
    from .yolov6 import build_yolov6

    return build_yolov6(name, num_classes)


def build_from_arch(name: str, arch: dict, num_classes: int = 80, names=None):
    """An unfused model from a plain arch dict (`model.arch`: what our checkpoints carry for models read from
    an official checkpoint's layout rather than built by name)."""
    if not isinstance(arch, dict) or arch.get("family") not in ("yolov6", "lite"):
        raise ValueError(f"arch {str(arch)[:80]!r} is not a yolov6 / lite description")
    try:
        if arch["family"] == "lite":
            from .lite import YOLOv6Lite

            return YOLOv6Lite(arch, num_classes, name, names)
        from .yolov6 import build_yolov6_arch

        return build_yolov6_arch(name, arch, num_classes, names)
    except (KeyError, TypeError) as e:
        raise ValueError(f"arch description is incomplete or mistyped ({type(e).__name__}: {e})") from None


def default_input_size(model_name) -> tuple:
    """(H, W) a model runs at unless told otherwise: YOLOv6Lite is published and evaluated at 320, P6 models at
    1280, the rest at 640."""
    import re

    if re.match(r"yolov6[ntsmlx]?6($|-)", str(model_name)):  # P6 models (N6/S6/M6/L6) are trained at 1280
        return (1280, 1280)
    return (320, 320) if str(model_name).startswith("yolov6lite") else (640, 640)


def model_names() -> list:
    from .configs import YOLOV6_CONFIGS
    from .lite import LITE_CONFIGS

    return sorted(YOLOV6_CONFIGS) + sorted(LITE_CONFIGS)
