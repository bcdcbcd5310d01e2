"""Frames/s of Detector.stream() (decode, letterbox, inference and NMS overlapped) against a sequential loop
over the same frames (decode, then detect, one frame after another), same model, same Detector, same process,
and the fraction of the wall time the model is busy (seconds inside the backend call / wall seconds).

    python benchmarks/stream_throughput.py [--frames-lite 240 --frames-n 60 --rounds 3 --threads 1 2]

Models: YOLOv6Lite-S at 320 (the official weights from ../shared where present, else random) and YOLOv6-N at
640 (random weights; its predictor init leaves few boxes, so NMS has little work), exported with the package's
export path, run on ONNX Runtime CPU. Input: a 1280x720 mp4v video written here from the ../shared COCO images
(synthetic frames without ../shared), each image shown for 4 frames. The two modes alternate within each round
(pipelined, sequential, ...) and the table gives medians over rounds, so a slow stretch of a shared machine
hits both alike. Both modes use the session stream() sets up: ORT pool threads do not spin between calls
(spinning threads take the cores decoding needs); with more than one thread the table also gives the sequential
loop on ORT's default session (spinning), which is what a hand-written loop gets.
Writes benchmarks/results/stream_throughput.{json,md}.
"""
import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("YOLOV6_EDGE_SHARED", ROOT.parent / "shared"))
RESULTS = ROOT / "benchmarks" / "results"
VIDEO_SIZE = (1280, 720)


