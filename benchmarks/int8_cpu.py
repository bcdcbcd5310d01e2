"""INT8 on CPU runtimes: is each Q/DQ placement right on the runtime it targets, and faster than float?

The first table is the issue's target table: per model, `--target cpu` (the placement and weight levels it
picks, its own verdict) against the best float CPU runtime (ONNX Runtime or OpenVINO f32), timed in the same
interleaved run, with the host's ISA; AP on val-large for YOLOv6Lite. One command writes it:

    python benchmarks/int8_cpu.py --work /tmp/int8            # all five models, results/int8_cpu.{json,md}

For each model it writes the float ONNX and, from one calibration, the QDQ ONNX of every target
(tensorrt: signed INT8 as today, 8-bit weights; openvino and onnxruntime: the CPU placements, 7-bit weights;
cpu: the faster right one, chosen by `--target cpu`), plus NNCF's INT8 model (OpenVINO's own quantizer, on
the float ONNX, preset MIXED as its docs advise for models with non-ReLU activations) as the peer. Then:
- correctness: compare-runtimes (isolated layers on their quantization grid) of each file on its runtime,
  and of the tensorrt placement on OpenVINO;
- speed: every file on its runtime, interleaved in one process, batch 1, `--threads` (default 1); the ratios
  are to ONNX Runtime float, and each row says which float runtime is fastest here;
- accuracy (official YOLOv6Lite weights only): AP on the reporting set with a paired bootstrap interval on
  the difference to float (`yolov6-edge compare`).
The calibration is the recipe calibration/yolov6lite_coco.yaml for YOLOv6Lite (method and float layers
chosen on ../shared/coco/select); YOLOv6-N/S have random weights here (no trained COCO checkpoint exists in
this workplace) and are timed only, calibrated with max on 32 images.

    python benchmarks/int8_cpu.py --work /tmp/int8 [--models lite-s lite-m lite-l yolov6n yolov6s]
        [--threads 1] [--iters 50] [--draws 500] [--out benchmarks/results/int8_cpu.json]
        [--isa-cap AVX2]   # OpenVINO's oneDNN capped (ONEDNN_MAX_CPU_ISA): a CPU without VNNI emulated for
                           # OpenVINO only (ONNX Runtime keeps this CPU's kernels): right for correctness and
                           # AP, not for speed against ONNX Runtime
NNCF rows appear where nncf is installed.
"""
import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("YOLOV6_EDGE_SHARED", ROOT.parent / "shared"))
LITE = {"lite-s": "yolov6-lite-s", "lite-m": "yolov6-lite-m", "lite-l": "yolov6-lite-l"}
DENSE = {"yolov6n": "yolov6n", "yolov6s": "yolov6s"}
EVAL = {"conf": 0.03, "iou": 0.65, "max_det": 300, "multi_label": True}  # the ncnn reference's settings
RUNTIME = {"tensorrt": "onnxruntime", "openvino": "openvino", "onnxruntime": "onnxruntime"}


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def random_checkpoint(name, out: Path) -> Path:
    """A YOLOv6-N/S with conv weights N(0, 1/fan_in) (activations stay O(1) through the depth)."""
    import torch

    from yolov6_edge.models import build_model
    from yolov6_edge.weights.checkpoint import save_checkpoint

    if out.is_file():
        return out
    torch.manual_seed(0)
    model = build_model(name).eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.Conv2d):
                m.weight.normal_(0, (1.0 / m.weight[0].numel()) ** 0.5)
    return save_checkpoint(model, out)


def nncf_int8(float_onnx: Path, out: Path, images, size) -> Path:
    """NNCF post-training quantization of the float ONNX (preset MIXED), on the same calibration images."""
    import nncf
    import onnx

    from yolov6_edge import ops
    from yolov6_edge.runtime.images import read_image

    if out.is_file():
        return out
    model = onnx.load(str(float_onnx))

    def transform(path):
        blob, _ = ops.letterbox([read_image(path)], size=size)
        return {"images": blob}

    q = nncf.quantize(model, nncf.Dataset(list(images), transform), preset=nncf.QuantizationPreset.MIXED,
                      subset_size=len(images))
    props = {p.key: p.value for p in model.metadata_props}
    props["precision"] = "int8-qdq"
    props["yolov6_edge.qdq_target"] = "nncf"
    del q.metadata_props[:]
    onnx.helper.set_model_props(q, props)
    onnx.save(q, str(out))
    return out


