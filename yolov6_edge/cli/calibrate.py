"""`yolov6-edge calibrate MODEL --images DIR|LIST -o OUT.onnx`: post-training INT8 -> explicit QDQ ONNX."""
from pathlib import Path

from .checks import nonnegative_float, percentile, positive_int
from .quant_args import DEFAULTS, add_calibration_inputs, recipe_from_args


def register(subparsers, name):
    p = subparsers.add_parser(name, help="calibrate a .pt / NCNN .param model and write an INT8 QDQ ONNX",
                              description=__doc__.splitlines()[0])
    add_calibration_inputs(p, "calibration image folder or image list (.txt)", DEFAULTS.num,
                           "calibration images used",
                           f"activation calibration (default {DEFAULTS.method}). auto: calibrate with each method "
                           "and keep the one with the best all-INT8 AP on --eval-images/--eval-ann (for "
                           "YOLOv6Lite it picks mse or percentile, 0.5-1.3 AP above entropy; see "
                           "docs/QUANTIZATION.md)", method_auto=True, recipe=True)
    p.add_argument("-o", "--output", required=True, type=Path, help="QDQ ONNX to write")
    p.add_argument("--percentile", type=percentile, default=None,
                   help="with --method percentile: percent of |activation| values kept, in (50, 100] (default 99.99)")
    p.add_argument("--skip", default=None,
                   help="'auto' (with --max-ap-drop), comma-separated layer names kept in float, or a "
                        "calibrate/qat report JSON whose float_layers to keep")
    p.add_argument("--max-ap-drop", type=nonnegative_float, default=None, help="with --skip auto: allowed AP drop")
    p.add_argument("--eval-images", type=Path, default=None,
                   help="with --skip auto or --method auto: labelled COCO image folder, not your test set "
                        "(we use ../shared/coco/select)")
    p.add_argument("--eval-ann", type=Path, default=None, help="with --skip auto or --method auto: its annotations")
    p.add_argument("--cache", type=Path, default=None, help="calibration cache (default OUT.calib.json)")
    p.add_argument("--recalibrate", action="store_true", help="ignore and overwrite an existing cache")
    p.add_argument("--batch", type=positive_int, default=None,
                   help=f"calibration batch size (default {DEFAULTS.batch})")
    p.add_argument("--threads", type=positive_int, default=None,
                   help="with --target cpu: inference threads the placements and float are timed with (default 1)")
    p.add_argument("--ap-budget", type=float, default=None,
                   help="with --target cpu and --eval-images/--eval-ann: an INT8 file more than this many AP under "
                        "the float model is not worth deploying (default 1.0)")
    p.add_argument("--fail-if-not-better", action="store_true",
                   help="with --target cpu: exit with status 1 when the verdict is to deploy float (no INT8 file "
                        "faster than float here, or all miss the AP budget); the INT8 file is still written")
    return p


def run(args) -> int:
    from ..errors import fail
    from ..quant.calibrate import calibrate_to_qdq
    from ..quant.observers import METHODS
    from .checks import check_files, quant_inputs, quant_outputs

    recipe = recipe_from_args(args, percentile=args.percentile, skip=args.skip, max_ap_drop=args.max_ap_drop,
                              eval_images=str(args.eval_images) if args.eval_images else None,
                              eval_ann=str(args.eval_ann) if args.eval_ann else None, batch=args.batch,
                              threads=args.threads, ap_budget=args.ap_budget)
    if args.fail_if_not_better and recipe.target != "cpu":
        raise fail(args.model, "--fail-if-not-better needs --target cpu (it judges INT8 against float on this CPU)")
    if recipe.skip == "auto" and (recipe.max_ap_drop is None or not recipe.eval_images or not recipe.eval_ann):
        raise fail(args.model, "--skip auto needs --max-ap-drop, --eval-images and --eval-ann")
    check_files(quant_inputs(args.model, recipe.images, recipe.eval_ann, recipe.skip, eval_images=recipe.eval_images,
                             recipe=args.recipe),
                quant_outputs(args.output, args.cache, ".quant.json", METHODS if recipe.method == "auto" else ()))
    report = calibrate_to_qdq(str(args.model), None, str(args.output), recipe=recipe, cache=args.cache,
                              recalibrate=args.recalibrate)
    if "method_ap" in report:
        print(f"all-INT8 AP on the eval images by method (QDQ ONNX on {report['method_ap_runtime']}): " +
              ", ".join(f"{m} {ap:.2f}" for m, ap in report["method_ap"].items()) + f"; picked {report['method']}")
    if "cpu_choice" in report:
        c = report["cpu_choice"]["candidates"]
        print("--target cpu candidates: " + "; ".join(
            f"{t} {v['p50_ms']:.2f} ms" + (f", AP {v['ap']:.2f}" if v.get("ap") is not None else "")
            if "p50_ms" in v else f"{t} skipped ({v['skipped']})" for t, v in c.items())
              + "; float " + ", ".join(f"{r} {v['p50_ms']:.2f} ms" for r, v in report["cpu_choice"]["float"].items()
                                       if isinstance(v, dict)))
    # the registry opens an OpenVINO-placed file on OpenVINO by itself (backends/__init__.py), so no flag to pass
    hint = "; it opens on openvino by default" if report["target"] == "openvino" else ""
    print(f"wrote {report['onnx']} ({report['quantized_layers']} INT8 layers, "
          f"{len(report['float_layers'])} float" + (f" + {len(report['float_on_1x1'])} on 1x1 maps"
                                                      if report.get("float_on_1x1") else "")
          + f"; Q/DQ for {report['target']}, {_bits(report)} weights) "
          f"from {report['num_images']} images ({report['method']}); cache {report['cache']}{hint}")
    if "verdict" in report:
        print(report["message"])
        if args.fail_if_not_better and report["verdict"] != "int8":
            return 1
    return 0


def _bits(report) -> str:
    levels = report.get("weight_levels") or {}
    if "channels" in levels:
        return (f"{report['weight_bits']} levels ({levels['channels_8bit']} of {levels['channels']} output channels "
                f"8-bit, mean qmax {levels['mean_qmax']:g}, safe for {levels['weight_pairing']}'s int16 pairs)")
    return f"{report['weight_bits']}-bit"
