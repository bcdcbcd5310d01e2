"""YOLO txt dataset: images/ with labels/ beside it, one 'class cx cy w h' (normalised) line per object.

Malformed lines are reported as file:line and skipped; the parsed labels are cached with the image scan.
"""
import json
from pathlib import Path

import numpy as np

from ..atomic import atomic_write_text
from ..errors import fail
from .records import cache_path, clean_boxes, files_hash, report, verify_images

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


def label_path(image_path):
    """images/x/a.jpg -> labels/x/a.txt (the last 'images' folder in the path is swapped)."""
    parts = list(Path(image_path).with_suffix(".txt").parts)
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            return Path(*parts)
    return Path(image_path).with_suffix(".txt")


def parse_label_file(path, num_classes=None):
    """float32 [n, 5] (class, cx, cy, w, h normalised); bad lines reported and skipped."""
    rows = []
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        return np.zeros((0, 5), np.float32)  # no label file = background image
    except (OSError, UnicodeDecodeError) as e:
        report(path, f"unreadable label file ({e})")
        return np.zeros((0, 5), np.float32)
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        f = line.split()
        try:
            if len(f) != 5:
                raise ValueError(f"expected 5 fields 'class cx cy w h', got {len(f)}")
            c = float(f[0])
            vals = [float(v) for v in f[1:]]
            if c != int(c) or c < 0 or (num_classes is not None and c >= num_classes):
                raise ValueError(f"class '{f[0]}' is not an index in [0, {num_classes})")
            if not all(np.isfinite(vals)) or min(vals) < 0 or max(vals) > 1.0001 or vals[2] <= 0 or vals[3] <= 0:
                raise ValueError("box values must be normalised to (0, 1]")
        except ValueError as e:
            report(path, str(e), line=n)
            continue
        rows.append([c, *vals])
    return np.array(rows, np.float32).reshape(-1, 5)


def load_yolo_txt(images_dir, names):
    """Return records for every image under images_dir (recursive) with its labels file."""
    images_dir = Path(images_dir)
    if not images_dir.is_dir():
        raise fail(images_dir, "no such images folder")
    paths = sorted(str(p) for p in images_dir.rglob("*") if p.suffix.lower() in IMAGE_EXTS)
    if not paths:
        raise fail(images_dir, "no images found")
    cache_file = cache_path(images_dir, "labels")
    labels_files = [str(label_path(p)) for p in paths]
    key = files_hash(paths + labels_files)
    parsed = None
    if cache_file.exists():
        try:
            c = json.loads(cache_file.read_text())
            if c.get("hash") == key:
                parsed = {p: np.array(v, np.float32).reshape(-1, 5) for p, v in c["labels"].items()}
        except (ValueError, KeyError):
            parsed = None
    if parsed is None:
        parsed = {p: parse_label_file(lp, len(names)) for p, lp in zip(paths, labels_files)}
        try:
            labels = {p: v.tolist() for p, v in parsed.items()}
            atomic_write_text(cache_file, json.dumps({"hash": key, "labels": labels}))
        except OSError:
            pass
    sizes = verify_images(paths, cache_path(images_dir, "scan"), desc=f"scan {images_dir.name}")
    records = []
    for i, p in enumerate(paths):
        if p not in sizes:
            continue
        h, w = sizes[p]
        lab = parsed[p]
        xyxy = np.zeros_like(lab)
        xyxy[:, 0] = lab[:, 0]
        xyxy[:, 1] = (lab[:, 1] - lab[:, 3] / 2) * w
        xyxy[:, 2] = (lab[:, 2] - lab[:, 4] / 2) * h
        xyxy[:, 3] = (lab[:, 1] + lab[:, 3] / 2) * w
        xyxy[:, 4] = (lab[:, 2] + lab[:, 4] / 2) * h
        records.append((p, clean_boxes(xyxy, h, w, p), (h, w), i + 1))
    return records
