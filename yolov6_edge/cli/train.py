"""`yolov6-edge train`: train or fine-tune a YOLOv6 / YOLOv6Lite model (see docs/TRAINING.md)."""
import dataclasses

from .checks import count, nonnegative_float, positive_float, positive_int, seed, unit_float


def register(subparsers, name):
    p = subparsers.add_parser(name, help="train or fine-tune a detector",
                              description="Train a YOLOv6 model on a data.yaml (COCO JSON or YOLO txt) or "
                                          "'synthetic'. Multi-GPU: launch with torchrun.")
    p.add_argument("--model", default="yolov6n", help="model name (yolov6n, yolov6lite-s, ...) or weights file")
    p.add_argument("--weights", default="", help="start from this weights file (ours or an official YOLOv6 .pt, "
                                                 "any variant); takes the place of --model")
    p.add_argument("--data", default="synthetic", help="data.yaml, or 'synthetic' for the built-in shapes set")
    p.add_argument("--epochs", type=positive_int, default=100)
    p.add_argument("--img", type=positive_int, default=640, dest="img_size", help="training size (square)")
    p.add_argument("--batch", type=positive_int, default=16, help="images per process")
    p.add_argument("--workers", type=count, default=2)
    p.add_argument("--device", default="", help="cpu, cuda, cuda:0 (default: cuda when available)")
    p.add_argument("--output", default="runs/train")
    p.add_argument("--lr0", type=positive_float, default=0.01)
    p.add_argument("--lrf", type=positive_float, default=0.01, help="final lr as a fraction of lr0")
    p.add_argument("--schedule", choices=("cosine", "linear"), default="cosine")
    p.add_argument("--warmup-epochs", type=nonnegative_float, default=3.0)
    p.add_argument("--atss-epochs", type=count, default=4, help="ATSS assignment for the first epochs, then TAL")
    p.add_argument("--iou-type", default="", choices=("", "iou", "giou", "diou", "ciou", "siou"))
    p.add_argument("--no-mosaic-epochs", type=count, default=15)
    p.add_argument("--mosaic", type=unit_float, default=1.0)
    p.add_argument("--mixup", type=unit_float, default=0.0)
    p.add_argument("--no-ema", action="store_false", dest="ema")
    p.add_argument("--no-amp", action="store_false", dest="amp")
    p.add_argument("--grad-clip", type=nonnegative_float, default=0.0)
    p.add_argument("--eval-interval", type=positive_int, default=1)
    p.add_argument("--teacher", default="", help="self-distillation teacher (model name or weights)")
    p.add_argument("--resume", default="", help="last.pt of an interrupted run")
    p.add_argument("--max-minutes", type=nonnegative_float, default=0.0,
                   help="stop (validate, save) after this wall time")
    p.add_argument("--repopt-search", action="store_true",
                   help="RepOptimizer step 1: train the branch-scale search form, write OUTPUT/repopt_scales.pt")
    p.add_argument("--repopt-scales", default="",
                   help="RepOptimizer step 2: train the plain-VGG form with these scales (checkpoints hold the "
                        "folded standard model)")
    p.add_argument("--seed", type=seed, default=0)
    return p


# what the trainer writes into --output (trainer/loop.py)
TRAIN_OUTPUTS = ("last.pt", "best.pt", "results.csv", "results.png", "repopt_scales.pt")


def check_train_files(args) -> None:
    """The output folder is usable, and none of the files the run writes there is one it reads (fine-tuning
    from runs/train/best.pt into runs/train would replace it); --resume's last.pt is rewritten by design."""
    from pathlib import Path

    from .checks import check_output_folder, check_outputs

    out = check_output_folder(args.output)
    inputs = [args.data if args.data != "synthetic" else None, args.weights or None, args.teacher or None,
              args.repopt_scales or None, args.model if Path(args.model).suffix else None]
    outputs = {out / name: f"training output {name}" for name in TRAIN_OUTPUTS
               if not (args.resume and name == "last.pt")}
    check_outputs(inputs, outputs)


def run(args) -> int:
    import torch

    from ..trainer import ddp
    from ..trainer.loop import Trainer, TrainArgs

    check_train_files(args)
    fields = {f.name for f in dataclasses.fields(TrainArgs)}
    targs = TrainArgs(**{k: v for k, v in vars(args).items() if k in fields})
    if getattr(args, "weights", ""):
        targs.model = str(args.weights)
    if not targs.device:
        targs.device = "cuda" if torch.cuda.is_available() else "cpu"
    rank, world, device = ddp.setup(targs.device)
    targs.device = str(device)
    try:
        history = Trainer(targs, rank=rank, world_size=world).fit()
    finally:
        ddp.cleanup()
    if rank == 0 and history:
        best = max((r.get("AP50", 0) for r in history), default=0)
        print(f"done: {len(history)} epochs, best mAP@0.5 {best:.2f} (percent), weights in {targs.output}")
    return 0
