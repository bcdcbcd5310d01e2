"""Timing helpers the benchmark scripts share: median wall time of a call, and the CUDA-with-torch check."""
import statistics
import time


def timeit(fn, repeat, warmup=1):
    """Median seconds of `repeat` calls of fn, after `warmup` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def cuda_torch(needed_for: str):
    """torch when our CUDA ops and torch's CUDA can both run here; otherwise print why and return None."""
    from yolov6_edge import _C

    if not _C.cuda_available():
        print("CUDA: skipped (no usable GPU on this machine)")
        return None
    try:
        import torch

        assert torch.cuda.is_available()
    except (ImportError, AssertionError):
        print(f"CUDA: skipped (needs torch with CUDA for {needed_for})")
        return None
    return torch
