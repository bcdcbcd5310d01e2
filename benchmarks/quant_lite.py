"""INT8 of the official YOLOv6Lite on ONNX Runtime CPU: float vs PTQ vs partial vs QAT (AP and latency).

For each model: float ONNX; plain PTQ with --method and no depthwise channel scales (the baseline), then
with each --ptq-methods (channel scales on, the default); where the PTQ error comes from (fake-quant
AP with only weights / only activations quantized); partial quantization (`--skip auto`, float layers
chosen by AP on the calibration set's own labels, never on val); QAT distilled from the float model
(channel-wise on the neck, optionally layer-wise on every conv) starting from that partial model. Calibration on ../shared/coco/calib (160 images), evaluation on
../shared/coco/val at 320 with the settings of benchmarks/eval_lite_ap.py (conf 0.03, IoU 0.65,
multi-label, max 300). Latency: batch 1, one ORT thread, median of 50 runs, all in this process.

    python benchmarks/quant_lite.py [--models s m l] [--method entropy] [--qat-epochs 4] [--qat-labels]
        [--qat-layer-weight 1 --qat-augment --qat-lr 1e-4]

The recorded results (benchmarks/results/quant_lite*.md) used `--method mse` (S, M) or `--method percentile`
(L), the methods the calibration labels pick (quant_methods.py), with `--ptq-methods max entropy mse percentile
--qat-epochs 16 --qat-lr 1e-4 --qat-layer-weight 1 --qat-augment`, the recipe `yolov6-edge qat` defaults to.
"""
import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quant_common import measure, table

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("YOLOV6_EDGE_SHARED", ROOT.parent / "shared"))
SIZE = (320, 320)
NUM_CALIB = 160


def report(res, args, argv) -> list:
    cmd = " ".join(argv if argv is not None else sys.argv[1:])
    lines = ["# YOLOv6Lite INT8 (QDQ, ONNX Runtime CPU) vs float", "", f"`python benchmarks/quant_lite.py {cmd}`",
             ""] + table(res["models"], args.ptq_methods)
    lines += ["", f"Calibration: {NUM_CALIB} images of ../shared/coco/calib; eval on ../shared/coco/val (119 "
              "images) at 320, conf 0.03, IoU 0.65, multi-label. Partial: `--skip auto --max-ap-drop "
              f"{args.max_ap_drop}` with method {args.method}, float layers chosen by AP on the calibration "
              f"set's own labels (not on val). QAT: from the partial model, {args.qat_epochs} epochs on the "
              f"calibration images, Adam lr {args.qat_lr} (cosine), amax lr {args.qat_amax_lr} (relative), "
              f"{'CWD + output distillation + detection loss' if args.qat_labels else 'CWD + output distillation'}"
              f"{f' + layer-wise distillation (weight {args.qat_layer_weight})' if args.qat_layer_weight else ''}"
              f"{', training augmentations' if args.qat_augment else ''}"
              f"{', learned channel scales' if args.qat_learn_channel_scale else ', fixed channel scales'}"
              f"{', random flips' if args.qat_flip and not (args.qat_labels or args.qat_augment) else ''}"
              ". Latency: batch 1, one ORT thread, median of 50 runs, same process; INT8 ms is the last PTQ "
              "method's model."]
    return lines


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=["s"], choices=["s", "m", "l"])
    p.add_argument("--method", default="entropy", help="calibration method of the partial and QAT rows")
    p.add_argument("--ptq-methods", nargs="+", default=["max", "entropy"])
    p.add_argument("--max-ap-drop", type=float, default=1.0, help="partial quantization budget (on calib)")
    p.add_argument("--qat-epochs", type=int, default=4)
    p.add_argument("--qat-lr", type=float, default=1e-5)
    p.add_argument("--qat-amax-lr", type=float, default=1e-3)
    p.add_argument("--qat-labels", action="store_true", help="add the detection loss (calibration set labels)")
    p.add_argument("--qat-augment", action="store_true", help="the trainer's augmentations (labelled or not)")
    p.add_argument("--qat-layer-weight", type=float, default=0.0, help="layer-wise distillation weight (0: off)")
    p.add_argument("--qat-flip", action="store_true", help="without --qat-labels: random horizontal flips")
    p.add_argument("--qat-learn-channel-scale", action=argparse.BooleanOptionalAction, default=True,
                   help="QAT trains the depthwise channel scales too")
    p.add_argument("--qat-seed", type=int, default=0, help="QAT batch order and augmentation draws")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "quant_lite.json")
    args = p.parse_args(argv)
    import onnxruntime
    import torch

    torch.set_num_threads(2)
    from yolov6_edge.atomic import atomic_write_text

    work = Path(tempfile.mkdtemp(prefix="quant_lite_"))
    qat_args = dict(epochs=args.qat_epochs, lr=args.qat_lr, amax_lr=args.qat_amax_lr, labels=args.qat_labels,
                    augment=args.qat_augment, layer_weight=args.qat_layer_weight, flip=args.qat_flip,
                    learn_channel_scale=args.qat_learn_channel_scale, seed=args.qat_seed)
    res = {"args": vars(args), "img_size": SIZE, "num_calib": NUM_CALIB, "onnxruntime": onnxruntime.__version__,
           "torch": torch.__version__, "models": {}}
    coco = SHARED / "coco"
    for m in args.models:
        param = SHARED / "weights" / "yolov6lite" / f"yolov6-lite-{m}.param"
        res["models"][f"yolov6lite-{m}"] = measure(param, f"lite-{m}", coco / "calib", coco / "val", SIZE,
                                                   NUM_CALIB, work, args.method, args.ptq_methods, qat_args,
                                                   args.max_ap_drop, unscaled_baseline=True)
        atomic_write_text(args.out, json.dumps(res, indent=1, default=str))  # a finished model is kept
        lines = report(res, args, argv)
        atomic_write_text(args.out.with_suffix(".md"), "\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
