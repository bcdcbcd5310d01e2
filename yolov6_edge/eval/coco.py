"""COCO box mAP of any backend on a COCO-format folder (images + instances JSON), scored by pycocotools.

`evaluate` is `yolov6-edge eval`; `evaluate_records` is the same measurement on a training set's records
(validation during training), so the AP printed while training is the AP `eval` gives for the checkpoint:
the same Detector (letterbox, native NMS, map back to original pixels), the same settings (EVAL), the same
scoring, in percent.
"""
import contextlib
import io
import json
import math
import re
import time
from collections import Counter
from pathlib import Path

from tqdm import tqdm

from ..atomic import atomic_write_text, check_writable
from ..errors import fail
from ..runtime.settings import EVAL

STAT_NAMES = ("AP", "AP50", "AP75", "APs", "APm", "APl")


def load_annotations(path):
    """pycocotools COCO object for `path`, with a one-line error for a missing or malformed file."""
    from pycocotools.coco import COCO

    from ..files import regular_file

    path = regular_file(path, "annotation file")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise fail(path, f"not valid JSON ({str(e)[:160]})") from None
    except OSError as e:
        raise fail(path, f"cannot read the annotation file ({e.strerror or e})") from None
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


PLACEHOLDER_NAME = re.compile(r"^(class[ _-]?)?\d+$", re.IGNORECASE)  # class0, class_1, 7: a model without names


def _norm(name) -> str:
    """Names compared ignoring case, and spaces, underscores and hyphens between words."""
    return " ".join(re.split(r"[\s_\-]+", str(name).strip().lower()))


def category_map(names, coco, ann_path) -> list:
    """Our class index -> the annotation file's category id (None: a class the file does not have).

    By name, always (a COCO-named model against a file with the official ids 1..90 or with contiguous ids
    1..80 maps the same): every annotated category of the file must be one of the model's classes, or AP would
    count classes the model cannot predict as misses. A model without class names (class0, class1, ...) is
    matched by position in the id-sorted category list when the counts agree. Anything else is refused.
    """
    cats = sorted(coco.dataset["categories"], key=lambda c: c["id"])
    annotated = Counter(a["category_id"] for a in coco.dataset["annotations"])
    names = [str(n) for n in names]
    if names and all(PLACEHOLDER_NAME.match(n) for n in names):
        if len(cats) == len(names):
            return [c["id"] for c in cats]
        raise fail(ann_path, f"the model's {len(names)} classes have no names ({names[0]}, ...) and the file has "
                             f"{len(cats)} categories: cannot tell which is which")
    by_name = {}
    for c in cats:
        by_name.setdefault(_norm(c["name"]), []).append(c["id"])
    ours = {_norm(n) for n in names}
    missing = [c for c in cats if annotated[c["id"]] and _norm(c["name"]) not in ours]
    if missing:
        c = missing[0]
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        raise fail(ann_path, f"category {c['name']!r} (id {c['id']}, {annotated[c['id']]} annotations){more} is "
                             f"not one of the model's {len(names)} classes (e.g. {', '.join(names[:3])}): the "
                             "model's class names must name the file's categories")
    twice = [n for n in names if len(by_name.get(_norm(n), [])) > 1]
    if twice:
        raise fail(ann_path, f"category name {twice[0]!r} belongs to several ids {by_name[_norm(twice[0])]}: "
                             "cannot tell which one the model's class is")
    return [by_name[_norm(n)][0] if _norm(n) in by_name else None for n in names]


def _check_image_size(path, annotated, shape) -> None:
    """An image whose size differs from the one its annotations were drawn on (a resized copy, a photo turned by
    its EXIF orientation) would be scored against boxes in other pixels: a silent AP of nearly 0."""
    h, w, ann_path = annotated
    if isinstance(h, int) and isinstance(w, int) and (h, w) != tuple(shape[:2]):
        raise fail(path, f"is {shape[1]}x{shape[0]} but {ann_path} annotates it as {w}x{h}: the boxes would be "
                         "scored in other pixels (a resized copy?)")


def to_coco_results(dets, image_id: int, cat_ids) -> list:
    """Detections (original pixels) -> COCO result dicts with [x, y, w, h] boxes."""
    out = []
    for (x1, y1, x2, y2), s, c in zip(dets.boxes.tolist(), dets.scores.tolist(), dets.class_ids.tolist()):
        if cat_ids[c] is None:  # a class the annotation file does not have: not scored
            continue
        out.append({"image_id": image_id, "category_id": int(cat_ids[c]),
                    "bbox": [round(x1, 3), round(y1, 3), round(x2 - x1, 3), round(y2 - y1, 3)],
                    "score": round(s, 5)})
    return out


def coco_from_records(records, names, category_ids=None):
    """A pycocotools COCO ground truth from dataset records (datasets/records.py: path, labels [n, 5] class,
    x1, y1, x2, y2 in original pixels, (h, w), image id), for data sets that have no instances JSON (YOLO txt)."""
    from pycocotools.coco import COCO

    cat_ids = list(category_ids or range(1, len(names) + 1))
    images, anns = [], []
    for path, labels, (h, w), image_id in records:
        images.append({"id": image_id, "file_name": str(path), "height": h, "width": w})
        for c, x1, y1, x2, y2 in labels.tolist():
            anns.append({"id": len(anns) + 1, "image_id": image_id, "category_id": cat_ids[int(c)], "iscrowd": 0,
                         "bbox": [x1, y1, x2 - x1, y2 - y1], "area": (x2 - x1) * (y2 - y1)})
    coco = COCO()
    coco.dataset = {"images": images, "annotations": anns,
                    "categories": [{"id": i, "name": n} for i, n in zip(cat_ids, names)]}
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def score(coco, results, image_ids=None) -> dict:
    """pycocotools bbox evaluation over `image_ids` (default: every image of `coco`) -> STAT_NAMES in percent."""
    from pycocotools.cocoeval import COCOeval

    if not results:
        return {k: 0.0 for k in STAT_NAMES}
    with contextlib.redirect_stdout(io.StringIO()):
        dt = coco.loadRes(results)
        ev = COCOeval(coco, dt, "bbox")
        ev.params.imgIds = sorted(coco.getImgIds() if image_ids is None else image_ids)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return {k: round(float(v) * 100, 3) for k, v in zip(STAT_NAMES, ev.stats[:6])}


