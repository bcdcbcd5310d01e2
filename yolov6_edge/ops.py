"""Native pre- and post-processing: letterbox, batched NMS and box decoding (thin wrappers over yolov6_edge._C).

No torch here: the runtime path imports this module. CPU functions take and return numpy arrays; the
`*_cuda` functions take objects with `__cuda_array_interface__` (CuPy arrays, torch CUDA tensors, ...)
and write into caller-given device buffers. Semantics (geometry rounding, NaN/inf handling, tie order) are
documented in csrc/include/yolov6_edge/letterbox.h and nms.h.
"""
import operator

import numpy as np

from . import _C

__all__ = ["letterbox", "batched_nms", "decode_boxes", "cuda_available", "letterbox_cuda", "batched_nms_cuda",
           "decode_boxes_cuda"]


def cuda_available() -> bool:
    """True when the module was built with CUDA and a GPU is usable now."""
    return bool(_C.cuda_available())


def _as_list(images):
    if isinstance(images, np.ndarray) and images.ndim == 3:
        return [images]
    if isinstance(images, np.ndarray) and images.ndim == 4:
        return list(images)
    if isinstance(images, (list, tuple)):
        return [np.asarray(im) for im in images]
    raise ValueError(f"letterbox: expected an HxWx3 uint8 array or a list of them, got {type(images).__name__}")


INT32_MAX = 2**31 - 1
# More workers than this never help these ops; the native loop also falls back to fewer when threads fail to start.
MAX_THREADS = 256


def _integer(value, what: str) -> int:
    """An integer argument, or a ValueError naming it (floats, strings and None are refused, not truncated)."""
    if isinstance(value, bool):
        raise ValueError(f"{what} must be an integer, got {value!r}")
    try:
        return operator.index(value)
    except TypeError:
        raise ValueError(f"{what} must be an integer, got {type(value).__name__} {value!r}") from None


def _count(value, what: str) -> int:
    """A count the native side keeps in an int32: values past 2^31 - 1 mean 'no limit' and are clamped."""
    return min(_integer(value, what), INT32_MAX)


def _threads(value) -> int:
    return max(0, min(_integer(value, "threads"), MAX_THREADS))


def _size(size):
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        size = (size, size)
    if not isinstance(size, (tuple, list, np.ndarray)) or len(size) != 2:
        raise ValueError(f"letterbox: size must be an int or (H, W), got {size!r}")
    h, w = (_integer(v, "letterbox: size") for v in size)
    if not (1 <= h <= INT32_MAX and 1 <= w <= INT32_MAX):
        raise ValueError(f"letterbox: size must be positive, got ({h}, {w})")
    return h, w


def _half(dtype) -> bool:
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float16):
        raise ValueError(f"letterbox: dtype must be float32 or float16, got {dtype}")
    return dtype == np.float16


def letterbox(images, size=(640, 640), center=True, dtype=np.float32, threads=0):
    """BGR uint8 image(s) -> (blob [B, 3, H, W] RGB /255, params [B, 3] = (scale, pad_left, pad_top)).

    Boxes map back to an original image as (x - pad_left) / scale, (y - pad_top) / scale.
    """
    h, w = _size(size)
    return _C.letterbox(_as_list(images), h, w, bool(center), _half(dtype), _threads(threads))


def batched_nms(boxes, scores, conf_thres=0.25, iou_thres=0.45, max_det=300, multi_label=False, agnostic=False,
                max_candidates=30000, threads=0):
    """boxes [B, N, 4] xyxy + scores [B, N, C] -> list of B float32 arrays [K, 6] (x1, y1, x2, y2, score, class).

    2-D inputs ([N, 4], [N, C]) are taken as a batch of one. max_det and max_candidates above 2^31 - 1 mean
    no limit. Bad shapes or arguments raise ValueError.
    """
    boxes = _float32(boxes, "boxes")
    scores = _float32(scores, "scores")
    if boxes.ndim == 2 and scores.ndim == 2:
        boxes, scores = boxes[None], scores[None]
    return _C.batched_nms(boxes, scores, _threshold(conf_thres, "conf_thres"), _threshold(iou_thres, "iou_thres"),
                          _count(max_det, "max_det"), bool(multi_label), bool(agnostic),
                          _count(max_candidates, "max_candidates"), _threads(threads))