def has_nncf() -> bool:
    try:
        import nncf  # noqa: F401
    except ImportError:
        return False
    return True


def build_files(key, work: Path, threads, quick=False) -> dict:
    """{label: (path, runtime)} for one model, plus what the calibration chose."""
    from yolov6_edge.export.onnx import export_onnx
    from yolov6_edge.quant.calibrate import calibrate_to_qdq
    from yolov6_edge.quant.data import list_images
    from yolov6_edge.quant.recipe import QuantRecipe

    d = work / key
    d.mkdir(parents=True, exist_ok=True)
    if key in LITE:
        src = SHARED / "weights" / "yolov6lite" / f"{LITE[key]}.param"
        recipe = QuantRecipe.load(ROOT / "calibration" / "yolov6lite_coco.yaml")
        if quick:  # speed and correctness only: neither depends on the method or on which images calibrate
            recipe = recipe.replace(method="mse", skip=[], num=32)
        size = (320, 320)
    else:
        src = random_checkpoint(DENSE[key], d / f"{key}_random.pt")
        recipe = QuantRecipe.load(None, images=str(ROOT / "calibration" / "coco_calib160.txt"), num=32,
                                  method="max", img_size=(640, 640))
        size = (640, 640)
    files = {"float": (export_onnx(src, d / "float.onnx", size), "onnxruntime")}
    files["float OV"] = (files["float"][0], "openvino")
    first = d / "int8_tensorrt.onnx"
    rep_path = first.with_suffix(".quant.json")
    if not rep_path.is_file():
        log(f"{key}: calibrating ({recipe.method}, skip {recipe.skip})")
        calibrate_to_qdq(str(src), None, str(first), recipe=recipe.replace(target="tensorrt"))
    report = json.loads(rep_path.read_text())
    files["int8 tensorrt"] = (first, "onnxruntime")
    # the other targets from the same calibration: its method, float layers and cache
    same = recipe.replace(method=report["method"], skip=str(rep_path))  # its float layers (maybe none)
    for target in ("openvino", "onnxruntime", "cpu"):
        out = d / f"int8_{target}.onnx"
        if not out.with_suffix(".quant.json").is_file():
            log(f"{key}: writing the {target} placement")
            calibrate_to_qdq(str(src), None, str(out), recipe=same.replace(target=target, threads=threads),
                             cache=report["cache"])
        r = json.loads(out.with_suffix(".quant.json").read_text())
        files[f"int8 {target}"] = (out, RUNTIME[r["target"]] if target == "cpu" else RUNTIME[target])
        if target == "cpu":
            report["cpu_choice"] = r.get("cpu_choice")
            report["cpu_target"] = r["target"]
            report["cpu_weight_bits"] = r["weight_bits"]
            report["cpu_weight_levels"] = r.get("weight_levels")
            report["cpu_verdict"] = {k: r.get(k) for k in ("verdict", "message", "float_runtime", "float_p50_ms",
                                                           "int8_p50_ms", "ap_float", "ap_int8", "ap_budget")}
    if has_nncf():
        log(f"{key}: NNCF")
        calib = list_images(recipe.images, recipe.num)
        files["nncf"] = (nncf_int8(files["float"][0], d / "int8_nncf.onnx", calib, size), "openvino")
        files["nncf ORT"] = (files["nncf"][0], "onnxruntime")
    return files, report, size


def correctness(files, key) -> dict:
    from yolov6_edge.quant.runtime_compare import compare_runtimes

    images = SHARED / "coco" / "val" / "images"
    out = {}
    for label, runtimes in (("int8 tensorrt", ["onnxruntime", "openvino"]), ("int8 openvino", ["openvino"]),
                            ("int8 onnxruntime", ["onnxruntime"]), ("int8 cpu", [files["int8 cpu"][1]])):
        rep = compare_runtimes(files[label][0], images, backends=runtimes, num=1, progress=False)
        for b in runtimes:
            bad = rep.departing(b)
            worst = max((r for r in rep.layers if r.backend == b), key=lambda r: r.rel_err)
            out[f"{label} on {b}"] = {"layers": sum(r.backend == b for r in rep.layers), "departing": len(bad),
                                      "first_departing": bad[0].unit if bad else None,
                                      "worst_rel_err": worst.rel_err, "worst": worst.unit}
        log(f"{key}: {label}: " + ", ".join(f"{k}: {v['departing']} departing" for k, v in out.items()
                                             if k.startswith(label)))
    return out


