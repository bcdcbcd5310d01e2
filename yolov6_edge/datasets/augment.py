"""Per-image augmentation in numpy/OpenCV: letterbox, HSV jitter, random affine, horizontal flip.

Labels are float32 [n, 5] = class, x1, y1, x2, y2 in the pixels of the image they go with.
"""
import math

import cv2
import numpy as np

PAD = 114


def letterbox(img, size, center=True):
    """Resize keeping aspect ratio and pad with 114 to size (h, w); returns (img, scale, (pad_left, pad_top)).

    The same convention as yolov6_edge.ops.letterbox, so training and deployment see the same pixels.
    """
    h0, w0 = img.shape[:2]
    H, W = size
    r = min(H / h0, W / w0)
    nh, nw = int(round(h0 * r)), int(round(w0 * r))
    if (nh, nw) != (h0, w0):
        img = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR)
    left, top = ((W - nw) // 2, (H - nh) // 2) if center else (0, 0)
    out = np.full((H, W, 3), PAD, np.uint8)
    out[top:top + nh, left:left + nw] = img
    return out, r, (left, top)


def augment_hsv(img, rng, hgain=0.015, sgain=0.7, vgain=0.4):
    """Random hue/saturation/value gains through lookup tables (in place on a BGR uint8 image)."""
    if not (hgain or sgain or vgain):
        return img
    r = rng.uniform(-1, 1, 3) * [hgain, sgain, vgain] + 1
    hue, sat, val = cv2.split(cv2.cvtColor(img, cv2.COLOR_BGR2HSV))
    x = np.arange(0, 256, dtype=np.int16)
    lut_h = ((x * r[0]) % 180).astype(np.uint8)
    lut_s = np.clip(x * r[1], 0, 255).astype(np.uint8)
    lut_v = np.clip(x * r[2], 0, 255).astype(np.uint8)
    hsv = cv2.merge((cv2.LUT(hue, lut_h), cv2.LUT(sat, lut_s), cv2.LUT(val, lut_v)))
    cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR, dst=img)
    return img


def random_affine(img, labels, rng, out_size, degrees=0.0, translate=0.1, scale=0.5, shear=0.0,
                  border=(0, 0), min_area_ratio=0.1):
    """Warp img into out_size (h, w) with a random rotation/scale/shear/translation; boxes follow.

    border shifts the centre (mosaic canvases are 2x and cropped back through a negative border).
    Boxes whose area shrinks below min_area_ratio of the warped original are dropped.
    """
    H, W = out_size
    h, w = img.shape[:2]
    C = np.eye(3)
    C[0, 2], C[1, 2] = -w / 2, -h / 2
    R = np.eye(3)
    a = rng.uniform(-degrees, degrees)
    s = rng.uniform(1 - scale, 1 + scale)
    R[:2] = cv2.getRotationMatrix2D((0, 0), a, s)
    S = np.eye(3)
    S[0, 1] = math.tan(math.radians(rng.uniform(-shear, shear)))
    S[1, 0] = math.tan(math.radians(rng.uniform(-shear, shear)))
    T = np.eye(3)
    T[0, 2] = rng.uniform(0.5 - translate, 0.5 + translate) * W - border[1]
    T[1, 2] = rng.uniform(0.5 - translate, 0.5 + translate) * H - border[0]
    M = T @ S @ R @ C
    img = cv2.warpAffine(img, M[:2], (W, H), borderValue=(PAD, PAD, PAD))
    if len(labels):
        labels = transform_boxes(labels, M, W, H, min_area_ratio)
    return img, labels


def transform_boxes(labels, M, W, H, min_area_ratio=0.1):
    """Map the 4 corners of each box through M, take their bounds, clip, and drop boxes that mostly left."""
    n = len(labels)
    xy = np.ones((n * 4, 3))
    xy[:, :2] = labels[:, [1, 2, 3, 4, 1, 4, 3, 2]].reshape(n * 4, 2)
    xy = (xy @ M.T)[:, :2].reshape(n, 8)
    x, y = xy[:, [0, 2, 4, 6]], xy[:, [1, 3, 5, 7]]
    new = np.stack([x.min(1), y.min(1), x.max(1), y.max(1)], 1)
    area_warped = (new[:, 2] - new[:, 0]) * (new[:, 3] - new[:, 1])
    new[:, [0, 2]] = new[:, [0, 2]].clip(0, W)
    new[:, [1, 3]] = new[:, [1, 3]].clip(0, H)
    w, h = new[:, 2] - new[:, 0], new[:, 3] - new[:, 1]
    keep = (w > 2) & (h > 2) & (w * h > min_area_ratio * np.maximum(area_warped, 1e-9))
    out = np.concatenate([labels[:, :1], new], 1).astype(np.float32)
    return out[keep]


def hflip(img, labels):
    img = np.ascontiguousarray(img[:, ::-1])
    if len(labels):
        labels = labels.copy()
        w = img.shape[1]
        labels[:, [1, 3]] = w - labels[:, [3, 1]]
    return img, labels
