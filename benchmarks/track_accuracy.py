"""Tracking accuracy (MOTA, IDF1, ID switches; motmetrics) and the tracking overhead of Detector.stream(track=...)
on sequences with known identities that this script builds from the ../shared COCO images.

    python benchmarks/track_accuracy.py [--sequences 8 --frames 150 --models lite-s lite-m --rounds 5]

It measures identity keeping given the detector, so the ground truth must hold everything the detector can
rightly see, and nothing else may be in the frames:
- Objects: COCO people, vehicles and animals (by supercategory) cut out along their polygon outlines, only
  isolated ones: whole (not cut by their image's border), box sides >= MIN_SIDE px, and their outline grown by
  GROW px touching no other annotated object or crowd region (no held skateboard, no rider, no neighbour's arm
  comes along). Drawn with the box's longer side LONG_SIDE px of the 640x360 frame (64-120 px at the models' 320
  input), never more than UPSCALE times their source size. No object is chosen by what a model detects.
- Backgrounds: the widest 16:9 window (>= BG_MIN_WIDTH px wide) of a COCO image that no annotated box (grown by
  GROW px) reaches, scaled to the frame. Real texture and colour; but COCO leaves things unannotated, and the
  models find something in about 4 of 10 such windows, so the main sequences use only "quiet" windows, on which
  no model under test finds anything at its conf: a model-based filter of the backgrounds (never of the
  objects), reported beside the same sequences over every window.
- Motion: half the objects come from the left and half from the right at overlapping heights, so they cross; the
  one drawn later passes in front. Every other sequence also has a grey pillar the objects pass behind: a short
  occlusion. 640x360 at 30 fps, MJPG video files read back through the stream.

Ground truth: each object's outline box clipped to the frame, counted in every frame where at least half of its
outline is visible and at least half of it is inside the frame; a hypothesis that matches (IoU >= 0.5) only an
object under those limits is left out (neither true nor false), as MOTChallenge does with its ignore regions.
Hypotheses: the detections with a confirmed track id (>= 0). Scored class-agnostically at IoU 0.5. Beside IDF1:
the detections' own per-frame precision / recall / F1 (class-aware as the Detector returns them, and after the
tracker's class-agnostic step), where their false positives lie, and two references that split what bounds
IDF1: the same detections with perfect identities, and the tracker fed the ground-truth boxes.

No choosing on the reported set: the tracker's settings (GRID: every combination) are chosen on sequences of
objects from ../shared/coco/calib over coco/select backgrounds (each model's detections computed once at NMS
conf FLOOR and replayed through the tracker with each candidate: the tracker consumes any stream of
Detections), and reported on sequences of objects from coco/val over coco/val-large backgrounds, through the
real pipeline (stream(track=...)), with the chosen setting and with the defaults.

Overhead, two ways: (a) the throughput cost: the stream's frames/s without and with tracking, alternating in
this process for --rounds rounds; the cost is the median over rounds of (time per frame with / without) - 1;
(b) the tracker's own time per frame (the same detections the pipeline hands it, replayed alone in this thread,
best of three) over the stream's time per frame without tracking; and (c) the CPU cost: this process's CPU
seconds per frame (all threads) with / without - 1, median over the same rounds, which other jobs on a shared
machine disturb far less than wall time. In the stream the tracker runs in the NMS
thread, beside decoding and inference of other frames, so (a) is what it costs end to end where a core is free
and (b) what it costs where none is. On a shared machine both are noisy; the script records the load.

Models: YOLOv6Lite-S and -M (official weights, ../shared/weights/yolov6lite, exported at 320). There are no
trained YOLOv6-N weights here (../shared/README.md: the official N/S/M/L checkpoints could not be obtained), and a
random-weight N detects nothing, so Lite-M stands in as the second model.
Writes track_accuracy.{json,md} into --out (benchmarks/results).
"""
import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from yolov6_edge.track.tracker import agnostic_keep

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("YOLOV6_EDGE_SHARED", ROOT.parent / "shared"))
RESULTS = ROOT / "benchmarks" / "results"
SIZE = (640, 360)  # W, H
FPS = 30.0
MODELS = {"lite-s": ("YOLOv6Lite-S", "yolov6-lite-s.param"), "lite-m": ("YOLOv6Lite-M", "yolov6-lite-m.param"),
          "lite-l": ("YOLOv6Lite-L", "yolov6-lite-l.param")}
VISIBLE, INSIDE, IOU = 0.5, 0.5, 0.5
# the settings tried on the calib sequences: every combination (the first values are TrackerConfig's defaults)
GRID = {"class_agnostic": [True, False], "high_conf": [None, 0.35], "new_track_conf": [None, 0.3],
        "low_conf": [None, 0.1], "lost_seconds": [1.0, 2.0], "min_frames": [1, 3]}
FLOOR = 0.1  # the detections cached for choosing and replaying go down to the lowest low_conf tried


# ---- sequences ---------------------------------------------------------------------------------------------------
MOVING = ("person", "vehicle", "animal")  # COCO supercategories: what is tracked and counted
GROW = 4  # px of the source image: an object's outline grown by this may touch no other annotated object
MIN_SIDE = 32  # px: the least side of an object's box in its source image
UPSCALE = 2.0  # an object is never drawn larger than this times its size in its source image
LONG_SIDE = (128, 240)  # px of the 640x360 frame: the drawn object's longer side (64-120 px at the model's 320)
BG_MIN_WIDTH = 256  # px: the least width of a background region (16:9) of its source image (at most 2.5x up)