def has_bf16() -> bool:
    import openvino

    return "BF16" in openvino.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


def speed(files, threads, iters) -> dict:
    """Every file on its runtime, interleaved; OpenVINO in f32 (our default), plus the float model in bf16
    where the CPU has it (OpenVINO's own default there)."""
    from yolov6_edge.bench import bench_many

    labels = [k for k in ("float", "float OV", "float OV bf16", "int8 tensorrt", "int8 onnxruntime",
                          "int8 openvino", "int8 cpu", "nncf")
              if k in files or (k == "float OV bf16" and has_bf16())]
    paths = [files["float"][0] if k == "float OV bf16" else files[k][0] for k in labels]
    backends = ["openvino" if k == "float OV bf16" else files[k][1] for k in labels]
    options = [{"inference_precision": "bf16" if k == "float OV bf16" else "f32"} for k in labels]
    rep = bench_many(paths, batches=(1,), warmup=5, iters=iters, backends=backends, threads=threads,
                     backend_options=options)
    out = {k: {"runtime": b, "p50_ms": m["results"][0]["latency_ms"]["p50"],
               "mean_ms": m["results"][0]["latency_ms"]["mean"], "ratio_to_ort_float": m["ratio_to_first"]}
           for k, b, m in zip(labels, backends, rep["models"])}
    return {"rows": out, "host": rep["host"]}


def accuracy(files, draws, threads=1) -> dict:
    from yolov6_edge.eval.compare import compare

    split = SHARED / "coco" / "val-large"
    labels = [k for k in ("float", "int8 tensorrt", "int8 openvino", "int8 openvino ORT", "int8 onnxruntime",
                          "int8 cpu", "nncf", "nncf ORT")
              if k in files or k == "int8 openvino ORT"]
    paths = [files["int8 openvino"][0] if k == "int8 openvino ORT" else files[k][0] for k in labels]
    backends = ["onnxruntime" if k == "int8 openvino ORT" else files[k][1] for k in labels]
    if has_bf16():  # OpenVINO's own default on this CPU: what bf16 costs the float model
        from yolov6_edge.backends.openvino.runtime import OpenVINOBackend

        labels.insert(1, "float OV bf16")
        paths.insert(1, OpenVINOBackend(files["float"][0], threads=threads, inference_precision="bf16"))
        backends.insert(1, None)
    rep = compare(paths, split / "images", split / "instances.json", backends=backends, draws=draws,
                  progress=False, **EVAL)
    return {k: r for k, r in zip(labels, rep["models"])} | {"_set": str(split), "_n_images": rep["n_images"],
                                                            "_draws": draws}


def speedup(r: float) -> str:
    return f"{r:.2f}x faster" if r >= 1 else f"{1 / r:.2f}x slower"


# the targets: `--target cpu` against the best float CPU runtime, by model family and host kind
TARGET_SPEEDUP = {"lite": {True: 1.2, False: 1.0}, "dense": {True: 1.5, False: 1.5}}
AP_BUDGET = 1.0


def target_table(res) -> list:
    """Per model: best float runtime vs `--target cpu`, speedup against the target for this host, AP."""
    from yolov6_edge.host import NO_VNNI_CAPS, has_vnni

    cap = res.get("isa_cap")
    vnni = has_vnni(res.get("host", {}).get("cpu_flags", [])) and (cap or "").upper() not in NO_VNNI_CAPS
    lines = ["## Targets: `--target cpu` against the best float CPU runtime, side by side in one run", "",
             f"Host: {res.get('host', {}).get('processor')}, {'with' if vnni else 'without'} VNNI"
             + (f" (OpenVINO capped to ONEDNN_MAX_CPU_ISA={cap}; ONNX Runtime uncapped, so speed ratios are not "
                "those of a real CPU without VNNI)" if cap else "")
             + f". Speed target: Lite {TARGET_SPEEDUP['lite'][vnni]}x, YOLOv6-N/S {TARGET_SPEEDUP['dense'][vnni]}x; "
             f"AP within {AP_BUDGET} of float on val-large.", "",
             "| model | best float (runtime) ms | `--target cpu` ms (placement, weights) | speedup | target | "
             "AP float -> INT8 (95% interval) | met | `--target cpu` verdict |", "|---|---|---|---|---|---|---|---|"]
    for key, m in res["models"].items():
        rows = m["speed"]["rows"]
        if "int8 cpu" not in rows:
            continue
        floats = {"onnxruntime": rows["float"]["p50_ms"], "openvino f32": rows["float OV"]["p50_ms"]}
        best = min(floats, key=floats.get)
        cpu = rows["int8 cpu"]["p50_ms"]
        speed = floats[best] / cpu
        want = TARGET_SPEEDUP["lite" if key in LITE else "dense"][vnni]
        c = m["calibration"]
        acc = m.get("accuracy", {})
        ap = "-"
        ap_ok = True
        if "int8 cpu" in acc:
            f, i = acc["float"], acc["int8 cpu"]
            lo, hi = i["diff_95"]
            ap = f"{f['AP']:.2f} -> {i['AP']:.2f} ({i['diff']:+.2f}, [{lo:+.2f}, {hi:+.2f}])"
            ap_ok = i["diff"] >= -AP_BUDGET
        v = (c.get("cpu_verdict") or {}).get("verdict") or "-"
        lines.append(f"| {key} {m['size'][0]} | {floats[best]:.2f} ({best}) | {cpu:.2f} ({c.get('cpu_target')}, "
                     f"{c.get('cpu_weight_bits')}) | {speed:.2f}x | {want}x | {ap} | "
                     f"{'yes' if speed >= want and ap_ok else 'no'} | {v} |")
    return lines


