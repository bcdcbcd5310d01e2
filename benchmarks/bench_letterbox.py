"""Letterbox speed: yolov6_edge.ops.letterbox vs the plain OpenCV + numpy path, measured in the same process.

CPU: one 1920x1080 BGR frame -> 640x640 float32 NCHW RGB /255, and a batch of 8 frames. Baseline:
cv2.resize + cv2.copyMakeBorder + cv2.cvtColor + astype(float32) / 255 + transpose (what most YOLO demos do).
CUDA (only where a GPU and torch-with-CUDA or CuPy are present): a batch of 32 1080p frames in one kernel;
achieved bandwidth (bytes read + written) against a device-to-device copy measured in the same run.

    python benchmarks/bench_letterbox.py [--repeat 50] [--threads 0]
"""
import argparse
import platform
import sys
from pathlib import Path

import cv2
import numpy as np

from yolov6_edge import ops

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import cuda_torch, timeit


def opencv_numpy(img, size=(640, 640)):
    h, w = img.shape[:2]
    r = min(size[0] / h, size[1] / w)
    nw, nh = int(round(w * r)), int(round(h * r))
    resized = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR)
    top, left = (size[0] - nh) // 2, (size[1] - nw) // 2
    padded = cv2.copyMakeBorder(resized, top, size[0] - nh - top, left, size[1] - nw - left, cv2.BORDER_CONSTANT,
                                value=(114, 114, 114))
    rgb = cv2.cvtColor(padded, cv2.COLOR_BGR2RGB)
    return np.ascontiguousarray((rgb.astype(np.float32) / 255.0).transpose(2, 0, 1))[None]


def bench_cpu(repeat, threads):
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (1080, 1920, 3), dtype=np.uint8) for _ in range(8)]
    # One frame per call, cycling through 8 distinct frames (48 MB) so the source is not cache-resident,
    # as with a video stream; the same frame over and over flatters whichever path reads it more often.
    it = iter(range(10**9))

    def frame():
        return frames[next(it) % len(frames)]

    rows = []
    base = timeit(lambda: opencv_numpy(frame()), repeat)
    ours1 = timeit(lambda: ops.letterbox(frame(), (640, 640), threads=1), repeat)
    ours = timeit(lambda: ops.letterbox(frame(), (640, 640), threads=threads), repeat)
    rows.append(("1 frame 1080p -> 640x640 f32", base, ours1, ours))
    base8 = timeit(lambda: np.concatenate([opencv_numpy(f) for f in frames]), max(repeat // 4, 3))
    ours8_1 = timeit(lambda: ops.letterbox(frames, (640, 640), threads=1), max(repeat // 4, 3))
    ours8 = timeit(lambda: ops.letterbox(frames, (640, 640), threads=threads), max(repeat // 4, 3))
    rows.append(("8 frames 1080p -> 640x640 f32", base8, ours8_1, ours8))
    print(f"CPU: {platform.processor() or platform.machine()}, {cv2.getNumberOfCPUs()} logical cores; "
          f"baseline = cv2.resize+copyMakeBorder+cvtColor+/255+transpose (cv2 threads {cv2.getNumThreads()})")
    print(f"{'case':34s} {'opencv+numpy':>13s} {'ours 1 thr':>11s} {'ours':>9s} {'ratio 1thr':>10s} {'ratio':>7s}")
    for name, b, o1, o in rows:
        print(f"{name:34s} {b * 1e3:10.2f} ms {o1 * 1e3:8.2f} ms {o * 1e3:6.2f} ms {b / o1:9.2f}x {b / o:6.2f}x")


def bench_cuda(repeat):
    torch = cuda_torch("device buffers and timing events")
    if torch is None:
        return
    rng = np.random.default_rng(0)
    frames = [torch.from_numpy(rng.integers(0, 256, (1080, 1920, 3), dtype=np.uint8)).cuda() for _ in range(32)]
    for dtype, tdt in ((np.float32, torch.float32), (np.float16, torch.float16)):
        out = torch.empty((32, 3, 640, 640), dtype=tdt, device="cuda")

        def run():
            ops.letterbox_cuda(frames, out, stream=torch.cuda.current_stream().cuda_stream)

        def gpu_time(fn):
            fn()
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(repeat):
                fn()
            end.record()
            torch.cuda.synchronize()
            return start.elapsed_time(end) / 1e3 / repeat

        t = gpu_time(run)
        moved = sum(f.numel() for f in frames) + out.numel() * out.element_size()
        src = torch.empty(moved // 2, dtype=torch.uint8, device="cuda")
        dst = torch.empty_like(src)
        t_copy = gpu_time(lambda: dst.copy_(src))
        bw, bw_copy = moved / t / 1e9, 2 * src.numel() / t_copy / 1e9
        print(f"CUDA {torch.cuda.get_device_name()}: 32 x 1080p -> 640x640 {np.dtype(dtype).name}: {t * 1e3:.3f} ms, "
              f"{bw:.0f} GB/s vs D2D copy {bw_copy:.0f} GB/s = {bw / bw_copy:.2f} of copy bandwidth")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=50)
    ap.add_argument("--threads", type=int, default=0, help="threads for ours (0 = all cores)")
    args = ap.parse_args()
    bench_cpu(args.repeat, args.threads)
    bench_cuda(args.repeat)


if __name__ == "__main__":
    main()