def _float32(a, what: str) -> np.ndarray:
    try:
        return np.ascontiguousarray(a, dtype=np.float32)
    except (TypeError, ValueError) as e:
        raise ValueError(f"batched_nms: {what} is not a float array ({e})") from None


def _threshold(value, what: str) -> float:
    if isinstance(value, (str, bytes)) or value is None:
        raise ValueError(f"batched_nms: {what} must be a number, got {value!r}")
    return float(value)


def decode_boxes(reg, anchor_points, strides, reg_max=0):
    """ltrb distances (stride units) or DFL logits [B, N, 4*(reg_max+1)] + anchors [N, 2] (pixels) -> xyxy."""
    reg = np.ascontiguousarray(reg, dtype=np.float32)
    anchors = np.ascontiguousarray(anchor_points, dtype=np.float32)
    strides = np.ascontiguousarray(np.reshape(strides, -1), dtype=np.float32)
    reg_max = _integer(reg_max, "decode_boxes: reg_max")
    if not 0 <= reg_max < 2**16:
        raise ValueError(f"decode_boxes: reg_max must lie in [0, 65536), got {reg_max}")
    return _C.decode_boxes(reg, anchors, strides, reg_max)


# ---- CUDA ----------------------------------------------------------------------------------------------------

def _cai(obj, name, dtype, ndim=None):
    """(device pointer, shape, strides in bytes) of a __cuda_array_interface__ object, with checks."""
    cai = getattr(obj, "__cuda_array_interface__", None)
    if cai is None:
        raise ValueError(f"{name}: expected a CUDA array (an object with __cuda_array_interface__), "
                         f"got {type(obj).__name__}")
    got = np.dtype(cai["typestr"])
    if got != np.dtype(dtype):
        raise ValueError(f"{name}: dtype {got}, expected {np.dtype(dtype)}")
    shape = tuple(cai["shape"])
    if ndim is not None and len(shape) != ndim:
        raise ValueError(f"{name}: shape {shape}, expected {ndim} dimensions")
    item = got.itemsize
    strides = cai.get("strides")
    if strides is None:  # C-contiguous
        strides, acc = [], item
        for d in reversed(shape):
            strides.insert(0, acc)
            acc *= d
    return int(cai["data"][0]), shape, tuple(strides)


def _contiguous(name, shape, strides, item):
    acc = item
    for d, s in zip(reversed(shape), reversed(strides)):
        if d > 1 and s != acc:
            raise ValueError(f"{name}: must be C-contiguous, got strides {strides} for shape {shape}")
        acc *= d


def _stream(stream) -> int:
    if stream is None:
        return 0
    return int(getattr(stream, "cuda_stream", getattr(stream, "ptr", stream)))


def letterbox_cuda(images, out, center=True, stream=None):
    """Device uint8 HxWx3 BGR image(s) -> `out`, a device float32/float16 [B, 3, H, W] buffer; returns params.

    One kernel for the whole batch; asynchronous on `stream` (an int handle or an object with
    `.cuda_stream`/`.ptr`).
    """
    imgs = images if isinstance(images, (list, tuple)) else [images]
    ptrs, shapes = [], []
    for i, im in enumerate(imgs):
        p, shape, strides = _cai(im, f"letterbox_cuda: image {i}", np.uint8, 3)
        if shape[2] != 3 or strides[2] != 1 or strides[1] != 3:
            raise ValueError(f"letterbox_cuda: image {i} must be packed HxWx3, got shape {shape} strides {strides}")
        ptrs.append(p)
        shapes.append((shape[0], shape[1], strides[0]))
    out_cai = getattr(out, "__cuda_array_interface__", None)
    if out_cai is None:
        raise ValueError("letterbox_cuda: out must be a CUDA array")
    half = np.dtype(out_cai["typestr"]) == np.float16
    p, shape, strides = _cai(out, "letterbox_cuda: out", np.float16 if half else np.float32, 4)
    _contiguous("letterbox_cuda: out", shape, strides, 2 if half else 4)
    if shape[0] != len(ptrs) or shape[1] != 3:
        raise ValueError(f"letterbox_cuda: out has shape {shape}, expected ({len(ptrs)}, 3, H, W)")
    return _C.letterbox_cuda(ptrs, shapes, p, shape[2], shape[3], bool(center), half, _stream(stream))