def write_md(res, out: Path):
    host = res["host"]
    lines = ["# INT8 on CPU runtimes (benchmarks/int8_cpu.py)", "",
             "; ".join(f"`{c}` ({', '.join(k for k, m in res['models'].items() if m.get('command', res['command']) == c)})"
                       for c in dict.fromkeys(m.get("command", res["command"]) for m in res["models"].values()))
             + f", {res['date']}", "",
             f"CPU: {host.get('processor')} ({platform.machine()}), ISA flags {', '.join(host.get('cpu_flags', []))}; "
             f"{res['threads']} thread(s), batch 1, models interleaved in one process; versions "
             f"{res['versions']}. OpenVINO's CPU plugin offers {', '.join(res.get('openvino_capabilities', []))} "
             "here" + (" (no BF16: there is no OpenVINO bf16 row)" if "BF16" not in
                       res.get("openvino_capabilities", ["BF16"]) else "") + ".", "",
             *target_table(res), "",
             "## Speed (p50 ms; ratio to ONNX Runtime float in brackets)", "",
             "| model | ORT float | OpenVINO f32 | OpenVINO bf16 | ORT, tensorrt placement | "
             "ORT, onnxruntime placement | OpenVINO, openvino placement | `--target cpu` (picks, weight bits) | "
             "NNCF on OpenVINO | cpu INT8 vs best f32 | vs bf16 |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for key, m in res["models"].items():
        rows = m["speed"]["rows"]

        def cell(k):
            r = rows.get(k)
            return f"{r['p50_ms']:.1f} ({r['ratio_to_ort_float']:.2f})" if r else "-"
        best_float = min(rows["float"]["p50_ms"], rows["float OV"]["p50_ms"])
        c = m["calibration"]
        cpu = rows.get("int8 cpu")
        bf16 = rows.get("float OV bf16")
        lines.append(f"| {key} {m['size'][0]} | {cell('float')} | {cell('float OV')} | {cell('float OV bf16')} | "
                     f"{cell('int8 tensorrt')} | {cell('int8 onnxruntime')} | {cell('int8 openvino')} | "
                     f"{cell('int8 cpu')} ({c.get('cpu_target')}, {c.get('cpu_weight_bits')}) | {cell('nncf')} | "
                     + (f"{speedup(best_float / cpu['p50_ms'])} |" if cpu else "- |")
                     + (f" {speedup(bf16['p50_ms'] / cpu['p50_ms'])} |" if cpu and bf16 else " - |"))
    hosts = {tuple(m["speed"]["host"].get("cpu_flags", [])) for m in res["models"].values()}
    if len(hosts) > 1:
        lines += ["", "Rows were timed on CPUs with different ISA flags: " + "; ".join(
            f"{k}: {', '.join(m['speed']['host'].get('cpu_flags', []))}" for k, m in res["models"].items())]
    lines += ["", "## Correctness: layers departing from the numpy reference (compare-runtimes, isolated, 1 image)",
              "", "| model | file on runtime | departing / layers | worst layer (rel err) |", "|---|---|---|---|"]
    for key, m in res["models"].items():
        for k, v in m["correctness"].items():
            lines.append(f"| {key} | {k} | {v['departing']} / {v['layers']} | {v['worst']} ({v['worst_rel_err']:.1e}) |")
    acc = {k: m for k, m in res["models"].items() if "accuracy" in m}
    if acc:
        any_acc = next(iter(acc.values()))["accuracy"]
        lines += ["", f"## Accuracy: AP on {any_acc['_set']} ({any_acc['_n_images']} images; conf 0.03, IoU 0.65, "
                  f"multi-label), difference to float with a paired bootstrap 95% interval ({any_acc['_draws']} draws)",
                  "", "| model | file on runtime | AP | AP - float | 95% interval |", "|---|---|---|---|---|"]
        for key, m in acc.items():
            for k, r in m["accuracy"].items():
                if k.startswith("_"):
                    continue
                if "diff" in r:
                    lo, hi = r["diff_95"]
                    lines.append(f"| {key} | {k} ({r['backend']}) | {r['AP']:.2f} | {r['diff']:+.2f} | "
                                 f"[{lo:+.2f}, {hi:+.2f}] |")
                else:
                    lines.append(f"| {key} | {k} ({r['backend']}) | {r['AP']:.2f} | | |")
        lines += ["", "Calibration (chosen on ../shared/coco/select by the recipe): " + "; ".join(
            f"{k}: method {m['calibration']['method']}, {len(m['calibration']['float_layers'])} float layers"
            for k, m in acc.items())]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")


def main(argv=None) -> int:
    a = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    a.add_argument("--models", nargs="+", default=list(LITE) + list(DENSE), choices=list(LITE) + list(DENSE))
    a.add_argument("--work", type=Path, required=True)
    a.add_argument("--threads", type=int, default=1)
    a.add_argument("--iters", type=int, default=50)
    a.add_argument("--draws", type=int, default=500)
    a.add_argument("--no-accuracy", action="store_true")
    a.add_argument("--quick", action="store_true",
                   help="with --no-accuracy: calibrate YOLOv6Lite with mse on 32 images instead of the recipe")
    a.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "int8_cpu.json")
    a.add_argument("--isa-cap", default=None, help="run OpenVINO with ONEDNN_MAX_CPU_ISA set (e.g. AVX2)")
    args = a.parse_args(argv)
    if args.isa_cap and os.environ.get("ONEDNN_MAX_CPU_ISA") != args.isa_cap:
        # oneDNN reads the cap once, when OpenVINO first loads it: start again with it in the environment
        os.execve(sys.executable, [sys.executable, str(Path(__file__).resolve()), *(argv or sys.argv[1:])],
                  dict(os.environ, ONEDNN_MAX_CPU_ISA=args.isa_cap))
    import onnxruntime
    import openvino

    from yolov6_edge.atomic import atomic_write_text

    res = json.loads(args.out.read_text()) if args.out.is_file() else {"models": {}}
    caps = openvino.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    res.update(command="python benchmarks/int8_cpu.py " + " ".join(argv if argv is not None else sys.argv[1:]),
               openvino_capabilities=list(caps),
               date=time.strftime("%Y-%m-%d"), threads=args.threads,
               isa_cap=args.isa_cap,
               versions=f"onnxruntime {onnxruntime.__version__}, openvino {openvino.get_version().split('-')[0]}"
                        + (f", nncf {__import__('nncf').__version__}" if has_nncf() else ""))
    for key in args.models:
        files, report, size = build_files(key, args.work, args.threads, args.quick)
        m = {"size": list(size), "calibration": {k: report.get(k) for k in (
            "method", "float_layers", "method_ap", "cpu_target", "cpu_choice", "weight_bits", "cpu_weight_bits",
            "cpu_weight_levels", "cpu_verdict")}}
        m["command"], m["date"] = res["command"], res["date"]
        m["correctness"] = correctness(files, key)
        log(f"{key}: timing")
        m["speed"] = speed(files, args.threads, args.iters)
        res["host"] = m["speed"]["host"]
        if key in LITE and not args.no_accuracy:
            log(f"{key}: accuracy on val-large")
            m["accuracy"] = accuracy(files, args.draws, args.threads)
        if args.no_accuracy and "accuracy" in res["models"].get(key, {}):
            m["accuracy"] = res["models"][key]["accuracy"]  # kept from the run that measured it
        res["models"][key] = m
        atomic_write_text(args.out, json.dumps(res, indent=1))
        write_md(res, args.out)
        log(f"{key}: done")
    print(args.out.with_suffix(".md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
