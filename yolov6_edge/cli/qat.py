"""`yolov6-edge qat MODEL --images DIR -o OUT.onnx`: QAT distilled from the float model -> INT8 QDQ ONNX."""
import argparse
import json
import sys
from pathlib import Path

from .checks import nonnegative_float, positive_float, positive_int, seed
from .quant_args import DEFAULTS, add_calibration_inputs, recipe_from_args

Q = DEFAULTS.qat  # the QAT defaults (quant/recipe.py: QatRecipe), shown in --help


def register(subparsers, name):
    p = subparsers.add_parser(name, help="quantization-aware fine-tuning distilled from the float model",
                              description=__doc__.splitlines()[0])
    add_calibration_inputs(p, "image folder or list (calibration + training)", DEFAULTS.num, "images used",
                           "calibration method for the starting point (default: the one the --skip report used, "
                           "e.g. picked by `calibrate --method auto`; else the recipe's)", recipe=True)
    p.add_argument("-o", "--output", required=True, type=Path, help="QDQ ONNX to write")
    p.add_argument("--skip", default=None, help="comma-separated layers kept float (see `sensitivity`), or a "
                                                "calibrate report JSON (<out>.quant.json) whose float_layers to keep")
    p.add_argument("--labels", type=Path, default=None,
                   help="COCO annotations JSON for --images: adds the trainer's detection loss")
    p.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None,
                   help="the trainer's augmentations (mosaic, affine, HSV, flip), new each epoch, with or "
                        "without --labels; --no-augment: plain letterboxed images")
    p.add_argument("--det-weight", type=nonnegative_float, default=None,
                   help=f"detection loss weight (with --labels; default "
                                                                  f"{Q.det_weight:g})")
    p.add_argument("--cache", type=Path, default=None, help="calibration cache (default OUT.calib.json)")
    p.add_argument("--epochs", type=positive_int, default=None, help=f"default {Q.epochs}")
    p.add_argument("--lr", type=positive_float, default=None,
                   help=f"Adam learning rate of the weights (cosine decay; default {Q.lr:g})")
    p.add_argument("--weight-bound", type=float, default=None, metavar="STEPS",
                   help="how far a quantized weight may move from the calibrated start, in quantization steps of "
                        f"its output channel (default {Q.weight_bound:g}; inf: free; 0: weights frozen, only amax, "
                        "channel scales and biases learn)")
    p.add_argument("--amax-lr", type=nonnegative_float, default=None,
                   help=f"relative learning rate of the activation amax (0: keep the calibrated values; default "
                        f"{Q.amax_lr:g})")
    p.add_argument("--optimizer", default=None, choices=["adam", "sgd"], help=f"default {Q.optimizer}")
    p.add_argument("--batch", type=positive_int, default=None, help=f"default {DEFAULTS.batch}")
    p.add_argument("--learn-channel-scale", action=argparse.BooleanOptionalAction, default=None,
                   help="train the depthwise channel scales too (per-channel input steps; see --channel-scale)")
    p.add_argument("--seed", type=seed, default=None,
                   help="batch order and augmentation draws (runs differ by ~0.2 AP)")
    p.add_argument("--eval-images", type=Path, default=None,
                   help="labelled COCO image folder, neither your test set nor --images: the start and every "
                        "--eval-every epochs are scored by AP on it and the best is written, the start included")
    p.add_argument("--eval-ann", type=Path, default=None, help="with --eval-images: its annotations JSON")
    p.add_argument("--eval-every", type=positive_int, default=4, help="with --eval-images: epochs between scores")
    p.add_argument("--temperature", type=positive_float, default=None,
                   help=f"channel-wise distillation temperature (default {Q.temperature:g})")
    p.add_argument("--layer-weight", type=nonnegative_float, default=None,
                   help=f"weight of the layer-wise term (every quantized conv vs its float twin; 0: off; default "
                        f"{Q.layer_weight:g})")
    return p


