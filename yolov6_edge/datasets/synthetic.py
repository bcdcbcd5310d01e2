"""Synthetic detection dataset: coloured shapes on noisy, textured backgrounds with exact boxes.

Deterministic by seed, so tests and benchmarks can regenerate the same data instead of shipping it.
Writes images/*.jpg (or .png) plus a COCO-format JSON and, optionally, YOLO txt labels beside the images.
"""
import json
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from ..atomic import atomic_path, atomic_write_text

SHAPES = ("circle", "rectangle", "triangle", "cross", "ellipse")
COLOURS = {  # BGR, well apart from each other so colour is learnable at low resolution
    "red": (40, 40, 220), "green": (40, 200, 40), "blue": (220, 80, 30), "yellow": (30, 220, 230),
}


def class_names(shapes=SHAPES) -> list:
    return list(shapes)


def _background(rng, h, w):
    # Low-frequency colour blobs + pixel noise + a few stripes: shapes must be found, not thresholded.
    base = rng.integers(60, 190, size=(max(h // 32, 2), max(w // 32, 2), 3)).astype(np.uint8)
    img = cv2.resize(base, (w, h), interpolation=cv2.INTER_CUBIC)
    for _ in range(rng.integers(0, 4)):
        c = tuple(int(v) for v in rng.integers(50, 200, 3))
        p1 = tuple(int(v) for v in rng.integers(0, [w, h]))
        p2 = tuple(int(v) for v in rng.integers(0, [w, h]))
        cv2.line(img, p1, p2, c, int(rng.integers(1, 4)))
    noise = rng.normal(0, 12, img.shape)
    return np.clip(img.astype(np.float32) + noise, 0, 255).astype(np.uint8)


def _draw(img, shape, colour, box):
    """Draw `shape` filling the integer box (x1, y1, x2, y2); returns the exact tight box drawn."""
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    if shape == "rectangle":
        cv2.rectangle(img, (x1, y1), (x2 - 1, y2 - 1), colour, -1)
    elif shape == "circle":
        r = min(w, h) // 2
        cx, cy = x1 + w // 2, y1 + h // 2
        cv2.circle(img, (cx, cy), r, colour, -1)
        x1, y1, x2, y2 = cx - r, cy - r, cx + r + 1, cy + r + 1
    elif shape == "ellipse":
        cv2.ellipse(img, (x1 + w // 2, y1 + h // 2), (w // 2, h // 2), 0, 0, 360, colour, -1)
    elif shape == "triangle":
        pts = np.array([[x1 + w // 2, y1], [x1, y2 - 1], [x2 - 1, y2 - 1]], np.int32)
        cv2.fillPoly(img, [pts], colour)
    elif shape == "cross":
        t = max(min(w, h) // 4, 2)
        cv2.rectangle(img, (x1, y1 + h // 2 - t // 2), (x2 - 1, y1 + h // 2 + t // 2), colour, -1)
        cv2.rectangle(img, (x1 + w // 2 - t // 2, y1), (x1 + w // 2 + t // 2, y2 - 1), colour, -1)
    return [x1, y1, x2, y2]


def make_image(rng, size=(320, 320), max_objects=6, min_size=24, max_size=120, shapes=SHAPES):
    """One image (HxWx3 uint8 BGR) and its labels [(class_id, x1, y1, x2, y2)], objects not overlapping much."""
    h, w = size
    img = _background(rng, h, w)
    labels = []
    for _ in range(int(rng.integers(1, max_objects + 1))):
        for _try in range(10):
            bw, bh = (int(v) for v in rng.integers(min_size, max_size + 1, 2))
            bw, bh = min(bw, w - 2), min(bh, h - 2)
            x1, y1 = int(rng.integers(0, w - bw)), int(rng.integers(0, h - bh))
            cand = np.array([x1, y1, x1 + bw, y1 + bh], np.float32)
            if all(_iou(cand, np.array(b[1:], np.float32)) < 0.05 for b in labels):
                break
        else:
            continue
        cls = int(rng.integers(0, len(shapes)))
        colour = list(COLOURS.values())[int(rng.integers(0, len(COLOURS)))]
        labels.append((cls, *_draw(img, shapes[cls], colour, [x1, y1, x1 + bw, y1 + bh])))
    return img, labels


def _iou(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / max(union, 1e-9)


def generate(out_dir, num_images=200, size=(320, 320), seed=0, yolo_txt=False, ext=".jpg", **kwargs):
    """Write out_dir/images/*, out_dir/instances.json (COCO) and, if yolo_txt, out_dir/labels/*.txt.

    Returns the path of the JSON. Same seed, same files.
    """
    out_dir = Path(out_dir)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    names = class_names(kwargs.get("shapes", SHAPES))
    images, annotations = [], []
    for i in tqdm(range(num_images), desc=f"synthetic {out_dir.name}", leave=False):
        img, labels = make_image(rng, size, **kwargs)
        fname = f"{i:06d}{ext}"
        with atomic_path(out_dir / "images" / fname) as tmp:
            ok, buf = cv2.imencode(ext, img, [cv2.IMWRITE_JPEG_QUALITY, 95])
            Path(tmp).write_bytes(buf.tobytes())
        images.append({"id": i + 1, "file_name": fname, "height": size[0], "width": size[1]})
        for cls, x1, y1, x2, y2 in labels:
            annotations.append({"id": len(annotations) + 1, "image_id": i + 1, "category_id": cls + 1,
                                "bbox": [x1, y1, x2 - x1, y2 - y1], "area": float((x2 - x1) * (y2 - y1)),
                                "iscrowd": 0})
        if yolo_txt:
            h, w = size
            lines = [f"{c} {(a + b) / 2 / w:.6f} {(d + e) / 2 / h:.6f} {(b - a) / w:.6f} {(e - d) / h:.6f}"
                     for c, a, d, b, e in labels]
            atomic_write_text(out_dir / "labels" / f"{i:06d}.txt", "\n".join(lines) + ("\n" if lines else ""))
    coco = {"images": images, "annotations": annotations,
            "categories": [{"id": k + 1, "name": n} for k, n in enumerate(names)]}
    json_path = out_dir / "instances.json"
    atomic_write_text(json_path, json.dumps(coco))
    return json_path


def generate_splits(root, train=400, val=100, size=(320, 320), seed=0, **kwargs):
    """train/ and val/ splits under root plus a data.yaml; returns the data.yaml path. Skips existing splits."""
    root = Path(root)
    for split, n, s in (("train", train, seed), ("val", val, seed + 10_000)):
        if not (root / split / "instances.json").exists():
            generate(root / split, n, size, s, **kwargs)
    yaml_text = (f"train: {root / 'train' / 'images'}\ntrain_json: {root / 'train' / 'instances.json'}\n"
                 f"val: {root / 'val' / 'images'}\nval_json: {root / 'val' / 'instances.json'}\n"
                 f"names: {json.dumps(class_names(kwargs.get('shapes', SHAPES)))}\n")
    atomic_write_text(root / "data.yaml", yaml_text)
    return root / "data.yaml"
