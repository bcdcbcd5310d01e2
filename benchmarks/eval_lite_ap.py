"""COCO AP of the official YOLOv6Lite-S/M/L on ../shared/coco/val, three ways, against the reference table.

Ways: the PyTorch model (torch backend), the exported ONNX on ONNX Runtime, and the CLI `eval` on that ONNX.
Settings are the reference ones of ../shared/README.md: 320x320 centred letterbox, RGB, conf 0.03, IoU 0.65,
class-aware multi-label NMS, max 300 detections, pycocotools.

    python benchmarks/eval_lite_ap.py [--models s m l] [--out benchmarks/results/lite_ap.json]
"""
import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("YOLOV6_EDGE_SHARED", ROOT.parent / "shared"))
# ../shared/README.md, measured with ncnn's own Python runtime (an independent implementation)
REFERENCE_AP = {"s": 28.26, "m": 30.02, "l": 33.28}
SETTINGS = {"img_size": [320, 320], "conf": 0.03, "iou": 0.65, "max_det": 300, "multi_label": True}


def measure(models=("s", "m", "l"), work_dir=None) -> dict:
    """{model: {"reference": AP, "torch": stats, "onnxruntime": stats, "cli_eval": stats}}."""
    from yolov6_edge.cli.main import main
    from yolov6_edge.eval.coco import evaluate
    from yolov6_edge.export.onnx import export_onnx

    images, ann = SHARED / "coco" / "val" / "images", SHARED / "coco" / "val" / "instances.json"
    work = Path(work_dir or tempfile.mkdtemp(prefix="lite_ap_"))
    kw = dict(conf=SETTINGS["conf"], iou=SETTINGS["iou"], max_det=SETTINGS["max_det"], multi_label=True,
              progress=False)
    out = {}
    for m in models:
        param = SHARED / "weights" / "yolov6lite" / f"yolov6-lite-{m}.param"
        onnx_path = work / f"yolov6lite-{m}.onnx"
        row = {"reference_AP": REFERENCE_AP[m]}
        row["torch"] = evaluate(param, images, ann, img_size=tuple(SETTINGS["img_size"]), **kw)
        export_onnx(param, onnx_path, img_size=tuple(SETTINGS["img_size"]))
        row["onnxruntime"] = evaluate(onnx_path, images, ann, **kw)
        cli_json = work / f"cli_{m}.json"
        rc = main(["eval", str(onnx_path), "--images", str(images), "--ann", str(ann), "--conf", str(kw["conf"]),
                   "--iou", str(kw["iou"]), "--max-det", str(kw["max_det"]), "--json", str(cli_json)])
        if rc != 0:
            raise RuntimeError(f"yolov6-edge eval exited {rc}")
        row["cli_eval"] = json.loads(cli_json.read_text())
        out[f"yolov6lite-{m}"] = row
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=["s", "m", "l"], choices=["s", "m", "l"])
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "lite_ap.json")
    args = p.parse_args(argv)
    import torch

    # one thread: on the shared 2-core box, two torch threads contend with ORT and other jobs (4x slower)
    torch.set_num_threads(1)
    from yolov6_edge.atomic import atomic_write_text

    t0 = time.perf_counter()
    results = measure(args.models)
    print(f"{'model':<15}{'ref AP':>8}{'torch':>8}{'ORT':>8}{'CLI':>8}{'max |diff|':>12}")
    for name, row in results.items():
        aps = [row[k]["AP"] for k in ("torch", "onnxruntime", "cli_eval")]
        diff = max(abs(a - row["reference_AP"]) for a in aps)
        row["max_abs_diff_to_reference"] = round(diff, 3)
        print(f"{name:<15}{row['reference_AP']:8.2f}" + "".join(f"{a:8.2f}" for a in aps) + f"{diff:12.2f}")
    command = " ".join(["python benchmarks/eval_lite_ap.py", *(argv if argv is not None else sys.argv[1:])])
    record = {"command": command,
              "settings": SETTINGS, "dataset": "../shared/coco/val (119 COCO val2017 images)",
              "machine": f"{platform.machine()} {platform.processor() or ''} {os.cpu_count()} cpus".strip(),
              "seconds": round(time.perf_counter() - t0, 1), "models": results}
    atomic_write_text(args.out, json.dumps(record, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
