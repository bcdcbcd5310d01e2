"""Tracking accuracy (MOTA, IDF1, ID switches; motmetrics) and the tracking overhead of Detector.stream(track=...)
on sequences with known identities that this script builds from the ../shared COCO images.

    python benchmarks/track_accuracy.py [--sequences 8 --frames 150 --models lite-s lite-m]

Sequences: real COCO people and vehicles (person, bicycle, car, motorcycle, bus, truck: what streams are
tracked and counted for; cut from their images with a margin of context around their annotated boxes, only
objects that no other annotated object overlaps) moving along known paths over a strongly blurred COCO image (texture and colour, no
detectable objects). Half the objects come from the left and half from the right at overlapping heights, so
they cross; the one drawn later passes in front. Half the sequences also have a grey pillar that every object
passes behind: a short, full occlusion. 640x360 at 30 fps, MJPG video files read back through the stream.

Ground truth: each object's box clipped to the frame, in every frame where at least half of that box is visible
and at least half of the object is inside the frame; a hypothesis that matches (IoU >= 0.5) only an object
under those limits is left out (neither true nor false), as MOTChallenge does with its ignore regions.
Hypotheses: the detections with a confirmed track id (>= 0). Scored class-agnostically at IoU 0.5.

No choosing on the reported set: the tracker's settings are chosen on sequences built from ../shared/coco/select
(the detections of each model, computed once at NMS conf 0.1, replayed through the tracker with each candidate
setting: the tracker consumes any stream of Detections), and reported on sequences built from
../shared/coco/val-large through the real pipeline (stream(track=...)).

Overhead: the tracker's seconds (Stream.stats()["stage_s"]["track"], its own timer in the NMS thread) per frame,
as a fraction of the stream's wall time per frame; and the stream's frames/s with and without tracking,
alternating in one process (medians over rounds). On a shared machine both are noisy; the script records the load.

Models: YOLOv6Lite-S and -M (official weights, ../shared/weights/yolov6lite, exported at 320). There are no
trained YOLOv6-N weights here (../shared/README.md: the official N/S/M/L checkpoints could not be obtained), and a
random-weight N detects nothing, so Lite-M stands in as the second model.
Writes benchmarks/results/track_accuracy.{json,md}.
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

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("YOLOV6_EDGE_SHARED", ROOT.parent / "shared"))
RESULTS = ROOT / "benchmarks" / "results"
SIZE = (640, 360)  # W, H
FPS = 30.0
MODELS = {"lite-s": ("YOLOv6Lite-S", "yolov6-lite-s.param"), "lite-m": ("YOLOv6Lite-M", "yolov6-lite-m.param"),
          "lite-l": ("YOLOv6Lite-L", "yolov6-lite-l.param")}
VISIBLE, INSIDE, IOU = 0.5, 0.5, 0.5
# candidate settings tried on the select sequences (the first is TrackerConfig's default)
CANDIDATES = [dict(), dict(high_conf=0.25), dict(low_conf=0.1), dict(low_conf=0.15), dict(match_iou=0.1),
              dict(lost_seconds=2.0), dict(high_conf=0.45), dict(min_frames=2)]


# ---- sequences ---------------------------------------------------------------------------------------------------
MARGIN = 0.15  # context cut out around each object, per side, as a fraction of its box
CATEGORIES = {1, 2, 3, 4, 6, 8}  # COCO ids: person, bicycle, car, motorcycle, bus, truck


def object_pool(split: str, min_side=60):
    """(image path, box) of COCO objects that can be cut out alone: big enough, not crowd, and no other annotated
    box covers more than a tenth of theirs (or of itself)."""
    folder = SHARED / "coco" / split
    data = json.loads((folder / "instances.json").read_text())
    files = {im["id"]: folder / "images" / im["file_name"] for im in data["images"]}
    by_image = {}
    for a in data["annotations"]:
        by_image.setdefault(a["image_id"], []).append(a)
    pool = []
    for image_id, anns in sorted(by_image.items()):
        for a in anns:
            x, y, w, h = a["bbox"]
            if a.get("iscrowd") or min(w, h) < min_side or a["category_id"] not in CATEGORIES:
                continue
            alone = True
            mx, my = MARGIN * w, MARGIN * h  # the context cut out with it must not hold another object either
            for b in anns:
                if b is a:
                    continue
                bx, by, bw, bh = b["bbox"]
                iw = max(0, min(x + w + mx, bx + bw) - max(x - mx, bx))
                ih = max(0, min(y + h + my, by + bh) - max(y - my, by))
                if iw * ih > 0.1 * min(w * h, bw * bh):
                    alone = False
                    break
            if alone:
                pool.append((files[image_id], (x, y, w, h)))
    return pool, sorted(files.values())


def make_sequence(path: Path, rng, pool, backgrounds, n_frames: int, n_objects: int, pillar: bool):
    """Write the video; return the ground truth: per frame, a list of (object id, box xyxy, counted)."""
    w, h = SIZE
    bg = cv2.resize(cv2.imread(str(backgrounds[rng.integers(len(backgrounds))])), SIZE)
    bg = cv2.GaussianBlur(bg, (0, 0), 14)
    objects = []
    for k in range(n_objects):
        img_path, (x, y, bw, bh) = pool[rng.integers(len(pool))]
        img = cv2.imread(str(img_path))
        cx1, cy1 = int(max(0, x - MARGIN * bw)), int(max(0, y - MARGIN * bh))
        cx2, cy2 = int(min(img.shape[1], np.ceil(x + bw + MARGIN * bw))), int(min(img.shape[0], np.ceil(y + bh + MARGIN * bh)))
        crop = img[cy1:cy2, cx1:cx2]
        height = int(rng.uniform(90, 180))
        width = int(min(260, max(24, round(crop.shape[1] * height / crop.shape[0]))))
        sx, sy = width / crop.shape[1], height / crop.shape[0]
        inner = ((x - cx1) * sx, (y - cy1) * sy, (x + bw - cx1) * sx, (y + bh - cy1) * sy)  # the object in the patch
        crop = cv2.resize(crop, (width, height), interpolation=cv2.INTER_AREA)
        from_left = k % 2 == 0
        speed = rng.uniform(2.0, 5.0)
        x0 = -width if from_left else w
        y0 = rng.uniform(0.15 * h, 0.85 * h - height) if h - height > 0.3 * h else 0.0
        objects.append(dict(crop=crop, inner=inner, x0=x0, y0=y0, vx=speed if from_left else -speed, vy=rng.uniform(-0.5, 0.5),
                            t0=int(rng.uniform(0, max(1, n_frames - (w + width) / speed))),
                            wobble=rng.uniform(0, 6), phase=rng.uniform(0, 6.3)))
    pillar_x = int(rng.uniform(0.35, 0.65) * w) if pillar else None
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, SIZE)
    truth = []
    for t in range(n_frames):
        frame = bg.copy()
        owner = np.full((h, w), -1, np.int32)
        boxes = {}
        for k, o in enumerate(objects):  # later objects in front
            dt = t - o["t0"]
            if dt < 0:
                continue
            x = o["x0"] + o["vx"] * dt
            y = o["y0"] + o["vy"] * dt + o["wobble"] * np.sin(0.05 * dt + o["phase"])
            ch, cw = o["crop"].shape[:2]
            x1, y1 = int(round(x)), int(round(y))
            fx1, fy1, fx2, fy2 = max(x1, 0), max(y1, 0), min(x1 + cw, w), min(y1 + ch, h)
            if fx2 <= fx1 or fy2 <= fy1:
                continue
            frame[fy1:fy2, fx1:fx2] = o["crop"][fy1 - y1:fy2 - y1, fx1 - x1:fx2 - x1]
            owner[fy1:fy2, fx1:fx2] = -1  # the context hides what is behind it, but is nobody's
            i1, j1, i2, j2 = (int(round(v)) for v in o["inner"])
            ox1, oy1, ox2, oy2 = x1 + i1, y1 + j1, x1 + i2, y1 + j2  # the object's box in the frame
            bx1, by1, bx2, by2 = max(ox1, 0), max(oy1, 0), min(ox2, w), min(oy2, h)
            if bx2 <= bx1 or by2 <= by1:
                boxes.pop(k, None)
                continue
            owner[by1:by2, bx1:bx2] = k
            boxes[k] = ((bx1, by1, bx2, by2), (bx2 - bx1) * (by2 - by1) / float((ox2 - ox1) * (oy2 - oy1)))
        if pillar_x is not None:
            frame[:, pillar_x:pillar_x + 40] = (128, 128, 128)
            owner[:, pillar_x:pillar_x + 40] = -2
        rows = []
        for k, (box, inside) in boxes.items():
            x1, y1, x2, y2 = box
            visible = np.count_nonzero(owner[y1:y2, x1:x2] == k) / float((x2 - x1) * (y2 - y1))
            rows.append((k, box, bool(visible >= VISIBLE and inside >= INSIDE)))
        truth.append(rows)
        writer.write(frame)
    writer.release()
    return truth


def build(split, folder: Path, n_seq, n_frames, seed):
    pool, backgrounds = object_pool(split)
    rng = np.random.default_rng(seed)
    seqs = []
    for i in range(n_seq):
        path = folder / f"{split}_{i}.avi"
        truth = make_sequence(path, rng, pool, backgrounds, n_frames, int(rng.integers(4, 7)), pillar=i % 2 == 1)
        seqs.append((path, truth))
    return seqs


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

    metrics = ["mota", "idf1", "num_switches", "precision", "recall", "num_false_positives", "num_misses",
               "mostly_tracked", "num_unique_objects"]
    summary = mm.metrics.create().compute_many(accs, metrics=metrics, names=names, generate_overall=True)
    row = summary.loc["OVERALL"]
    return {m: (float(row[m]) if m in ("mota", "idf1", "precision", "recall") else int(row[m])) for m in metrics}


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


def choose(det, seqs):
    """The candidate setting with the best IDF1 (MOTA breaks ties) on the select sequences, from one detector
    pass per sequence replayed through the tracker."""
    from yolov6_edge.track.tracker import StreamTracker

    conf = det.conf
    det.conf = 0.1  # keep what any candidate's low_conf could use; each candidate filters below
    cached = [(list(det.stream(path, decoder="opencv")), truth) for path, truth in seqs]
    det.conf = conf
    table = []
    for cand in CANDIDATES:
        accs = []
        for results, truth in cached:
            tracker = StreamTracker(cand, conf=conf)
            low = tracker.nms_conf
            out = [tracker.update(r.select(r.scores >= low)) for r in results]
            accs.append(accumulate(truth, hyps_of(out, len(truth))))
        table.append((cand, score(accs, [str(i) for i in range(len(accs))])))
    best = max(table, key=lambda x: (x[1]["idf1"], x[1]["mota"]))
    return best[0], table


def report_run(det, seqs, cfg, rounds):
    """Metrics through the real pipeline, and the overhead: tracker seconds / wall, frames/s with and without."""
    accs, track_s, wall_s, frames = [], 0.0, 0.0, 0
    for path, truth in seqs:
        stream = det.stream(path, decoder="opencv", track=cfg)
        results = list(stream)
        st = stream.stats()
        track_s += st["stage_s"]["track"]
        wall_s += st["wall_s"]
        frames += st["frames_done"]
        accs.append(accumulate(truth, hyps_of(results, len(truth))))
    metrics = score(accs, [p.stem for p, _ in seqs])
    fps = {"with": [], "without": []}
    for _ in range(rounds):  # alternate, so a slow stretch of the machine hits both
        for mode in ("without", "with"):
            n, t0 = 0, time.perf_counter()
            for path, _ in seqs:
                n += sum(1 for _ in det.stream(path, decoder="opencv", track=cfg if mode == "with" else None))
            fps[mode].append(n / (time.perf_counter() - t0))
    med = {k: statistics.median(v) for k, v in fps.items()}
    return metrics, {"track_ms_per_frame": 1000 * track_s / frames, "wall_ms_per_frame": 1000 * wall_s / frames,
                     "track_fraction_of_frame_time": track_s / wall_s, "fps_without": med["without"],
                     "fps_with": med["with"], "fps_ratio_with_over_without": med["with"] / med["without"],
                     "rounds": rounds}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sequences", type=int, default=8, help="reported sequences (val-large); select gets half")
    ap.add_argument("--frames", type=int, default=150)
    ap.add_argument("--models", nargs="+", default=["lite-s", "lite-m"], choices=sorted(MODELS))
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds for frames/s with and without")
    ap.add_argument("--threads", type=int, default=1, help="ONNX Runtime threads")
    args = ap.parse_args()
    if not (SHARED / "coco" / "val-large").is_dir():
        sys.exit(f"{SHARED}/coco/val-large not found: this benchmark builds its sequences from ../shared")
    try:
        import motmetrics  # noqa: F401
    except ImportError:
        sys.exit("needs motmetrics: pip install motmetrics")
    from yolov6_edge import Detector
    from yolov6_edge.host import cpu_flags, cpu_name

    host = f"{cpu_name()} ({platform.machine()}, {os.cpu_count()} cores), flags {' '.join(cpu_flags())}"
    out = {"host": host, "load_avg_start": os.getloadavg(), "settings": vars(args),
           "sequences": "built from ../shared COCO images (see the script's docstring)", "models": {}}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        select = build("select", tmp, max(2, args.sequences // 2), args.frames, seed=1)
        report = build("val-large", tmp, args.sequences, args.frames, seed=2)
        print(f"built {len(select)} + {len(report)} sequences in {time.perf_counter() - t0:.0f} s")
        out["ground_truth"] = {"objects": sum(len({k for rows in tr for k, _, _ in rows}) for _, tr in report),
                               "counted_boxes": int(sum(c for _, tr in report for rows in tr for *_, c in rows))}
        for key in args.models:
            label = MODELS[key][0]
            det = Detector(export(key, tmp), threads=args.threads)
            cfg, table = choose(det, select)
            print(f"{label}: chosen on select: {cfg or 'defaults'}")
            for cand, m in table:
                print(f"  {json.dumps(cand) or '{}':45s} IDF1 {m['idf1']:.3f} MOTA {m['mota']:.3f} "
                      f"IDsw {m['num_switches']}")
            metrics, overhead = report_run(det, report, cfg, args.rounds)
            print(f"{label}: val-large IDF1 {metrics['idf1']:.3f} MOTA {metrics['mota']:.3f} "
                  f"IDsw {metrics['num_switches']}; tracking {overhead['track_ms_per_frame']:.2f} ms/frame = "
                  f"{100 * overhead['track_fraction_of_frame_time']:.1f}% of the frame time")
            out["models"][label] = {"chosen_setting": cfg, "select_table": [{"setting": c, **m} for c, m in table],
                                    "val_large": metrics, "overhead": overhead}
    out["load_avg_end"] = os.getloadavg()
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "track_accuracy.json").write_text(json.dumps(out, indent=1) + "\n")
    (RESULTS / "track_accuracy.md").write_text(markdown(out))
    print(f"wrote {RESULTS / 'track_accuracy.md'}")


def markdown(out) -> str:
    s = out["settings"]
    lines = ["# Tracking accuracy and overhead (benchmarks/track_accuracy.py)", "",
             f"`python benchmarks/track_accuracy.py --sequences {s['sequences']} --frames {s['frames']} --models "
             f"{' '.join(s['models'])} --rounds {s['rounds']} --threads {s['threads']}`", "",
             f"Host: {out['host']}; load average {out['load_avg_start'][0]:.1f} at the start, "
             f"{out['load_avg_end'][0]:.1f} at the end (a shared machine: the overhead figures are provisional).",
             f"Reported on {s['sequences']} sequences built from coco/val-large ({out['ground_truth']['objects']} "
             f"objects, {out['ground_truth']['counted_boxes']} counted boxes), {s['frames']} frames each at "
             f"{SIZE[0]}x{SIZE[1]}, {FPS:g} fps; tracker settings chosen on sequences built from coco/select.", "",
             "| model | setting (chosen on select) | IDF1 | MOTA | ID switches | precision | recall | tracker ms/frame "
             "| tracker / frame time | frames/s without / with tracking |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for label, m in out["models"].items():
        v, o = m["val_large"], m["overhead"]
        lines.append(f"| {label} | {json.dumps(m['chosen_setting']) if m['chosen_setting'] else 'defaults'} | "
                     f"{v['idf1']:.3f} | {v['mota']:.3f} | {v['num_switches']} | {v['precision']:.3f} | "
                     f"{v['recall']:.3f} | {o['track_ms_per_frame']:.2f} | "
                     f"{100 * o['track_fraction_of_frame_time']:.1f}% | {o['fps_without']:.1f} / {o['fps_with']:.1f} "
                     f"(x{o['fps_ratio_with_over_without']:.3f}) |")
    lines += ["", "Settings tried on select (IDF1 / MOTA / ID switches):", ""]
    for label, m in out["models"].items():
        lines.append(f"- {label}: " + "; ".join(
            f"{json.dumps(r['setting']) if r['setting'] else 'defaults'} {r['idf1']:.3f} / {r['mota']:.3f} / "
            f"{r['num_switches']}" for r in m["select_table"]))
    lines += ["", "Targets (issue 28): IDF1 >= 0.8; tracking overhead <= 5% of the frame time.",
              "YOLOv6-N: no trained weights exist here (../shared/README.md), so Lite-M is the second model.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
