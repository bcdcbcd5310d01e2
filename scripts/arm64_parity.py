"""The native ops and Detector on aarch64 against x86 on the same inputs (a step of scripts/arm64_check.sh).

    python scripts/arm64_parity.py make  --out REF.npz [--model M.onnx] [--images DIR] [--num N]   # on x86
    python scripts/arm64_parity.py check --ref REF.npz --json OUT.json                               # on aarch64

`make` fixes the inputs (seeded synthetic images, the first N JPEGs of DIR decoded by this machine's OpenCV,
seeded boxes/scores and box distances) and records what this machine's ops and Detector give on them.
`check` loads the same inputs from REF.npz, recomputes everything with the running machine's build, and
compares:
- letterbox, batched NMS, box decoding: bit-exact. The library is built with -ffp-contract=off, so both
  compilers round every float operation the same way (IEEE 754, no fused multiply-add) and any difference is
  a bug in an architecture-specific path;
- Detector on ONNX Runtime (same letterboxed blob): the raw outputs within RAW_TOL (two builds of ORT's float
  kernels sum in different orders: NEON vs AVX-512), and the detections after NMS matched one to one;
- JPEG decoding by each machine's OpenCV wheel: reported (identical images, max pixel difference), not
  judged: it is the wheels' libjpeg, not our code, and the other checks use x86's decoded pixels.
Exit status 0 when every judged check passes, 1 otherwise. Runs with numpy, OpenCV, ONNX Runtime and
yolov6_edge only (no torch).
"""
import argparse
import hashlib
import json
import platform
import sys
from pathlib import Path

import numpy as np

# Raw-output tolerances of Detector on ORT float kernels, x86 vs aarch64: class scores are sigmoid outputs in
# [0, 1]; boxes are in input pixels (<= 320 here), a conv output times a stride of up to 64. Float32 sums in
# another order differ by ~1e-6 relative (measured: 4.5e-3 px and 3.9e-6 in score on 8 COCO images, Lite-S);
# the bounds are ~2-25x that and far below anything that moves AP (the AP step judges that).
RAW_TOL = {"scores_abs": 1e-4, "boxes_abs": 1e-2}
DET_TOL = {"box_abs_px": 0.01, "score_abs": 1e-4}
LETTERBOX_CASES = [((320, 320), True, np.float32), ((320, 320), False, np.float32), ((640, 640), True, np.float16),
                   ((256, 416), True, np.float32)]
NMS_CASES = [dict(conf_thres=0.001, iou_thres=0.65, multi_label=True), dict(conf_thres=0.25, iou_thres=0.45),
             dict(conf_thres=0.05, iou_thres=0.5, agnostic=True), dict(conf_thres=0.001, iou_thres=0.7, max_det=100)]
DETECT = dict(conf=0.03, iou=0.65, max_det=300, multi_label=True)


