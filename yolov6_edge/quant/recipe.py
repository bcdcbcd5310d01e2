"""One INT8 recipe object: what `calibrate`, `qat` and `build --int8` read, shaped like calibration/*.yaml.

    recipe = QuantRecipe.load("calibration/yolov6lite_coco.yaml", target="openvino")  # file + overrides
    calibrate_to_qdq("lite-s.param", recipe.images, "lite-s_int8.onnx", recipe=recipe)

Fields left at None in a file take the defaults below; command-line flags override the file. Relative paths
in a file resolve against the current folder, then the repository holding the file, then that repository's
parent (where ../shared lives). No torch here: the CLI builds recipes before it loads a model.
"""
import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import fail

METHODS = ("max", "entropy", "percentile", "mse")  # observers.METHODS, checked in tests
CHANNEL_SCALE_MODES = ("depthwise", "none")  # interface.CHANNEL_SCALE_MODES, checked in tests
PATH_FIELDS = ("images", "eval_images", "eval_ann")
# Q/DQ placements (targets.py) and the runtime each is for
TARGETS = ("tensorrt", "openvino", "onnxruntime")
TARGET_CHOICES = TARGETS + ("cpu",)  # cpu: the faster correct one of openvino / onnxruntime on this machine
RUNTIME = {"tensorrt": "tensorrt", "openvino": "openvino", "onnxruntime": "onnxruntime"}
# 7-bit weights on the CPU targets: x86 INT8 kernels without VNNI saturate 8-bit products (targets.py), and
# a file written for openvino/onnxruntime may be deployed on any x86 box. `cpu` means this machine: 8-bit
# weights where it has VNNI (measured here: the 7th bit costs Lite-S 0.5 AP, benchmarks/results/int8_cpu.md).
DEFAULT_WEIGHT_BITS = {"tensorrt": 8, "openvino": 7, "onnxruntime": 7, "cpu": 7}


def default_weight_bits(target: str, flags=None) -> int:
    from ..host import has_vnni

    if target == "cpu" and has_vnni(flags):
        return 8
    return DEFAULT_WEIGHT_BITS[target]


@dataclass
class QatRecipe:
    epochs: int = 16
    lr: float = 1e-4
    layer_weight: float = 1.0
    learn_channel_scale: bool = True
    weight_bound: float = math.inf
    amax_lr: float = 1e-3
    augment: bool = True
    temperature: float = 1.0
    optimizer: str = "adam"
    det_weight: float = 1.0
    seed: int = 0


