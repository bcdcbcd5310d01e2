"""Throughput and latency of a detector served by NVIDIA Triton Inference Server (the [serve] extra's tritonserver,
python flavour: Detector's pipeline in a Python-backend model, ONNX Runtime CPU) for 1, 4 and 16 concurrent
clients, against the in-process Detector.stream() on the same frames, in the same run, on the same machine.

    python benchmarks/serve_throughput.py [--models lite-s yolov6n] [--requests 240] [--threads 2]

Models: YOLOv6Lite-S at 320 (the official weights from ../shared, else random) and YOLOv6-N at 640 (random
weights: a throughput figure, not an accuracy one), exported with the package's export path.
Frames: the ../shared COCO val images (about 640x480, decoded once, in memory), else random 640x480 frames.
Clients: threads in this process, each with its own RemoteDetector (gRPC), each sending one raw frame per
request in a closed loop (the next request when the answer arrives); latency is per request at the client.
Fair threads: the served model and the in-process Detector both run ONNX Runtime with --threads intra-op
threads and one model instance; the clients' own CPU (encoding, gRPC) runs on the same host, so it is part
of what the server's figure pays. In-process baseline: Detector.stream() at batch 1 and at --max-batch, the
better of the two (by median). Rounds: --rounds interleaved rounds of all of it against one server, medians
reported, because the shared machine drifts by tens of percent within minutes. Triton's batch sizes: per-model
statistics (executions per batch size), summed over the rounds.
Writes benchmarks/results/serve_throughput.{json,md}.
"""
import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("YOLOV6_EDGE_SHARED", ROOT.parent / "shared"))
RESULTS = ROOT / "benchmarks" / "results"


def load_frames(n: int):
    folder = SHARED / "coco" / "val" / "images"
    files = sorted(folder.glob("*.jpg"))[:n] if folder.is_dir() else []
    if files:
        return [cv2.imread(str(f)) for f in files], f"{len(files)} COCO val images (../shared)"
    rng = np.random.default_rng(0)
    return [rng.integers(0, 255, (480, 640, 3), dtype=np.uint8) for _ in range(n)], "random 640x480 frames"


def export_models(folder: Path, which) -> dict:
    from yolov6_edge.export.onnx import export_onnx
    from yolov6_edge.models import build_model

    out = {}
    if "lite-s" in which:
        param = SHARED / "weights" / "yolov6lite" / "yolov6-lite-s.param"
        if param.is_file():
            from yolov6_edge.weights import load_model

            model, weights = load_model(param)[0], "official (../shared)"
        else:
            model, weights = build_model("yolov6lite-s").eval(), "random"
        out["YOLOv6Lite-S 320"] = (export_onnx(model, folder / "lite_s.onnx", img_size=(320, 320)), weights)
    if "yolov6n" in which:
        out["YOLOv6-N 640"] = (export_onnx(build_model("yolov6n").eval(), folder / "yolov6n.onnx",
                                           img_size=(640, 640)), "random")
    return out


def in_process(onnx, frames, requests, threads, batch) -> dict:
    from yolov6_edge.runtime.detector import Detector

    det = Detector(onnx, threads=threads)
    det(frames[0])  # warm-up
    source = [frames[i % len(frames)] for i in range(requests)]
    t0 = time.perf_counter()
    n = sum(1 for _ in det.stream(iter(source), batch=batch))
    wall = time.perf_counter() - t0
    return {"batch": batch, "images": n, "wall_s": wall, "fps": n / wall}


