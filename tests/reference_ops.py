"""Independent references for the native ops, written with plain OpenCV and numpy (no shared code with csrc/).

letterbox_reference: cv2.resize (INTER_LINEAR) + cv2.copyMakeBorder + cv2.cvtColor + /255 + transpose.
nms_reference: candidate selection and greedy NMS per class in numpy, merged and sorted afterwards.
"""
import cv2
import numpy as np


def letterbox_geometry_reference(h, w, out_h, out_w, center=True):
    r = min(out_h / h, out_w / w)
    new_w = min(max(int(round(w * r)), 1), out_w)
    new_h = min(max(int(round(h * r)), 1), out_h)
    # Python's round() is banker's rounding; the documented rule is round-half-away-from-zero (C lround).
    if abs(w * r - int(w * r) - 0.5) < 1e-12:
        new_w = min(int(w * r) + 1, out_w)
    if abs(h * r - int(h * r) - 0.5) < 1e-12:
        new_h = min(int(h * r) + 1, out_h)
    left = (out_w - new_w) // 2 if center else 0
    top = (out_h - new_h) // 2 if center else 0
    return r, new_w, new_h, left, top


def letterbox_reference(img, size, center=True):
    """One BGR uint8 image -> float32 [3, H, W] RGB /255 and (scale, pad_left, pad_top)."""
    out_h, out_w = size
    h, w = img.shape[:2]
    r, new_w, new_h, left, top = letterbox_geometry_reference(h, w, out_h, out_w, center)
    resized = img if (new_w, new_h) == (w, h) else cv2.resize(img, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    padded = cv2.copyMakeBorder(resized, top, out_h - new_h - top, left, out_w - new_w - left,
                                cv2.BORDER_CONSTANT, value=(114, 114, 114))
    rgb = cv2.cvtColor(padded, cv2.COLOR_BGR2RGB)
    return (rgb.astype(np.float32) / 255.0).transpose(2, 0, 1), (r, float(left), float(top))


def _iou_one_to_many(box, others):
    box = box.astype(np.float64)
    others = others.astype(np.float64)
    iw = np.maximum(0.0, np.minimum(box[2], others[:, 2]) - np.maximum(box[0], others[:, 0]))
    ih = np.maximum(0.0, np.minimum(box[3], others[:, 3]) - np.maximum(box[1], others[:, 1]))
    inter = iw * ih
    area_a = max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1])
    area_b = np.maximum(0.0, others[:, 2] - others[:, 0]) * np.maximum(0.0, others[:, 3] - others[:, 1])
    union = area_a + area_b - inter
    out = np.zeros_like(inter)
    np.divide(inter, union, out=out, where=union > 0)
    return out


def nms_reference(boxes, scores, conf_thres=0.25, iou_thres=0.45, max_det=300, multi_label=False, agnostic=False,
                  max_candidates=30000):
    """One image: boxes [N, 4], scores [N, C] -> float32 [K, 6], following the rules in csrc/include/.../nms.h."""
    n, c = scores.shape
    if n == 0 or c == 0 or max_det == 0:
        return np.zeros((0, 6), np.float32)
    finite = np.isfinite(boxes).all(1)
    if multi_label:
        with np.errstate(invalid="ignore"):
            i, j = np.nonzero((scores > conf_thres) & finite[:, None])
        s = scores[i, j]
    else:
        filled = np.where(np.isnan(scores), -np.inf, scores)
        j = filled.argmax(1)  # first maximum on ties
        s = filled[np.arange(n), j]
        all_nan = np.isnan(scores).all(1)
        keep = (s > conf_thres) & finite & ~all_nan
        i, j, s = np.nonzero(keep)[0], j[keep], s[keep]
    key = i.astype(np.int64) * c + j
    order = np.lexsort((key, -s.astype(np.float64)))[:max_candidates]
    i, j, s, key = i[order], j[order], s[order], key[order]

    kept = []
    groups = [np.arange(len(i))] if agnostic else [np.nonzero(j == k)[0] for k in np.unique(j)]
    for g in groups:
        alive = np.ones(len(g), bool)
        for a in range(len(g)):
            if not alive[a]:
                continue
            kept.append(g[a])
            rest = np.arange(a + 1, len(g))
            rest = rest[alive[rest]]
            if len(rest):
                alive[rest[_iou_one_to_many(boxes[i[g[a]]], boxes[i[g[rest]]]) > iou_thres]] = False
    kept = np.array(sorted(kept), dtype=np.int64)[:max_det]  # candidates are already in output order
    out = np.zeros((len(kept), 6), np.float32)
    if len(kept):
        out[:, :4] = boxes[i[kept]]
        out[:, 4] = s[kept]
        out[:, 5] = j[kept]
    return out
