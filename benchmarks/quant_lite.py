"""INT8 PTQ of the official YOLOv6Lite on ONNX Runtime CPU: AP of float vs INT8 QDQ ONNX, and latency.

Calibrates on ../shared/coco/calib (160 images), evaluates on ../shared/coco/val at 320 with the settings of
benchmarks/eval_lite_ap.py (conf 0.03, IoU 0.65, multi-label, max 300).

    python benchmarks/quant_lite.py [--models s] [--out benchmarks/results/quant_lite.json]
"""
import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("YOLOV6_EDGE_SHARED", ROOT.parent / "shared"))
SETTINGS = {"img_size": [320, 320], "conf": 0.03, "iou": 0.65, "max_det": 300, "multi_label": True}


def latency_ms(path, runs=50) -> float:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).random((1, 3, *SETTINGS["img_size"]), dtype=np.float32)
    for _ in range(5):
        sess.run(None, {"images": x})
    t = []
    for _ in range(runs):
        t0 = time.perf_counter()
        sess.run(None, {"images": x})
        t.append(time.perf_counter() - t0)
    return float(np.median(t) * 1e3)


def measure(m, work, method="max") -> dict:
    from yolov6_edge.eval.coco import evaluate
    from yolov6_edge.export.onnx import export_onnx
    from yolov6_edge.quant.calibrate import calibrate_to_qdq

    images, ann = SHARED / "coco" / "val" / "images", SHARED / "coco" / "val" / "instances.json"
    param = SHARED / "weights" / "yolov6lite" / f"yolov6-lite-{m}.param"
    kw = dict(conf=SETTINGS["conf"], iou=SETTINGS["iou"], max_det=SETTINGS["max_det"], multi_label=True,
              progress=False)
    fp = work / f"lite-{m}.onnx"
    export_onnx(param, fp, img_size=tuple(SETTINGS["img_size"]))
    q = work / f"lite-{m}_int8.onnx"
    t0 = time.time()
    report = calibrate_to_qdq(str(param), str(SHARED / "coco" / "calib" / "images"), str(q), num=160,
                              img_size=tuple(SETTINGS["img_size"]), method=method)
    row = {"calibration_s": round(time.time() - t0, 1), "method": method,
           "float_layers": report["float_layers"], "quantized_layers": report["quantized_layers"]}
    row["float"] = evaluate(fp, images, ann, **kw)
    row["int8_ptq"] = evaluate(q, images, ann, **kw)
    # partial: float layers chosen on the calibration set (its own COCO labels), judged on val
    qp = work / f"lite-{m}_int8_partial.onnx"
    calib = SHARED / "coco" / "calib"
    rep = calibrate_to_qdq(str(param), str(calib / "images"), str(qp), num=160,
                           img_size=tuple(SETTINGS["img_size"]), method=method, skip="auto", max_ap_drop=1.0,
                           eval_images=str(calib / "images"), eval_ann=str(calib / "instances.json"),
                           cache=work / f"lite-{m}_int8.calib.json")
    row["partial"] = {k: rep["partial"][k] for k in ("float_layers", "met", "tried", "float_ap", "int8_ap")}
    row["int8_partial"] = evaluate(qp, images, ann, **kw)
    row["latency_ms_int8_partial"] = latency_ms(qp)
    row["latency_ms_float"] = latency_ms(fp)
    row["latency_ms_int8"] = latency_ms(q)
    return row


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=["s"], choices=["s", "m", "l"])
    p.add_argument("--method", default="max")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "quant_lite.json")
    args = p.parse_args(argv)
    import onnxruntime
    import torch

    torch.set_num_threads(1)
    from yolov6_edge.atomic import atomic_write_text

    work = Path(tempfile.mkdtemp(prefix="quant_lite_"))
    res = {"settings": SETTINGS, "onnxruntime": onnxruntime.__version__, "models": {}}
    for m in args.models:
        res["models"][f"yolov6lite-{m}"] = measure(m, work, args.method)
    atomic_write_text(args.out, json.dumps(res, indent=1, default=str))
    lines = ["# YOLOv6Lite INT8 (QDQ, ONNX Runtime CPU) vs float", "",
             "`python benchmarks/quant_lite.py --models " + " ".join(args.models) + "`", "",
             "| model | float AP | INT8 PTQ AP (drop) | INT8 partial AP (drop, float layers) | float ms | INT8 ms | "
             "partial ms | INT8/float |", "|---|---|---|---|---|---|---|---|"]
    for name, r in res["models"].items():
        fa, qa = r["float"]["AP"], r["int8_ptq"]["AP"]
        pa = r["int8_partial"]["AP"]
        lines.append(f"| {name} | {fa:.2f} | {qa:.2f} ({fa - qa:.2f}) | {pa:.2f} ({fa - pa:.2f}, "
                     f"{len(r['partial']['float_layers'])}) | {r['latency_ms_float']:.2f} | "
                     f"{r['latency_ms_int8']:.2f} | {r['latency_ms_int8_partial']:.2f} | "
                     f"{r['latency_ms_int8'] / r['latency_ms_float']:.2f} |")
    lines += ["", f"Calibration: 160 images of ../shared/coco/calib, method {args.method}; eval on "
              "../shared/coco/val (119 images) at 320, conf 0.03, IoU 0.65, multi-label; latency: batch 1, "
              "one ORT thread, median of 50 runs, same run. Partial: `--skip auto --max-ap-drop 1.0`, float layers chosen by AP on the calibration set's own labels "
              "(not on val). QAT: not measured."]
    atomic_write_text(args.out.with_suffix(".md"), "\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