def batched_nms_cuda(boxes, scores, out, counts, conf_thres=0.25, iou_thres=0.45, multi_label=False, agnostic=False,
                     max_candidates=30000, stream=None):
    """Device boxes [B, N, 4] and scores [B, N, C] (float32) -> device `out` [B, max_det, 6] float32 and
    `counts` [B] int32 (max_det is out.shape[1]). Nothing is copied to the host."""
    bp, bshape, bstr = _cai(boxes, "batched_nms_cuda: boxes", np.float32, 3)
    sp, sshape, sstr = _cai(scores, "batched_nms_cuda: scores", np.float32, 3)
    op, oshape, ostr = _cai(out, "batched_nms_cuda: out", np.float32, 3)
    cp, cshape, cstr = _cai(counts, "batched_nms_cuda: counts", np.int32, 1)
    for name, shape, strides, item in (("boxes", bshape, bstr, 4), ("scores", sshape, sstr, 4),
                                       ("out", oshape, ostr, 4), ("counts", cshape, cstr, 4)):
        _contiguous(f"batched_nms_cuda: {name}", shape, strides, item)
    b, n, c = sshape
    if bshape != (b, n, 4) or oshape[0] != b or oshape[2] != 6 or cshape != (b,):
        raise ValueError(f"batched_nms_cuda: shapes disagree: boxes {bshape}, scores {sshape}, out {oshape}, "
                         f"counts {cshape}; expected (B, N, 4), (B, N, C), (B, max_det, 6), (B,)")
    _C.batched_nms_cuda(bp, sp, b, n, c, float(conf_thres), float(iou_thres), oshape[1], bool(multi_label),
                        bool(agnostic), int(max_candidates), op, cp, _stream(stream))


def decode_boxes_cuda(reg, anchor_points, strides, out, reg_max=0, stream=None):
    """Device version of decode_boxes: writes xyxy boxes into the device buffer `out` [B, N, 4]."""
    rp, rshape, rstr = _cai(reg, "decode_boxes_cuda: reg", np.float32, 3)
    ap, ashape, astr = _cai(anchor_points, "decode_boxes_cuda: anchor_points", np.float32, 2)
    sp, sshape, sstr = _cai(strides, "decode_boxes_cuda: strides", np.float32)
    op, oshape, ostr = _cai(out, "decode_boxes_cuda: out", np.float32, 3)
    for name, shape, st in (("reg", rshape, rstr), ("anchor_points", ashape, astr), ("strides", sshape, sstr),
                            ("out", oshape, ostr)):
        _contiguous(f"decode_boxes_cuda: {name}", shape, st, 4)
    b, n, width = rshape
    if width != (4 * (reg_max + 1) if reg_max > 0 else 4) or ashape != (n, 2) or int(np.prod(sshape)) != n \
            or oshape != (b, n, 4):
        raise ValueError(f"decode_boxes_cuda: shapes disagree: reg {rshape}, anchors {ashape}, strides {sshape}, "
                         f"out {oshape} (reg_max={reg_max})")
    _C.decode_boxes_cuda(rp, ap, sp, b, n, int(reg_max), op, _stream(stream))
