"""The detection settings of a run (NMS thresholds and limits, letterbox), in one dataclass with two presets.

PREDICT: what `predict` and `Detector` use unless told otherwise (conf 0.25, the best class per box).
EVAL: what every AP figure uses: `yolov6-edge eval`, `compare` and validation during training. conf 0.001 and
a box for every class above it (multi-label), so nothing is dropped before pycocotools ranks the detections;
IoU 0.65 as the YOLOv6 paper evaluates. max_candidates bounds the work of NMS (docs/ARCHITECTURE.md, Native
ops): more than that many (box, class) pairs above conf are cut to the highest scores.

No imports beyond the standard library: the CLI reads these defaults for its --help.
"""
import numbers
from dataclasses import dataclass, fields, replace

from ..errors import fail


@dataclass(frozen=True)
class DetectionSettings:
    conf: float = 0.25
    iou: float = 0.45
    max_det: int = 300
    max_candidates: int = 30000
    multi_label: bool = False
    agnostic: bool = False
    center: bool = True  # centred letterbox: the models were trained with it

    def override(self, name="settings", **changes) -> "DetectionSettings":
        """A copy with the changes that are not None, each checked; errors name `name` (the model)."""
        given = {k: v for k, v in changes.items() if v is not None}
        unknown = set(given) - {f.name for f in fields(self)}
        if unknown:
            raise TypeError(f"unknown detection settings {sorted(unknown)}")
        for key in ("conf", "iou"):
            if key in given:
                given[key] = check_threshold(name, key, given[key])
        for key in ("max_det", "max_candidates"):
            if key in given:
                given[key] = check_count(name, key, given[key])
        for key in ("multi_label", "agnostic", "center"):
            if key in given:
                given[key] = bool(given[key])
        return replace(self, **given)


PREDICT = DetectionSettings()
EVAL = DetectionSettings(conf=0.001, iou=0.65, multi_label=True)


def check_threshold(name, what, value) -> float:
    # numbers.Real: Python and numpy numbers (numpy registers its scalar types), not bool or str
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise fail(name, f"{what} must be a number in [0, 1], got {value!r}")
    if not 0.0 <= float(value) <= 1.0:  # NaN fails too
        raise fail(name, f"{what} must lie in [0, 1], got {value}")
    return float(value)


def check_count(name, what, value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise fail(name, f"{what} must be an integer, got {value!r}")
    if value < 1:
        raise fail(name, f"{what} must be at least 1, got {value}")
    return int(value)
