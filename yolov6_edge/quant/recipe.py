"""One INT8 recipe object: what `calibrate`, `qat` and `build --int8` read, shaped like calibration/*.yaml.

    recipe = QuantRecipe.load("calibration/yolov6lite_coco.yaml", target="openvino")  # file + overrides
    calibrate_to_qdq("lite-s.param", recipe.images, "lite-s_int8.onnx", recipe=recipe)

Fields left at None in a file take the defaults below; command-line flags override the file. Relative paths
in a file resolve against the current folder, then the repository holding the file, then that repository's
parent (where ../shared lives). No torch here: the CLI builds recipes before it loads a model.
"""
import dataclasses
import functools
import math
from dataclasses import dataclass, field
from pathlib import Path

from .. import arguments
from ..errors import fail
from ..onnx_contract import MAX_INPUT_SIDE as MAX_IMG_SIDE

METHODS = ("max", "entropy", "percentile", "mse")  # observers.METHODS, checked in tests
CHANNEL_SCALE_MODES = ("depthwise", "none")  # interface.CHANNEL_SCALE_MODES, checked in tests
PATH_FIELDS = ("images", "eval_images", "eval_ann")
# Q/DQ placements (targets.py) and the runtime each is for
TARGETS = ("tensorrt", "openvino", "onnxruntime")
TARGET_CHOICES = TARGETS + ("cpu",)  # cpu: the faster correct one of openvino / onnxruntime on this machine
RUNTIME = {"tensorrt": "tensorrt", "openvino": "openvino", "onnxruntime": "onnxruntime"}
# weight bits: 8 or 7 for every conv; "layer" / "channel": 8 where the runtime's int16 pair sums cannot
# saturate on x86 CPUs without VNNI, fewer levels only where they can (weight_levels.py, saturation.py)
WEIGHT_BITS = (7, 8, "layer", "channel")
PAIR_SAFE = ("layer", "channel")
# the CPU targets: per-channel levels, right on x86 CPUs with and without VNNI (a file written for
# openvino/onnxruntime may be deployed on any x86 box), 7 bits only in the channels whose pairs could
# saturate. `cpu` means this machine: 8 bits everywhere where it has VNNI.
DEFAULT_WEIGHT_BITS = {"tensorrt": 8, "openvino": "channel", "onnxruntime": "channel", "cpu": "channel"}


def default_weight_bits(target: str, flags=None):
    from ..host import has_vnni

    if target == "cpu" and has_vnni(flags):
        return 8
    return DEFAULT_WEIGHT_BITS[target]


# A recipe is a few hundred bytes of settings; anything far larger is not one (and is refused before parsing).
MAX_RECIPE_BYTES = 64 * 1024
MAX_DEPTH = 8  # mapping / list nesting; a recipe needs 3
MAX_NODES = 5_000


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

    def check(self, source="recipe") -> None:
        _check_fields(self, QAT_CHECKS, source, "qat.")


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
    weight_bits: object = None  # None: the target's default (WEIGHT_BITS, DEFAULT_WEIGHT_BITS)
    threads: int = 1  # for --target cpu: the threads it times the candidates with
    # for --target cpu with eval_images/eval_ann: an INT8 file more than this many AP under float is not
    # deployed (the verdict says float)
    ap_budget: float = 1.0
    qat: QatRecipe = field(default_factory=QatRecipe)

    @classmethod
    def load(cls, path=None, **overrides) -> "QuantRecipe":
        """A recipe from a YAML file (or the defaults), then `overrides` (None values are ignored).

        The whole file is checked (size, encoding, YAML without aliases, every setting's type and range) before
        anything else happens; a problem is one line naming the file.
        """
        data = {}
        source = "recipe"
        if path is not None:
            path = Path(path)
            source = path
            data = read_recipe_file(path)
            for key in PATH_FIELDS:
                if data.get(key) is not None:
                    _check_one(key, data[key], _path_setting, path, "")
                    data[key] = str(_resolve(data[key], path))
        qat = data.pop("qat", None)
        if qat is None:
            qat = {}
        if not isinstance(qat, dict):
            raise fail(source, f"'qat' must be a mapping of QAT settings (epochs: 16, lr: 1.0e-4, ...), got "
                               f"{_shown(qat)}")
        qat = dict(qat)
        for key in list(overrides):
            if key.startswith("qat_") and overrides[key] is not None:
                qat[key[4:]] = overrides.pop(key)
        recipe = _build(cls, data, source, "")
        recipe.qat = _build(QatRecipe, qat, source, "qat.")
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
        """Every setting's type and range (arguments.py), the QAT settings included."""
        _check_fields(self, RECIPE_CHECKS, source, "")
        if self.weight_bits in PAIR_SAFE and self.target == "tensorrt":
            raise fail(source, f"weight_bits {self.weight_bits} is for the CPU targets (their int16 pair sums); "
                               "TensorRT takes 7 or 8")
        if self.img_size is not None:
            size = list(self.img_size) if isinstance(self.img_size, (list, tuple)) else [self.img_size] * 2
            self.img_size = tuple(size)
        if not isinstance(self.qat, QatRecipe):
            raise fail(source, f"'qat' must be a mapping of QAT settings, got {_shown(self.qat)}")
        self.qat.check(source)

    @property
    def bits(self):
        """The weight bits this recipe quantizes with (the target's default unless set): 7, 8, layer, channel."""
        return self.weight_bits or default_weight_bits(self.target)

    def to_dict(self) -> dict:
        d: dict = dataclasses.asdict(self)
        d["img_size"] = list(self.img_size) if self.img_size else None
        d["weight_bits"] = self.bits
        d["qat"]["weight_bound"] = f"{self.qat.weight_bound:g}"
        return d


