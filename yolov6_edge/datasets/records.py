"""Image records shared by every dataset format, and the cached scan that verifies them.

A record is (image path, labels float32 [n, 5] = class, x1, y1, x2, y2 in original pixels, (h, w), image id).
Scanning opens each image once to catch corrupt files; the result is cached and invalidated by a hash of the
file list, sizes and mtimes, so a changed dataset is rescanned. Caches live in the user cache folder
($YOLOV6_EDGE_CACHE, default ~/.cache/yolov6_edge/datasets), never inside the data set: data folders are
often shared or read-only.
"""
import hashlib
import json
import os
import warnings
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from ..atomic import atomic_write_text

CACHE_VERSION = 1


def cache_path(anchor, kind) -> Path:
    """Cache file for the data set identified by `anchor` (a folder or annotations file), one per kind."""
    root = Path(os.environ.get("YOLOV6_EDGE_CACHE", Path.home() / ".cache" / "yolov6_edge")) / "datasets"
    anchor = Path(anchor).resolve()
    key = hashlib.sha256(str(anchor).encode()).hexdigest()[:16]
    return root / f"{anchor.name}.{key}.{kind}.json"


def files_hash(paths) -> str:
    h = hashlib.sha256(str(CACHE_VERSION).encode())
    for p in paths:
        p = Path(p)
        try:
            st = p.stat()
            h.update(f"{p}|{st.st_size}|{st.st_mtime_ns}\n".encode())
        except OSError:
            h.update(f"{p}|missing\n".encode())
    return h.hexdigest()


def report(path, problem, line=None):
    """Skip-and-tell for bad data: one line naming the file (and line), never an exception."""
    where = f"{path}:{line}" if line is not None else f"{path}"
    warnings.warn(f"{where}: {problem} (skipped)", stacklevel=2)
    return where


def image_size(path):
    """(h, w) of a decodable image, or None for missing/corrupt/empty files."""
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None or img.size == 0:
        return None
    return img.shape[:2]


def verify_images(paths, cache_file, desc="scan"):
    """{path: (h, w)} for the good images among paths, reporting bad ones; cached in cache_file."""
    paths = [str(p) for p in paths]
    key = files_hash(paths)
    cache_file = Path(cache_file)
    if cache_file.exists():
        try:
            cached = json.loads(cache_file.read_text())
            if cached.get("hash") == key:
                for bad in cached["bad"]:
                    report(bad, "corrupt or unreadable image")
                return {p: tuple(s) for p, s in cached["sizes"].items()}
        except (ValueError, KeyError):
            pass  # a damaged cache is only a cache: rescan
    sizes, bad = {}, []
    for p in tqdm(paths, desc=desc, leave=False):
        s = image_size(p)
        if s is None:
            report(p, "corrupt or unreadable image")
            bad.append(p)
        else:
            sizes[p] = s
    try:
        atomic_write_text(cache_file, json.dumps({"hash": key, "sizes": sizes, "bad": bad}))
    except OSError:
        pass  # read-only dataset folders still train, only uncached
    return sizes


def clean_boxes(labels, h, w, path):
    """Clip to the image, drop degenerate boxes (reported)."""
    if len(labels) == 0:
        return np.zeros((0, 5), np.float32)
    labels = labels.copy()
    labels[:, [1, 3]] = labels[:, [1, 3]].clip(0, w)
    labels[:, [2, 4]] = labels[:, [2, 4]].clip(0, h)
    keep = (labels[:, 3] - labels[:, 1] > 1) & (labels[:, 4] - labels[:, 2] > 1)
    if not keep.all():
        report(path, f"{int((~keep).sum())} box(es) of zero size after clipping to the image")
    return labels[keep]
