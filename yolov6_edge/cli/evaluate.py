"""`yolov6-edge eval MODEL --images DIR --ann JSON`: COCO box mAP (pycocotools) of any model file."""
import json
from pathlib import Path

from .backend_args import add_backend_args, backend_kwargs
from ..runtime.settings import EVAL
from .checks import positive_int, unit_float


def register(subparsers, name):
    p = subparsers.add_parser(name, help="COCO mAP of a model on a COCO-format folder",
                              description=__doc__.splitlines()[0])
    p.add_argument("model", type=Path, help=".onnx, .engine, .pt or .param")
    p.add_argument("--images", type=Path, required=True, help="image folder")
    p.add_argument("--ann", type=Path, required=True, help="COCO instances JSON")
    p.add_argument("--img", type=int, nargs=2, metavar=("H", "W"), default=None,
                   help="input size for .pt/.param models (ONNX and engines use their own)")
    p.add_argument("--conf", type=unit_float, default=EVAL.conf, help=f"default {EVAL.conf}")
    p.add_argument("--iou", type=unit_float, default=EVAL.iou, help=f"default {EVAL.iou}")
    p.add_argument("--max-det", type=positive_int, default=EVAL.max_det, help=f"default {EVAL.max_det}")
    p.add_argument("--single-label", action="store_true", help="one class per box (default: multi-label)")
    p.add_argument("--batch", type=positive_int, default=8)
    add_backend_args(p)
    p.add_argument("--json", type=Path, default=None, help="write the figures to this JSON file")
    p.add_argument("--predictions", type=Path, default=None, help="write the COCO-format detections here")
    return p


def run(args) -> int:
    from ..atomic import atomic_write_text
    from ..eval.coco import evaluate, format_table
    from .checks import check_files, image_size, model_files

    check_files(model_files(args.model) + [args.ann, args.images],
                [(args.json, "--json report"), (args.predictions, "--predictions file")])
    stats = evaluate(args.model, args.images, args.ann, img_size=image_size(args.img),
                     conf=args.conf, iou=args.iou, max_det=args.max_det, multi_label=not args.single_label,
                     batch=args.batch, predictions_json=args.predictions, **backend_kwargs(args))
    print(f"{args.model} ({stats['backend']}) on {stats['n_images']} images at "
          f"{stats['input_size'][0]}x{stats['input_size'][1]} (conf {args.conf}, IoU {args.iou}, "
          f"{stats['seconds']:.1f} s)")
    print(format_table(stats))
    if args.json:
        record = dict(stats, model=str(args.model), images=str(args.images), ann=str(args.ann), conf=args.conf,
                      iou=args.iou, max_det=args.max_det, multi_label=not args.single_label, threads=args.threads)
        atomic_write_text(args.json, json.dumps(record, indent=2) + "\n")
    return 0
