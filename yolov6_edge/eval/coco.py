"""COCO box mAP of any backend on a COCO-format folder (images + instances JSON), scored by pycocotools."""
import contextlib
import io
import json
import math
import time
from collections import Counter
from pathlib import Path

from tqdm import tqdm

from ..atomic import atomic_write_text, check_writable
from ..errors import fail

STAT_NAMES = ("AP", "AP50", "AP75", "APs", "APm", "APl")


def load_annotations(path):
    """pycocotools COCO object for `path`, with a one-line error for a missing or malformed file."""
    from pycocotools.coco import COCO

    path = Path(path)
    if not path.is_file():
        raise fail(path, "no such annotation file")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise fail(path, f"not valid JSON ({e})") from None
    check_instances(data, path)
    coco = COCO()
    coco.dataset = data
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress lines of its own
        coco.createIndex()
    return coco


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _ids(entries, key, path, what) -> list:
    ids = []
    for i, e in enumerate(entries):
        if not isinstance(e, dict) or not isinstance(e.get("id"), int) or isinstance(e.get("id"), bool):
            raise fail(path, f"{key}[{i}] has no integer 'id'")
        ids.append(e["id"])
    dup = [x for x, n in Counter(ids).items() if n > 1]
    if dup:
        raise fail(path, f"{what} id {dup[0]} appears more than once in '{key}'")
    return ids


def check_instances(data, path) -> None:
    """Refuse a COCO instances file that pycocotools would crash on or score meaninglessly (AP 0 or -100).

    Filled in where the meaning is clear, not refused: an annotation's missing 'area' (the box area), 'iscrowd'
    (0) and missing or repeated annotation 'id's (numbered 1..N; nothing refers to them).
    """
    if not isinstance(data, dict):
        raise fail(path, "not a COCO instances file: the top level is not an object")
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            raise fail(path, f"not a COCO instances file: no '{key}' list")
        if not data[key]:
            raise fail(path, f"'{key}' is empty: there is nothing to evaluate against")
    image_ids = set(_ids(data["images"], "images", path, "image"))
    cat_ids = set(_ids(data["categories"], "categories", path, "category"))
    for i, img in enumerate(data["images"]):
        if not isinstance(img.get("file_name"), str) or not img["file_name"]:
            raise fail(path, f"images[{i}] (id {img['id']}) has no 'file_name'")
    for i, c in enumerate(data["categories"]):
        if not isinstance(c.get("name"), str):
            raise fail(path, f"categories[{i}] (id {c['id']}) has no 'name'")
    ann_ids = [a.get("id") if isinstance(a, dict) else None for a in data["annotations"]]
    renumber = (not all(isinstance(x, int) and not isinstance(x, bool) for x in ann_ids)
                or len(set(ann_ids)) != len(ann_ids))
    for i, a in enumerate(data["annotations"]):
        if not isinstance(a, dict):
            raise fail(path, f"annotations[{i}] is not an object")
        box = a.get("bbox")
        if not (isinstance(box, list) and len(box) == 4 and all(_number(v) for v in box)):
            raise fail(path, f"annotations[{i}] has no 'bbox' [x, y, w, h] of 4 finite numbers (got {box!r:.60})")
        if box[2] < 0 or box[3] < 0:
            raise fail(path, f"annotations[{i}] 'bbox' {box} has a negative width or height")
        for key, known in (("image_id", image_ids), ("category_id", cat_ids)):
            if not isinstance(a.get(key), int) or a[key] not in known:
                raise fail(path, f"annotations[{i}] refers to {key} {str(a.get(key))[:40]!r}, which "
                                 f"'{'images' if key == 'image_id' else 'categories'}' lacks")
        if not _number(a.get("area")):
            a["area"] = float(box[2] * box[3])
        a.setdefault("iscrowd", 0)
        if a["iscrowd"] not in (0, 1):
            raise fail(path, f"annotations[{i}] has iscrowd {str(a['iscrowd'])[:40]!r}; expected 0 or 1")
        if renumber:
            a["id"] = i + 1


