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

    @classmethod
    def checked(cls, name="settings", **values) -> "DetectionSettings":
        """Settings from `values` (every field; missing ones take the defaults), each checked; errors name
        `name` (the model) in one line."""
        return cls()._apply(name, dict(values))

    def override(self, name="settings", **changes) -> "DetectionSettings":
        """A copy with `changes` applied, each checked; a None change keeps the value (a per-call override
        that was not given). Errors name `name` (the model)."""
        return self._apply(name, {k: v for k, v in changes.items() if v is not None})

    def _apply(self, name, given: dict) -> "DetectionSettings":
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

    def kwargs(self) -> dict:
        """The fields as keyword arguments: Detector(model, **EVAL.kwargs())."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


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
