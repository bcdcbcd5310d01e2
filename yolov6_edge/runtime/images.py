"""Read and validate input images; expand folders and globs into image lists.

Every problem is a one-line Yolov6EdgeError naming the file. Conversions that are not errors (documented):
grayscale -> 3 channels, BGRA -> BGR (alpha dropped), 16-bit -> 8-bit (top byte kept).
"""
import glob
from pathlib import Path

import cv2
import numpy as np

from ..errors import fail

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
# A JPEG ends with the EOI marker; camera files may carry a few trailing bytes after it, so look near the end.
JPEG_TAIL = 4096


def _looks_truncated_jpeg(data: bytes) -> bool:
    # OpenCV decodes a truncated JPEG with a warning and grey rows instead of failing; catch it here.
    return data[:2] == b"\xff\xd8" and b"\xff\xd9" not in data[-JPEG_TAIL:]


def to_bgr8(img: np.ndarray, name) -> np.ndarray:
    """Bring a decoded image to HxWx3 uint8 BGR (gray, BGRA and 16-bit are converted)."""
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    elif img.dtype != np.uint8:
        raise fail(name, f"unsupported pixel type {img.dtype} (expected 8- or 16-bit)")
    if img.ndim == 2 or (img.ndim == 3 and img.shape[2] == 1):
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    elif img.ndim == 3 and img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
    if img.ndim != 3 or img.shape[2] != 3:
        raise fail(name, f"unsupported image layout {img.shape}")
    return img


def read_image(path) -> np.ndarray:
    """Read an image file as HxWx3 uint8 BGR, or raise a one-line error naming it."""
    path = Path(path)
    if not path.exists():
        raise fail(path, "no such file")
    if path.is_dir():
        raise fail(path, "is a folder, not an image")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise fail(path, f"cannot read file ({e.strerror or e})") from None
    if not data:
        raise fail(path, "file is empty (zero bytes)")
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if img is None or img.size == 0:
        raise fail(path, "not an image or corrupt (OpenCV cannot decode it)")
    if _looks_truncated_jpeg(data):
        raise fail(path, "corrupt JPEG: the file is truncated (no end-of-image marker)")
    return to_bgr8(img, path)


def check_array(img, name="image array") -> np.ndarray:
    """Validate an image passed as an array: HxWx3 uint8 BGR, non-empty. Returns it contiguous."""
    if not isinstance(img, np.ndarray):
        raise fail(name, f"expected a numpy array or an image path, got {type(img).__name__}")
    if img.size == 0:
        raise fail(name, f"image is empty (shape {img.shape})")
    if img.dtype != np.uint8:
        raise fail(name, f"dtype is {img.dtype}, expected uint8 (BGR 0..255)")
    if img.ndim != 3 or img.shape[2] != 3:
        raise fail(name, f"shape is {img.shape}, expected HxWx3 BGR (use cv2.cvtColor for gray or BGRA)")
    return np.ascontiguousarray(img)


def load(item, index: int = 0):
    """(image, name) for a path or an array."""
    if isinstance(item, (str, Path)):
        return read_image(item), str(item)
    name = f"image array #{index}"
    return check_array(item, name), name


def expand_sources(sources) -> list:
    """Image files from paths, folders (their images, sorted) and glob patterns, in the order given."""
    files = []
    for src in sources:
        text = str(src)
        if any(c in text for c in "*?["):
            matches = sorted(p for p in glob.glob(text, recursive=True) if Path(p).suffix.lower() in IMAGE_SUFFIXES)
            if not matches:
                raise fail(text, "the pattern matches no image files")
            files.extend(Path(p) for p in matches)
            continue
        p = Path(src)
        if p.is_dir():
            found = sorted(q for q in p.iterdir() if q.is_file() and q.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise fail(p, f"no image files ({', '.join(IMAGE_SUFFIXES)}) in this folder")
            files.extend(found)
        elif p.exists():
            files.append(p)
        else:
            raise fail(p, "no such file or folder")
    return files
