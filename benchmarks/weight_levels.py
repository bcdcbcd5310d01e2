"""Weight levels for x86 CPUs without VNNI: what 8 / 7 bits, per-layer and per-channel pair-safe levels cost.

For each official YOLOv6Lite model, one calibration (160 COCO calibration images, the given method, no float
layers) is written as the openvino placement four ways (quant/weight_levels.py):
- 8: 8-bit weights everywhere (right only on CPUs with VNNI: int16 pair sums saturate elsewhere);
- 7: 7-bit everywhere (the earlier default of the CPU targets);
- layer: 8 bits for each conv none of whose int16 pairs can saturate, 7 for the others;
- channel: per output channel the most levels (qmax 63..127) that keep every pair safe.
AP of each on the chosen split (ONNX Runtime: it computes every file exactly on this machine, so the AP is
the file's own; on OpenVINO without VNNI only the pair-safe ones compute the same, see the correctness table)
with `yolov6-edge compare`'s paired bootstrap against float. With `--isa-cap`, each file is also checked layer
by layer on OpenVINO with ONEDNN_MAX_CPU_ISA set (a CPU without VNNI emulated on this one), in a subprocess.

    python benchmarks/weight_levels.py --work /tmp/levels --split select [--models lite-s lite-m lite-l]
        [--methods lite-s:mse lite-m:mse lite-l:percentile] [--isa-cap AVX2] [--out benchmarks/results/...]
"""
import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("YOLOV6_EDGE_SHARED", ROOT.parent / "shared"))
LITE = {"lite-s": "yolov6-lite-s", "lite-m": "yolov6-lite-m", "lite-l": "yolov6-lite-l"}
MODES = (8, 7, "layer", "channel")
EVAL = {"conf": 0.03, "iou": 0.65, "max_det": 300, "multi_label": True}  # the ncnn reference's settings


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def build(key, method, work: Path, modes=MODES) -> dict:
    import torch

    from yolov6_edge.export.onnx import export_onnx
    from yolov6_edge.quant.calibrate import calibrated_model, load_float_model
    from yolov6_edge.quant.placement import place

    torch.set_num_threads(1)
    d = work / key
    d.mkdir(parents=True, exist_ok=True)
    src = str(SHARED / "weights" / "yolov6lite" / f"{LITE[key]}.param")
    files = {"float": export_onnx(src, d / "float.onnx", (320, 320))}
    levels = {}
    q = None
    for mode in modes:
        out = d / f"openvino_{method}_{mode}.onnx"
        summary = out.with_suffix(".levels.json")
        if not (out.is_file() and summary.is_file()):
            if q is None:
                model, _ = load_float_model(src)
                q = calibrated_model(model, src, ROOT / "calibration" / "coco_calib160.txt", (320, 320), 160, method,
                                     cache=d / f"calib.{method}.json")
            summary.write_text(json.dumps(place(q, out, (320, 320), "openvino", mode)))
        files[str(mode)] = out
        levels[str(mode)] = json.loads(summary.read_text())
    return files, levels


def departing_under_cap(path: Path, isa: str) -> dict:
    """compare-runtimes of `path` on OpenVINO with ONEDNN_MAX_CPU_ISA=isa (oneDNN reads it once per process)."""
    out = path.with_suffix(f".cr_{isa}.json")
    if not out.is_file():
        env = dict(os.environ, ONEDNN_MAX_CPU_ISA=isa)
        subprocess.run([sys.executable, "-m", "yolov6_edge.cli.main", "compare-runtimes", str(path), "--images",
                        str(SHARED / "coco" / "val" / "images"), "--backend", "openvino", "--json", str(out)],
                       env=env, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=3600)
    s = json.loads(out.read_text())["summary"]["openvino"]
    return {"layers": s["layers"], "departing": s["departing"], "worst": s["worst"],
            "worst_rel_err": s["worst_rel_err"]}


