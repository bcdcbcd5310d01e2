"""What copying the caller's frames costs in Detector.stream(iterable) (runtime/sources.intake, issue 26).

A stream decodes ahead of the model, so a caller that refills one buffer must not have it read later: each
array is copied as it is taken. Measured in one process against the letterbox of the same frame (the work the
frame goes through next), at 640x480 and 1920x1080, median of --repeat calls.

    python benchmarks/stream_intake_copy.py [--repeat 200] [--out benchmarks/results/stream_intake_copy.md]
"""
import argparse
import sys
from pathlib import Path

import numpy as np

from yolov6_edge import ops
from yolov6_edge.host import cpu_flags, cpu_name
from yolov6_edge.runtime.sources import intake

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import timeit


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=200)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    rows = []
    for h, w in ((480, 640), (1080, 1920)):
        frame = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        copy_s = timeit(lambda: intake(frame, "frame"), args.repeat, warmup=5)
        check_s = timeit(lambda: frame.copy(), args.repeat, warmup=5)
        lb_s = timeit(lambda: ops.letterbox([frame], size=(640, 640)), args.repeat, warmup=5)
        rows.append((f"{w}x{h}", copy_s * 1e3, check_s * 1e3, lb_s * 1e3, copy_s / lb_s))
    lines = ["# Detector.stream(iterable): the cost of copying each frame on intake", "",
             f"Host: {cpu_name()}; flags {' '.join(cpu_flags())}. `python benchmarks/stream_intake_copy.py "
             f"--repeat {args.repeat}`; medians, one process. The machine was shared with other jobs: noisy.", "",
             "| frame | intake (check + copy) ms | numpy copy alone ms | letterbox to 640x640 ms | intake / letterbox |",
             "|---|---|---|---|---|"]
    lines += [f"| {n} | {c:.3f} | {k:.3f} | {lb:.3f} | {r:.2f} |" for n, c, k, lb, r in rows]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        from yolov6_edge.atomic import atomic_write_text

        atomic_write_text(args.out, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
