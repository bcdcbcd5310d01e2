"""QAT with and without a bound on weight drift, from the YOLOv6Lite PTQ models (AP on ONNX Runtime CPU).

For each model: float ONNX, the all-INT8 PTQ start (the method given per model; the partial search keeps
no layer float for any of the three, benchmarks/results/quant_lite*.md), then QAT from that start with each
--bounds value: how far a quantized conv's weight may move from the start, in quantization steps of its
output channel (`qat(weight_bound=...)`; inf: free weights, the recipe before the bound). Everything else
is the `yolov6-edge qat` recipe: 16 epochs on the 160 calibration images with the trainer's augmentations,
Adam lr 1e-4 cosine, amax lr 1e-3 (relative), CWD + output + layer-wise distillation, learned channel
scales, seed 0. AP on ../shared/coco/val (119 images) at 320 with the settings of eval_lite_ap.py, and on
the calibration images QAT trains on (to show fitting).

    python benchmarks/qat_bound.py --models m:mse l:percentile s:mse --bounds 1 [--work DIR]

--work keeps the calibration caches (and ONNX files) between runs; without it a temporary folder is used.
"""
import argparse
import json
import math
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quant_common import onnx_ap, run_qat

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("YOLOV6_EDGE_SHARED", ROOT.parent / "shared"))
SIZE = (320, 320)
NUM_CALIB = 160
SETTINGS = ("Start: all-INT8 PTQ with the model's method (160 calibration images, 0 float layers, as the partial "
            "search picks). QAT: 16 epochs on the calibration images with augmentations, Adam lr 1e-4 cosine, "
            "amax lr 1e-3 relative, CWD + output + layer-wise distillation, learned channel scales, seed 0; "
            "bound in quantization steps of each output channel at the start. AP: QDQ ONNX on ONNX Runtime CPU, "
            "../shared/coco/val (119 images) at 320, conf 0.03, IoU 0.65, multi-label, max 300; calib-image AP "
            "on the 160 images QAT trains on.")


def measure(m: str, method: str, bounds, work: Path, epochs: int, lr: float) -> dict:
    from yolov6_edge.export.onnx import export_onnx
    from yolov6_edge.quant.calibrate import calibrate_to_qdq

    coco = SHARED / "coco"
    param = SHARED / "weights" / "yolov6lite" / f"yolov6-lite-{m}.param"
    name = f"lite-{m}"
    fp = work / f"{name}.onnx"
    export_onnx(param, fp, img_size=SIZE)
    cache = work / f"{name}_{method}.calib.json"
    q = work / f"{name}_{method}.onnx"
    calibrate_to_qdq(str(param), str(coco / "calib" / "images"), str(q), num=NUM_CALIB, img_size=SIZE,
                     method=method, cache=cache)
    row = {"method": method,
           "float": {"AP": onnx_ap(fp, coco / "val"), "calib_AP": onnx_ap(fp, coco / "calib")},
           "start": {"AP": onnx_ap(q, coco / "val"), "calib_AP": onnx_ap(q, coco / "calib")}, "qat": {}}
    for b in bounds:
        out = work / f"{name}_{method}_qat_b{b:g}.onnx"
        r = run_qat(param, coco / "calib", SIZE, NUM_CALIB, method, cache, [], out, epochs=epochs, lr=lr,
                    amax_lr=1e-3, labels=False, augment=True, layer_weight=1.0, weight_bound=b)
        r.update(AP=onnx_ap(out, coco / "val"), calib_AP=onnx_ap(out, coco / "calib"))
        row["qat"][f"{b:g}"] = r
    return row


def table(res: dict) -> list:
    bounds = list(next(iter(res["models"].values()))["qat"]) if res["models"] else []
    lines = ["| model | method | float AP | start (PTQ) AP (drop) | " +
             " | ".join(f"QAT bound {b} AP (drop)" for b in bounds) + " | calib-image AP: float, start, " +
             ", ".join(f"bound {b}" for b in bounds) + " |",
             "|---" * (5 + len(bounds)) + "|"]
    for name, r in res["models"].items():
        fa = r["float"]["AP"]
        cells = [f"{x['AP']:.2f} ({fa - x['AP']:.2f})" for x in [r["start"], *r["qat"].values()]]
        calib = [f"{x['calib_AP']:.2f}" for x in [r["float"], r["start"], *r["qat"].values()]]
        lines.append(f"| {name} | {r['method']} | {fa:.2f} | " + " | ".join(cells) + " | " + ", ".join(calib) + " |")
    return lines


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=["s:mse"], help="MODEL:METHOD, MODEL one of s m l")
    p.add_argument("--bounds", nargs="+", type=float, default=[1.0, math.inf])
    p.add_argument("--epochs", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--work", type=Path, default=None)
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "qat_bound.json")
    args = p.parse_args(argv)
    import onnxruntime
    import torch

    torch.set_num_threads(2)
    from yolov6_edge.atomic import atomic_write_text

    work = args.work or Path(tempfile.mkdtemp(prefix="qat_bound_"))
    work.mkdir(parents=True, exist_ok=True)
    res = {"command": "python benchmarks/qat_bound.py " + " ".join(argv if argv is not None else sys.argv[1:]),
           "args": {**vars(args), "bounds": [f"{b:g}" for b in args.bounds]}, "img_size": SIZE, "num_calib": NUM_CALIB,
           "onnxruntime": onnxruntime.__version__, "torch": torch.__version__, "models": {}}
    for spec in args.models:
        m, _, method = spec.partition(":")
        if m not in ("s", "m", "l") or not method:
            p.error(f"--models wants MODEL:METHOD with MODEL one of s m l, got {spec!r}")
        res["models"][f"yolov6lite-{m}"] = measure(m, method, args.bounds, work, args.epochs, args.lr)
        lines = ["# QAT with a bound on weight drift (YOLOv6Lite, QDQ on ONNX Runtime CPU)", "",
                 f"`{res['command']}`", ""] + table(res) + ["", SETTINGS]
        atomic_write_text(args.out, json.dumps(res, indent=1, default=str))  # a finished model is kept
        atomic_write_text(args.out.with_suffix(".md"), "\n".join(lines) + "\n")
        print("\n".join(lines), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