def main(argv=None) -> int:
    a = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    a.add_argument("--models", nargs="+", default=list(LITE), choices=list(LITE))
    a.add_argument("--methods", nargs="+", default=["lite-s:mse", "lite-m:mse", "lite-l:percentile"],
                   help="MODEL:METHOD, the calibration method per model (default: the recipe's picks on select)")
    a.add_argument("--work", type=Path, required=True)
    a.add_argument("--split", default="select", choices=["select", "val-large", "val"])
    a.add_argument("--draws", type=int, default=500)
    a.add_argument("--modes", nargs="+", default=[str(m) for m in MODES], choices=[str(m) for m in MODES],
                   help="weight levels to write and score (default all)")
    a.add_argument("--isa-cap", nargs="*", default=[], help="also check each file on OpenVINO under these "
                                                            "ONEDNN_MAX_CPU_ISA caps, e.g. AVX2 AVX512_CORE")
    a.add_argument("--out", type=Path, default=None)
    args = a.parse_args(argv)
    from yolov6_edge.atomic import atomic_write_text
    from yolov6_edge.eval.compare import compare
    from yolov6_edge.host import cpu_flags, cpu_name

    methods = dict(m.split(":") for m in args.methods)
    out = args.out or ROOT / "benchmarks" / "results" / f"weight_levels_{args.split}.json"
    res = json.loads(out.read_text()) if out.is_file() else {"models": {}}
    res.update(command="python benchmarks/weight_levels.py " + " ".join(argv if argv is not None else sys.argv[1:]),
               date=time.strftime("%Y-%m-%d"), host=f"{cpu_name()}; {', '.join(cpu_flags())}", split=args.split)
    split = SHARED / "coco" / args.split
    for key in args.models:
        log(f"{key}: files ({methods[key]})")
        modes = [int(m) if m in ("7", "8") else m for m in args.modes]
        files, levels = build(key, methods[key], args.work, modes)
        log(f"{key}: AP on {args.split}")
        rep = compare(list(files.values()), split / "images", split / "instances.json", backends="onnxruntime",
                      draws=args.draws, threads=1, progress=False, **EVAL)
        m = {"method": methods[key], "levels": levels, "n_images": rep["n_images"],
             "ap": {k: r for k, r in zip(files, rep["models"])}}
        for isa in args.isa_cap:
            log(f"{key}: compare-runtimes on OpenVINO under ONEDNN_MAX_CPU_ISA={isa}")
            m.setdefault("capped", {})[isa] = {k: departing_under_cap(Path(files[k]), isa) for k in map(str, modes)}
        res["models"][key] = m
        atomic_write_text(out, json.dumps(res, indent=1, default=str))
        write_md(res, out.with_suffix(".md"))
    print(out.with_suffix(".md").read_text())
    return 0


def write_md(res, path: Path):
    from yolov6_edge.atomic import atomic_write_text

    lines = ["# Weight levels on CPUs without VNNI (benchmarks/weight_levels.py)", "",
             f"`{res['command']}`, {res['date']}", "", f"Host: {res['host']}.", "",
             f"AP on ../shared/coco/{res['split']} (conf 0.03, IoU 0.65, multi-label), every file on ONNX Runtime "
             "(exact here), difference to float with a paired bootstrap 95% interval. Levels: layers with 8-bit / "
             "7-bit / mixed weights, and the mean qmax over output channels (127: 8 bits, 63: 7 bits).", "",
             "| model (method) | weights | layers 8 / 7 / mixed | mean qmax | AP | AP - float | 95% interval |",
             "|---|---|---|---|---|---|---|"]
    for key, m in res["models"].items():
        for k, r in m["ap"].items():
            lv = m["levels"].get(k, {})
            lay = (f"{lv['layers_8bit']} / {lv['layers_7bit']} / {lv['layers_mixed']}" if "layers_8bit" in lv
                   else ("all 8" if k == "8" else "all 7") if k in ("7", "8") else "")
            q = f"{lv['mean_qmax']:.1f}" if "mean_qmax" in lv else ("127" if k == "8" else "63" if k == "7" else "")
            diff = f"{r['diff']:+.2f} | [{r['diff_95'][0]:+.2f}, {r['diff_95'][1]:+.2f}]" if "diff" in r else " | "
            lines.append(f"| {key} ({m['method']}) | {k} | {lay} | {q} | {r['AP']:.2f} | {diff} |")
    capped = {k: m["capped"] for k, m in res["models"].items() if m.get("capped")}
    if capped:
        lines += ["", "## OpenVINO with the ISA capped (ONEDNN_MAX_CPU_ISA): layers departing from the reference "
                  "(compare-runtimes, isolated, 1 image of ../shared/coco/val)", "",
                  "| model | cap | weights | departing / layers | worst (rel err) |", "|---|---|---|---|---|"]
        for key, caps in capped.items():
            for isa, rows in caps.items():
                for k, v in rows.items():
                    lines.append(f"| {key} | {isa} | {k} | {v['departing']} / {v['layers']} | {v['worst']} "
                                 f"({v['worst_rel_err']:.1e}) |")
    atomic_write_text(path, "\n".join(lines) + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
