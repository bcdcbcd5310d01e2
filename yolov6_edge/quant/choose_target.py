"""`--target cpu`: write the CPU placements, keep the faster one that is right here, and say whether INT8 pays.

"Right" is measured, not assumed: each candidate runs on the runtime it targets through the layer-by-layer
comparison with the spec reference (runtime_compare.py) on one calibration image, and a candidate with a
departing layer is dropped (on CPUs whose INT8 kernels saturate, or a runtime version with a fusion bug).
The survivors are timed interleaved at batch 1 with the recipe's thread count together with the float
model on every float CPU runtime installed (ONNX Runtime, OpenVINO in f32), in one `bench_many` call, so a
machine that slows down during the run slows all of them alike. With labelled images (eval_images,
eval_ann: the recipe gives coco/select) the float model and each candidate are also scored by AP.

The verdict: "int8" when the fastest candidate within `ap_budget` AP of float is faster than the fastest
float runtime; otherwise "float", with the reasons (no INT8 file is faster; every one misses the AP budget).
The INT8 file is written either way (the fastest candidate within the budget, or the fastest of all when none
is) and the verdict travels in the report and in the file's `yolov6_edge.cpu_choice`
metadata; `calibrate --fail-if-not-better` turns a "float" verdict into exit status 1 for scripts.
"""
import json
import tempfile
from pathlib import Path

from ..atomic import atomic_path
from ..errors import fail
from ..onnx_contract import CPU_CHOICE_KEY, update_props
from .recipe import RUNTIME

CPU_TARGETS = ("openvino", "onnxruntime")
FLOAT_RUNTIMES = ("onnxruntime", "openvino")  # openvino in f32: the precision the INT8 file's AP is measured in


def _available(target) -> str | None:
    """None if the runtime of `target` imports, else why not."""
    try:
        __import__(RUNTIME[target])
    except ImportError:
        return f"{RUNTIME[target]} is not installed"
    return None


def pairing_for(target: str) -> str:
    """The runtime whose int16 weight pairs a file's levels must respect: cpu means OpenVINO where installed."""
    if target == "cpu":
        return "openvino" if _available("openvino") is None else "onnxruntime"
    return target


def _p50(model_report) -> float:
    return round(float(model_report["results"][0]["latency_ms"]["p50"]), 3)


def verdict(float_p50, candidates: dict, ap_float=None, ap_budget=1.0) -> dict:
    """Which candidate to write and whether it beats float. candidates: {target: {"p50_ms", "ap"?}} of the
    candidates that run right. Returns {"chosen", "verdict": "int8"|"float", "reasons": [...]}."""
    if not candidates:
        raise ValueError("no candidate to judge")
    scored = ap_float is not None and all(c.get("ap") is not None for c in candidates.values())
    within = {t: c for t, c in candidates.items() if not scored or ap_float - c["ap"] <= ap_budget}
    reasons = []
    if not within:
        # the placements of one calibration compute the same function, so their APs differ by numerics only:
        # the fastest is still the best INT8 file to write, and the verdict says to deploy float
        reasons.append(f"every INT8 file misses the AP budget ({ap_budget:g} AP under float)")
    pool = within or candidates
    chosen = min(pool, key=lambda t: pool[t]["p50_ms"])
    if not candidates[chosen]["p50_ms"] < float_p50:
        reasons.append("no INT8 file is faster than float" if within else "it is not faster than float either")
    return {"chosen": chosen, "verdict": "float" if reasons else "int8", "reasons": reasons}


