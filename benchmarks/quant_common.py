"""Shared by quant_lite.py and quant_repopt.py: one model through float / PTQ / partial / QAT, AP and latency.

Every AP is measured on an ONNX file with ONNX Runtime (the artefact users deploy), on the validation set;
choices (partial float layers, QAT) only ever see the calibration set and its labels.
"""
import math
import time
from pathlib import Path

import numpy as np
from timing import timeit

EVAL = {"conf": 0.03, "iou": 0.65, "max_det": 300, "multi_label": True}


def latency_ms(path, img_size, runs=50) -> float:
    """Median ORT CPU latency at batch 1 on one thread."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).random((1, 3, *img_size), dtype=np.float32)
    return timeit(lambda: sess.run(None, {"images": x}), runs, warmup=5) * 1e3


def onnx_ap(path, split: Path) -> float:
    from yolov6_edge.eval.coco import evaluate

    return float(evaluate(path, split / "images", split / "instances.json", progress=False, **EVAL)["AP"])


def error_source(model_path, calib: Path, val: Path, size, num, method, cache) -> dict:
    """Fake-quant AP on val with only the weights, then only the activations, quantized."""
    from yolov6_edge.quant.calibrate import calibrated_model, load_float_model
    from yolov6_edge.quant.interface import quant_layers
    from yolov6_edge.quant.sensitivity import eval_ap

    model, _ = load_float_model(model_path)
    q = calibrated_model(model, model_path, calib / "images", size, num, method, cache=cache)
    out = {"method": method}
    for name, (acts, weights) in {"weights_only": (False, True), "activations_only": (True, False)}.items():
        for m in quant_layers(q).values():
            m.input_quantizer.enabled, m.weight_quantizer.enabled, m._wq = acts, weights, None
        out[name] = eval_ap(q, val / "images", val / "instances.json", size)
    return out


def run_qat(model_path, calib: Path, size, num, method, cache, float_layers, out_onnx, epochs, lr, amax_lr,
            labels, augment=False, layer_weight=0.0, flip=False, learn_channel_scale=True, seed=0,
            weight_bound=math.inf) -> dict:
    from yolov6_edge.quant.calibrate import calibrated_model, load_float_model
    from yolov6_edge.quant.interface import export_qdq, set_float
    from yolov6_edge.quant.qat import qat, qat_batches

    model, _ = load_float_model(model_path)
    q = calibrated_model(model, model_path, calib / "images", size, num, method, cache=cache)
    set_float(q, float_layers, only=True)
    batches = qat_batches(q, size, 8, model.num_classes, calib / "images",
                          calib / "instances.json" if labels else None, augment, seed)
    t0 = time.time()
    hist = qat(q, model, batches, epochs=epochs, lr=lr, amax_lr=amax_lr, detection_weight=1.0 if labels else 0.0,
               layer_weight=layer_weight, flip=flip, learn_channel_scale=learn_channel_scale,
               seed=seed, weight_bound=weight_bound)
    export_qdq(q, out_onnx, img_size=size)
    return {"epochs": epochs, "lr": lr, "amax_lr": amax_lr, "labels": labels, "augment": augment,
            "layer_weight": layer_weight, "flip": flip, "learn_channel_scale": learn_channel_scale,
            "seed": seed, "weight_bound": weight_bound, "steps": len(hist),
            "seconds": round(time.time() - t0, 1), "loss_first": hist[0], "loss_last": hist[-1]}


def measure(model_path, name, calib: Path, val: Path, size, num, work: Path, method, ptq_methods, qat_args,
            max_ap_drop=1.0, unscaled_baseline=False) -> dict:
    """The whole row for one model file (ours .pt or an NCNN .param).

    unscaled_baseline: also PTQ with `method` and no depthwise channel scales (the placement before them),
    so the table shows what the scales buy in the same run.
    """
    from yolov6_edge.export.onnx import export_onnx
    from yolov6_edge.quant.calibrate import calibrate_to_qdq

    size = tuple(size)
    fp = work / f"{name}.onnx"
    export_onnx(model_path, fp, img_size=size)
    row = {"float": {"AP": onnx_ap(fp, val), "latency_ms": latency_ms(fp, size)}, "ptq": {}}
    for meth in ptq_methods:
        q = work / f"{name}_{meth}.onnx"
        t0 = time.time()
        calibrate_to_qdq(str(model_path), str(calib / "images"), str(q), num=num, img_size=size, method=meth,
                         cache=work / f"{name}_{meth}.calib.json")
        row["ptq"][meth] = {"AP": onnx_ap(q, val), "calibration_s": round(time.time() - t0, 1),
                            "latency_ms": latency_ms(q, size)}
    if unscaled_baseline:
        q = work / f"{name}_{method}_unscaled.onnx"
        calibrate_to_qdq(str(model_path), str(calib / "images"), str(q), num=num, img_size=size, method=method,
                         channel_scale="none")
        row["ptq_unscaled"] = {"method": method, "AP": onnx_ap(q, val), "latency_ms": latency_ms(q, size)}
    cache = work / f"{name}_{method}.calib.json"
    row["error_source"] = error_source(model_path, calib, val, size, num, method, cache)
    qp = work / f"{name}_{method}_partial.onnx"
    t0 = time.time()
    rep = calibrate_to_qdq(str(model_path), str(calib / "images"), str(qp), num=num, img_size=size, method=method,
                           skip="auto", max_ap_drop=max_ap_drop, eval_images=str(calib / "images"),
                           eval_ann=str(calib / "instances.json"), cache=cache)
    row["partial"] = {"AP": onnx_ap(qp, val), "latency_ms": latency_ms(qp, size),
                      "search_s": round(time.time() - t0, 1),
                      **{k: rep["partial"][k] for k in ("float_layers", "met", "tried", "float_ap", "int8_ap")}}
    qq = work / f"{name}_{method}_qat.onnx"
    row["qat"] = run_qat(model_path, calib, size, num, method, cache, rep["float_layers"], qq, **qat_args)
    row["qat"].update(AP=onnx_ap(qq, val), latency_ms=latency_ms(qq, size))
    return row


def table(models: dict, ptq_methods) -> list:
    unscaled = all("ptq_unscaled" in r for r in models.values()) and bool(models)
    first = next(iter(models.values()), {})
    extra = [f"PTQ {first['ptq_unscaled']['method']} without channel scales AP (drop)"] if unscaled else []
    lines = ["| model | float AP | " + " | ".join(extra + [f"PTQ {k} AP (drop)" for k in ptq_methods]) +
             " | partial AP (drop, float layers) | QAT AP (drop) | float ms | INT8 ms | partial ms | QAT ms |",
             "|---" * (8 + len(ptq_methods) + len(extra)) + "|"]
    for name, r in models.items():
        fa = r["float"]["AP"]

        def cell(ap, extra=""):
            return f"{ap:.2f} ({fa - ap:.2f}{extra})"
        ms = r["ptq"][ptq_methods[-1]]["latency_ms"]
        base = [cell(r["ptq_unscaled"]["AP"])] if unscaled else []
        lines.append(f"| {name} | {fa:.2f} | " + " | ".join(base + [cell(r["ptq"][k]["AP"]) for k in ptq_methods]) +
                     f" | {cell(r['partial']['AP'], ', ' + str(len(r['partial']['float_layers'])))} | "
                     f"{cell(r['qat']['AP'])} | {r['float']['latency_ms']:.2f} | {ms:.2f} | "
                     f"{r['partial']['latency_ms']:.2f} | {r['qat']['latency_ms']:.2f} |")
    lines += ["", "Where the plain-PTQ error comes from (fake-quant AP on val):", "",
              "| model | weights only INT8 | activations only INT8 |", "|---|---|---|"]
    for name, r in models.items():
        e = r["error_source"]
        lines.append(f"| {name} | {e['weights_only']:.2f} | {e['activations_only']:.2f} ({e['method']}) |")
    return lines
