"""ORT CPU latency of several ONNX files, interleaved, as ratios to the first (the baseline).

Timing one file after another lets a slow stretch of a shared machine land on one file only (we saw the same
model read 32 and 48 ms in one benchmark run). Here every round times each file once for `--runs` calls, in
turn, and the result is the median over rounds, so drifts hit all files alike.

    python benchmarks/onnx_latency.py float.onnx int8.onnx int8_unscaled.onnx [--rounds 10 --runs 20]
        [--threads 1] [--out results.json]
"""
import argparse
import json
import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import timeit


def session(path, threads):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    shape = [d if isinstance(d, int) else 1 for d in sess.get_inputs()[0].shape]
    x = np.random.default_rng(0).random(shape, dtype=np.float32)
    name = sess.get_inputs()[0].name
    return lambda: sess.run(None, {name: x})


def interleaved(paths, rounds=10, runs=20, threads=1) -> dict:
    calls = [session(p, threads) for p in paths]
    for c in calls:  # warm-up: first runs allocate and pick kernels
        timeit(c, 3)
    per_round = [[] for _ in paths]
    for _ in range(rounds):
        for times, c in zip(per_round, calls):
            times.append(timeit(c, runs, warmup=0) * 1e3)
    base = statistics.median(per_round[0])
    # keyed by file name: the folders are usually scratch space
    return {Path(p).name: {"ms": statistics.median(t), "ratio": statistics.median(t) / base, "round_ms": t}
            for p, t in zip(paths, per_round)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("onnx", nargs="+", type=Path, help="ONNX files; the first is the baseline")
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--runs", type=int, default=20, help="calls per file per round (median taken)")
    p.add_argument("--threads", type=int, default=1, help="ORT intra-op threads")
    p.add_argument("--out", type=Path, default=None, help="also write the results as JSON")
    args = p.parse_args(argv)
    res = interleaved(args.onnx, args.rounds, args.runs, args.threads)
    print(f"| ONNX | ms (median of {args.rounds} rounds x {args.runs} calls, {args.threads} thread) | "
          f"vs {args.onnx[0].name} |")
    print("|---|---|---|")
    for name, r in res.items():
        print(f"| {name} | {r['ms']:.2f} | {r['ratio']:.2f}x |")
    if args.out:
        from yolov6_edge.atomic import atomic_write_text

        settings = {"rounds": args.rounds, "runs": args.runs, "threads": args.threads,
                    "files": [f.name for f in args.onnx]}
        atomic_write_text(args.out, json.dumps({"args": settings, "results": res}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