def choose_cpu_target(qmodel, out_onnx, img_size, threads=1, images=None, iters=30, check_layers=None,
                      weight_bits=8, eval_images=None, eval_ann=None, ap_budget=1.0, timer=None) -> dict:
    """See the module doc. check_layers: only the layers whose name contains this text are checked (None:
    all); timer: a stand-in for bench.bench_many (same arguments and report), for tests."""
    import onnx

    from ..bench import bench_many
    from .placement import place
    from .data import list_images
    from .export import export_float_onnx
    from .interface import strip
    from .runtime_compare import compare_runtimes

    timer = timer or bench_many
    out_onnx = Path(out_onnx)
    check_images = list_images(images, 1) if images is not None else None
    choice: dict = {"threads": threads, "candidates": {}, "float": {}, "ap_budget": ap_budget}
    with tempfile.TemporaryDirectory() as d:
        paths, levels = {}, {}
        for target in CPU_TARGETS:
            why = _available(target)
            if why:
                choice["candidates"][target] = {"skipped": why}
                continue
            path = Path(d) / f"{target}.onnx"
            levels[target] = place(qmodel, path, img_size, target, weight_bits)
            entry: dict = {"weight_levels": levels[target]}
            if check_images:
                rep = compare_runtimes(path, check_images, backends=[RUNTIME[target]], num=1, threads=threads,
                                       layers=check_layers, progress=False)
                bad = rep.departing(RUNTIME[target])
                entry.update(layers_checked=len(rep.layers), departing=len(bad),
                             first_departing=bad[0].unit if bad else None)
                if bad:
                    entry["skipped"] = f"{len(bad)} layers depart from the reference (first {bad[0].unit})"
            choice["candidates"][target] = entry
            if "skipped" not in entry:
                paths[target] = path
        if not paths:
            raise fail(out_onnx, "no CPU target is usable here: " + "; ".join(
                f"{t}: {c.get('skipped')}" for t, c in choice["candidates"].items()))
        float_path = Path(d) / "float.onnx"
        export_float_onnx(strip(qmodel), float_path, img_size, simplify=True)
        floats = [r for r in FLOAT_RUNTIMES if _available(r) is None]
        order = list(paths)
        rep = timer([float_path] * len(floats) + [paths[t] for t in order], batches=(1,), warmup=5, iters=iters,
                    backends=floats + [RUNTIME[t] for t in order], threads=threads,
                    backend_options=[{"inference_precision": "f32"}] * (len(floats) + len(order)))
        for r, m in zip(floats, rep["models"][:len(floats)]):
            choice["float"][r] = {"p50_ms": _p50(m)}
        for t, m in zip(order, rep["models"][len(floats):]):
            choice["candidates"][t]["p50_ms"] = _p50(m)
        float_runtime = min(floats, key=lambda r: choice["float"][r]["p50_ms"])
        float_p50 = choice["float"][float_runtime]["p50_ms"]
        ap_float = None
        if eval_images and eval_ann:
            from ..eval.coco import evaluate

            ap_float = round(float(evaluate(float_path, eval_images, eval_ann, progress=False, threads=threads,
                                            backend="onnxruntime")["AP"]), 2)
            choice["float"]["ap"] = ap_float
            for t in order:
                choice["candidates"][t]["ap"] = round(float(evaluate(
                    paths[t], eval_images, eval_ann, progress=False, threads=threads, backend=RUNTIME[t],
                    backend_options={"inference_precision": "f32"} if RUNTIME[t] == "openvino" else None)["AP"]), 2)
        judged = verdict(float_p50, {t: choice["candidates"][t] for t in order}, ap_float, ap_budget)
        best = judged["chosen"]
        choice.update(chosen=best, verdict=judged["verdict"], reasons=judged["reasons"], host=rep["host"],
                      float_runtime=float_runtime)
        model = onnx.load(str(paths[best]))
        update_props(model, {CPU_CHOICE_KEY: json.dumps(choice)})
        with atomic_path(out_onnx) as tmp:
            onnx.save(model, str(tmp))
    c = choice["candidates"][best]
    out = {"target": best, "runtime": RUNTIME[best], "cpu_choice": choice, "verdict": judged["verdict"],
           "float_runtime": float_runtime, "float_p50_ms": float_p50, "int8_p50_ms": c["p50_ms"],
           "ap_float": ap_float, "ap_int8": c.get("ap"), "ap_budget": ap_budget, "weight_levels": levels[best]}
    out["message"] = message(out, judged["reasons"])
    return out


def message(r: dict, reasons) -> str:
    """One line: INT8 against float, speed and AP, and what to deploy."""
    ratio = r["float_p50_ms"] / r["int8_p50_ms"]
    speed = f"{ratio:.2f}x faster" if ratio >= 1 else f"{1 / ratio:.2f}x slower"
    line = (f"--target cpu: INT8 ({r['target']}) {r['int8_p50_ms']:.2f} ms vs float ({r['float_runtime']}) "
            f"{r['float_p50_ms']:.2f} ms p50 ({speed})")
    if r["ap_float"] is not None:
        line += (f"; AP {r['ap_int8']:.2f} vs float {r['ap_float']:.2f} ({r['ap_int8'] - r['ap_float']:+.2f}, "
                 f"budget {r['ap_budget']:g})")
    if r["verdict"] == "int8":
        return line + f": deploy the INT8 file (run it on {r['runtime']})"
    return line + ": deploy the float model on this CPU (" + "; ".join(reasons) + ")"