def _mask(ann, shape):
    """An annotation's pixels: its polygons, or its box for a crowd region (RLE)."""
    m = np.zeros(shape, np.uint8)
    polys = ann.get("segmentation")
    if isinstance(polys, list) and polys:
        for poly in polys:
            cv2.fillPoly(m, [np.array(poly, np.float64).reshape(-1, 2).round().astype(np.int32)], 1)
    else:
        x, y, w, h = ann["bbox"]
        m[int(y):int(np.ceil(y + h)), int(x):int(np.ceil(x + w))] = 1
    return m


def object_pool(split: str):
    """COCO objects that can be cut out whole and alone: person, vehicle or animal (by supercategory), a polygon
    outline, not crowd, box sides >= MIN_SIDE and the longer one >= LONG_SIDE[0] / UPSCALE, not cut by their image's border, and isolated: the outline grown
    by GROW px touches no other annotated object (nor crowd region), so the cut-out carries no part of another
    object (no held skateboard, no rider, no neighbour's arm) that the detector could rightly find but the
    ground truth would not hold. Returns [(image path, box xywh, polygons, category name)]."""
    folder = SHARED / "coco" / split
    data = json.loads((folder / "instances.json").read_text())
    images = {im["id"]: im for im in data["images"]}
    cats = {c["id"]: c for c in data["categories"]}
    by_image = {}
    for a in data["annotations"]:
        by_image.setdefault(a["image_id"], []).append(a)
    kernel = np.ones((2 * GROW + 1, 2 * GROW + 1), np.uint8)
    pool = []
    for image_id, anns in sorted(by_image.items()):
        im = images[image_id]
        shape = (im["height"], im["width"])
        for a in anns:
            x, y, w, h = a["bbox"]
            polys = a.get("segmentation")
            if (a.get("iscrowd") or not isinstance(polys, list) or not polys or min(w, h) < MIN_SIDE
                    or max(w, h) < LONG_SIDE[0] / UPSCALE or cats[a["category_id"]]["supercategory"] not in MOVING):
                continue
            if x < 2 or y < 2 or x + w > im["width"] - 2 or y + h > im["height"] - 2:
                continue
            near = [b for b in anns if b is not a and b["bbox"][0] <= x + w + GROW and b["bbox"][1] <= y + h + GROW
                    and b["bbox"][0] + b["bbox"][2] >= x - GROW and b["bbox"][1] + b["bbox"][3] >= y - GROW]
            if near:
                grown = cv2.dilate(_mask(a, shape), kernel)
                if any((grown & _mask(b, shape)).any() for b in near):
                    continue
            pool.append((folder / "images" / im["file_name"], (x, y, w, h), polys, cats[a["category_id"]]["name"]))
    return pool


def background_pool(split: str):
    """Regions of COCO images with no annotated object: per image, the widest 16:9 window (at least
    BG_MIN_WIDTH px wide) that no annotated box, grown by GROW px, reaches. Real texture and colour, nothing the
    ground truth would miss (as far as COCO's annotations are complete). Returns [(image path, x, y, w, h)]."""
    folder = SHARED / "coco" / split
    data = json.loads((folder / "instances.json").read_text())
    boxes = {}
    for a in data["annotations"]:
        boxes.setdefault(a["image_id"], []).append(a["bbox"])
    pool = []
    for im in sorted(data["images"], key=lambda im: im["file_name"]):
        H, W = im["height"], im["width"]
        occupied = np.zeros((H + 1, W + 1), np.int32)
        for x, y, w, h in boxes.get(im["id"], []):
            x1, y1 = max(0, int(x) - GROW), max(0, int(y) - GROW)
            x2, y2 = min(W, int(np.ceil(x + w)) + GROW), min(H, int(np.ceil(y + h)) + GROW)
            occupied[y1 + 1:y2 + 1, x1 + 1:x2 + 1] = 1
        summed = occupied.cumsum(0).cumsum(1)
        for rw in range(W, BG_MIN_WIDTH - 1, -8):
            rh = int(round(rw * SIZE[1] / SIZE[0]))
            if rh > H:
                continue
            hits = summed[rh:, rw:] - summed[:-rh, rw:] - summed[rh:, :-rw] + summed[:-rh, :-rw]
            ys, xs = np.nonzero(hits == 0)
            if len(ys):
                k = len(ys) // 2
                pool.append((folder / "images" / im["file_name"], int(xs[k]), int(ys[k]), rw, rh))
                break
    return pool


def cut_out(image_path, box, polys, long_side):
    """The object scaled so that its box's longer side is `long_side` px: (BGR patch, alpha 0..1) along its
    outline, edges softened."""
    img = cv2.imread(str(image_path))
    x, y, w, h = box
    x1, y1, x2, y2 = int(x), int(y), int(np.ceil(x + w)), int(np.ceil(y + h))
    mask = np.zeros(img.shape[:2], np.uint8)
    for poly in polys:
        cv2.fillPoly(mask, [np.array(poly, np.float64).reshape(-1, 2).round().astype(np.int32)], 255)
    patch, mask = img[y1:y2, x1:x2], mask[y1:y2, x1:x2]
    scale = long_side / max(patch.shape[:2])
    size = (max(8, int(round(patch.shape[1] * scale))), max(8, int(round(patch.shape[0] * scale))))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    patch = cv2.resize(patch, size, interpolation=interp)
    alpha = cv2.GaussianBlur(cv2.resize(mask, size, interpolation=interp), (3, 3), 0) / 255.0
    return patch, alpha.astype(np.float32)


def background(item):
    path, x, y, w, h = item
    return cv2.resize(cv2.imread(str(path))[y:y + h, x:x + w], SIZE, interpolation=cv2.INTER_LINEAR)


