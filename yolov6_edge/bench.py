"""Latency and throughput of deployed models (.onnx on ONNX Runtime or OpenVINO, .engine on TensorRT). No torch.

Two modes per batch size:
- model: the backend call alone on a ready [B, 3, H, W] blob (what published TensorRT figures measure);
- end_to_end: uint8 BGR images in, Detections out: letterbox + inference + NMS, through the Detector.
Latency is per call (one batch); throughput is images per second = batch / mean latency.

Several models are timed interleaved (one call of each in turn, round after round), so a machine that slows
down or speeds up during the run affects all of them alike; each row then carries `ratio_to_first`, its
median latency over the first model's median for the same mode and batch (below 1: faster than the first).
This measures; it claims nothing by itself.
"""
import platform
import time

import numpy as np
from tqdm import tqdm

from . import __version__, arguments
from .errors import Yolov6EdgeError, fail
from .host import cpu_flags, cpu_name, onednn_isa_cap
from .onnx_contract import MAX_INPUT_VALUES  # one call's input blob: 8 GiB of float32

IMAGE_SHAPE = (480, 640)  # a typical camera frame, letterboxed to the model's input size
MAX_BENCH_BATCH = 4096  # a larger batch is a typo that would allocate gigabytes of input


def latency_stats(seconds) -> dict:
    ms = np.asarray(seconds, dtype=np.float64) * 1000.0
    if ms.size == 0:
        raise ValueError("latency_stats: no samples")
    return {"mean": float(ms.mean()), "p50": float(np.percentile(ms, 50)), "p99": float(np.percentile(ms, 99)),
            "min": float(ms.min()), "max": float(ms.max())}


def _time_interleaved(fns, warmup, iters, desc):
    """Per function, `iters` timings taken in turn with the others after `warmup` untimed calls each."""
    for fn in fns:
        for _ in range(warmup):
            fn()
    samples = [[] for _ in fns]
    for _ in tqdm(range(iters), desc=desc, leave=False, unit="round"):
        for fn, s in zip(fns, samples):
            t0 = time.perf_counter()
            fn()
            s.append(time.perf_counter() - t0)
    return samples


def _per_model(value, n, what):
    values = list(value) if isinstance(value, (list, tuple)) else [value]
    if len(values) == 1:
        return values * n
    if len(values) != n:
        raise fail(what, f"give one value or one per model ({n}), got {len(values)}")
    return values


def open_models(models, backends=None, threads: int = 0, cuda_graph=False, backend_options=None) -> list:
    """Open each model on its backend (one name for all, or one per model), through the backend registry."""
    from .backends.base import open_backend

    backends = _per_model(backends, len(models), "--backend")
    # backend_options: one dict for every OpenVINO model, or one per model (e.g. f32 and bf16 side by side)
    per = (list(backend_options) if isinstance(backend_options, (list, tuple))
           else [backend_options] * len(models))
    if len(per) != len(models):
        raise fail("backend_options", f"give one dict or one per model ({len(models)}), got {len(per)}")
    opened = []
    for model, name, options in zip(models, backends, per):
        # cuda_graph and threads are hints: the backends that take them get them (backends/base.py, HINTS)
        opened.append(open_backend(model, backend=name, threads=threads, cuda_graph=cuda_graph,
                                   **_options_for(model, name, options)))
    return opened


def _options_for(model, name, options) -> dict:
    """The backend options a model's backend takes: a per-model dict applies whole; one dict for every model
    (say OpenVINO's inference_precision beside ONNX Runtime models) goes to the backends that take it."""
    from .backends.base import default_backend, get, looks_like_backend

    if not options or looks_like_backend(model):
        return {}
    try:
        spec = get(name or default_backend(model))
    except Yolov6EdgeError:
        return {}  # an unknown backend or file type: open_backend says so, naming the model
    return {k: v for k, v in options.items() if k in spec.options}


