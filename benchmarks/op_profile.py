"""Where the time goes: per-op-type time of ONNX models on ONNX Runtime and OpenVINO (CPU, batch 1).

When an INT8 model is no faster than float, this says which kernels bound it: each model is profiled by its
runtime's own per-node profiler (ONNX Runtime's session profiling, OpenVINO's PERF_COUNT), and the time is
summed by op type (OpenVINO: by layer type and the kernel it picked, e.g. `Convolution jit_avx2_I8` or
`Convolution jit_avx2_dw`), in ms per inference. The profilers add a little overhead: compare rows of one
table, and take end-to-end figures from `yolov6-edge bench`.

    python benchmarks/op_profile.py float.onnx:onnxruntime int8_ov.onnx:openvino [--threads 1] [--iters 50]
        [--top 12] [--out benchmarks/results/op_profile_lite_s.md]
"""
import argparse
import collections
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _input(path):
    import onnx

    m = onnx.load(str(path), load_external_data=False)
    inp = m.graph.input[0]
    dims = [d.dim_value or 1 for d in inp.type.tensor_type.shape.dim]
    return inp.name, np.random.default_rng(0).random(dims, dtype=np.float32)


def profile_ort(path, threads, iters) -> dict:
    import onnxruntime as ort

    name, x = _input(path)
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    with tempfile.TemporaryDirectory() as tmp:
        so.profile_file_prefix = os.path.join(tmp, "prof")
        so.enable_profiling = True
        sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        for _ in range(5):  # warm-up runs are profiled too: the sums below are divided by all runs
            sess.run(None, {name: x})
        t0 = time.perf_counter()
        for _ in range(iters):
            sess.run(None, {name: x})
        wall = (time.perf_counter() - t0) / iters * 1e3
        events = json.loads(Path(sess.end_profiling()).read_text())
    by_op = collections.Counter()
    runs = sum(1 for e in events if e.get("name") == "model_run")
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            by_op[e["args"]["op_name"]] += e["dur"] / 1e3
    return {"wall_ms": wall, "ops": {k: v / runs for k, v in by_op.items()}}


def profile_ov(path, threads, iters) -> dict:
    import openvino as ov

    name, x = _input(path)
    from yolov6_edge.backends.openvino.signal_stack import keep_signal_stack

    core = ov.Core()
    with keep_signal_stack():
        compiled = core.compile_model(str(path), "CPU", {"PERF_COUNT": "YES", "INFERENCE_NUM_THREADS": threads,
                                                         "NUM_STREAMS": 1, "INFERENCE_PRECISION_HINT": "f32"})
    req = compiled.create_infer_request()
    for _ in range(5):
        req.infer({0: x})
    by_op = collections.Counter()
    t0 = time.perf_counter()
    for _ in range(iters):
        req.infer({0: x})
        for p in req.profiling_info:
            if p.status == p.Status.EXECUTED:
                by_op[f"{p.node_type} {p.exec_type}"] += p.real_time.total_seconds() * 1e3
    wall = (time.perf_counter() - t0) / iters * 1e3
    return {"wall_ms": wall, "ops": {k: v / iters for k, v in by_op.items()}}


def cpu_name() -> str:
    from yolov6_edge.host import cpu_flags, cpu_name as name

    flags = cpu_flags()
    isa = [f for f in ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8") if f in flags]
    return f"{name()} ({', '.join(isa)})"


def table(results: dict, top: int) -> list:
    labels = list(results)
    total = collections.Counter()
    for r in results.values():
        for k, v in r["ops"].items():
            total[k] += v
    keys = [k for k, _ in total.most_common(top)]
    lines = ["| op type (kernel) | " + " | ".join(labels) + " |", "|---|" + "---|" * len(labels)]
    for k in keys:
        lines.append(f"| {k} | " + " | ".join(f"{results[lb]['ops'].get(k, 0):.2f}" for lb in labels) + " |")
    rest = [sum(v for k, v in results[lb]["ops"].items() if k not in keys) for lb in labels]
    lines.append("| (all other ops) | " + " | ".join(f"{v:.2f}" for v in rest) + " |")
    lines.append("| **sum of kernels** | " + " | ".join(f"**{sum(results[lb]['ops'].values()):.2f}**"
                                                       for lb in labels) + " |")
    lines.append("| wall, profiled | " + " | ".join(f"{results[lb]['wall_ms']:.2f}" for lb in labels) + " |")
    return lines


def main(argv=None) -> int:
    a = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    a.add_argument("models", nargs="+", help="FILE.onnx:onnxruntime|openvino")
    a.add_argument("--threads", type=int, default=1)
    a.add_argument("--iters", type=int, default=50)
    a.add_argument("--top", type=int, default=12)
    a.add_argument("--out", type=Path)
    args = a.parse_args(argv)
    results = {}
    for spec in args.models:
        path, _, backend = spec.rpartition(":")
        if backend not in ("onnxruntime", "openvino") or not Path(path).is_file():
            raise SystemExit(f"{spec}: expected an existing FILE.onnx:onnxruntime or FILE.onnx:openvino")
        label = f"{Path(path).stem} on {backend}"
        print(f"profiling {label} ...", file=sys.stderr, flush=True)
        results[label] = (profile_ort if backend == "onnxruntime" else profile_ov)(path, args.threads, args.iters)
    lines = [f"# Per-op time, ms per inference (benchmarks/op_profile.py), {time.strftime('%Y-%m-%d')}", "",
             f"`python benchmarks/op_profile.py {' '.join(argv if argv is not None else sys.argv[1:])}`", "",
             f"{cpu_name()}, {args.threads} thread(s), batch 1, {args.iters} runs "
             "each, models one after another (not interleaved).", ""] + table(results, args.top)
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from yolov6_edge.atomic import atomic_write_text

        atomic_write_text(args.out, text)
        atomic_write_text(args.out.with_suffix(".json"), json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