# ---- reading: bounded, before any work -------------------------------------------------------------------------

def read_recipe_file(path: Path) -> dict:
    """The mapping in a recipe file, read with bounds: size, strict UTF-8, no YAML aliases, limited nesting."""
    import yaml

    from ..files import regular_file

    regular_file(path, "recipe file")
    size = path.stat().st_size
    if size > MAX_RECIPE_BYTES:
        raise fail(path, f"is {size:,} bytes; a recipe is a few hundred (at most {MAX_RECIPE_BYTES:,}): not a recipe")
    try:
        raw = path.read_bytes()[:MAX_RECIPE_BYTES + 1]
    except OSError as e:
        raise fail(path, f"cannot read the recipe ({e.strerror or e})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise fail(path, f"not UTF-8 text (byte 0x{raw[e.start]:02x} at offset {e.start}): not a recipe") from None
    try:
        data = yaml.load(text, Loader=_bounded_loader())
    except yaml.YAMLError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise fail(path, f"not a valid recipe YAML ({first[:160]})") from None
    except RecursionError:
        raise fail(path, "not a valid recipe YAML (nested too deeply)") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise fail(path, f"a recipe is a mapping of settings, got {_shown(data)}")
    return data


@functools.lru_cache(maxsize=1)
def _bounded_loader():
    import yaml

    class BoundedLoader(yaml.SafeLoader):
        """SafeLoader that refuses aliases (a 'billion laughs' file expands a few hundred bytes into gigabytes)
        and bounds nesting and node count; a recipe needs none of that."""

        def compose_node(self, parent, index):
            if self.check_event(yaml.AliasEvent):
                event = self.peek_event()
                raise yaml.composer.ComposerError(None, None, f"aliases (*{event.anchor}) are not allowed in a "
                                                              "recipe", event.start_mark)
            self._depth = getattr(self, "_depth", 0) + 1
            self._nodes = getattr(self, "_nodes", 0) + 1
            try:
                if self._depth > MAX_DEPTH:
                    raise yaml.composer.ComposerError(None, None, f"nested deeper than {MAX_DEPTH} levels",
                                                      self.peek_event().start_mark)
                if self._nodes > MAX_NODES:
                    raise yaml.composer.ComposerError(None, None, f"more than {MAX_NODES} values",
                                                      self.peek_event().start_mark)
                return super().compose_node(parent, index)
            finally:
                self._depth -= 1

    return BoundedLoader


# ---- checking: every setting's type and range ------------------------------------------------------------------

def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _path_setting(value, name):
    if not isinstance(value, str) or not value.strip():
        raise fail(name, f"{name} must be a path (text), got {_shown(value)}")
    return value


def _img_size(value, name):
    size = list(value) if isinstance(value, (list, tuple)) else [value] * 2
    if len(size) != 2:
        raise fail(name, f"img_size must be [H, W] of positive integers, got {_shown(value)}")
    for v in size:
        arguments.integer(v, "img_size", 1, MAX_IMG_SIDE, where=name)
    return value


def _skip(value, name):
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    if not isinstance(value, str):
        raise fail(name, f"skip must be 'auto', comma-separated layer names, a list of them or a report JSON, got "
                         f"{_shown(value)}")
    return value


def _weight_bound(value, name):
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise fail(name, f"weight_bound must be a number of quantization steps >= 0 or inf, got "
                             f"{_shown(value)}") from None
    return arguments.number(value, name, minimum=0.0, allow_inf=True)


def _weight_bits(value, name):
    if isinstance(value, bool) or value not in WEIGHT_BITS:
        raise fail(name, f"weight_bits must be 7, 8, layer or channel, got {_shown(value)}")
    return value


MAX_IMAGES = 10_000_000
RECIPE_CHECKS = {
    "images": lambda v, n: _path_setting(v, n),
    "num": lambda v, n: arguments.integer(v, n, 1, MAX_IMAGES),
    "img_size": _img_size,
    "method": lambda v, n: arguments.choice(v, n, METHODS + ("auto",)),
    "percentile": lambda v, n: arguments.percentile(v, n),
    "channel_scale": lambda v, n: arguments.choice(v, n, CHANNEL_SCALE_MODES),
    "skip": _skip,
    "max_ap_drop": lambda v, n: arguments.number(v, n, minimum=0.0, maximum=100.0),
    "eval_images": _path_setting,
    "eval_ann": _path_setting,
    "batch": lambda v, n: arguments.integer(v, n, 1, 4096),
    "target": lambda v, n: arguments.choice(v, n, TARGET_CHOICES),
    "weight_bits": lambda v, n: _weight_bits(v, n),
    "threads": lambda v, n: arguments.integer(v, n, 1, 1024),
    "ap_budget": lambda v, n: arguments.number(v, n, minimum=0.0, maximum=100.0),
}
QAT_CHECKS = {
    "epochs": lambda v, n: arguments.integer(v, n, 1, 100_000),
    "lr": lambda v, n: arguments.number(v, n, above=0.0),
    "layer_weight": lambda v, n: arguments.number(v, n, minimum=0.0),
    "learn_channel_scale": arguments.boolean,
    "weight_bound": _weight_bound,
    "amax_lr": lambda v, n: arguments.number(v, n, minimum=0.0),
    "augment": arguments.boolean,
    "temperature": lambda v, n: arguments.number(v, n, above=0.0),
    "optimizer": lambda v, n: arguments.choice(v, n, ("adam", "sgd")),
    "det_weight": lambda v, n: arguments.number(v, n, minimum=0.0),
    "seed": lambda v, n: arguments.seed(v, n),
}


def _check_one(key, value, check, source, prefix):
    """Run one setting's check; its one-line refusal names the file and the setting."""
    from ..errors import Yolov6EdgeError

    try:
        return check(value, prefix + key)
    except Yolov6EdgeError as e:
        problem = str(e).split(": ", 1)[-1]
        raise fail(source, problem if problem.startswith(prefix + key) else f"{prefix}{key}: {problem}") from None


# settings that may stay unset (None); every other one needs a value
OPTIONAL = {"images", "img_size", "skip", "max_ap_drop", "eval_images", "eval_ann", "weight_bits"}


def _check_fields(obj, checks, source, prefix) -> None:
    """Check every setting of `obj`, storing each in its plain type (an int lr becomes 1.0, "inf" becomes inf)."""
    for key, check in checks.items():
        value = getattr(obj, key)
        if value is None and key in OPTIONAL:
            continue
        setattr(obj, key, _check_one(key, value, check, source, prefix))


def _build(cls, data, source, prefix):
    names = {f.name: f for f in dataclasses.fields(cls)}
    unknown = [k for k in data if k not in names]
    if unknown:
        raise fail(source, f"unknown recipe setting '{prefix}{str(unknown[0])[:40]}' (known: {', '.join(names)})")
    values = {k: v for k, v in data.items() if v is not None}
    obj = cls(**values)
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
