"""`--target cpu`: write both CPU placements, keep the faster one that is right on this machine.

"Right" is measured, not assumed: each candidate runs on the runtime it targets through the layer-by-layer
comparison with the spec reference (runtime_compare.py) on one calibration image, and a candidate with a
departing layer is dropped (on CPUs whose INT8 kernels saturate, or a runtime version with a fusion bug).
The survivors are timed interleaved at batch 1 with the recipe's thread count; the fastest is written.
"""
import json
import tempfile
from pathlib import Path

from ..atomic import atomic_path
from ..errors import fail
from ..onnx_contract import CPU_CHOICE_KEY, update_props
from .recipe import RUNTIME

CPU_TARGETS = ("openvino", "onnxruntime")


def _available(target) -> str | None:
    """None if the runtime of `target` imports, else why not."""
    try:
        __import__(RUNTIME[target])
    except ImportError:
        return f"{RUNTIME[target]} is not installed"
    return None


def choose_cpu_target(qmodel, out_onnx, img_size, threads=1, images=None, iters=30, check_layers=None) -> dict:
    """check_layers: only the layers whose name contains this text are checked (None: all)."""
    import onnx

    from ..bench import bench_many
    from .data import list_images
    from .interface import export_qdq
    from .runtime_compare import compare_runtimes

    out_onnx = Path(out_onnx)
    check_images = list_images(images, 1) if images is not None else None
    choice = {"threads": threads, "candidates": {}}
    with tempfile.TemporaryDirectory() as d:
        paths = {}
        for target in CPU_TARGETS:
            why = _available(target)
            if why:
                choice["candidates"][target] = {"skipped": why}
                continue
            path = Path(d) / f"{target}.onnx"
            export_qdq(qmodel, path, img_size=img_size, target=target)
            entry = {}
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
        order = list(paths)
        timing = bench_many([paths[t] for t in order], batches=(1,), warmup=5, iters=iters,
                            backends=[RUNTIME[t] for t in order], threads=threads)
        for t, m in zip(order, timing["models"]):
            choice["candidates"][t]["p50_ms"] = round(m["results"][0]["latency_ms"]["p50"], 3)
        best = min(order, key=lambda t: choice["candidates"][t]["p50_ms"])
        choice["chosen"] = best
        choice["host"] = timing["host"]
        model = onnx.load(str(paths[best]))
        update_props(model, {CPU_CHOICE_KEY: json.dumps(choice)})
        with atomic_path(out_onnx) as tmp:
            onnx.save(model, str(tmp))
    return {"target": best, "runtime": RUNTIME[best], "cpu_choice": choice}