def make_sequence(path: Path, rng, pool, backgrounds, n_frames: int, n_objects: int, pillar: bool):
    """Write the video; return (ground truth: per frame, a list of (object id, box xyxy, counted); the background
    item)."""
    w, h = SIZE
    bg_item = backgrounds[rng.integers(len(backgrounds))]
    bg = background(bg_item)
    objects = []
    for k in range(n_objects):
        item = pool[rng.integers(len(pool))]
        long_side = int(min(rng.uniform(*LONG_SIDE), UPSCALE * max(item[1][2], item[1][3])))
        patch, alpha = cut_out(*item[:3], long_side=long_side)
        width = patch.shape[1]
        from_left = k % 2 == 0
        speed = rng.uniform(2.0, 5.0)
        objects.append(dict(patch=patch, alpha=alpha, x0=-width if from_left else w,
                            y0=rng.uniform(0.1 * h, max(0.1 * h, 0.9 * h - patch.shape[0])),
                            vx=speed if from_left else -speed, vy=rng.uniform(-0.4, 0.4),
                            t0=int(rng.uniform(0, max(1, n_frames - (w + width) / speed))),
                            wobble=rng.uniform(0, 6), phase=rng.uniform(0, 6.3)))
    pillar_x = int(rng.uniform(0.35, 0.65) * w) if pillar else None
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, SIZE)
    truth = []
    for t in range(n_frames):
        frame = bg.astype(np.float32)
        owner = np.full((h, w), -1, np.int32)
        placed = {}
        for k, o in enumerate(objects):  # later objects in front
            dt = t - o["t0"]
            if dt < 0:
                continue
            ph, pw = o["patch"].shape[:2]
            x1 = int(round(o["x0"] + o["vx"] * dt))
            y1 = int(round(o["y0"] + o["vy"] * dt + o["wobble"] * np.sin(0.05 * dt + o["phase"])))
            fx1, fy1, fx2, fy2 = max(x1, 0), max(y1, 0), min(x1 + pw, w), min(y1 + ph, h)
            if fx2 <= fx1 or fy2 <= fy1:
                continue
            a = o["alpha"][fy1 - y1:fy2 - y1, fx1 - x1:fx2 - x1, None]
            frame[fy1:fy2, fx1:fx2] = a * o["patch"][fy1 - y1:fy2 - y1, fx1 - x1:fx2 - x1] + (1 - a) * frame[fy1:fy2, fx1:fx2]
            region = owner[fy1:fy2, fx1:fx2]
            region[a[..., 0] >= 0.5] = k
            placed[k] = (x1, y1, pw, ph)
        if pillar_x is not None:
            frame[:, pillar_x:pillar_x + 40] = (128, 128, 128)
            owner[:, pillar_x:pillar_x + 40] = -2
        rows = []
        for k, (x1, y1, _pw, _ph) in placed.items():
            whole = objects[k]["alpha"] >= 0.5
            ys, xs = np.nonzero(whole)
            box = (x1 + xs.min(), y1 + ys.min(), x1 + xs.max() + 1, y1 + ys.max() + 1)  # the outline's box
            cb = (max(box[0], 0), max(box[1], 0), min(box[2], w), min(box[3], h))
            if cb[2] <= cb[0] or cb[3] <= cb[1]:
                continue
            inside = np.count_nonzero((xs + x1 >= 0) & (xs + x1 < w) & (ys + y1 >= 0) & (ys + y1 < h)) / len(xs)
            visible = np.count_nonzero(owner == k) / float(len(xs))
            rows.append((k, tuple(int(v) for v in cb), bool(visible >= VISIBLE and inside >= INSIDE)))
        truth.append(rows)
        writer.write(np.clip(frame, 0, 255).astype(np.uint8))
    writer.release()
    return truth, bg_item


def build(objects_split, backgrounds_split, folder: Path, n_seq, n_frames, seed, quiet=None):
    """n_seq sequences of objects from one split over backgrounds from another; returns (sequences, info):
    sequences [(video path, truth, background item)], info the pools' sizes and the classes drawn.
    quiet: detectors; if given, only the background windows on which none of them finds anything (at its conf)
    are used (the same seed draws the same objects and paths either way)."""
    pool, backgrounds = object_pool(objects_split), background_pool(backgrounds_split)
    windows = len(backgrounds)
    if quiet:
        backgrounds = [b for b in backgrounds if not any(len(d(background(b))) for d in quiet)]
    rng = np.random.default_rng(seed)
    seqs = []
    for i in range(n_seq):
        path = folder / f"{objects_split}_{i}{'_quiet' if quiet else ''}.avi"
        truth, bg = make_sequence(path, rng, pool, backgrounds, n_frames, int(rng.integers(4, 7)),
                                  pillar=i % 2 == 1)
        seqs.append((path, truth, bg))
    names = {}
    for _, _, _, name in pool:
        names[name] = names.get(name, 0) + 1
    return seqs, {"objects": len(pool), "objects_by_class": names, "background_windows": windows,
                  "backgrounds_used": len(backgrounds)}


# ---- scoring -----------------------------------------------------------------------------------------------------
def _iou(a, b):
    a, b = np.asarray(a, float).reshape(-1, 4), np.asarray(b, float).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area = lambda x: (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])  # noqa: E731
    return inter / np.maximum(area(a)[:, None] + area(b)[None, :] - inter, 1e-9)


