"""The INT8 YOLOv6Lite we would ship, chosen on one labelled set and reported on another.

For each official YOLOv6Lite model, from the recipe calibration/yolov6lite_coco.yaml (method and float
layers chosen on ../shared/coco/select; the PTQ model benchmarks/int8_cpu.py wrote with --target tensorrt):
1. where PTQ is more than --qat-gap (0.5) AP under float on select, QAT with the recipe's defaults from that
   start, scored on select every 4 epochs, keeping the best (`yolov6-edge qat --eval-images select`);
2. the candidate kept is the one of {PTQ/partial, QAT} with the higher AP on select;
3. reported on ../shared/coco/val-large with `yolov6-edge compare`: AP of float, PTQ, QAT and the kept one,
   each difference to float with its paired bootstrap SE and 95% interval.
All AP is of the QDQ ONNX (TensorRT placement) on ONNX Runtime, which computes the ONNX semantics.

    python benchmarks/int8_select.py --work /tmp/int8 [--models lite-s lite-m lite-l] [--draws 1000]
"""
import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("YOLOV6_EDGE_SHARED", ROOT.parent / "shared"))
LITE = {"lite-s": "yolov6-lite-s", "lite-m": "yolov6-lite-m", "lite-l": "yolov6-lite-l"}
EVAL = {"conf": 0.03, "iou": 0.65, "max_det": 300, "multi_label": True}


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def main(argv=None) -> int:
    a = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    a.add_argument("--models", nargs="+", default=list(LITE), choices=list(LITE))
    a.add_argument("--work", type=Path, required=True, help="benchmarks/int8_cpu.py's --work folder")
    a.add_argument("--draws", type=int, default=1000)
    a.add_argument("--qat-gap", type=float, default=0.5,
                   help="run QAT only where PTQ is more than this many AP under float on select")
    a.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "int8_select.json")
    args = a.parse_args(argv)
    from yolov6_edge.atomic import atomic_write_text
    from yolov6_edge.cli.main import main as cli
    from yolov6_edge.eval.coco import evaluate
    from yolov6_edge.eval.compare import compare

    select, report_set = SHARED / "coco" / "select", SHARED / "coco" / "val-large"
    recipe = ROOT / "calibration" / "yolov6lite_coco.yaml"
    res = json.loads(args.out.read_text()) if args.out.is_file() else {"models": {}}
    res.update(command="python benchmarks/int8_select.py " + " ".join(argv if argv is not None else sys.argv[1:]),
               date=time.strftime("%Y-%m-%d"), recipe=str(recipe.relative_to(ROOT)), eval=EVAL)
    for key in args.models:
        d = args.work / key
        ptq = d / "int8_tensorrt.onnx"
        if not ptq.is_file():
            raise SystemExit(f"{ptq}: run benchmarks/int8_cpu.py --work {args.work} --models {key} first")
        rep = json.loads(ptq.with_suffix(".quant.json").read_text())
        qat = d / "int8_tensorrt_qat.onnx"
        on_select = {name: evaluate(p, select / "images", select / "instances.json", progress=False, **EVAL)["AP"]
                     for name, p in (("float", d / "float.onnx"), ("ptq", ptq))}
        # the recipe's rule: QAT only where PTQ leaves a gap on select (from PTQ starts already near float it
        # lost AP: benchmarks/results/quant_lite.md)
        run_qat = on_select["float"] - on_select["ptq"] > args.qat_gap
        if not run_qat:
            log(f"{key}: PTQ within {args.qat_gap} AP of float on select ({on_select}): no QAT")
        elif not qat.is_file():
            log(f"{key}: QAT")
            t0 = time.time()
            rc = cli(["qat", str(SHARED / "weights" / "yolov6lite" / f"{LITE[key]}.param"), "--recipe", str(recipe),
                      "--skip", str(ptq.with_suffix(".quant.json")), "--cache", rep["cache"],
                      "--eval-images", str(select / "images"), "--eval-ann", str(select / "instances.json"),
                      "-o", str(qat)])
            if rc:
                raise SystemExit(f"qat failed ({rc})")
            log(f"{key}: QAT took {time.time() - t0:.0f} s")
        qrep = json.loads(qat.with_suffix(".qat.json").read_text()) if run_qat else {}
        names = ("float", "ptq", "qat") if run_qat else ("float", "ptq")
        if run_qat:
            on_select["qat"] = evaluate(qat, select / "images", select / "instances.json", progress=False,
                                        **EVAL)["AP"]
        kept = max(names[1:], key=lambda n: on_select[n])  # a tie keeps PTQ (no training)
        log(f"{key}: select AP {on_select}; kept {kept}")
        cmp = compare([d / "float.onnx", ptq] + ([qat] if run_qat else []), report_set / "images",
                      report_set / "instances.json", draws=args.draws, progress=False, **EVAL)
        rows = dict(zip(names, cmp["models"]))
        res["models"][key] = {"select_ap": on_select, "kept": kept, "report": rows, "n_images": cmp["n_images"],
                              "draws": args.draws, "method": rep["method"], "float_layers": rep["float_layers"],
                              "qat_scores": qrep.get("scores"), "qat_run": run_qat}
        atomic_write_text(args.out, json.dumps(res, indent=1))
    lines = ["# The INT8 YOLOv6Lite we would ship: chosen on select, reported on val-large", "",
             f"`{res['command']}`, {res['date']}; recipe `{res['recipe']}`.", "",
             "AP of the QDQ ONNX (TensorRT placement) on ONNX Runtime, conf 0.03, IoU 0.65, multi-label; "
             "differences to float with a paired bootstrap over the images.", "",
             "| model | float | PTQ (method, float layers) | QAT | kept by select | kept - float (SE) [95%] | "
             "within 0.5? |", "|---|---|---|---|---|---|---|"]
    for key, m in res["models"].items():
        r = m["report"]
        k = r[m["kept"]]
        lo, hi = k["diff_95"]
        sel = m["select_ap"]
        qat_ap = f"{r['qat']['AP']:.2f}" if "qat" in r else "-"
        why = (f"select: PTQ {sel['ptq']:.2f} vs QAT {sel['qat']:.2f}" if "qat" in r else
               f"select: PTQ {sel['ptq']:.2f}, float {sel['float']:.2f}: " +
               ("no gap, no QAT" if sel["float"] - sel["ptq"] <= 0.5 else "QAT not run (--qat-gap)"))
        lines.append(f"| {key} | {r['float']['AP']:.2f} | {r['ptq']['AP']:.2f} ({m['method']}, "
                     f"{len(m['float_layers'])}) | {qat_ap} | {m['kept']} ({why}) | "
                     f"{k['diff']:+.2f} "
                     f"({k['diff_se']:.2f}) [{lo:+.2f}, {hi:+.2f}] | {'yes' if k['diff'] >= -0.5 else 'no'} |")
    lines += ["", "SE of the INT8-minus-float difference on val-large: " + ", ".join(
        f"{key} PTQ {m['report']['ptq']['diff_se']:.2f}"
        + (f", QAT {m['report']['qat']['diff_se']:.2f}" if "qat" in m["report"] else "")
        for key, m in res["models"].items())]
    atomic_write_text(args.out.with_suffix(".md"), "\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
