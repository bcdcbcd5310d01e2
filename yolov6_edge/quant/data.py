"""Calibration images: a folder or a list file -> letterboxed batches, exactly as the runtime feeds them."""
import hashlib
from pathlib import Path

import numpy as np

from ..errors import fail

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


def list_images(source, num=None) -> list:
    """Paths from a folder (sorted) or a text list (one path a line, relative to the list's repo parent).

    List entries are resolved against the folder that holds the repository (calibration/*.txt name paths
    like shared/coco/calib/images/x.jpg), then against the list's own folder.
    """
    source = Path(source)
    if num is not None and (isinstance(num, bool) or not isinstance(num, int) or num < 1):
        raise fail(source, f"the number of calibration images must be a positive integer, got {num!r}")
    if source.is_dir():
        paths = sorted(p for p in source.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not paths:
            raise fail(source, "no images in this calibration folder")
    elif source.exists():
        from ..files import regular_file

        regular_file(source, "image list")
        roots = [Path(__file__).resolve().parents[2].parent, source.parent]
        paths = []
        try:
            text = source.read_text()
        except (OSError, UnicodeDecodeError) as e:
            raise fail(source, f"cannot read the image list ({getattr(e, 'strerror', None) or e})") from None
        for line in text.splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            p = Path(line)
            if not p.is_absolute():
                p = next((r / p for r in roots if (r / p).is_file()), roots[0] / p)
            if not p.is_file():
                raise fail(source, f"listed image not found: {line}")
            paths.append(p)
        if not paths:
            raise fail(source, "the image list is empty")
    else:
        raise fail(source, "no such calibration folder or image list")
    return paths[:num] if num is not None else paths


def images_hash(paths) -> str:
    """Names and sizes of the images: changes when the set changes, cheap for hundreds of files."""
    h = hashlib.sha256()
    for p in paths:
        h.update(f"{Path(p).name}:{Path(p).stat().st_size}\n".encode())
    return h.hexdigest()[:16]


def check_batch(batch, source) -> int:
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise fail(source, f"the calibration batch size must be a positive integer, got {batch!r}")
    return batch


def iter_batches(paths, img_size, batch=8):
    from ..ops import letterbox
    from ..runtime.images import read_image

    check_batch(batch, "batch")
    for i in range(0, len(paths), batch):
        imgs = [read_image(p) for p in paths[i:i + batch]]
        blob, _ = letterbox(imgs, size=tuple(img_size))
        yield np.ascontiguousarray(blob, np.float32)


def num_batches(paths, batch=8) -> int:
    check_batch(batch, "batch")
    return (len(paths) + batch - 1) // batch
