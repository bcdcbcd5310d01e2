"""Acceptance run: train a small YOLOv6 on the synthetic shapes set on CPU within a wall-time budget and
report mAP@0.5 on its validation split.

    python benchmarks/train_synthetic.py --model yolov6lite-s --minutes 10 --threads 2

Baseline measured in the same run: the same model before training (its mAP is the floor the training
must rise from). Writes benchmarks/results/train_synthetic.{json,md,png}. The machine is shared: the
JSON records the thread count, CPU count and load average at the start so figures can be compared fairly.
"""
import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch

from yolov6_edge.atomic import atomic_write_text
from yolov6_edge.datasets.synthetic import generate_splits
from yolov6_edge.models import build_model
from yolov6_edge.datasets.spec import load_data_spec
from yolov6_edge.trainer.loop import Trainer, TrainArgs

RESULTS = Path(__file__).resolve().parent / "results"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="yolov6n")
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--img", type=int, default=256)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--epochs", type=int, default=30, help="schedule length; the time budget may stop earlier")
    ap.add_argument("--train-images", type=int, default=600)
    ap.add_argument("--val-images", type=int, default=100)
    ap.add_argument("--mosaic", type=float, default=0.5, help="mosaic probability (off for the last third)")
    ap.add_argument("--lr0", type=float, default=0.02)
    ap.add_argument("--threads", type=int, default=1, help="1 is fastest on a shared, oversubscribed CPU")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--data-root", default="", help="default: ~/.cache/yolov6_edge/synthetic_bench_<img>")
    ap.add_argument("--output", default="runs/train_synthetic")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    load = os.getloadavg()[0]

    root = args.data_root or Path.home() / ".cache" / "yolov6_edge" / f"synthetic_bench_{args.img}"
    data_yaml = generate_splits(root, args.train_images, args.val_images, size=(args.img, args.img),
                                seed=0, min_size=16, max_size=args.img // 2, max_objects=5)
    data = load_data_spec(data_yaml)
    model = build_model(args.model, len(data["names"]))
    targs = TrainArgs(model=args.model, epochs=args.epochs, img_size=args.img, batch=args.batch,
                      workers=args.workers, output=args.output, max_minutes=args.minutes, eval_interval=6,
                      no_mosaic_epochs=max(args.epochs // 3, 1), atss_epochs=2, warmup_epochs=1.0,
                      min_warmup_iters=50, lr0=args.lr0, scale=0.3, mixup=0.0, mosaic=args.mosaic)
    trainer = Trainer(targs, model=model, data=data)
    baseline = trainer.validate()  # the same model, untrained: measured in this run
    t0 = time.time()
    history = trainer.fit()
    wall = time.time() - t0
    final = [r for r in history if "AP50" in r][-1]
    result = {
        "model": args.model, "params": sum(p.numel() for p in model.parameters()), "img_size": args.img,
        "batch": args.batch, "lr0": args.lr0, "mosaic": args.mosaic, "train_images": args.train_images, "val_images": args.val_images,
        "epochs_done": len(history), "epochs_scheduled": args.epochs, "budget_min": args.minutes,
        "train_wall_s": round(wall, 1), "steps": trainer.steps,
        "baseline_untrained": baseline, "final": {"AP": final["AP"], "AP50": final["AP50"]},
        "best_AP50": max(r.get("AP50", 0) for r in history),
        "AP50_ratio_vs_untrained": final["AP50"] / max(baseline["AP50"], 1e-6),
        "passes_AP50_0.5": final["AP50"] >= 50.0,  # AP in percent
        "conditions": {"torch_threads": args.threads, "cpu_count": os.cpu_count(), "loadavg_1m_at_start": load,
                       "platform": platform.platform(), "torch": torch.__version__,
                       "note": "CPU shared with other jobs during the run"},
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    atomic_write_text(RESULTS / "train_synthetic.json", json.dumps(result, indent=2) + "\n")
    md = [f"# Training on the synthetic shapes set ({args.model}, {args.img}px, CPU)", "",
          "| | AP50 (%) | AP50:95 (%) |", "|---|---|---|",
          f"| untrained (baseline, same run) | {baseline['AP50']:.2f} | {baseline['AP']:.2f} |",
          f"| after {len(history)} epochs / {wall / 60:.1f} min | {final['AP50']:.2f} | {final['AP']:.2f} |", "",
          f"Conditions: {args.threads} torch threads on {os.cpu_count()} cores, load average {load:.1f} at start "
          f"(shared machine), {trainer.steps} steps of batch {args.batch}.", ""]
    atomic_write_text(RESULTS / "train_synthetic.md", "\n".join(md))
    from yolov6_edge.trainer.plots import plot_history

    plot_history(history, RESULTS / "train_synthetic.png")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
