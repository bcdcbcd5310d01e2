"""Our checkpoint format (save / load), and the entry point that hands official YOLOv6 .pt files on.

Format (docs/ARCHITECTURE.md): torch.save of a plain dict {"format": "yolov6-edge", "format_version": 1,
"model_name", "num_classes", "names", "fused", "state_dict"} plus trainer extras, read back with
torch.load(weights_only=True): loading one of our files never runs pickled code.
"""
import io
import pickle
from pathlib import Path

import torch

from ..atomic import atomic_path
from ..errors import fail
from .state import MAX_CLASSES, build_within_file
from .state import apply_batchnorm_settings, batchnorm_settings, load_state_dict_checked

FORMAT = "yolov6-edge"
FORMAT_VERSION = 1
# Optional: "arch" (models.build_from_arch) for models that have no name in models.model_names(), and
# "batchnorm" ({module: [eps, momentum]}, see state.batchnorm_settings).
_HEADER = ("format", "format_version", "model_name", "num_classes", "names", "fused", "state_dict")


def save_checkpoint(model, path, **extra) -> Path:
    """Write `model` (YOLOv6 or YOLOv6Lite, fused or not) and any extras (epoch, optimizer, ...) atomically."""
    clash = set(extra) & set(_HEADER)
    if clash:
        raise ValueError(f"extra keys {sorted(clash)} would overwrite the checkpoint header")
    ckpt = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model_name": model.model_name,
        "num_classes": int(model.num_classes),
        "names": list(model.names),
        "fused": bool(getattr(model, "is_fused", False)),
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        **extra,
    }
    bn = batchnorm_settings(model)
    if bn:
        ckpt["batchnorm"] = bn
    from ..models import model_names

    if model.model_name not in model_names() and getattr(model, "arch", None) is not None:
        # A model read from an official checkpoint's layout has no name to rebuild it by: carry its shape.
        ckpt["arch"] = model.arch
    path = Path(path)
    # Serialized in memory, then written by Python: torch's own file writer turns a full disk or a file-size
    # limit into "unexpected pos" RuntimeErrors without the errno; Python's write raises ENOSPC / EFBIG, which
    # atomic_path reports as one line naming the file.
    buf = io.BytesIO()
    torch.save(ckpt, buf)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buf.getbuffer())
    return path


def _read(path: Path):
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        # weights_only refuses pickled classes: the usual sign of an official YOLOv6 .pt (a whole module).
        return None
    except Exception as e:  # noqa: BLE001 - whatever a damaged file raises, the user gets one line
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise fail(path, f"not a readable PyTorch checkpoint (truncated or corrupt?): {first}") from None




def check_header(ckpt: dict, path) -> None:
    """Types and agreement of the header fields, before any of them sizes a model."""
    n = ckpt["num_classes"]
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_CLASSES:
        raise fail(path, f"num_classes {n!r} is not a whole number in 1..{MAX_CLASSES}")
    names = ckpt["names"]
    if not isinstance(names, (list, tuple)) or not all(isinstance(x, str) for x in names):
        raise fail(path, "names is not a list of strings")
    if len(names) != n:
        raise fail(path, f"names lists {len(names)} classes but num_classes is {n}")
    if not isinstance(ckpt["model_name"], str):
        raise fail(path, f"model_name {ckpt['model_name']!r} is not a string")
    if not isinstance(ckpt["fused"], bool):
        raise fail(path, f"fused {ckpt['fused']!r} is not true or false")
    sd = ckpt["state_dict"]
    if not isinstance(sd, dict):
        raise fail(path, "state_dict is not a dict of tensors")
    bad = next((k for k, v in sd.items() if not isinstance(v, torch.Tensor)), None)
    if bad is not None:
        raise fail(path, f"state_dict entry {str(bad)[:60]!r} is not a tensor")


def _official_state_dict(ckpt):
    """A plain state dict with official key names (bare, or under 'model' / 'state_dict'), else None."""
    if not isinstance(ckpt, dict) or "format" in ckpt:
        return None
    for sd in (ckpt, ckpt.get("model"), ckpt.get("state_dict")):
        if (isinstance(sd, dict) and sd and "detect.cls_preds.0.weight" in sd
                and all(isinstance(v, torch.Tensor) for v in sd.values())):
            return sd
    return None


def load_checkpoint(path, model_name=None):
    """Return (model, info) for one of our checkpoints or an official YOLOv6 .pt.

    info holds the header (model_name, num_classes, names, fused) and any trainer extras, never the
    state dict. `model_name` only matters for official files, whose architecture is otherwise inferred.
    """
    path = Path(path)
    if not path.is_file():
        raise fail(path, "no such file")
    ckpt = _read(path)
    if ckpt is None:
        from .official import load_official

        return load_official(path, model_name)
    official_sd = _official_state_dict(ckpt)
    if official_sd is not None:
        from .official import load_official_state_dict

        return load_official_state_dict(path, official_sd, model_name)
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise fail(path, "not a yolov6-edge checkpoint (no 'format': 'yolov6-edge' header)")
    if ckpt.get("format_version") != FORMAT_VERSION:
        raise fail(path, f"checkpoint format_version {ckpt.get('format_version')!r} is not supported "
                         f"(this version reads {FORMAT_VERSION})")
    missing = [k for k in _HEADER if k not in ckpt]
    if missing:
        raise fail(path, f"checkpoint header lacks {', '.join(missing)}")
    check_header(ckpt, path)
    from ..models import build_from_arch, build_model, model_names

    if ckpt["model_name"] in model_names():
        model = build_model(ckpt["model_name"], ckpt["num_classes"])
    elif "arch" in ckpt:
        try:
            model = build_within_file(path, lambda: build_from_arch(ckpt["model_name"], ckpt["arch"],
                                                                     ckpt["num_classes"]))
        except (ValueError, TypeError, KeyError) as e:
            raise fail(path, f"model '{ckpt['model_name']}': {e}") from None
    else:
        raise fail(path, f"unknown model_name '{ckpt['model_name']}' (and no 'arch' to build it from)")
    model.names = list(ckpt["names"])
    if ckpt["fused"]:
        # Fused weights only fit the fused layout: rebuild, fold, then load.
        model.fuse()
    load_state_dict_checked(model, ckpt["state_dict"], path)
    if isinstance(ckpt.get("batchnorm"), dict):
        apply_batchnorm_settings(model, ckpt["batchnorm"])
    info = {k: v for k, v in ckpt.items() if k not in ("state_dict", "batchnorm")}
    return model, info