def run(args) -> int:
    from ..atomic import atomic_write_text
    from ..errors import fail
    from ..models import default_input_size
    from ..quant.calibrate import calibrated_model, export_for_target, load_float_model, method_from_report, \
        parse_skip
    from ..quant.interface import float_layers, set_float
    from ..quant.qat import qat, qat_batches
    from .checks import check_files, quant_inputs, quant_outputs

    if bool(args.eval_images) != bool(args.eval_ann):
        raise fail(args.model, "--eval-images and --eval-ann go together")
    if args.weight_bound is not None and not args.weight_bound >= 0:  # also catches nan
        raise fail(args.model, f"--weight-bound must be >= 0 quantization steps (inf: free), not {args.weight_bound}")
    if args.eval_every < 1:
        raise fail(args.model, f"--eval-every must be at least 1, not {args.eval_every}")
    recipe = recipe_from_args(args, batch=args.batch, skip=args.skip, **{f"qat_{k}": getattr(args, k) for k in (
        "epochs", "lr", "layer_weight", "learn_channel_scale", "weight_bound", "amax_lr", "augment", "temperature",
        "optimizer", "det_weight", "seed")})
    if recipe.images is None:
        raise fail(args.model, "no training images (give --images or a recipe with images)")
    q = recipe.qat
    if args.eval_images and Path(args.eval_images).resolve() == Path(recipe.images).resolve():
        # measured: on its own training images QAT of YOLOv6Lite-M gained 0.14 AP while it lost 0.86 on val
        print(f"warning: {args.eval_images}: QAT trains on these images, so AP on them says little about "
              "AP elsewhere; score on labelled images it does not train on", file=sys.stderr)
    check_files(quant_inputs(args.model, recipe.images, args.eval_ann, recipe.skip, args.labels, args.eval_images,
                             args.recipe),
                quant_outputs(args.output, args.cache, ".qat.json"))
    model, _ = load_float_model(args.model)
    size = recipe.img_size or default_input_size(model.model_name)
    cache = args.cache or Path(args.output).with_suffix(".calib.json")
    # the method of the --skip report when the command line names none (a recipe's "auto" is resolved there)
    method = args.method or method_from_report(recipe.skip) or \
        (recipe.method if recipe.method != "auto" else "max")
    qmodel = calibrated_model(model, args.model, recipe.images, size, recipe.num, method, cache=cache,
                              batch=recipe.batch, channel_scale=recipe.channel_scale, weight_bits=recipe.bits)
    set_float(qmodel, parse_skip(recipe.skip, qmodel, args.model), only=True)
    if recipe.bits in ("layer", "channel"):
        # train on the levels the file will have (re-derived from the trained weights when it is written)
        from ..quant.choose_target import pairing_for
        from ..quant.weight_levels import apply_weight_bits

        apply_weight_bits(qmodel, recipe.bits, pairing_for(recipe.target))
    batches = qat_batches(qmodel, size, recipe.batch, model.num_classes, recipe.images, args.labels, q.augment,
                          q.seed)
    score, scores = None, []
    if args.eval_images:
        from ..quant.sensitivity import eval_ap

        def score(m):
            return eval_ap(m, args.eval_images, args.eval_ann, size)
    history = qat(qmodel, model, batches, epochs=q.epochs, lr=q.lr, amax_lr=q.amax_lr,
                  temperature=q.temperature, detection_weight=q.det_weight if args.labels else 0.0,
                  learn_amax=q.amax_lr > 0, optimizer=q.optimizer, layer_weight=q.layer_weight,
                  learn_channel_scale=q.learn_channel_scale, seed=q.seed, score=score,
                  score_every=args.eval_every, score_log=scores, weight_bound=q.weight_bound)
    placed = export_for_target(qmodel, args.output, size, recipe.target, recipe.threads, recipe.images, recipe.bits,
                               recipe)
    report = {"model": str(args.model), "images": str(recipe.images), "labels": str(args.labels or ""),
              "num_images": len(qmodel.calib_paths), "method": method, "epochs": q.epochs, "lr": q.lr,
              "weight_bound": f"{q.weight_bound:g}",
              "amax_lr": q.amax_lr, "optimizer": q.optimizer, "temperature": q.temperature,
              "layer_weight": q.layer_weight, "augment": q.augment, "channel_scale": recipe.channel_scale,
              "learn_channel_scale": q.learn_channel_scale, "seed": q.seed, "weight_bits": recipe.bits,
              "float_layers": float_layers(qmodel), "eval_images": str(args.eval_images or ""),
              "scores": scores, "recipe": recipe.to_dict(), **placed,
              "history": history, "onnx": str(args.output)}
    atomic_write_text(Path(args.output).with_suffix(".qat.json"), json.dumps(report, indent=1))
    kept = f"; kept epoch {scores[-1]['kept_epoch']} by AP on --eval-images" if scores else ""
    print(f"QAT: {len(history)} steps, loss {history[0]['loss']:.4f} -> {history[-1]['loss']:.4f}{kept}; "
          f"wrote {args.output} (Q/DQ for {placed['target']})")
    return 0
