"""Do RepOptimizer weights quantize better? YOLOv6-N trained twice on the synthetic shapes set, then INT8.

Same data, schedule, seed and epoch count for both:
  plain:  the usual RepVGG-block YOLOv6-N, fused after training (BN and branches folded into one conv)
  repopt: a short hyper-search of per-channel branch scales (RepOptSearchBlock), then a plain-VGG YOLOv6-N
          (RepOptVGGBlock: one 3x3 conv + BN) trained with RepOptimizer's gradient multipliers
Each trained model then goes through the quant_lite rows (float, PTQ max/entropy, partial, QAT) on ONNX
Runtime CPU: calibration and partial search on a separate synthetic 'calib' split, AP on the val split.

    python benchmarks/quant_repopt.py [--img 160] [--epochs 12] [--search-epochs 3]
"""
import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quant_common import measure, table

ROOT = Path(__file__).resolve().parents[1]


def train(model, data, args, out, epochs, **repopt):
    from yolov6_edge.trainer.loop import Trainer, TrainArgs

    targs = TrainArgs(model="yolov6n", epochs=epochs, img_size=args.img, batch=args.batch, workers=1,
                      output=str(out), eval_interval=10_000, no_mosaic_epochs=max(epochs // 3, 1), atss_epochs=2,
                      warmup_epochs=1.0, min_warmup_iters=50, lr0=args.lr0, scale=0.3, mixup=0.0, mosaic=0.5,
                      seed=0, **repopt)
    trainer = Trainer(targs, model=model, data=data)
    t0 = time.time()
    history = trainer.fit()
    from yolov6_edge.trainer.repopt import standard_form

    model = standard_form(trainer.ema.ema if trainer.ema else trainer.model)  # as its checkpoints hold it
    return model.eval(), {"train_s": round(time.time() - t0, 1), "steps": trainer.steps,
                          "val_AP_pytorch": history[-1].get("AP") if history else None}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--img", type=int, default=160)
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--search-epochs", type=int, default=3)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr0", type=float, default=0.02)
    p.add_argument("--train-images", type=int, default=400)
    p.add_argument("--method", default="entropy")
    p.add_argument("--ptq-methods", nargs="+", default=["max", "entropy"])
    p.add_argument("--qat-epochs", type=int, default=4)
    p.add_argument("--qat-lr", type=float, default=1e-5)
    p.add_argument("--qat-amax-lr", type=float, default=1e-3)
    p.add_argument("--qat-augment", action="store_true")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "quant_repopt.json")
    args = p.parse_args(argv)
    import onnxruntime
    import torch

    torch.set_num_threads(args.threads)
    from yolov6_edge.atomic import atomic_write_text
    from yolov6_edge.datasets.synthetic import generate, generate_splits
    from yolov6_edge.models import build_model
    from yolov6_edge.datasets.spec import load_data_spec
    from yolov6_edge.weights.checkpoint import save_checkpoint

    size = (args.img, args.img)
    kw = dict(min_size=16, max_size=args.img // 2, max_objects=5)
    root = Path.home() / ".cache" / "yolov6_edge" / f"synthetic_repopt_{args.img}"
    data_yaml = generate_splits(root, args.train_images, 100, size=size, seed=0, **kw)
    if not (root / "calib" / "instances.json").exists():
        generate(root / "calib", 100, size, seed=20_000, **kw)
    data = load_data_spec(data_yaml)
    nc = len(data["names"])
    work = Path(tempfile.mkdtemp(prefix="quant_repopt_"))
    res = {"args": {k: str(v) for k, v in vars(args).items()}, "onnxruntime": onnxruntime.__version__,
           "torch": torch.__version__, "training": {}, "models": {}}

    torch.manual_seed(0)
    plain, res["training"]["plain"] = train(build_model("yolov6n", nc), data, args, work / "plain", args.epochs)
    torch.manual_seed(0)  # step 1 of the recipe: `yolov6-edge train --repopt-search`
    _, res["training"]["search"] = train(build_model("yolov6n", nc), data, args, work / "search",
                                         args.search_epochs, repopt_search=True)
    torch.manual_seed(0)  # step 2: `yolov6-edge train --repopt-scales OUTPUT/repopt_scales.pt`
    repopt, res["training"]["repopt"] = train(build_model("yolov6n", nc), data, args, work / "repopt",
                                              args.epochs, repopt_scales=str(work / "search" / "repopt_scales.pt"))

    qat_args = dict(epochs=args.qat_epochs, lr=args.qat_lr, amax_lr=args.qat_amax_lr, labels=True,
                    augment=args.qat_augment)
    for name, model in (("yolov6n-plain", plain), ("yolov6n-repopt", repopt)):
        ckpt = work / f"{name}.pt"
        save_checkpoint(model.fuse(), ckpt)
        res["models"][name] = measure(ckpt, name, root / "calib", root / "val", size, 100, work, args.method,
                                      args.ptq_methods, qat_args)
        atomic_write_text(args.out, json.dumps(res, indent=1, default=str))
    cmd = " ".join(argv if argv is not None else sys.argv[1:])
    lines = ["# RepOptimizer vs plain training: YOLOv6-N INT8 (QDQ, ONNX Runtime CPU)", "",
             f"`python benchmarks/quant_repopt.py {cmd}`", ""] + table(res["models"], args.ptq_methods)
    t = res["training"]
    lines += ["", f"Synthetic shapes at {args.img}px: {args.train_images} train, 100 calib, 100 val images. Both "
              f"models {args.epochs} epochs, batch {args.batch}, lr0 {args.lr0}, seed 0 (plain "
              f"{t['plain']['train_s']:.0f} s, repopt {t['repopt']['train_s']:.0f} s + "
              f"{t['search']['train_s']:.0f} s hyper-search of {args.search_epochs} epochs). AP is COCO AP50:95 "
              "(percent) of the ONNX on val, conf 0.03; partial search and QAT use the calib split's labels. "
              "A small model trained for minutes on CPU: the comparison says how the two weight sets quantize, "
              "not what either reaches on COCO."]
    atomic_write_text(args.out.with_suffix(".md"), "\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