def accumulate(truth, hyps):
    """A motmetrics accumulator for one sequence. hyps: per frame (ids, boxes) of the confirmed tracks.
    (motmetrics' own iou_matrix uses np.asfarray, gone in NumPy 2, so the distances are computed here.)"""
    import motmetrics as mm

    acc = mm.MOTAccumulator(auto_id=False)
    for t, (rows, (ids, boxes)) in enumerate(zip(truth, hyps)):
        counted = [(k, b) for k, b, c in rows if c]
        ignored = [b for k, b, c in rows if not c]
        keep = np.ones(len(ids), bool)
        if len(ids) and ignored:
            best_valid = _iou(boxes, [b for _, b in counted]).max(1) if counted else np.zeros(len(ids))
            keep = ~((_iou(boxes, ignored).max(1) >= IOU) & (best_valid < IOU))
        ids, boxes = np.asarray(ids)[keep], np.asarray(boxes).reshape(-1, 4)[keep]
        iou = _iou([b for _, b in counted], boxes) if counted and len(ids) else np.zeros((len(counted), len(ids)))
        acc.update([k for k, _ in counted], [int(i) for i in ids], np.where(iou >= IOU, 1 - iou, np.nan), frameid=t)
    return acc


def score(accs, names):
    import motmetrics as mm

    metrics = ["mota", "idf1", "idp", "idr", "num_switches", "precision", "recall", "num_false_positives",
               "num_misses", "mostly_tracked", "num_unique_objects"]
    summary = mm.metrics.create().compute_many(accs, metrics=metrics, names=names, generate_overall=True)
    row = summary.loc["OVERALL"]
    real = ("mota", "idf1", "idp", "idr", "precision", "recall")
    return {m: (float(row[m]) if m in real else int(row[m])) for m in metrics}


def hyps_of(results, n_frames):
    out = [([], np.zeros((0, 4))) for _ in range(n_frames)]
    for r in results:
        tracked = r.track_ids >= 0
        out[r.frame_index] = (r.track_ids[tracked].tolist(), np.asarray(r.boxes)[tracked])
    return out


# ---- running -----------------------------------------------------------------------------------------------------
def export(model_key, folder: Path) -> Path:
    from yolov6_edge.export.onnx import export_onnx

    param = SHARED / "weights" / "yolov6lite" / MODELS[model_key][1]
    out = folder / f"{model_key}.onnx"
    export_onnx(param, out, img_size=(320, 320))
    return out


def detect_all(det, seqs, conf):
    """Each sequence's detections (class-aware NMS, as Detector returns them) down to `conf`."""
    keep = det.conf
    det.conf = conf
    try:
        return [list(det.stream(path, decoder="opencv")) for path, *_ in seqs]
    finally:
        det.conf = keep


def replay(cached, cfg, conf, iou):
    """The tracker alone on cached detections (NMS'd down to FLOOR): per sequence, the tracked results."""
    from yolov6_edge.track.tracker import StreamTracker

    out = []
    for results in cached:
        tracker = StreamTracker(cfg, conf=conf, iou=iou)
        low = tracker.nms_conf
        out.append([tracker.update(r.select(r.scores >= low)) for r in results])
    return out


def candidates():
    """The settings tried on the choosing sequences: every combination of GRID (the first is the default)."""
    import itertools

    keys = list(GRID)
    return [{k: v for k, v in zip(keys, values) if v != GRID[k][0]} for values in itertools.product(*GRID.values())]


def choose(det, seqs, cached):
    """The candidate with the best IDF1 (MOTA breaks ties) on the choosing sequences, from one detector pass per
    sequence replayed through the tracker with each candidate."""
    table = []
    for cand in tqdm(candidates(), desc="  settings", leave=False):
        tracked = replay(cached, cand, det.conf, det.iou)
        accs = [accumulate(truth, hyps_of(rs, len(truth))) for (_, truth, _), rs in zip(seqs, tracked)]
        table.append((cand, score(accs, [str(i) for i in range(len(accs))])))
    best = max(table, key=lambda x: (x[1]["idf1"], x[1]["mota"]))
    return best[0], table


def detection_scores(seqs, per_seq):
    """Per-frame detection precision / recall / F1 at IoU 0.5, class-agnostic, with the same ignore rule as the
    tracking scores (a box on an object under the visibility limits is neither right nor wrong), and where each
    false positive lies: on an object already found (duplicate), over two or more objects (merge), mostly
    inside one object (part), over an object but badly placed (misplaced), or on no object (background)."""
    from scipy.optimize import linear_sum_assignment

    tp = fn = 0
    fp = dict(duplicate=0, merge=0, part=0, misplaced=0, background=0)
    by_size = {}  # the counted box's longer side (px of the frame, 64 px bins) -> [found, counted]
    for (_, truth, _), results in zip(seqs, per_seq):
        for r in results:
            rows = truth[r.frame_index]
            counted = [b for _, b, c in rows if c]
            ignored = [b for _, b, c in rows if not c]
            every = [b for _, b, _ in rows]
            boxes = np.asarray(r.boxes, np.float64).reshape(-1, 4)
            matched = np.zeros(len(boxes), bool)
            if len(boxes) and counted:
                iou = _iou(counted, boxes)
                ri, ci = linear_sum_assignment(-iou)
                matched[ci[iou[ri, ci] >= IOU]] = True
            n_match = int(matched.sum())
            tp, fn = tp + n_match, fn + len(counted) - n_match
            found = np.zeros(len(counted), bool)
            if len(boxes) and counted:
                found[ri[iou[ri, ci] >= IOU]] = True
            for g, hit in zip(counted, found):
                key = f"{int(max(g[2] - g[0], g[3] - g[1]) // 64 * 64)}+"
                by_size.setdefault(key, [0, 0])
                by_size[key][0] += int(hit)
                by_size[key][1] += 1
            for j in np.flatnonzero(~matched):
                b = boxes[j:j + 1]
                if ignored and _iou(b, ignored).max() >= IOU:
                    continue
                if counted and _iou(b, counted).max() >= IOU:
                    fp["duplicate"] += 1
                    continue
                if not every:
                    fp["background"] += 1
                    continue
                g = np.asarray(every, np.float64)
                inter = (np.clip(np.minimum(b[0, 2], g[:, 2]) - np.maximum(b[0, 0], g[:, 0]), 0, None)
                         * np.clip(np.minimum(b[0, 3], g[:, 3]) - np.maximum(b[0, 1], g[:, 1]), 0, None))
                share = inter / max((b[0, 2] - b[0, 0]) * (b[0, 3] - b[0, 1]), 1e-9)  # of the detection
                if (share >= 0.2).sum() >= 2:
                    fp["merge"] += 1
                elif share.max() >= 0.7:
                    fp["part"] += 1
                elif share.max() >= 0.1:
                    fp["misplaced"] += 1
                else:
                    fp["background"] += 1
    n_fp = sum(fp.values())
    p, r = tp / max(tp + n_fp, 1), tp / max(tp + fn, 1)
    return {"precision": p, "recall": r, "f1": 2 * p * r / max(p + r, 1e-9), "true_positives": tp,
            "misses": fn, "false_positives": fp,
            "recall_by_long_side_px": {k: {"recall": f / max(n, 1), "boxes": n} for k, (f, n) in
                                       sorted(by_size.items(), key=lambda x: int(x[0][:-1]))}}


