"""Which calibration method suits YOLOv6Lite with depthwise channel scales: all-INT8 PTQ AP per method.

Each method's QDQ ONNX is scored on ONNX Runtime twice: on the calibration set's own labels (what a user
may choose with, as the partial search does) and on ../shared/coco/val (what we report). The table marks
the method the calibration labels pick, so the choice never looks at val.

    python benchmarks/quant_methods.py [--models s m l] [--methods max entropy mse percentile]
"""
import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quant_common import onnx_ap

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("YOLOV6_EDGE_SHARED", ROOT.parent / "shared"))
SIZE = (320, 320)
NUM_CALIB = 160


def measure(model_path, name, work: Path, methods) -> dict:
    from yolov6_edge.export.onnx import export_onnx
    from yolov6_edge.quant.calibrate import calibrate_to_qdq

    calib, val = SHARED / "coco" / "calib", SHARED / "coco" / "val"
    fp = work / f"{name}.onnx"
    export_onnx(model_path, fp, img_size=SIZE)
    row = {"float": {"calib_AP": onnx_ap(fp, calib), "val_AP": onnx_ap(fp, val)}, "ptq": {}}
    for meth in methods:
        q = work / f"{name}_{meth}.onnx"
        t0 = time.time()
        calibrate_to_qdq(str(model_path), str(calib / "images"), str(q), num=NUM_CALIB, img_size=SIZE, method=meth)
        row["ptq"][meth] = {"calib_AP": onnx_ap(q, calib), "val_AP": onnx_ap(q, val),
                            "seconds": round(time.time() - t0, 1)}
    row["picked_on_calib"] = max(row["ptq"], key=lambda m: row["ptq"][m]["calib_AP"])
    return row


def report(res, argv) -> list:
    methods = res["args"]["methods"]
    lines = ["# YOLOv6Lite all-INT8 PTQ by calibration method (QDQ ONNX on ONNX Runtime CPU)", "",
             f"`{' '.join(['python', 'benchmarks/quant_methods.py', *argv])}`", "",
             "AP on the calibration set's labels / AP on val (drop from float on val); **bold**: the method the "
             "calibration labels pick.", "",
             "| model | float | " + " | ".join(methods) + " |", "|---" * (len(methods) + 2) + "|"]
    for name, r in res["models"].items():
        f = r["float"]
        cells = []
        for m in methods:
            p = r["ptq"][m]
            cell = f"{p['calib_AP']:.2f} / {p['val_AP']:.2f} ({f['val_AP'] - p['val_AP']:.2f})"
            cells.append(f"**{cell}**" if m == r["picked_on_calib"] else cell)
        lines.append(f"| {name} | {f['calib_AP']:.2f} / {f['val_AP']:.2f} | " + " | ".join(cells) + " |")
    lines += ["", f"Calibration: {NUM_CALIB} images of ../shared/coco/calib, depthwise channel scales on, no float "
              "layers; eval at 320 with the settings of benchmarks/eval_lite_ap.py (conf 0.03, IoU 0.65, "
              "multi-label, max 300). Percentile: 99.99."]
    return lines


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=["s", "m", "l"], choices=["s", "m", "l"])
    p.add_argument("--methods", nargs="+", default=["max", "entropy", "mse", "percentile"])
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "quant_methods.json")
    args = p.parse_args(argv)
    import onnxruntime
    import torch

    torch.set_num_threads(2)
    from yolov6_edge.atomic import atomic_write_text

    work = Path(tempfile.mkdtemp(prefix="quant_methods_"))
    res = {"args": {"models": args.models, "methods": args.methods}, "img_size": SIZE, "num_calib": NUM_CALIB,
           "onnxruntime": onnxruntime.__version__, "torch": torch.__version__, "models": {}}
    for m in args.models:
        param = SHARED / "weights" / "yolov6lite" / f"yolov6-lite-{m}.param"
        res["models"][f"yolov6lite-{m}"] = measure(param, f"lite-{m}", work, args.methods)
        atomic_write_text(args.out, json.dumps(res, indent=1))
        atomic_write_text(args.out.with_suffix(".md"), "\n".join(report(res, argv)) + "\n")
    print("\n".join(report(res, argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
