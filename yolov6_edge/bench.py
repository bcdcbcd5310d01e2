"""Latency and throughput of a deployed model (.onnx with ONNX Runtime, .engine with TensorRT). No torch.

Two modes per batch size:
- model: the backend call alone on a ready [B, 3, H, W] blob (what published TensorRT figures measure);
- end_to_end: uint8 BGR images in, Detections out: letterbox + inference + NMS, through the Detector.
Latency is per call (one batch); throughput is images per second = batch / mean latency.
This measures; it claims nothing by itself. Comparisons belong in benchmarks/, against a baseline measured in
the same run.
"""
import platform
import time

import numpy as np
from tqdm import tqdm

from . import __version__
from .errors import fail

IMAGE_SHAPE = (480, 640)  # a typical camera frame, letterboxed to the model's input size


def latency_stats(seconds) -> dict:
    ms = np.asarray(seconds, dtype=np.float64) * 1000.0
    if ms.size == 0:
        raise ValueError("latency_stats: no samples")
    return {"mean": float(ms.mean()), "p50": float(np.percentile(ms, 50)), "p99": float(np.percentile(ms, 99)),
            "min": float(ms.min()), "max": float(ms.max())}


def _time(fn, warmup, iters, desc):
    for _ in range(warmup):
        fn()
    samples = []
    for _ in tqdm(range(iters), desc=desc, leave=False, unit="it"):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return samples


def bench(model, batches=(1, 32), end_to_end=False, warmup=10, iters=100, image_shape=IMAGE_SHAPE, seed=0,
          cuda_graph=False) -> dict:
    """Benchmark `model` (a path or an already opened Backend); returns a JSON-ready dict.

    cuda_graph: for .engine files, replay each batch size's enqueue as a CUDA graph.
    """
    from .runtime.detector import Detector, open_backend

    if iters < 1 or warmup < 0:
        raise fail(model, f"iters must be >= 1 and warmup >= 0, got iters={iters} warmup={warmup}")
    if not batches or any(int(b) < 1 for b in batches):
        raise fail(model, f"batch sizes must be >= 1, got {list(batches)}")
    if cuda_graph and str(model).endswith(".engine"):
        from .backends.tensorrt.runtime import TensorRTBackend

        backend = TensorRTBackend(model, cuda_graph=True)
    else:
        backend = open_backend(model)
    h, w = backend.input_size
    dtype = getattr(backend, "dtype", np.float32)
    rng = np.random.default_rng(seed)
    detector = Detector(backend) if end_to_end else None
    results = []
    for b in (int(x) for x in batches):
        blob = rng.random((b, 3, h, w), dtype=np.float32).astype(dtype, copy=False)
        samples = _time(lambda: backend(blob), warmup, iters, f"model b={b}")
        results.append(_row("model", b, samples))
        if detector is not None:
            images = [rng.integers(0, 256, (*image_shape, 3), dtype=np.uint8) for _ in range(b)]
            samples = _time(lambda: detector(images), warmup, iters, f"end-to-end b={b}")
            results.append(_row("end_to_end", b, samples))
    return {
        "model": str(model),
        "backend": type(backend).__name__,
        "precision": getattr(backend, "precision", None) or _meta(backend, "precision"),
        "input_size": [h, w],
        "max_batch": int(backend.max_batch),
        "cuda_graph": bool(getattr(backend, "cuda_graph", False)),
        "warmup": warmup,
        "iters": iters,
        "image_shape": list(image_shape) if end_to_end else None,
        "host": {"machine": platform.machine(), "python": platform.python_version(), "yolov6_edge": __version__},
        "results": results,
    }


def _meta(backend, key):
    meta = getattr(backend, "metadata", None) or getattr(backend, "meta", None) or {}
    return meta.get(key)


def _row(mode, batch, samples):
    stats = latency_stats(samples)
    return {"mode": mode, "batch": batch, "latency_ms": stats, "throughput_fps": batch * 1000.0 / stats["mean"]}


def format_table(report) -> str:
    lines = [f"{report['model']} ({report['backend']}, precision {report['precision']}, "
             f"input {report['input_size'][0]}x{report['input_size'][1]}, {report['iters']} iters)",
             f"{'mode':<11} {'batch':>5} {'mean ms':>9} {'p50 ms':>9} {'p99 ms':>9} {'img/s':>9}"]
    for r in report["results"]:
        s = r["latency_ms"]
        lines.append(f"{r['mode']:<11} {r['batch']:>5} {s['mean']:>9.2f} {s['p50']:>9.2f} {s['p99']:>9.2f} "
                     f"{r['throughput_fps']:>9.1f}")
    return "\n".join(lines)
