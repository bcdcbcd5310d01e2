"""Read and validate input images; expand folders and globs into image lists.

Every problem is a one-line Yolov6EdgeError naming the file. Conversions that are not errors (documented):
grayscale -> 3 channels, BGRA -> BGR (alpha dropped), 16-bit -> 8-bit (top byte kept); the EXIF orientation of
a photo is applied (as cv2.imread does).

Corrupt data that the decoder gets past: OpenCV decodes a damaged JPEG (a cut-off scan, garbled bytes) into an
image with grey or smeared blocks and only prints libjpeg's "Corrupt JPEG data" on stderr. We capture what the
decoders print while decoding and make such a file an error naming it (default), or, with
`YOLOV6_EDGE_CORRUPT_IMAGES=warn` or `read_image(path, corrupt="warn")`, a Python warning naming it, the image
being used as decoded. Capturing means redirecting file descriptor 2 for the duration of one decode, so decodes
in one process take turns (a lock) and another thread's stderr output in that window is printed afterwards.
"""
import contextlib
import glob
import os
import sys
import tempfile
import threading
import warnings
from pathlib import Path

import cv2
import numpy as np

from ..errors import fail
from ..files import regular_file

CORRUPT_MODES = ("error", "warn")
# libjpeg warnings that mean the decoded pixels are not the file's picture (others, such as "Invalid SOS
# parameters for sequential JPEG", are harmless and passed on to stderr).
CORRUPT_MARKERS = ("Corrupt JPEG data", "Premature end of JPEG file", "JPEG datastream contains no image")
_decode_lock = threading.Lock()

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
# Any depth and channel count (16-bit kept for to_bgr8; alpha dropped), and the EXIF orientation applied, as
# cv2.imread does by default: a phone photo comes out the way it is shown. (IMREAD_UNCHANGED ignores the
# orientation: photos came out sideways, their boxes in the stored picture.)
DECODE_FLAGS = cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR
# Encoded image files larger than this are refused before they are read (OpenCV itself refuses images of more
# than 2^30 pixels once decoded).
MAX_IMAGE_BYTES = 1 << 30
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


def corrupt_mode(corrupt=None) -> str:
    mode = corrupt or os.environ.get("YOLOV6_EDGE_CORRUPT_IMAGES", "error")
    if mode not in CORRUPT_MODES:
        raise fail("YOLOV6_EDGE_CORRUPT_IMAGES" if corrupt is None else "corrupt",
                   f"must be one of {', '.join(CORRUPT_MODES)}, got {mode!r}")
    return mode


@contextlib.contextmanager
def _stderr_captured():
    """Yield a list that receives what native code wrote to file descriptor 2 meanwhile."""
    lines = []
    with _decode_lock:
        try:
            sys.stderr.flush()
            saved = os.dup(2)
        except (OSError, ValueError, AttributeError):  # no usable fd 2: decode without capturing
            yield lines
            return
        with tempfile.TemporaryFile() as sink:
            os.dup2(sink.fileno(), 2)
            try:
                yield lines
            finally:
                os.dup2(saved, 2)
                os.close(saved)
                sink.seek(0)
                lines.extend(ln.strip() for ln in sink.read().decode(errors="replace").splitlines() if ln.strip())


def decode(data: bytes, name, corrupt=None) -> np.ndarray:
    """Encoded image bytes -> the decoded array (any depth/channels), or a one-line error naming `name`."""
    with _stderr_captured() as printed:
        img = cv2.imdecode(np.frombuffer(data, np.uint8), DECODE_FLAGS)
    damaged = [ln for ln in printed if any(m in ln for m in CORRUPT_MARKERS)]
    other = [ln for ln in printed if ln not in damaged]
    if img is None or img.size == 0:
        said = f" (OpenCV: {_short(printed[-1])})" if printed else ""
        raise fail(name, f"not an image or corrupt (OpenCV cannot decode it){said}")
    if other:
        print("\n".join(other), file=sys.stderr)
    if damaged:
        problem = f"corrupt image data ({_short(damaged[0])}{'; ...' if len(damaged) > 1 else ''})"
        if corrupt_mode(corrupt) == "error":
            raise fail(name, problem + "; set YOLOV6_EDGE_CORRUPT_IMAGES=warn to use such files as decoded")
        warnings.warn(f"{name}: {problem}; used as decoded", stacklevel=3)
    return img


def _short(line: str, limit: int = 160) -> str:
    return line if len(line) <= limit else line[:limit] + "..."


def read_image(path, corrupt=None) -> np.ndarray:
    """Read an image file as HxWx3 uint8 BGR, or raise a one-line error naming it.

    corrupt: "error" or "warn" for files the decoder reports damaged but decodes anyway (default: the
    YOLOV6_EDGE_CORRUPT_IMAGES environment variable, else "error").
    """
    path = Path(path)
    return image_from_bytes(read_bytes(path), path, corrupt)


def read_bytes(path) -> bytes:
    """An image file's bytes, undecoded (what a client sends to a server), or a one-line error naming it."""
    path = Path(path)
    if not path.exists():
        raise fail(path, "no such file")
    if path.is_dir():
        raise fail(path, "is a folder, not an image")
    regular_file(path, "image")  # a fifo would block the read, /dev/zero exhaust memory
    size = path.stat().st_size
    if size > MAX_IMAGE_BYTES:
        raise fail(path, f"is {size / 2**30:.1f} GiB; an encoded image above {MAX_IMAGE_BYTES // 2**30} GiB "
                         "is not read")
    try:
        return path.read_bytes()
    except OSError as e:
        raise fail(path, f"cannot read file ({e.strerror or e})") from None


def image_from_bytes(data: bytes, name, corrupt=None) -> np.ndarray:
    """Encoded image bytes (a file's content, a JPEG from a camera or a request) -> HxWx3 uint8 BGR, with the
    same checks and conversions as read_image, or a one-line error naming `name`."""
    if not data:
        raise fail(name, "file is empty (zero bytes)" if isinstance(name, Path) else "no image data (zero bytes)")
    img = decode(data, name, corrupt)
    if _looks_truncated_jpeg(data):
        problem = "corrupt JPEG: the file is truncated (no end-of-image marker)"
        if corrupt_mode(corrupt) == "error":
            raise fail(name, problem)
        warnings.warn(f"{name}: {problem}; used as decoded", stacklevel=2)
    return to_bgr8(img, name)


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
