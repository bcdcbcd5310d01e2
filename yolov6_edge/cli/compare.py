"""`yolov6-edge compare A B [C ...] --images DIR --ann JSON`: each model's AP and its difference to A, with a
paired bootstrap standard error and 95% interval over the images."""
import json
from pathlib import Path

from .backend_args import add_backend_args, backend_kwargs
from ..runtime.settings import EVAL
from .checks import positive_int, seed, unit_float


def register(subparsers, name):
    p = subparsers.add_parser(name, help="AP of several models and each one's difference to the first, with a "
                                         "paired bootstrap interval", description=__doc__.replace("\n", " "))
    p.add_argument("model", nargs="+", type=Path, help="A (the reference), then the models compared with it")
    p.add_argument("--images", type=Path, required=True, help="image folder")
    p.add_argument("--ann", type=Path, required=True, help="COCO instances JSON")
    p.add_argument("--img", type=int, nargs=2, metavar=("H", "W"), default=None,
                   help="input size for .pt/.param models (ONNX and engines use their own)")
    p.add_argument("--conf", type=unit_float, default=EVAL.conf, help=f"default {EVAL.conf}")
    p.add_argument("--iou", type=unit_float, default=EVAL.iou, help=f"default {EVAL.iou}")
    p.add_argument("--max-det", type=positive_int, default=EVAL.max_det, help=f"default {EVAL.max_det}")
    p.add_argument("--single-label", action="store_true", help="one class per box (default: multi-label)")
    p.add_argument("--batch", type=positive_int, default=8)
    p.add_argument("--draws", type=positive_int, default=1000, help="bootstrap draws (default 1000)")
    p.add_argument("--seed", type=seed, default=0, help="bootstrap seed (default 0): the same seed, the same draws")
    add_backend_args(p, many=True)
    p.add_argument("--json", type=Path, default=None, help="write the figures here")
    return p


def run(args) -> int:
    from ..atomic import atomic_write_text
    from ..eval.compare import compare, format_table
    from .checks import check_files, image_size, model_files

    check_files([f for m in args.model for f in model_files(m)] + [args.ann, args.images], {args.json: "--json report"})
    kw = backend_kwargs(args)
    report = compare(args.model, args.images, args.ann, backends=kw["backend"], draws=args.draws, seed=args.seed,
                     threads=kw["threads"], img_size=image_size(args.img), conf=args.conf, iou=args.iou,
                     max_det=args.max_det, multi_label=not args.single_label, batch=args.batch,
                     backend_options=kw["backend_options"])
    print(format_table(report))
    if args.json:
        atomic_write_text(args.json, json.dumps(report, indent=1) + "\n")
        print(f"wrote {args.json}")
    return 0