def detect_all(det, items, cat_ids, batch: int, progress: bool = True, desc: str = "eval"):
    """Run `det` on [(image id, image path)] in chunks of `batch`; returns (COCO results, seconds).

    An item may carry a third entry (height, width, annotation file): the size its boxes were drawn at, checked
    against the decoded image (_check_image_size)."""
    results = []
    t0 = time.perf_counter()
    with tqdm(total=len(items), desc=desc, unit="img", disable=not progress, leave=desc == "eval") as bar:
        for start in range(0, len(items), batch):
            chunk = items[start:start + batch]
            for item, dets in zip(chunk, det([it[1] for it in chunk])):
                if len(item) > 2:
                    _check_image_size(item[1], item[2], dets.image_shape)
                results.extend(to_coco_results(dets, item[0], cat_ids))
            bar.update(len(chunk))
    return results, time.perf_counter() - t0


def _check_batch(where, batch) -> None:
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise fail(where, f"batch must be a positive integer, got {batch!r}")


def evaluate(backend_or_path, images_dir, annotations_json, img_size=None, conf: float = EVAL.conf,
             iou: float = EVAL.iou, max_det: int = EVAL.max_det, multi_label: bool = EVAL.multi_label,
             batch: int = 8, center: bool = EVAL.center, predictions_json=None, progress: bool = True, backend=None,
             threads: int = 0, backend_options=None, max_candidates: int = EVAL.max_candidates) -> dict:
    """COCO mAP (percent) of a model file, nn.Module or Backend on `images_dir` with `annotations_json`.

    conf, iou, max_det, multi_label, center, max_candidates: the detection settings, defaults EVAL's
    (runtime/settings.py: conf 0.001, IoU 0.65, multi-label, max_det 300). img_size: only for models without a
    fixed input size (.pt/.param/nn.Module); ONNX and engines use their own. backend/threads/backend_options:
    as for Detector (e.g. backend="openvino"). Returns dict(AP, AP50, AP75, APs, APm, APl, n_images, seconds);
    writes the raw COCO results to `predictions_json` when given.
    """
    from ..runtime.detector import Detector

    images_dir = Path(images_dir)
    if not images_dir.is_dir():
        raise fail(images_dir, "no such image folder")
    _check_batch(images_dir, batch)
    if predictions_json:
        check_writable(predictions_json, "predictions file")
    coco = load_annotations(annotations_json)
    det = Detector(backend_or_path, conf=conf, iou=iou, max_det=max_det, center=center, multi_label=multi_label,
                   img_size=img_size, backend=backend, threads=threads, backend_options=backend_options,
                   max_candidates=max_candidates)
    cat_ids = category_map(det.names, coco, annotations_json)
    entries = [coco.imgs[i] for i in sorted(coco.getImgIds())]
    missing = [e["file_name"] for e in entries if not (images_dir / e["file_name"]).is_file()]
    if missing:
        raise fail(images_dir, f"{len(missing)} annotated images are missing, e.g. {missing[0]}")

    # with the size each image was annotated at: a resized copy is refused, not scored in other pixels
    items = [(e["id"], images_dir / e["file_name"], (e.get("height"), e.get("width"), annotations_json))
             for e in entries]
    results, seconds = detect_all(det, items, cat_ids, batch, progress)
    if predictions_json:
        atomic_write_text(predictions_json, json.dumps(results))
    stats = score(coco, results)
    stats.update(n_images=len(entries), seconds=round(seconds, 2), input_size=list(det.input_size),
                 backend=det.backend.name)
    return stats


def evaluate_records(backend, records, category_ids, names=None, annotations_json=None, settings=None,
                     batch: int = 8, progress: bool = True) -> dict:
    """COCO mAP (percent) of `backend` (anything Detector takes) on dataset records (datasets/records.py):
    validation during training, measured as `evaluate` measures.

    The ground truth is `annotations_json` where the data set has one (a COCO split: crowd regions and all,
    exactly what `yolov6-edge eval` scores against), else it is built from the records (YOLO txt). Only the
    records' images are scored (a data set's unreadable images were left out of its records when it was
    scanned). category_ids[k]: the category id of class k; settings: default EVAL.
    """
    from ..runtime.detector import Detector

    where = annotations_json or (records[0][0] if records else "validation records")
    if not records:
        raise fail(where, "no images to validate on")
    _check_batch(where, batch)
    coco = (load_annotations(annotations_json) if annotations_json
            else coco_from_records(records, names, category_ids))
    det = Detector(backend, **(settings or EVAL).kwargs())
    items = [(image_id, path) for path, _, _, image_id in records]
    results, seconds = detect_all(det, items, list(category_ids), batch, progress, desc="val")
    stats = score(coco, results, image_ids=[image_id for image_id, _ in items])
    stats.update(n_images=len(items), seconds=round(seconds, 2), input_size=list(det.input_size),
                 backend=det.backend.name)
    return stats


def format_table(stats: dict) -> str:
    """A two-line text table of the AP figures."""
    head = " ".join(f"{k:>6}" for k in STAT_NAMES)
    vals = " ".join(f"{stats[k]:6.2f}" for k in STAT_NAMES)
    return f"{head}\n{vals}"