def category_map(names, coco, ann_path) -> list:
    """Our class index -> annotation category id.

    COCO-trained models (the 80 COCO names) use the official id list; other models are matched by name, and
    failing that by position in the id-sorted category list when the counts agree.
    """
    from ..datasets.coco_names import COCO_CATEGORY_IDS, COCO_NAMES

    cats = sorted(coco.dataset["categories"], key=lambda c: c["id"])
    if list(names) == list(COCO_NAMES):
        return list(COCO_CATEGORY_IDS)
    by_name = {c["name"]: c["id"] for c in cats}
    if all(n in by_name for n in names):
        return [by_name[n] for n in names]
    if len(cats) == len(names):
        return [c["id"] for c in cats]
    raise fail(ann_path, f"cannot match the model's {len(names)} classes to the file's {len(cats)} categories")


def to_coco_results(dets, image_id: int, cat_ids) -> list:
    """Detections (original pixels) -> COCO result dicts with [x, y, w, h] boxes."""
    out = []
    for (x1, y1, x2, y2), s, c in zip(dets.boxes.tolist(), dets.scores.tolist(), dets.class_ids.tolist()):
        out.append({"image_id": image_id, "category_id": int(cat_ids[c]),
                    "bbox": [round(x1, 3), round(y1, 3), round(x2 - x1, 3), round(y2 - y1, 3)],
                    "score": round(s, 5)})
    return out


def score(coco, results) -> dict:
    """pycocotools bbox evaluation -> STAT_NAMES in percent."""
    from pycocotools.cocoeval import COCOeval

    if not results:
        return {k: 0.0 for k in STAT_NAMES}
    with contextlib.redirect_stdout(io.StringIO()):
        dt = coco.loadRes(results)
        ev = COCOeval(coco, dt, "bbox")
        ev.params.imgIds = sorted(coco.getImgIds())
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return {k: round(float(v) * 100, 3) for k, v in zip(STAT_NAMES, ev.stats[:6])}


def evaluate(backend_or_path, images_dir, annotations_json, img_size=None, conf: float = 0.001, iou: float = 0.65,
             max_det: int = 300, multi_label: bool = True, batch: int = 8, center: bool = True,
             predictions_json=None, progress: bool = True, backend=None, threads: int = 0,
             backend_options=None) -> dict:
    """COCO mAP (percent) of a model file, nn.Module or Backend on `images_dir` with `annotations_json`.

    img_size: only for models without a fixed input size (.pt/.param/nn.Module); ONNX and engines use their
    own. backend/threads/backend_options: as for Detector (e.g. backend="openvino"). Returns dict(AP, AP50, AP75, APs, APm, APl, n_images, seconds); writes the raw COCO results to
    `predictions_json` when given.
    """
    from ..runtime.detector import Detector

    images_dir = Path(images_dir)
    if not images_dir.is_dir():
        raise fail(images_dir, "no such image folder")
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise fail(images_dir, f"batch must be a positive integer, got {batch!r}")
    if predictions_json:
        check_writable(predictions_json, "predictions file")
    coco = load_annotations(annotations_json)
    det = Detector(backend_or_path, conf=conf, iou=iou, max_det=max_det, center=center, multi_label=multi_label,
                   img_size=img_size, backend=backend, threads=threads, backend_options=backend_options)
    cat_ids = category_map(det.names, coco, annotations_json)
    entries = [coco.imgs[i] for i in sorted(coco.getImgIds())]
    missing = [e["file_name"] for e in entries if not (images_dir / e["file_name"]).is_file()]
    if missing:
        raise fail(images_dir, f"{len(missing)} annotated images are missing, e.g. {missing[0]}")

    results = []
    t0 = time.perf_counter()
    with tqdm(total=len(entries), desc="eval", unit="img", disable=not progress) as bar:
        for start in range(0, len(entries), batch):
            chunk = entries[start:start + batch]
            for entry, dets in zip(chunk, det([images_dir / e["file_name"] for e in chunk])):
                results.extend(to_coco_results(dets, entry["id"], cat_ids))
            bar.update(len(chunk))
    seconds = time.perf_counter() - t0
    if predictions_json:
        atomic_write_text(predictions_json, json.dumps(results))
    stats = score(coco, results)
    stats.update(n_images=len(entries), seconds=round(seconds, 2), input_size=list(det.input_size),
                 backend=getattr(det.backend, "name", type(det.backend).__name__))
    return stats


def format_table(stats: dict) -> str:
    """A two-line text table of the AP figures."""
    head = " ".join(f"{k:>6}" for k in STAT_NAMES)
    vals = " ".join(f"{stats[k]:6.2f}" for k in STAT_NAMES)
    return f"{head}\n{vals}"