def make_video(path: Path, frames: int) -> str:
    folder = SHARED / "coco" / "val" / "images"
    files = sorted(folder.glob("*.jpg")) if folder.is_dir() else []
    rng = np.random.default_rng(0)
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, VIDEO_SIZE)
    for i in range(frames):
        if files:
            img = cv2.resize(cv2.imread(str(files[(i // 4) % len(files)])), VIDEO_SIZE)
        else:
            img = rng.integers(0, 255, (VIDEO_SIZE[1], VIDEO_SIZE[0], 3), dtype=np.uint8)
        w.write(img)
    w.release()
    return "COCO val images" if files else "random noise"


def export_models(folder: Path) -> dict:
    from yolov6_edge.export.onnx import export_onnx
    from yolov6_edge.models import build_model

    lite_param = SHARED / "weights" / "yolov6lite" / "yolov6-lite-s.param"
    lite = lite_param if lite_param.is_file() else build_model("yolov6lite-s").eval()
    export_onnx(lite, folder / "lite_s_320.onnx", img_size=(320, 320))
    export_onnx(build_model("yolov6n").eval(), folder / "yolov6n_640.onnx", img_size=(640, 640))
    return {"YOLOv6Lite-S 320": (folder / "lite_s_320.onnx", "official (../shared)" if lite_param.is_file()
                                 else "random"),
            "YOLOv6-N 640": (folder / "yolov6n_640.onnx", "random")}


def sequential(det, video: Path, frames: int) -> dict:
    """The loop a user writes without stream(): read a frame, detect, next."""
    cap = cv2.VideoCapture(str(video), cv2.CAP_FFMPEG)
    infer = 0.0
    n = 0
    t0 = time.perf_counter()
    while n < frames:
        ok, img = cap.read()
        if not ok:
            break
        det(img)
        infer += det.timing["infer"]
        n += 1
    wall = time.perf_counter() - t0
    cap.release()
    return {"frames": n, "wall_s": wall, "fps": n / wall, "model_busy": infer / wall}


def pipelined(det, video: Path, frames: int, batch: int) -> dict:
    stream = det.stream(video, batch=batch, decoder="opencv")
    n = sum(1 for _ in stream)
    s = stream.stats()
    return {"frames": n, "wall_s": s["wall_s"], "fps": n / s["wall_s"], "model_busy": s["model_busy"],
            "stage_s": s["stage_s"]}


def median_of(runs, key):
    return statistics.median(r[key] for r in runs)


def main(argv=None) -> int:
    from yolov6_edge import Detector
    from yolov6_edge.atomic import atomic_write_text

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames-lite", type=int, default=240, help="frames per run for Lite-S 320")
    p.add_argument("--frames-n", type=int, default=60, help="frames per run for YOLOv6-N 640")
    p.add_argument("--rounds", type=int, default=3, help="rounds; each runs both modes once")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="ORT intra-op threads")
    p.add_argument("--batch", type=int, default=1, help="stream() batch")
    p.add_argument("--out", type=Path, default=RESULTS / "stream_throughput.json")
    args = p.parse_args(argv)

    rows = []
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        models = export_models(tmp)
        for label, (path, weights) in models.items():
            frames = args.frames_lite if "Lite" in label else args.frames_n
            video = tmp / f"clip_{frames}.mp4"  # exactly `frames` long: both modes run to the end of the file
            if not video.exists():
                content = make_video(video, frames)
            for threads in args.threads:
                det = Detector(path, threads=threads)
                # what stream() does to an ORT session with a thread pool; done first so both modes run on it
                det.backend.stop_spinning()
                sequential(det, video, 5)  # warm-up: ORT picks kernels, OpenCV loads codecs
                spin_det = Detector(path, threads=threads) if threads != 1 else None
                if spin_det:
                    sequential(spin_det, video, 5)
                seq, pipe, spin = [], [], []
                for _ in range(args.rounds):
                    pipe.append(pipelined(det, video, frames, args.batch))
                    seq.append(sequential(det, video, frames))
                    if spin_det:
                        spin.append(sequential(spin_det, video, frames))
                row = {"model": label, "weights": weights, "threads": threads, "frames": frames,
                       "sequential_fps": median_of(seq, "fps"), "pipelined_fps": median_of(pipe, "fps"),
                       "sequential_model_busy": median_of(seq, "model_busy"),
                       "pipelined_model_busy": median_of(pipe, "model_busy"),
                       "sequential_spinning_fps": median_of(spin, "fps") if spin else None,
                       "runs": {"sequential": seq, "pipelined": pipe, "sequential_spinning": spin}}
                row["speedup"] = row["pipelined_fps"] / row["sequential_fps"]
                rows.append(row)
                print(f"{label}, {threads} thread(s): sequential {row['sequential_fps']:.1f} frames/s "
                      f"(model busy {100 * row['sequential_model_busy']:.0f}%), pipelined "
                      f"{row['pipelined_fps']:.1f} frames/s (busy {100 * row['pipelined_model_busy']:.0f}%), "
                      f"x{row['speedup']:.2f}", flush=True)
    load_after = os.getloadavg()
    result = {"command": "python benchmarks/stream_throughput.py " + " ".join(argv or sys.argv[1:]),
              "video": {"size": list(VIDEO_SIZE), "codec": "mp4v", "content": content},
              "batch": args.batch, "rounds": args.rounds, "cpu_count": os.cpu_count(),
              "load_average_before": load_before, "load_average_after": load_after,
              "machine": platform.processor() or platform.machine(), "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, json.dumps(result, indent=1) + "\n")
    atomic_write_text(args.out.with_suffix(".md"), to_markdown(result))
    print(f"wrote {args.out} and {args.out.with_suffix('.md')}")
    return 0


def to_markdown(result) -> str:
    lines = [
        "# Stream throughput: Detector.stream() vs a sequential loop (ONNX Runtime CPU)",
        "",
        f"`{result['command'].strip()}`; {result['video']['size'][0]}x{result['video']['size'][1]} "
        f"{result['video']['codec']} video ({result['video']['content']}), batch {result['batch']}, median of "
        f"{result['rounds']} rounds (modes alternating). Machine: {result['cpu_count']} cores shared with other "
        f"jobs, load average {result['load_average_before'][0]:.1f} before and {result['load_average_after'][0]:.1f} "
        "after the run: absolute figures are low and noisy; the ratio is what to read.",
        "",
        "Model busy = seconds inside the ONNX Runtime call / wall seconds of the run.",
        "",
        "| model | weights | ORT threads | sequential frames/s | pipelined frames/s | speed-up | model busy, "
        "sequential | model busy, pipelined | sequential frames/s, ORT default session (spinning) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        spin = f"{r['sequential_spinning_fps']:.1f}" if r["sequential_spinning_fps"] else "same (one thread: no pool)"
        lines.append(f"| {r['model']} | {r['weights']} | {r['threads']} | {r['sequential_fps']:.1f} | "
                     f"{r['pipelined_fps']:.1f} | x{r['speedup']:.2f} | {100 * r['sequential_model_busy']:.0f}% | "
                     f"{100 * r['pipelined_model_busy']:.0f}% | {spin} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