def synthetic_images():
    rng = np.random.default_rng(29)
    sizes = [(37, 53), (480, 640), (720, 1280), (1080, 810), (1, 1), (2, 999)]
    imgs = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in sizes]
    # smooth content too: random noise alone never exercises neighbouring taps with close values
    y, x = np.mgrid[0:300, 0:500]
    imgs.append(np.stack([(x * 255 // 499), (y * 255 // 299), ((x + y) % 256)], -1).astype(np.uint8))
    return imgs


def nms_inputs():
    rng = np.random.default_rng(30)
    b, n, c = 2, 8400, 80
    xy = rng.uniform(0, 600, (b, n, 2)).astype(np.float32)
    wh = rng.uniform(2, 200, (b, n, 2)).astype(np.float32)
    boxes = np.concatenate([xy, xy + wh], -1)
    scores = (rng.random((b, n, c), dtype=np.float32) ** 6).astype(np.float32)  # mostly low, like a detector
    return boxes, scores


def decode_inputs():
    rng = np.random.default_rng(31)
    n = 2100
    anchors = rng.uniform(0, 320, (n, 2)).astype(np.float32)
    strides = rng.choice(np.array([8, 16, 32, 64], np.float32), n).astype(np.float32)
    return {0: (rng.uniform(0, 20, (2, n, 4)).astype(np.float32), anchors, strides),
            16: (rng.normal(0, 3, (2, n, 4 * 17)).astype(np.float32), anchors, strides)}


def jpeg_paths(images_dir, num):
    if not images_dir or not Path(images_dir).is_dir():
        return []
    return sorted(p for p in Path(images_dir).iterdir() if p.suffix.lower() in (".jpg", ".jpeg"))[:num]


def array_inputs():
    """The NMS and decode inputs, made once on x86 and stored: numpy's float32 power and its normal
    sampler's libm calls may round differently on another machine, so they are never regenerated there."""
    boxes, scores = nms_inputs()
    out = {"nms.boxes": boxes, "nms.scores": scores}
    for reg_max, (reg, anchors, strides) in decode_inputs().items():
        out[f"decode{reg_max}.reg"], out[f"decode{reg_max}.anchors"], out[f"decode{reg_max}.strides"] = \
            reg, anchors, strides
    return out


def compute(images, arrays, model=None):
    """{name: array} of everything compared, on this machine."""
    from yolov6_edge import ops

    out = {}
    for i, (size, center, dtype) in enumerate(LETTERBOX_CASES):
        blob, params = ops.letterbox(images, size=size, center=center, dtype=dtype)
        out[f"letterbox{i}.blob"], out[f"letterbox{i}.params"] = blob, params
    for i, kw in enumerate(NMS_CASES):
        for j, d in enumerate(ops.batched_nms(arrays["nms.boxes"], arrays["nms.scores"], **kw)):
            out[f"nms{i}.image{j}"] = d
    for reg_max in (0, 16):
        out[f"decode{reg_max}"] = ops.decode_boxes(arrays[f"decode{reg_max}.reg"], arrays[f"decode{reg_max}.anchors"],
                                                   arrays[f"decode{reg_max}.strides"], reg_max=reg_max)
    if model:
        from yolov6_edge import Detector

        det = Detector(model, threads=1, **DETECT)
        real = [im for im in images if im.shape[0] > 100][-8:]  # the JPEGs (or the larger synthetic images)
        inferred = det.infer(det.preprocess(real))
        for k, o in enumerate(inferred.outputs):
            out[f"detector.raw{k}"] = np.asarray(o)
        for j, d in enumerate(det.postprocess(inferred)):
            out[f"detector.dets{j}"] = np.concatenate([d.boxes, d.scores[:, None], d.class_ids[:, None]], 1)
    return out


def make(args):
    import cv2

    paths = jpeg_paths(args.images, args.num)
    decoded = [cv2.imread(str(p)) for p in paths]
    images = synthetic_images() + decoded
    inputs = array_inputs()
    arrays = {f"input{i}": im for i, im in enumerate(images)}
    arrays.update({f"in.{k}": v for k, v in inputs.items()})
    arrays.update({f"ref.{k}": v for k, v in compute(images, inputs, args.model).items()})
    meta = {"machine": platform.machine(), "jpegs": [p.name for p in paths], "n_synthetic": len(images) - len(paths),
            "model": str(args.model) if args.model else None, "opencv": cv2.__version__}
    np.savez_compressed(args.out, meta=np.array(json.dumps(meta)), **arrays)
    refs = sum(k.startswith('ref.') for k in arrays)
    print(f"wrote {args.out}: {len(images)} images ({len(paths)} JPEGs), {refs} outputs")
    return 0


def cpu_features():
    """The aarch64 features this (emulated) CPU exposes, from the auxiliary vector (qemu fills in the guest's):
    ONNX Runtime picks its INT8 kernels from these (NEON, dot product, i8mm)."""
    if platform.machine() != "aarch64":
        return None
    import struct

    raw = Path("/proc/self/auxv").read_bytes()
    aux = dict(struct.iter_unpack("<QQ", raw[: len(raw) // 16 * 16]))
    hw, hw2 = aux.get(16, 0), aux.get(26, 0)  # AT_HWCAP, AT_HWCAP2
    bits = {"asimd": hw >> 1, "fphp": hw >> 9, "asimddp": hw >> 20, "sve": hw >> 22, "i8mm": hw2 >> 13,
            "bf16": hw2 >> 14, "sve2": hw2 >> 1}
    return sorted(k for k, v in bits.items() if v & 1)


def _bits_equal(a, b):
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


def _compare_exact(ref, mine, prefix):
    keys = sorted(k for k in ref if k.startswith(prefix))
    bad = []
    worst = 0.0
    for k in keys:
        a, b = ref[k], mine.get(k)
        if b is None or not _bits_equal(a, b):
            bad.append(k)
            if b is not None and a.shape == b.shape:
                worst = max(worst, float(np.abs(a.astype(np.float64) - b.astype(np.float64)).max(initial=0)))
    return {"arrays": len(keys), "bit_exact": len(keys) - len(bad), "differing": bad[:10],
            "max_abs_diff": worst, "ok": not bad and bool(keys)}


def _match_dets(a, b):
    """Greedy one-to-one match of two [K, 6] detection lists (same class, nearest box)."""
    used, box_d, score_d, unmatched = set(), 0.0, 0.0, 0
    for row in a:
        cand = [j for j in range(len(b)) if j not in used and b[j, 5] == row[5]]
        if not cand:
            unmatched += 1
            continue
        j = min(cand, key=lambda j: float(np.abs(b[j, :4] - row[:4]).max()))
        used.add(j)
        box_d = max(box_d, float(np.abs(b[j, :4] - row[:4]).max()))
        score_d = max(score_d, float(abs(b[j, 4] - row[4])))
    return unmatched + (len(b) - len(used)), box_d, score_d


def check(args):
    import cv2

    with np.load(args.ref, allow_pickle=False) as z:
        data = {k: z[k] for k in z.files}
    meta = json.loads(str(data.pop("meta")))
    images = [data[f"input{i}"] for i in range(sum(k.startswith("input") for k in data))]
    ref = {k[4:]: v for k, v in data.items() if k.startswith("ref.")}
    inputs = {k[3:]: v for k, v in data.items() if k.startswith("in.")}
    model = args.model or meta.get("model")
    mine = compute(images, inputs, model if (model and Path(model).exists()) else None)
    checks = {"letterbox": _compare_exact(ref, mine, "letterbox"), "nms": _compare_exact(ref, mine, "nms"),
              "decode": _compare_exact(ref, mine, "decode")}
    if any(k.startswith("detector.") for k in ref) and model and Path(model).exists():
        raws = sorted(k for k in ref if k.startswith("detector.raw"))
        diffs = [float(np.abs(ref[k].astype(np.float64) - mine[k]).max()) for k in raws]
        # ONNX contract: raw0 boxes (pixels), raw1 scores; any other layout is judged by the box tolerance
        tol = [RAW_TOL["boxes_abs"] if i == 0 else RAW_TOL["scores_abs"] for i in range(len(raws))]
        n_img = sum(k.startswith("detector.dets") for k in ref)
        unmatched, box_d, score_d = 0, 0.0, 0.0
        for j in range(n_img):
            u, bd, sd = _match_dets(ref[f"detector.dets{j}"], mine[f"detector.dets{j}"])
            unmatched, box_d, score_d = unmatched + u, max(box_d, bd), max(score_d, sd)
        checks["detector"] = {
            "model": str(model), "images": n_img, "settings": DETECT,
            "raw_max_abs_diff": diffs, "raw_tolerance": tol,
            "detections_x86": int(sum(len(ref[f"detector.dets{j}"]) for j in range(n_img))),
            "detections_aarch64": int(sum(len(mine[f"detector.dets{j}"]) for j in range(n_img))),
            "unmatched": unmatched, "matched_max_box_diff_px": box_d, "matched_max_score_diff": score_d,
            "tolerance": DET_TOL,
            "ok": all(d <= t for d, t in zip(diffs, tol)) and unmatched == 0 and box_d <= DET_TOL["box_abs_px"]
            and score_d <= DET_TOL["score_abs"]}
    else:
        checks["detector"] = {"ok": None, "reason": "no model in the reference (../shared weights absent on x86?)"}
    # each machine's own JPEG decoder, reported only
    jpeg = {"images": len(meta["jpegs"]), "identical": 0, "max_abs_diff": 0, "pixels_differing": 0}
    offset = meta["n_synthetic"]
    for i, name in enumerate(meta["jpegs"]):
        p = Path(args.images or "") / name
        if not p.exists():
            jpeg["reason"] = f"{p} not found here"
            break
        a, b = images[offset + i], cv2.imread(str(p))
        if _bits_equal(a, b):
            jpeg["identical"] += 1
        elif a.shape == b.shape:
            d = np.abs(a.astype(np.int16) - b.astype(np.int16))
            jpeg["max_abs_diff"] = max(jpeg["max_abs_diff"], int(d.max()))
            jpeg["pixels_differing"] += int((d > 0).any(-1).sum())
    jpeg["opencv_x86"], jpeg["opencv_here"] = meta["opencv"], cv2.__version__
    checks["jpeg_decode"] = jpeg
    judged = [c["ok"] for c in checks.values() if c.get("ok") is not None]
    result = {"machine": platform.machine(), "cpu_features": cpu_features(), "reference_machine": meta["machine"],
              "checks": checks,
              "ok": all(judged), "inputs": {"images": len(images), "jpegs": len(meta["jpegs"])},
              "sha256_ref": hashlib.sha256(Path(args.ref).read_bytes()).hexdigest()[:16]}
    text = json.dumps(result, indent=1, default=float)
    if args.json:
        Path(args.json).write_text(text + "\n")
    for name, c in checks.items():
        print(f"{name:12s} {'ok' if c.get('ok') else ('-' if c.get('ok') is None else 'FAILED')}  "
              + ", ".join(f"{k}={v}" for k, v in c.items() if k not in ("ok", "differing", "settings", "tolerance")))
    return 0 if result["ok"] else 1


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make", help="on x86: fix the inputs and record this machine's outputs")
    m.add_argument("--out", type=Path, required=True)
    m.add_argument("--model", type=Path, default=None, help="float .onnx for the Detector check")
    m.add_argument("--images", type=Path, default=None, help="JPEG folder (first --num images)")
    m.add_argument("--num", type=int, default=8)
    c = sub.add_parser("check", help="on aarch64: recompute and compare with --ref")
    c.add_argument("--ref", type=Path, required=True)
    c.add_argument("--json", type=Path, default=None)
    c.add_argument("--model", type=Path, default=None, help="default: the one named in --ref")
    c.add_argument("--images", type=Path, default=None, help="the JPEG folder, to compare JPEG decoding")
    args = p.parse_args(argv)
    return make(args) if args.cmd == "make" else check(args)


if __name__ == "__main__":
    sys.exit(main())
