"""`yolov6-edge qat MODEL --images DIR -o OUT.onnx`: QAT distilled from the float model -> INT8 QDQ ONNX."""
import argparse
import json
import sys
from pathlib import Path

from .checks import positive_int
from .quant_args import add_calibration_inputs

WEIGHT_BOUND = float("inf")


def register(subparsers, name):
    p = subparsers.add_parser(name, help="quantization-aware fine-tuning distilled from the float model",
                              description=__doc__.splitlines()[0])
    add_calibration_inputs(p, "image folder or list (calibration + training)", 512, "images used",
                           "calibration method for the starting point (default: the one the --skip report used, "
                           "e.g. picked by `calibrate --method auto`; else max)", method_default=None)
    p.add_argument("-o", "--output", required=True, type=Path, help="QDQ ONNX to write")
    p.add_argument("--skip", default=None, help="comma-separated layers kept float (see `sensitivity`), or a "
                                                "calibrate report JSON (<out>.quant.json) whose float_layers to keep")
    p.add_argument("--labels", type=Path, default=None,
                   help="COCO annotations JSON for --images: adds the trainer's detection loss")
    p.add_argument("--augment", action=argparse.BooleanOptionalAction, default=True,
                   help="the trainer's augmentations (mosaic, affine, HSV, flip), new each epoch, with or "
                        "without --labels; --no-augment: plain letterboxed images")
    p.add_argument("--det-weight", type=float, default=1.0, help="detection loss weight (with --labels)")
    p.add_argument("--cache", type=Path, default=None, help="calibration cache (default OUT.calib.json)")
    p.add_argument("--epochs", type=positive_int, default=16)
    p.add_argument("--lr", type=float, default=1e-4, help="Adam learning rate of the weights (cosine decay)")
    p.add_argument("--weight-bound", type=float, default=WEIGHT_BOUND, metavar="STEPS",
                   help="how far a quantized weight may move from the calibrated start, in quantization steps of "
                        "its output channel (default %(default)g; inf: free; 0: weights frozen, only amax, "
                        "channel scales and biases learn)")
    p.add_argument("--amax-lr", type=float, default=1e-3,
                   help="relative learning rate of the activation amax (0: keep the calibrated values)")
    p.add_argument("--optimizer", default="adam", choices=["adam", "sgd"])
    p.add_argument("--batch", type=positive_int, default=8)
    p.add_argument("--learn-channel-scale", action=argparse.BooleanOptionalAction, default=True,
                   help="train the depthwise channel scales too (per-channel input steps; see --channel-scale)")
    p.add_argument("--seed", type=int, default=0, help="batch order and augmentation draws (runs differ by ~0.2 AP)")
    p.add_argument("--eval-images", type=Path, default=None,
                   help="labelled COCO image folder, neither your test set nor --images: the start and every "
                        "--eval-every epochs are scored by AP on it and the best is written, the start included")
    p.add_argument("--eval-ann", type=Path, default=None, help="with --eval-images: its annotations JSON")
    p.add_argument("--eval-every", type=int, default=4, help="with --eval-images: epochs between scores")
    p.add_argument("--temperature", type=float, default=1.0, help="channel-wise distillation temperature")
    p.add_argument("--layer-weight", type=float, default=1.0,
                   help="weight of the layer-wise term (every quantized conv vs its float twin; 0: off)")
    return p


def run(args) -> int:
    from ..atomic import atomic_write_text
    from ..errors import fail
    from ..models import default_input_size
    from ..quant.calibrate import calibrated_model, load_float_model, method_from_report, parse_skip
    from ..quant.interface import export_qdq, float_layers, set_float
    from ..quant.qat import qat, qat_batches
    from .checks import check_files, quant_inputs, quant_outputs

    if bool(args.eval_images) != bool(args.eval_ann):
        raise fail(args.model, "--eval-images and --eval-ann go together")
    if not args.weight_bound >= 0:  # also catches nan
        raise fail(args.model, f"--weight-bound must be >= 0 quantization steps (inf: free), not {args.weight_bound}")
    if args.eval_every < 1:
        raise fail(args.model, f"--eval-every must be at least 1, not {args.eval_every}")
    if args.eval_images and Path(args.eval_images).resolve() == Path(args.images).resolve():
        # measured: on its own training images QAT of YOLOv6Lite-M gained 0.14 AP while it lost 0.86 on val
        print(f"warning: {args.eval_images}: QAT trains on these images, so AP on them says little about "
              "AP elsewhere; score on labelled images it does not train on", file=sys.stderr)
    check_files(quant_inputs(args), quant_outputs(args.output, args.cache, ".qat.json"))
    model, _ = load_float_model(args.model)
    size = tuple(args.img) if args.img else default_input_size(model.model_name)
    cache = args.cache or Path(args.output).with_suffix(".calib.json")
    method = args.method or method_from_report(args.skip) or "max"
    qmodel = calibrated_model(model, args.model, args.images, size, args.num, method, cache=cache,
                              batch=args.batch, channel_scale=args.channel_scale)
    set_float(qmodel, parse_skip(args.skip, qmodel, args.model), only=True)
    batches = qat_batches(qmodel, size, args.batch, model.num_classes, args.images, args.labels, args.augment,
                          args.seed)
    score, scores = None, []
    if args.eval_images:
        from ..quant.sensitivity import eval_ap

        def score(m):
            return eval_ap(m, args.eval_images, args.eval_ann, size)
    history = qat(qmodel, model, batches, epochs=args.epochs, lr=args.lr, amax_lr=args.amax_lr,
                  temperature=args.temperature, detection_weight=args.det_weight if args.labels else 0.0,
                  learn_amax=args.amax_lr > 0, optimizer=args.optimizer, layer_weight=args.layer_weight,
                  learn_channel_scale=args.learn_channel_scale, seed=args.seed, score=score,
                  score_every=args.eval_every, score_log=scores, weight_bound=args.weight_bound)
    export_qdq(qmodel, args.output, img_size=size)
    report = {"model": str(args.model), "images": str(args.images), "labels": str(args.labels or ""),
              "num_images": len(qmodel.calib_paths), "method": method, "epochs": args.epochs, "lr": args.lr,
              "weight_bound": f"{args.weight_bound:g}",
              "amax_lr": args.amax_lr, "optimizer": args.optimizer, "temperature": args.temperature,
              "layer_weight": args.layer_weight, "augment": args.augment, "channel_scale": args.channel_scale,
              "learn_channel_scale": args.learn_channel_scale, "seed": args.seed,
              "float_layers": float_layers(qmodel), "eval_images": str(args.eval_images or ""),
              "scores": scores,
              "history": history, "onnx": str(args.output)}
    atomic_write_text(Path(args.output).with_suffix(".qat.json"), json.dumps(report, indent=1))
    kept = f"; kept epoch {scores[-1]['kept_epoch']} by AP on --eval-images" if scores else ""
    print(f"QAT: {len(history)} steps, loss {history[0]['loss']:.4f} -> {history[-1]['loss']:.4f}{kept}; "
          f"wrote {args.output}")
    return 0