@dataclass
class QuantRecipe:
    images: str | None = None  # calibration images: a folder or a list file
    num: int = 512
    img_size: tuple | None = None  # (H, W); None: 320x320 for YOLOv6Lite, else 640x640
    # mse: on the official YOLOv6Lite S/M/L it is the best or within 0.6 AP of the best method and 1.6-2.8 AP
    # above max (benchmarks/results/quant_methods.md); "auto" (with eval_images/eval_ann) measures instead
    method: str = "mse"
    percentile: float = 99.99
    channel_scale: str = "depthwise"
    skip: object = None  # layer names, a report JSON, or "auto" (with max_ap_drop)
    max_ap_drop: float | None = None
    eval_images: str | None = None
    eval_ann: str | None = None
    batch: int = 8
    target: str = "tensorrt"  # Q/DQ placement: tensorrt, openvino, onnxruntime or cpu (targets.py)
    weight_bits: int | None = None  # None: the target's default (8 for tensorrt, 7 for the CPU targets)
    threads: int = 1  # for --target cpu: the threads it times the candidates with
    qat: QatRecipe = field(default_factory=QatRecipe)

    @classmethod
    def load(cls, path=None, **overrides) -> "QuantRecipe":
        """A recipe from a YAML file (or the defaults), then `overrides` (None values are ignored)."""
        data: dict = {}
        if path is not None:
            import yaml

            path = Path(path)
            if not path.is_file():
                raise fail(path, "no such recipe file")
            try:
                data = yaml.safe_load(path.read_text()) or {}
            except yaml.YAMLError as e:
                raise fail(path, f"not valid YAML ({str(e).splitlines()[0]})") from None
            if not isinstance(data, dict):
                raise fail(path, "a recipe is a mapping of settings")
            for key in PATH_FIELDS:
                if data.get(key):
                    data[key] = str(_resolve(data[key], path))
        qat = data.pop("qat", None) or {}
        for key in list(overrides):
            if key.startswith("qat_") and overrides[key] is not None:
                qat[key[4:]] = overrides.pop(key)
        recipe = cls._from(data, path or "recipe")
        recipe.qat = _build(QatRecipe, qat, path or "recipe", "qat.")
        return recipe.replace(**overrides)

    @classmethod
    def _from(cls, data, source):
        return _build(cls, data, source, "")

    def replace(self, **overrides) -> "QuantRecipe":
        """A copy with the non-None `overrides` applied (checked like a file's values)."""
        values = {k: v for k, v in overrides.items() if v is not None}
        known = {f.name for f in dataclasses.fields(self)} - {"qat"}
        unknown = set(values) - known
        if unknown:
            raise TypeError(f"unknown recipe settings: {sorted(unknown)}")
        out = dataclasses.replace(self, **values)
        out.check()
        return out

    def check(self, source="recipe") -> None:
        if self.method not in METHODS + ("auto",):
            raise fail(source, f"unknown calibration method {self.method!r} (expected {', '.join(METHODS)} or auto)")
        if self.channel_scale not in CHANNEL_SCALE_MODES:
            raise fail(source, f"unknown channel scale mode {self.channel_scale!r} "
                               f"(expected {', '.join(CHANNEL_SCALE_MODES)})")
        if self.target not in TARGET_CHOICES:
            raise fail(source, f"unknown target {self.target!r} (expected one of {', '.join(TARGET_CHOICES)})")
        if self.weight_bits not in (None, 7, 8):
            raise fail(source, f"weight_bits must be 7 or 8, not {self.weight_bits!r}")
        if not isinstance(self.num, int) or isinstance(self.num, bool) or self.num < 1:
            raise fail(source, f"num (calibration images) must be a positive integer, not {self.num!r}")
        if not isinstance(self.batch, int) or isinstance(self.batch, bool) or self.batch < 1:
            raise fail(source, f"batch must be a positive integer, not {self.batch!r}")
        if self.img_size is not None:
            size = list(self.img_size) if isinstance(self.img_size, (list, tuple)) else [self.img_size] * 2
            if len(size) != 2 or not all(isinstance(v, int) and v > 0 for v in size):
                raise fail(source, f"img_size must be [H, W] of positive integers, not {self.img_size!r}")
            self.img_size = tuple(size)

    @property
    def bits(self) -> int:
        """The weight bits this recipe quantizes with (the target's default unless set)."""
        return self.weight_bits or default_weight_bits(self.target)

    def to_dict(self) -> dict:
        d: dict = dataclasses.asdict(self)
        d["img_size"] = list(self.img_size) if self.img_size else None
        d["weight_bits"] = self.bits
        d["qat"]["weight_bound"] = f"{self.qat.weight_bound:g}"
        return d


def _build(cls, data, source, prefix):
    names = {f.name: f for f in dataclasses.fields(cls)}
    unknown = [k for k in data if k not in names]
    if unknown:
        raise fail(source, f"unknown recipe setting '{prefix}{unknown[0]}' (known: {', '.join(names)})")
    values = {}
    for k, v in data.items():
        if v is None:
            continue
        if k == "weight_bound" and isinstance(v, str):
            v = float(v)
        values[k] = v
    obj = cls(**values)
    if isinstance(obj, QuantRecipe):
        obj.check(source)
    return obj


def _resolve(value, recipe_file: Path) -> Path:
    p = Path(value)
    if p.is_absolute():
        return p
    repo = recipe_file.resolve().parent.parent
    for base in (Path.cwd(), repo, repo.parent):
        if (base / p).exists():
            return base / p
    return p
