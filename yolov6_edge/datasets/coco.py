"""COCO JSON detection dataset: images folder + instances.json; class names from its categories."""
import json
from pathlib import Path

import numpy as np

from ..errors import fail
from .records import cache_path, clean_boxes, report, verify_images


def load_coco(images_dir, annotations_json):
    """Return (records, names, category_ids); crowd regions are not training targets and are left out.

    category_ids[k] is the COCO category id of class k (contiguous indices for training, original ids for
    writing results back).
    """
    images_dir, annotations_json = Path(images_dir), Path(annotations_json)
    if not annotations_json.exists():
        raise fail(annotations_json, "no such annotations file")
    if not images_dir.is_dir():
        raise fail(images_dir, "no such images folder")
    try:
        coco = json.loads(annotations_json.read_text())
        cats = sorted(coco["categories"], key=lambda c: c["id"])
        imgs = coco["images"]
    except (ValueError, KeyError, TypeError) as e:
        raise fail(annotations_json, f"not a COCO instances file ({e})")
    cat_index = {c["id"]: k for k, c in enumerate(cats)}
    per_image = {im["id"]: [] for im in imgs}
    for n, a in enumerate(coco.get("annotations", [])):
        try:
            if a.get("iscrowd", 0):
                continue
            x, y, w, h = (float(v) for v in a["bbox"])
            k = cat_index[a["category_id"]]
            if w <= 0 or h <= 0:
                raise ValueError(f"non-positive box size {w}x{h}")
            per_image[a["image_id"]].append((k, x, y, x + w, y + h))
        except (KeyError, ValueError, TypeError) as e:
            report(annotations_json, f"annotation #{n} (id {a.get('id') if isinstance(a, dict) else '?'}) "
                                     f"malformed: {e}")
    paths = [str(images_dir / im["file_name"]) for im in imgs]
    sizes = verify_images(paths, cache_path(annotations_json, "scan"), desc=f"scan {images_dir.name}")
    records = []
    for im, p in zip(imgs, paths):
        if p not in sizes:
            continue
        h, w = sizes[p]
        labels = np.array(per_image[im["id"]], np.float32).reshape(-1, 5)
        records.append((p, clean_boxes(labels, h, w, p), (h, w), im["id"]))
    names = [c["name"] for c in cats]
    return records, names, [c["id"] for c in cats]
