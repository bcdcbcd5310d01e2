"""Batched NMS speed: yolov6_edge.ops.batched_nms on 8400 boxes x 80 classes (a 640x640 YOLOv6 output),
at the evaluation setting (conf 0.001, multi-label) and the deployment setting (conf 0.25, best class).

Baselines measured in the same run: torchvision.ops.batched_nms when importable (after the same candidate
selection, in torch); otherwise a torch-only vectorized greedy NMS (class offsets, one IoU row per kept box)
and the plain numpy reference of tests/reference_ops.py. CUDA paths run where a GPU is present.

    python benchmarks/bench_nms.py [--repeat 10]
"""
import argparse
import importlib.util
import sys
from pathlib import Path

import numpy as np

from yolov6_edge import ops

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import cuda_torch, timeit

ROOT = Path(__file__).resolve().parents[1]


def _reference_module():
    spec = importlib.util.spec_from_file_location("reference_ops", ROOT / "tests" / "reference_ops.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def make_inputs(seed=0, b=1, n=8400, c=80):
    rng = np.random.default_rng(seed)
    xy = rng.random((b, n, 2), dtype=np.float32) * 640
    boxes = np.concatenate([xy, xy + rng.random((b, n, 2), dtype=np.float32) * 120 + 2], -1).astype(np.float32)
    scores = (rng.random((b, n, c), dtype=np.float32) ** 6).astype(np.float32)  # mostly low, like sigmoid outputs
    return boxes, scores


def torch_candidates(torch, boxes, scores, conf, multi_label, max_candidates=30000):
    if multi_label:
        i, j = (scores > conf).nonzero(as_tuple=True)
        s = scores[i, j]
    else:
        s, j = scores.max(1)
        i = (s > conf).nonzero(as_tuple=True)[0]
        s, j = s[i], j[i]
    if s.numel() > max_candidates:
        s, top = s.topk(max_candidates)
        i, j = i[top], j[top]
    return boxes[i], s, j


def torch_greedy(torch, boxes, scores, conf, iou, multi_label, max_det=300):
    """Vectorized greedy NMS in torch: classes separated by coordinate offsets, one IoU row per kept box."""
    b, s, j = torch_candidates(torch, boxes, scores, conf, multi_label)
    order = s.argsort(descending=True, stable=True)
    b, s, j = b[order], s[order], j[order]
    ob = b + (j.to(b.dtype) * 4096)[:, None]
    area = (ob[:, 2] - ob[:, 0]).clamp(min=0) * (ob[:, 3] - ob[:, 1]).clamp(min=0)
    alive = torch.ones(len(s), dtype=torch.bool)
    keep = []
    idx = 0
    while len(keep) < max_det:
        rest = alive[idx:].nonzero()
        if rest.numel() == 0:
            break
        idx = idx + int(rest[0])
        keep.append(idx)
        alive[idx] = False
        lt = torch.maximum(ob[idx, :2], ob[idx + 1:, :2])
        rb = torch.minimum(ob[idx, 2:], ob[idx + 1:, 2:])
        inter = (rb - lt).clamp(min=0).prod(1)
        alive[idx + 1:] &= inter / (area[idx] + area[idx + 1:] - inter) <= iou
    k = torch.tensor(keep, dtype=torch.long)
    return torch.cat([b[k], s[k, None], j[k, None].float()], 1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=10)
    args = ap.parse_args()
    boxes, scores = make_inputs()
    ref = _reference_module()
    try:
        import torch

        # One thread: its per-kept-box loop is many small ops, which more threads only slow down (measured
        # 6x slower with 2 threads on the shared 2-core box); ours is compared at 1 thread too.
        torch.set_num_threads(1)
    except ImportError:
        torch = None
    try:
        import torchvision

        tv = torchvision.ops.batched_nms
    except Exception:  # noqa: BLE001 - not installable beside torch 2.13 here
        tv = None
    print(f"8400 boxes x 80 classes, batch 1; torchvision: {'yes' if tv else 'not importable'}; "
          f"torch: {torch.__version__ if torch else 'not importable'}")
    print(f"{'setting':32s} {'ours':>9s} {'ours 1thr':>10s} {'baseline':>31s} {'time':>11s} {'ratio':>7s} "
          f"{'ratio 1thr':>10s}")
    for name, conf, iou, ml in (("eval conf 0.001 iou 0.65 multi", 0.001, 0.65, True),
                                ("deploy conf 0.25 iou 0.45 best", 0.25, 0.45, False)):
        ours_out = ops.batched_nms(boxes, scores, conf, iou, 300, ml)[0]
        t_ours = timeit(lambda: ops.batched_nms(boxes, scores, conf, iou, 300, ml), args.repeat)
        t_ours1 = timeit(lambda: ops.batched_nms(boxes, scores, conf, iou, 300, ml, threads=1), args.repeat)
        baselines = []
        if tv is not None and torch is not None:
            tb, ts = torch.from_numpy(boxes[0]), torch.from_numpy(scores[0])

            def run_tv():
                b, s, j = torch_candidates(torch, tb, ts, conf, ml)
                return tv(b, s, j, iou)[:300]

            baselines.append(("torchvision.ops.batched_nms", run_tv))
        if torch is not None:
            tb, ts = torch.from_numpy(boxes[0]), torch.from_numpy(scores[0])
            got = torch_greedy(torch, tb, ts, conf, iou, ml).numpy()
            assert len(got) == len(ours_out), "torch baseline disagrees with ours"
            baselines.append(("torch vectorized greedy (CPU)", lambda: torch_greedy(torch, tb, ts, conf, iou, ml)))
        baselines.append(("numpy reference (tests/)", lambda: ref.nms_reference(boxes[0], scores[0], conf, iou, 300, ml)))
        for bname, fn in baselines:
            t = timeit(fn, max(1, args.repeat // 5) if "numpy" in bname else args.repeat)
            print(f"{name:32s} {t_ours * 1e3:6.2f} ms {t_ours1 * 1e3:7.2f} ms {bname:>31s} {t * 1e3:8.2f} ms "
                  f"{t / t_ours:6.1f}x {t / t_ours1:9.1f}x")
    bench_cuda(args.repeat)


def bench_cuda(repeat):
    torch = cuda_torch("device buffers")
    if torch is None:
        return
    boxes, scores = make_inputs(b=8)
    db, ds = torch.from_numpy(boxes).cuda(), torch.from_numpy(scores).cuda()
    out = torch.empty((8, 300, 6), device="cuda")
    counts = torch.empty(8, dtype=torch.int32, device="cuda")
    try:
        import torchvision

        tv = torchvision.ops.batched_nms
        tv(db[0, :2], ds[0, :2, 0], torch.zeros(2, dtype=torch.long, device="cuda"), 0.5)
    except Exception:  # noqa: BLE001 - not importable, or built without CUDA: compared without it
        tv = None
    for name, conf, iou, ml in (("conf 0.001 multi", 0.001, 0.65, True), ("conf 0.25 best", 0.25, 0.45, False)):
        def ours():
            ops.batched_nms_cuda(db, ds, out, counts, conf, iou, ml, stream=torch.cuda.current_stream().cuda_stream)
            torch.cuda.synchronize()

        t = timeit(ours, repeat)
        line = f"CUDA {torch.cuda.get_device_name()} batch 8, {name}: ours {t * 1e3:.2f} ms"
        if tv is not None:
            def run_tv():
                for k in range(8):
                    b, s, j = torch_candidates(torch, db[k], ds[k], conf, ml)
                    tv(b, s, j, iou)[:300]
                torch.cuda.synchronize()

            t_tv = timeit(run_tv, repeat)
            line += f", torchvision {t_tv * 1e3:.2f} ms, ratio {t_tv / t:.1f}x"
        print(line)


if __name__ == "__main__":
    sys.exit(main())