def bench_many(models, batches=(1, 32), end_to_end=False, warmup=10, iters=100, image_shape=IMAGE_SHAPE, seed=0,
               cuda_graph=False, backends=None, threads: int = 0, backend_options=None) -> dict:
    """Benchmark several models interleaved; returns a JSON-ready dict with one report per model.

    models: paths or already opened Backends; backends: one backend name for all or one per model (None:
    each file's default); threads: inference threads (0: the runtime decides).
    """
    from .runtime.detector import Detector

    models = list(models)
    if not models:
        raise fail("bench", "no model given")
    where = str(models[0])
    iters = arguments.integer(iters, "iters", 1, where=where)
    warmup = arguments.integer(warmup, "warmup", 0, where=where)
    seed = arguments.seed(seed, where=where)
    if isinstance(batches, (int, str)) or not batches:
        raise fail(where, f"batches must be a list of batch sizes, got {batches!r:.60}")
    batches = [arguments.integer(b, "batch size", 1, MAX_BENCH_BATCH, where=where) for b in batches]
    opened = open_models(models, backends, threads, cuda_graph, backend_options)
    for m, b in zip(models, opened):  # the random input blob of the largest batch must be allocatable
        h, w = b.input_size
        if max(batches) * 3 * h * w > MAX_INPUT_VALUES:
            raise fail(m, f"a batch of {max(batches)} at {h}x{w} is more than {MAX_INPUT_VALUES:,} input values")
    rng = np.random.default_rng(seed)
    reports = [_report(m, b, warmup, iters, image_shape if end_to_end else None, cuda_graph)
               for m, b in zip(models, opened)]
    detectors = [Detector(b) for b in opened] if end_to_end else None
    for batch in batches:
        blobs = [rng.random((batch, 3, *b.input_size), dtype=np.float32).astype(b.dtype, copy=False)
                 for b in opened]
        fns = [(lambda b=b, x=x: b(x)) for b, x in zip(opened, blobs)]
        _add_rows(reports, "model", batch, _time_interleaved(fns, warmup, iters, f"model b={batch}"))
        if detectors:
            images = [rng.integers(0, 256, (*image_shape, 3), dtype=np.uint8) for _ in range(batch)]
            fns = [(lambda d=d, images=images: d(images)) for d in detectors]
            _add_rows(reports, "end_to_end", batch, _time_interleaved(fns, warmup, iters, f"end-to-end b={batch}"))
    for r in reports:
        r["ratio_to_first"] = r["results"][0]["ratio_to_first"]
    return {"interleaved": len(reports) > 1, "threads": threads, "warmup": warmup, "iters": iters,
            "host": _host(), "models": reports}


def bench(model, batches=(1, 32), end_to_end=False, warmup=10, iters=100, image_shape=IMAGE_SHAPE, seed=0,
          cuda_graph=False, backend=None, threads: int = 0, backend_options=None) -> dict:
    """Benchmark one model (a path or an already opened Backend); returns a JSON-ready dict."""
    report = bench_many([model], batches, end_to_end, warmup, iters, image_shape, seed, cuda_graph, backend,
                        threads, backend_options)
    return dict(report["models"][0], host=report["host"])


def _add_rows(reports, mode, batch, samples):
    rows = [_row(mode, batch, s) for s in samples]
    first = rows[0]["latency_ms"]["p50"]
    for report, row in zip(reports, rows):
        row["ratio_to_first"] = row["latency_ms"]["p50"] / first
        report["results"].append(row)


def _report(model, backend, warmup, iters, image_shape, cuda_graph) -> dict:
    from .backends.base import type_name

    h, w = backend.input_size
    return {
        "model": str(model),
        "backend": type_name(backend),
        "runtime": backend.name,
        "precision": backend.precision or backend.metadata.get("precision"),
        "qdq_target": backend.metadata.get("yolov6_edge.qdq_target"),
        "inference_precision": backend.inference_precision,
        "threads": backend.threads,
        "input_size": [h, w],
        "max_batch": int(backend.max_batch),
        "cuda_graph": bool(backend.cuda_graph),
        "warmup": warmup,
        "iters": iters,
        "image_shape": list(image_shape) if image_shape else None,
        "results": [],
    }


def _host() -> dict:
    return {"machine": platform.machine(), "processor": cpu_name(), "cpu_flags": cpu_flags(),
            "onednn_max_cpu_isa": onednn_isa_cap(), "python": platform.python_version(), "yolov6_edge": __version__}


def _row(mode, batch, samples):
    stats = latency_stats(samples)
    return {"mode": mode, "batch": batch, "latency_ms": stats, "throughput_fps": batch * 1000.0 / stats["mean"]}


def format_table(report) -> str:
    """One model's report, or a bench_many report with every model and its ratio to the first."""
    many = "models" in report
    reports = report["models"] if many else [report]
    lines = []
    if many and len(reports) > 1:
        lines.append(f"{len(reports)} models interleaved, {report['iters']} rounds; ratio = p50 latency / first "
                     "model's p50")
    for i, r in enumerate(reports):
        extra = f", {r['runtime']}" if r.get("runtime") else ""
        if r.get("qdq_target"):
            extra += f", Q/DQ for {r['qdq_target']}"
        lines.append(f"[{i}] {r['model']} ({r['backend']}{extra}, precision {r['precision']}, "
                     f"input {r['input_size'][0]}x{r['input_size'][1]}, {r['iters']} iters)")
    lines.append(f"{'#':>2} {'mode':<11} {'batch':>5} {'mean ms':>9} {'p50 ms':>9} {'p99 ms':>9} {'img/s':>9} "
                 f"{'ratio':>7}")
    rows = sorted(((row["mode"] != "model", row["batch"], i, row) for i, r in enumerate(reports)
                   for row in r["results"]), key=lambda t: (t[1], t[0], t[2]))
    for _, _, i, row in rows:
        s = row["latency_ms"]
        lines.append(f"{i:>2} {row['mode']:<11} {row['batch']:>5} {s['mean']:>9.2f} {s['p50']:>9.2f} "
                     f"{s['p99']:>9.2f} {row['throughput_fps']:>9.1f} {row.get('ratio_to_first', 1.0):>6.2f}x")
    return "\n".join(lines)