def identity_bounds(seqs, per_seq, cfg, conf, iou):
    """Two references that split what bounds IDF1: (1) the detections with perfect identities (each box that
    matches a counted object at IoU 0.5 takes that object's id, every other box is its own false track): the
    best IDF1 any tracker could reach on these boxes without adding or removing any; (2) the tracker (cfg) on
    the ground truth itself (each counted box a detection of score 0.9): what it loses at the crossings and
    occlusions of these paths when the detections are perfect."""
    from scipy.optimize import linear_sum_assignment

    from yolov6_edge.runtime.results import Detections
    from yolov6_edge.track.tracker import StreamTracker

    oracle, on_truth = [], []
    for (path, truth, _), results in zip(seqs, per_seq):
        hyps = [([], np.zeros((0, 4))) for _ in truth]
        fresh = 10 ** 6
        for r in results:
            counted = [(k, b) for k, b, c in truth[r.frame_index] if c]
            boxes = np.asarray(r.boxes, np.float64).reshape(-1, 4)
            ids = []
            for _ in range(len(boxes)):
                fresh += 1
                ids.append(fresh)
            if len(boxes) and counted:
                m = _iou([b for _, b in counted], boxes)
                for ri, ci in zip(*linear_sum_assignment(-m)):
                    if m[ri, ci] >= IOU:
                        ids[ci] = counted[ri][0]
            hyps[r.frame_index] = (ids, boxes)
        oracle.append(accumulate(truth, hyps))
        tracker = StreamTracker(cfg, conf=conf, iou=iou)
        out = []
        for t, rows in enumerate(truth):
            boxes = np.array([b for _, b, c in rows if c], np.float32).reshape(-1, 4)
            d = Detections(boxes, np.full(len(boxes), 0.9, np.float32), np.zeros(len(boxes), np.int64),
                           ["object"] * len(boxes), (SIZE[1], SIZE[0]), path.name)
            d.frame_index, d.timestamp, d.video, d.reconnects = t, t / FPS, None, 0
            out.append(tracker.update(d))
        on_truth.append(accumulate(truth, hyps_of(out, len(truth))))
    names = [p.stem for p, *_ in seqs]
    return {"perfect_identities_on_the_detections": score(oracle, names),
            "tracker_on_the_ground_truth": score(on_truth, names)}


def background_boxes(det, seqs):
    """Boxes the detector finds on the sequences' backgrounds alone (at its conf): the ground truth has none."""
    return sum(len(det(background(bg))) for _, _, bg in seqs)


