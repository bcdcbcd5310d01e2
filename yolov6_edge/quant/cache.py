"""Calibration cache: the activation amax of every layer with what they were computed from.

Reused when the model, the images, the method and the input size are the same; refused with a message
naming what differs otherwise, so a stale cache never silently calibrates another model.
"""
import hashlib
import json
import math
from pathlib import Path

from ..atomic import atomic_write_text
from ..errors import fail

CACHE_VERSION = 1


def model_hash(model_path) -> str:
    model_path = Path(model_path)
    h = hashlib.sha256()
    files = [model_path] + ([model_path.with_suffix(".bin")] if model_path.suffix == ".param" else [])
    for f in files:
        if f.is_file():
            h.update(f.read_bytes())
    return h.hexdigest()[:16]


def bad_range(amax: dict, scales: dict):
    """(layer, problem) for the first unusable activation range or channel scale, else None.

    NaN, inf and negative values are never usable. A zero range is: a layer whose input was zero on every
    calibration image (a dead input, which a random or pruned net has; quantizers clamp its scale). But zero
    everywhere is what a calibration that saw no image leaves (--batch -1 did), and its INT8 model outputs
    nothing. Channel scales are floored above zero when computed, so any value <= 0 is damage.
    """
    if not amax:  # a cache of no layer at all: every quantizer would be left without a range
        return "(none)", "set of activation ranges: it is empty"
    for name, v in amax.items():
        if not (math.isfinite(v) and v >= 0):
            return name, f"activation range {v}"
    if amax and not any(amax.values()):
        return next(iter(amax)), "activation range 0 (as every layer's: no calibration image was seen)"
    for name, values in scales.items():
        bad = next((v for v in values if not (math.isfinite(v) and v > 0)), None)
        if bad is not None or not values:
            return name, f"channel scale {bad if values else 'list empty'}"
    return None


def write_cache(path, amax: dict, key: dict, channel_scales: dict = None) -> None:
    bad = bad_range(amax, channel_scales or {})
    if bad:
        raise fail(path, f"calibration gave layer {bad[0]} an unusable {bad[1]} (did any calibration image reach "
                         "it?); no cache written")
    payload = {"version": CACHE_VERSION, **key, "amax": amax, "channel_scales": channel_scales or {}}
    atomic_write_text(path, json.dumps(payload, indent=1))


def read_cache(path, key: dict):
    """(amax, channel scales) if `path` exists and matches `key`; None if absent; raise if it does not match."""
    from ..files import file_kind

    path = Path(path)
    kind = file_kind(path)
    if kind == "missing":
        return None
    if kind != "file":
        raise fail(path, f"is {kind}, not a calibration cache file")
    try:
        data = json.loads(path.read_text())
        amax = {k: float(v) for k, v in data["amax"].items()}
        scales = {k: [float(x) for x in v] for k, v in data.get("channel_scales", {}).items()}
    except (ValueError, KeyError, TypeError, AttributeError, OverflowError) as e:
        raise fail(path, f"not a calibration cache ({e}); delete it or pass --recalibrate")
    bad = bad_range(amax, scales)
    if bad:
        raise fail(path, f"calibration cache holds an unusable {bad[1]} for layer {bad[0]}; delete it or pass "
                         "--recalibrate")
    for field, want in key.items():
        have = data.get(field)
        if have != want:
            if field not in data:
                raise fail(path, f"calibration cache predates the {field!r} setting (an older yolov6-edge made "
                                 "it); delete it or pass --recalibrate")
            what = {"model_hash": "a different model", "images_hash": "a different image set",
                    "channel_scale": "another channel-scale mode"}.get(field, field)
            raise fail(path, f"calibration cache was made for {what} ({field} {have!r}, now {want!r}); "
                             "delete it or pass --recalibrate")
    return amax, scales
