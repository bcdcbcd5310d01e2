"""Calibration cache: the activation amax of every layer with what they were computed from.

Reused when the model, the images, the method and the input size are the same; refused with a message
naming what differs otherwise, so a stale cache never silently calibrates another model.
"""
import hashlib
import json
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


def write_cache(path, amax: dict, key: dict) -> None:
    atomic_write_text(path, json.dumps({"version": CACHE_VERSION, **key, "amax": amax}, indent=1))


def read_cache(path, key: dict):
    """Return the amax dict if `path` exists and matches `key`; None if absent; raise if it does not match."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
        amax = {k: float(v) for k, v in data["amax"].items()}
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise fail(path, f"not a calibration cache ({e}); delete it or pass --recalibrate")
    for field, want in key.items():
        have = data.get(field)
        if have != want:
            what = {"model_hash": "a different model", "images_hash": "a different image set"}.get(field, field)
            raise fail(path, f"calibration cache was made for {what} ({field} {have!r}, now {want!r}); "
                             "delete it or pass --recalibrate")
    return amax
