"""`yolov6-edge calibrate MODEL --images DIR|LIST -o OUT.onnx`: post-training INT8 -> explicit QDQ ONNX."""
from pathlib import Path

from .checks import positive_int
from .quant_args import add_calibration_inputs


def register(subparsers, name):
    p = subparsers.add_parser(name, help="calibrate a .pt / NCNN .param model and write an INT8 QDQ ONNX",
                              description=__doc__.splitlines()[0])
    add_calibration_inputs(p, "calibration image folder or image list (.txt)", 512,
                           "calibration images used (default 512)",
                           "activation calibration (default max). auto: calibrate with each method and keep the "
                           "one with the best all-INT8 AP on --eval-images/--eval-ann (for YOLOv6Lite it picks "
                           "mse or percentile, 0.5-1.3 AP above entropy; see docs/QUANTIZATION.md)",
                           method_auto=True)
    p.add_argument("-o", "--output", required=True, type=Path, help="QDQ ONNX to write")
    p.add_argument("--percentile", type=float, default=99.99, help="with --method percentile")
    p.add_argument("--skip", default=None,
                   help="'auto' (with --max-ap-drop), comma-separated layer names kept in float, or a "
                        "calibrate/qat report JSON whose float_layers to keep")
    p.add_argument("--max-ap-drop", type=float, default=None, help="with --skip auto: allowed AP drop")
    p.add_argument("--eval-images", type=Path, default=None,
                   help="with --skip auto or --method auto: labelled COCO image folder (not your test set)")
    p.add_argument("--eval-ann", type=Path, default=None, help="with --skip auto or --method auto: its annotations")
    p.add_argument("--cache", type=Path, default=None, help="calibration cache (default OUT.calib.json)")
    p.add_argument("--recalibrate", action="store_true", help="ignore and overwrite an existing cache")
    p.add_argument("--batch", type=positive_int, default=8, help="calibration batch size")
    return p


def run(args) -> int:
    from ..errors import fail
    from ..quant.calibrate import calibrate_to_qdq
    from ..quant.observers import METHODS
    from .checks import check_files, quant_inputs, quant_outputs

    img = tuple(args.img) if args.img else None
    if args.skip == "auto" and (args.max_ap_drop is None or not args.eval_images or not args.eval_ann):
        raise fail(args.model, "--skip auto needs --max-ap-drop, --eval-images and --eval-ann")
    check_files(quant_inputs(args), quant_outputs(args.output, args.cache, ".quant.json",
                                                  METHODS if args.method == "auto" else ()))
    report = calibrate_to_qdq(str(args.model), str(args.images), str(args.output), num=args.num, img_size=img,
                              method=args.method, skip=args.skip, max_ap_drop=args.max_ap_drop,
                              eval_images=args.eval_images, eval_ann=args.eval_ann,
                              percentile=args.percentile, cache=args.cache, recalibrate=args.recalibrate,
                              batch=args.batch, channel_scale=args.channel_scale)
    if "method_ap" in report:
        print("all-INT8 AP on the eval images by method: " +
              ", ".join(f"{m} {ap:.2f}" for m, ap in report["method_ap"].items()) + f"; picked {report['method']}")
    print(f"wrote {report['onnx']} ({report['quantized_layers']} INT8 layers, "
          f"{len(report['float_layers'])} float) from {report['num_images']} images ({report['method']}); "
          f"cache {report['cache']}")
    return 0