def overhead(det, seqs, cfg, rounds, cached):
    """(a) throughput: frames/s of the stream without and with tracking, alternating in this process, `rounds`
    times; the cost is the median over rounds of (time per frame with / without) - 1. (b) the tracker's own
    time: the same detections the pipeline hands it, replayed through it alone in this thread (best of three),
    per frame, over the frame time without tracking; and its time as timed inside the pipeline."""
    from yolov6_edge.track.tracker import StreamTracker

    low = StreamTracker(cfg, conf=det.conf).nms_conf
    inputs = [[r.select(r.scores >= low) for r in rs] for rs in cached]
    n_frames = sum(len(rs) for rs in inputs)
    alone = []
    for _ in range(3):
        copies = [[r.select(np.ones(len(r), bool)) for r in rs] for rs in inputs]  # update() writes track_ids
        spent = 0.0
        for rs in copies:
            tracker = StreamTracker(cfg, conf=det.conf, iou=det.iou)
            t0 = time.perf_counter()
            for r in rs:
                tracker.update(r)
            spent += time.perf_counter() - t0
        alone.append(spent / n_frames)
    fps = {"with": [], "without": []}
    cpu = {"with": [], "without": []}  # this process's CPU seconds per frame (all its threads)
    tracked_frames, track_s = 0, 0.0
    for _ in tqdm(range(rounds), desc="  frames/s rounds", leave=False):
        for mode in ("without", "with"):  # alternate, so a slow stretch of the machine hits both
            n, t0, c0 = 0, time.perf_counter(), time.process_time()
            for path, *_ in seqs:
                stream = det.stream(path, decoder="opencv", track=cfg if mode == "with" else None)
                n += sum(1 for _ in stream)
                if mode == "with":
                    track_s += stream.stats()["stage_s"]["track"]
            fps[mode].append(n / (time.perf_counter() - t0))
            cpu[mode].append((time.process_time() - c0) / n)
            tracked_frames += n if mode == "with" else 0
    cost = [w / t - 1 for w, t in zip(fps["without"], fps["with"])]  # time per frame with / without - 1
    cpu_cost = [w / t - 1 for w, t in zip(cpu["with"], cpu["without"])]
    frame_s = 1 / statistics.median(fps["without"])
    tracker_s = min(alone)
    return {"fps_without": fps["without"], "fps_with": fps["with"], "rounds": rounds,
            "throughput_cost_per_round": cost, "throughput_cost": statistics.median(cost),
            "cpu_ms_per_frame_without": [1000 * c for c in cpu["without"]],
            "cpu_ms_per_frame_with": [1000 * c for c in cpu["with"]],
            "cpu_cost_per_round": cpu_cost, "cpu_cost": statistics.median(cpu_cost),
            "frame_ms_without": 1000 * frame_s, "tracker_alone_ms_per_frame": 1000 * tracker_s,
            "tracker_alone_fraction": tracker_s / frame_s,
            "tracker_in_pipeline_ms_per_frame": 1000 * track_s / max(tracked_frames, 1),
            "boxes_to_tracker_per_frame": sum(len(r) for rs in inputs for r in rs) / n_frames}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sequences", type=int, default=8, help="reported sequences (coco/val objects); the ones "
                                                             "settings are chosen on (coco/calib) are half as many")
    ap.add_argument("--frames", type=int, default=150)
    ap.add_argument("--models", nargs="+", default=["lite-s", "lite-m"], choices=sorted(MODELS))
    ap.add_argument("--rounds", type=int, default=5, help="alternating rounds for frames/s with and without")
    ap.add_argument("--threads", type=int, default=1, help="ONNX Runtime threads")
    ap.add_argument("--out", type=Path, default=RESULTS, help="folder for track_accuracy.{json,md}")
    args = ap.parse_args()
    if not all((SHARED / "coco" / d).is_dir() for d in ("calib", "select", "val", "val-large")):
        sys.exit(f"{SHARED}/coco not found (calib, select, val, val-large): this benchmark builds its sequences "
                 "from ../shared")
    try:
        import motmetrics  # noqa: F401
    except ImportError:
        sys.exit("needs motmetrics: pip install motmetrics")
    from yolov6_edge import Detector
    from yolov6_edge.host import cpu_flags, cpu_name

    host = f"{cpu_name()} ({platform.machine()}, {os.cpu_count()} cores), flags {' '.join(cpu_flags())}"
    out = {"host": host, "load_avg_start": os.getloadavg(), "settings": {**vars(args), "out": str(args.out)},
           "sequences": "built from ../shared COCO images (see the script's docstring)",
           "rules": {"object_supercategories": MOVING, "isolation_grow_px": GROW, "min_side_px": MIN_SIDE,
                     "max_upscale": UPSCALE, "long_side_px": LONG_SIDE, "background_min_width_px": BG_MIN_WIDTH,
                     "visible": VISIBLE, "inside": INSIDE, "iou": IOU,
                     "model_based_filtering": "objects: none; backgrounds: the main (quiet) sequences use only windows on which no model under test finds anything, the every-background ones all windows"},
           "grid": GRID, "models": {}}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        dets = {key: Detector(export(key, tmp), threads=args.threads) for key in args.models}
        t0 = time.perf_counter()
        n_choose = max(2, args.sequences // 2)
        # "quiet": backgrounds on which no model under test finds anything (a model-based filter of the
        # backgrounds only); "all": every window of the objective rule (same objects and paths)
        built = {}
        for variant, quiet in (("quiet", list(dets.values())), ("all", None)):
            built[variant] = (build("calib", "select", tmp, n_choose, args.frames, seed=1, quiet=quiet),
                              build("val", "val-large", tmp, args.sequences, args.frames, seed=2, quiet=quiet))
        (select, info_choose), (report, info_report) = built["quiet"]
        print(f"built {2 * (len(select) + len(report))} sequences from {info_choose['objects']} + "
              f"{info_report['objects']} objects in {time.perf_counter() - t0:.0f} s")
        out["pools"] = {"choose (coco/calib objects, coco/select backgrounds)": info_choose,
                        "report (coco/val objects, coco/val-large backgrounds)": info_report,
                        "backgrounds_all": {"choose": built["all"][0][1]["backgrounds_used"],
                                            "report": built["all"][1][1]["backgrounds_used"]}}
        out["ground_truth"] = {"objects": sum(len({k for rows in tr for k, _, _ in rows}) for _, tr, _ in report),
                               "counted_boxes": int(sum(c for _, tr, _ in report for rows in tr for *_, c in rows))}
        for key, det in dets.items():
            label = MODELS[key][0]
            cached = detect_all(det, select, FLOOR)
            cfg, table = choose(det, select, cached)
            print(f"{label}: chosen on calib: {cfg or 'defaults'}")
            for cand, m in sorted(table, key=lambda x: -x[1]["idf1"])[:5]:
                print(f"  {json.dumps(cand) or '{}':70s} IDF1 {m['idf1']:.3f} MOTA {m['mota']:.3f} "
                      f"IDsw {m['num_switches']}")
            # reported through the real pipeline: the chosen setting and the defaults on the quiet backgrounds,
            # the chosen setting on every background
            runs = {"chosen": (report, cfg), "defaults": (report, {}), "all_backgrounds": (built["all"][1][0], cfg)}
            reported, detections = {}, {}
            for name, (seqs, setting) in runs.items():
                results = [list(det.stream(path, decoder="opencv", track=setting)) for path, *_ in seqs]
                accs = [accumulate(truth, hyps_of(rs, len(truth))) for (_, truth, _), rs in zip(seqs, results)]
                reported[name] = {"setting": setting, **score(accs, [p.stem for p, *_ in seqs]),
                                  "boxes_returned": detection_scores(seqs, results)}
                if name == "defaults":
                    continue
                cached = detect_all(det, seqs, FLOOR)
                at_conf = [[r.select(r.scores >= det.conf) for r in rs] for rs in cached]
                merged = [[r.select(agnostic_keep(r.boxes, r.scores, det.iou) if len(r) > 1 else
                                    np.ones(len(r), bool)) for r in rs] for rs in at_conf]
                detections[name] = {"class_aware": detection_scores(seqs, at_conf),
                                    "class_agnostic": detection_scores(seqs, merged),
                                    "bounds": identity_bounds(seqs, merged, setting, det.conf, det.iou),
                                    "boxes_on_backgrounds_alone": background_boxes(det, seqs),
                                    "backgrounds": len(seqs)}
                if name == "chosen":
                    cost = overhead(det, seqs, cfg, args.rounds, cached)
            m, d = reported["chosen"], detections["chosen"]
            print(f"{label}: val IDF1 {m['idf1']:.3f} MOTA {m['mota']:.3f} IDsw {m['num_switches']}; detections "
                  f"F1 {d['class_aware']['f1']:.3f} (class-agnostic {d['class_agnostic']['f1']:.3f}); every "
                  f"background: IDF1 {reported['all_backgrounds']['idf1']:.3f}; throughput cost "
                  f"{100 * cost['throughput_cost']:.1f}%, tracker alone {cost['tracker_alone_ms_per_frame']:.2f} ms "
                  f"= {100 * cost['tracker_alone_fraction']:.1f}% of {cost['frame_ms_without']:.1f} ms")
            out["models"][label] = {"chosen_setting": cfg, "select_table": [{"setting": c, **m} for c, m in table],
                                    "reported": reported, "detections": detections, "overhead": cost}
    out["load_avg_end"] = os.getloadavg()
    args.out.mkdir(parents=True, exist_ok=True)
    write_atomic(args.out / "track_accuracy.json", json.dumps(out, indent=1) + "\n")
    write_atomic(args.out / "track_accuracy.md", markdown(out))
    print(f"wrote {args.out / 'track_accuracy.md'}")


def write_atomic(path: Path, text: str):
    from yolov6_edge.atomic import atomic_write_text

    atomic_write_text(path, text)


def _setting(s):
    return json.dumps(s) if s else "defaults"


def markdown(out) -> str:
    s, r = out["settings"], out["rules"]
    lines = ["# Tracking accuracy and overhead (benchmarks/track_accuracy.py)", "",
             f"`python benchmarks/track_accuracy.py --sequences {s['sequences']} --frames {s['frames']} --models "
             f"{' '.join(s['models'])} --rounds {s['rounds']} --threads {s['threads']}`", "",
             f"Host: {out['host']}; load average {out['load_avg_start'][0]:.1f} at the start, "
             f"{out['load_avg_end'][0]:.1f} at the end (a shared machine: the timings are noisy).", "",
             f"Reported on {s['sequences']} sequences of objects from coco/val over coco/val-large backgrounds "
             f"({out['ground_truth']['objects']} object tracks, {out['ground_truth']['counted_boxes']} counted "
             f"boxes), {s['frames']} frames each at {SIZE[0]}x{SIZE[1]}, {FPS:g} fps; tracker settings chosen on "
             f"{max(2, s['sequences'] // 2)} sequences of objects from coco/calib over coco/select backgrounds.",
             f"Objects: COCO {', '.join(r['object_supercategories'])} cut along their outlines, isolated (the outline "
             f"grown by {r['isolation_grow_px']} px touches no other annotated object), box sides >= "
             f"{r['min_side_px']} px, drawn with the longer side {r['long_side_px'][0]}-{r['long_side_px'][1]} px "
             f"(at most {r['max_upscale']:g}x up). Backgrounds: the widest 16:9 window of a COCO image that no "
             f"annotated box reaches (>= {r['background_min_width_px']} px wide). No object was chosen by what a model "
             f"detects. The backgrounds of the reported sequences were also required to be quiet: windows on which no model "
             f"under test ({', '.join(out['models'])}) finds anything at its conf (a model-based filter, of the "
             f"backgrounds only, never of the objects; {out['pools']['report (coco/val objects, coco/val-large backgrounds)']['backgrounds_used']}"
             f" of {out['pools']['report (coco/val objects, coco/val-large backgrounds)']['background_windows']} "
             f"windows). The same sequences over every window are reported below them (\"every background\").", "",
             "| model | backgrounds | setting (chosen on calib) | IDF1 | IDP / IDR | MOTA | ID switches | detections at "
             "conf: P / R / F1 (class-aware) | (class-agnostic) | boxes on the empty backgrounds |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for label, m in out["models"].items():
        for run, what in (("chosen", "quiet"), ("all_backgrounds", "every")):
            v, d = m["reported"][run], m["detections"][run]
            a, g = d["class_aware"], d["class_agnostic"]
            lines.append(f"| {label} | {what} | {_setting(m['chosen_setting'])} | {v['idf1']:.3f} | {v['idp']:.3f} / "
                         f"{v['idr']:.3f} | {v['mota']:.3f} | {v['num_switches']} | {a['precision']:.3f} / "
                         f"{a['recall']:.3f} / {a['f1']:.3f} | {g['precision']:.3f} / {g['recall']:.3f} / "
                         f"{g['f1']:.3f} | {d['boxes_on_backgrounds_alone']} on {d['backgrounds']} |")
    lines += ["", "What bounds IDF1: the same detections (at conf, class-agnostic) with perfect identities, and the "
              "tracker (chosen setting) fed the ground truth boxes themselves:", "",
              "| model | backgrounds | IDF1, perfect identities on the detections | IDF1 / MOTA / ID switches, tracker on "
              "the ground truth | IDF1, tracker on the detections |", "|---|---|---|---|---|"]
    for label, m in out["models"].items():
        for run, what in (("chosen", "quiet"), ("all_backgrounds", "every")):
            b = m["detections"][run]["bounds"]
            o, g = b["perfect_identities_on_the_detections"], b["tracker_on_the_ground_truth"]
            lines.append(f"| {label} | {what} | {o['idf1']:.3f} | {g['idf1']:.3f} / {g['mota']:.3f} / "
                         f"{g['num_switches']} | {m['reported'][run]['idf1']:.3f} |")
    lines += ["", "With TrackerConfig's defaults (quiet backgrounds):", "",
              "| model | IDF1 | MOTA | ID switches |", "|---|---|---|---|"]
    for label, m in out["models"].items():
        v = m["reported"]["defaults"]
        lines.append(f"| {label} | {v['idf1']:.3f} | {v['mota']:.3f} | {v['num_switches']} |")
    lines += ["", "Where the detections' false positives lie (at the detector's conf): duplicate (a second box on a "
              "found object), merge (over two or more objects), part (inside one object), misplaced (over an "
              "object, IoU < 0.5), background:", "",
              "| model | backgrounds | NMS | true positives | misses | duplicate | merge | part | misplaced | "
              "background |", "|---|---|---|---|---|---|---|---|---|---|"]
    for label, m in out["models"].items():
        for run, what in (("chosen", "quiet"), ("all_backgrounds", "every")):
            for kind in ("class_aware", "class_agnostic"):
                d = m["detections"][run][kind]
                f = d["false_positives"]
                lines.append(f"| {label} | {what} | {kind.replace('_', '-')} | {d['true_positives']} | "
                             f"{d['misses']} | {f['duplicate']} | {f['merge']} | {f['part']} | {f['misplaced']} | "
                             f"{f['background']} |")
    lines += ["", "Recall by the counted box's longer side (px of the frame; quiet backgrounds, class-aware): " + "; ".join(
        f"{label}: " + ", ".join(f"{k} {v['recall']:.2f} ({v['boxes']})" for k, v in
                                 m["detections"]["chosen"]["class_aware"]["recall_by_long_side_px"].items())
        for label, m in out["models"].items())]
    lines += ["", f"Overhead ({s['rounds']} alternating rounds; the frame time is the stream's wall time per frame "
              f"without tracking, ONNX Runtime {s['threads']} thread(s)):", "",
              "| model | boxes to the tracker per frame | frames/s without / with (medians) | (a) throughput cost "
              "(median of rounds) | (b) tracker alone, ms/frame (share of the frame time) | (c) CPU cost: CPU ms/frame "
              "without / with (medians), cost (median of rounds) | tracker in the pipeline, ms/frame |",
              "|---|---|---|---|---|---|---|"]
    for label, m in out["models"].items():
        o = m["overhead"]
        lines.append(f"| {label} | {o['boxes_to_tracker_per_frame']:.2f} | "
                     f"{statistics.median(o['fps_without']):.1f} / {statistics.median(o['fps_with']):.1f} | "
                     f"{100 * o['throughput_cost']:.1f}% (rounds: "
                     f"{', '.join(f'{100 * c:.1f}' for c in o['throughput_cost_per_round'])}) | "
                     f"{o['tracker_alone_ms_per_frame']:.2f} ({100 * o['tracker_alone_fraction']:.1f}% of "
                     f"{o['frame_ms_without']:.1f} ms) | {statistics.median(o['cpu_ms_per_frame_without']):.2f} / "
                     f"{statistics.median(o['cpu_ms_per_frame_with']):.2f}, {100 * o['cpu_cost']:.1f}% (rounds: "
                     f"{', '.join(f'{100 * c:.1f}' for c in o['cpu_cost_per_round'])}) | "
                     f"{o['tracker_in_pipeline_ms_per_frame']:.2f} |")
    lines += ["", "(a) Throughput cost: how much longer a frame takes end to end with tracking (the tracker runs in "
              "the NMS thread, beside decoding and inference of other frames). (b) Tracker alone: its own work per "
              "frame on the same detections, replayed in one thread. (c) CPU cost: the extra CPU time of the whole "
              "process per frame. Tracker in the pipeline: as timed in the NMS thread, waits for the GIL included.",
              "", "Settings tried on the calib sequences, best five by IDF1 (IDF1 / MOTA / ID switches):", ""]
    for label, m in out["models"].items():
        best = sorted(m["select_table"], key=lambda x: -x["idf1"])
        default = next(x for x in m["select_table"] if not x["setting"])
        lines.append(f"- {label}: " + "; ".join(
            f"{_setting(x['setting'])} {x['idf1']:.3f} / {x['mota']:.3f} / {x['num_switches']}"
            for x in best[:5]) + f"; (defaults {default['idf1']:.3f} / {default['mota']:.3f} / "
                                 f"{default['num_switches']})")
    lines += ["", "Targets (issue 28): IDF1 >= 0.8; tracking overhead <= 5% of the frame time.",
              "YOLOv6-N: no trained weights exist here (../shared/README.md), so Lite-M is the second model.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
