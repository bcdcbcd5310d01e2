"""Mosaic (4 images on a 2x canvas, then one random affine back to the training size) and mixup."""
import numpy as np

from .augment import PAD, random_affine


def mosaic4(images_labels, size, rng, **affine):
    """images_labels: 4 (img, labels) already resized so the longer side fits size; returns (img, labels)."""
    H, W = size
    yc = int(rng.uniform(H * 0.5, H * 1.5))
    xc = int(rng.uniform(W * 0.5, W * 1.5))
    canvas = np.full((H * 2, W * 2, 3), PAD, np.uint8)
    out = []
    for i, (img, lab) in enumerate(images_labels):
        h, w = img.shape[:2]
        # each image touches the mosaic centre from its own quadrant
        if i == 0:
            x1a, y1a, x2a, y2a = max(xc - w, 0), max(yc - h, 0), xc, yc
            x1b, y1b = w - (x2a - x1a), h - (y2a - y1a)
        elif i == 1:
            x1a, y1a, x2a, y2a = xc, max(yc - h, 0), min(xc + w, W * 2), yc
            x1b, y1b = 0, h - (y2a - y1a)
        elif i == 2:
            x1a, y1a, x2a, y2a = max(xc - w, 0), yc, xc, min(H * 2, yc + h)
            x1b, y1b = w - (x2a - x1a), 0
        else:
            x1a, y1a, x2a, y2a = xc, yc, min(xc + w, W * 2), min(H * 2, yc + h)
            x1b, y1b = 0, 0
        canvas[y1a:y2a, x1a:x2a] = img[y1b:y1b + (y2a - y1a), x1b:x1b + (x2a - x1a)]
        if len(lab):
            lab = lab.copy()
            lab[:, [1, 3]] += x1a - x1b
            lab[:, [2, 4]] += y1a - y1b
            out.append(lab)
    labels = np.concatenate(out, 0) if out else np.zeros((0, 5), np.float32)
    labels[:, [1, 3]] = labels[:, [1, 3]].clip(0, 2 * W)
    labels[:, [2, 4]] = labels[:, [2, 4]].clip(0, 2 * H)
    # the affine maps the 2x canvas back to (H, W): border = -half the size
    return random_affine(canvas, labels, rng, size, border=(-H // 2, -W // 2), **affine)


def mixup(a, b, rng):
    """Blend two (img, labels) samples with a Beta(32, 32) ratio; keep both label sets."""
    r = rng.beta(32.0, 32.0)
    img = (a[0].astype(np.float32) * r + b[0].astype(np.float32) * (1 - r)).astype(np.uint8)
    return img, np.concatenate([a[1], b[1]], 0)