def served(url, http_url, model, frames, requests, clients) -> dict:
    from yolov6_edge.serve import metrics
    from yolov6_edge.serve.client import RemoteDetector

    per = max(1, requests // clients)
    dets = [RemoteDetector(url, model=model, timeout=120, in_flight=1) for _ in range(clients)]
    for d in dets:
        d(frames[0])  # connect and warm up
    sizes_before = metrics.batch_sizes(http_url, model)
    lat, errors = [[] for _ in range(clients)], []
    barrier = threading.Barrier(clients + 1)

    def client(i):
        try:
            barrier.wait(60)
            for j in range(per):
                t = time.perf_counter()
                dets[i](frames[(i * 7 + j) % len(frames)])
                lat[i].append(time.perf_counter() - t)
        except BaseException as e:  # noqa: BLE001 - reported after
            errors.append(e)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    barrier.wait(60)
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    for d in dets:
        d.close()
    if errors:
        raise errors[0]
    after = metrics.batch_sizes(http_url, model)
    formed = {b: after.get(b, 0) - sizes_before.get(b, 0) for b in after if after.get(b, 0) > sizes_before.get(b, 0)}
    all_lat = sorted(x for lst in lat for x in lst)
    n = len(all_lat)
    return {"clients": clients, "images": n, "wall_s": wall, "fps": n / wall,
            "p50_ms": 1000 * all_lat[n // 2], "p99_ms": 1000 * all_lat[min(n - 1, int(n * 0.99))],
            "batches_formed": formed,
            "mean_batch": sum(b * c for b, c in formed.items()) / max(1, sum(formed.values()))}


def measure(label, onnx, repo, name, frames, args) -> dict:
    """--rounds rounds, each: the in-process stream at batch 1 and --max-batch, then every client count against
    one running server. Interleaving puts a drift of the shared machine into both sides of each ratio."""
    from yolov6_edge.serve.server import TritonServer, free_port

    inproc = {b: [] for b in (1, args.max_batch)}
    served_runs = {c: [] for c in args.clients}
    with TritonServer(repo, http_port=free_port(), grpc_port=free_port(), metrics_port=free_port()) as srv:
        served(srv.grpc_url, srv.http_url, name, frames, min(64, args.requests), max(args.clients))  # warm-up
        for rnd in range(args.rounds):
            for b in inproc:
                inproc[b].append(in_process(onnx, frames, args.requests, args.threads, b))
            best_now = max(inproc[b][-1]["fps"] for b in inproc)
            for c in args.clients:
                r = served(srv.grpc_url, srv.http_url, name, frames, args.requests, c)
                r["vs_in_process_this_round"] = r["fps"] / best_now
                served_runs[c].append(r)
                print(f"{label} round {rnd + 1}/{args.rounds}: {c:2d} clients {r['fps']:7.1f} img/s "
                      f"({r['vs_in_process_this_round']:.2f}x in-process {best_now:.1f}), p50 {r['p50_ms']:.1f} ms, "
                      f"batches {r['batches_formed']}", flush=True)
    in_process_rows = [{"batch": b, "fps_rounds": [r["fps"] for r in runs], "fps": statistics.median(r["fps"] for r in runs)}
                       for b, runs in inproc.items()]
    best = max(in_process_rows, key=lambda r: r["fps"])
    rows = []
    for c, runs in served_runs.items():
        formed = {}
        for r in runs:
            for k, v in r["batches_formed"].items():
                formed[k] = formed.get(k, 0) + v
        fps = statistics.median(r["fps"] for r in runs)
        rows.append({"clients": c, "fps_rounds": [r["fps"] for r in runs], "fps": fps,
                     "vs_in_process": fps / best["fps"],
                     "vs_in_process_rounds": [r["vs_in_process_this_round"] for r in runs],
                     "p50_ms": statistics.median(r["p50_ms"] for r in runs), "p99_ms": max(r["p99_ms"] for r in runs),
                     "batches_formed": formed,
                     "mean_batch": sum(k * v for k, v in formed.items()) / max(1, sum(formed.values()))})
    return {"in_process": in_process_rows, "served": rows}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["lite-s", "yolov6n"], choices=["lite-s", "yolov6n"])
    ap.add_argument("--requests", type=int, default=240, help="images per measurement (split over the clients)")
    ap.add_argument("--clients", type=int, nargs="+", default=[1, 4, 16])
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds; medians are reported")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="ORT intra-op threads, both sides")
    ap.add_argument("--max-batch", type=int, default=16)
    ap.add_argument("--queue-delay-us", type=int, default=2000)
    ap.add_argument("--out", type=Path, default=RESULTS / "serve_throughput")
    ap.add_argument("--note", default="", help="a line for the top of the report (e.g. the machine's load)")
    args = ap.parse_args()

    from yolov6_edge import host
    from yolov6_edge.serve.repository import ExportSettings, export_triton

    frames, frames_note = load_frames(60)
    rows = []
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        models = export_models(Path(tmp), args.models)
        for label, (onnx, weights) in models.items():
            name = "m" + str(len(rows))
            repo = Path(tmp) / f"repo_{name}"
            export_triton(onnx, repo, ExportSettings(name=name, max_batch=args.max_batch, threads=args.threads,
                                                     queue_delay_us=args.queue_delay_us))
            rows.append({"model": label, "weights": weights, **measure(label, onnx, repo, name, frames, args)})
    result = {"host": {"cpu": host.cpu_name(), "flags": host.cpu_flags(), "cores": os.cpu_count(),
                       "python": platform.python_version(), "load_average_before": load_before},
              "frames": frames_note, "frame_sizes": len({f.shape[:2] for f in frames}), "threads": args.threads,
              "max_batch": args.max_batch, "queue_delay_us": args.queue_delay_us, "requests": args.requests,
              "rounds": args.rounds, "rows": rows, "note": args.note,
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "command": " ".join(["python"] + sys.argv)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    from yolov6_edge.atomic import atomic_write_text

    atomic_write_text(args.out.with_suffix(".json"), json.dumps(result, indent=1) + "\n")
    atomic_write_text(args.out.with_suffix(".md"), to_markdown(result))
    print(f"wrote {args.out}.json/.md")


def to_markdown(r) -> str:
    lines = ["# Serving throughput: Triton (python flavour, ORT CPU) vs in-process Detector.stream()", "",
             f"`{r['command']}`, {r['date']} (load average {r['host']['load_average_before']:.2f} at the start)",
             "", *([r["note"], ""] if r.get("note") else []),
             f"Host: {r['host']['cpu']}, {r['host']['cores']} cores, Python {r['host']['python']}; ORT intra-op "
             f"threads {r['threads']} on both sides, 1 model instance, max batch {r['max_batch']}, batching window "
             f"{r['queue_delay_us']} us; {r['requests']} images per measurement ({r['frames']}, "
             f"{r['frame_sizes']} different frame sizes); clients are threads of the benchmark process on the same "
             f"host (gRPC, one raw frame per request, closed loop). {r['rounds']} interleaved rounds (in-process, "
             "then each client count, against one running server): medians; the ratio's range over the rounds "
             "compares each served run with the in-process run of its own round. Batches: summed over the rounds.",
             "", "| model | weights | clients | img/s (median) | vs in-process | ratio range over rounds | p50 ms "
             "| p99 ms (worst) | batches formed (size: count) | mean batch |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for row in r["rows"]:
        best = max(row["in_process"], key=lambda x: x["fps"])
        for b in row["in_process"]:
            lines.append(f"| {row['model']} | {row['weights']} | in-process stream, batch {b['batch']} | "
                         f"{b['fps']:.1f} | {b['fps'] / best['fps']:.2f} | | | | | |")
        for s in row["served"]:
            formed = ", ".join(f"{k}: {v}" for k, v in sorted(s["batches_formed"].items(), key=lambda kv: int(kv[0])))
            lo, hi = min(s["vs_in_process_rounds"]), max(s["vs_in_process_rounds"])
            lines.append(f"| {row['model']} | {row['weights']} | {s['clients']} | {s['fps']:.1f} | "
                         f"{s['vs_in_process']:.2f} | {lo:.2f}-{hi:.2f} | {s['p50_ms']:.1f} | {s['p99_ms']:.1f} | "
                         f"{formed} | {s['mean_batch']:.2f} |")
    lines += ["", f"CPU flags: {' '.join(r['host']['flags'])}", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
