"""`yolov6-edge export MODEL -o OUT.onnx`: a .pt/.param model -> ONNX (fused, with metadata)."""
from pathlib import Path

from .checks import positive_int, unit_float


def register(subparsers, name):
    p = subparsers.add_parser(name, help="export a .pt / NCNN .param model to ONNX",
                              description=__doc__.splitlines()[0])
    p.add_argument("model", type=Path, help="model file: our .pt, an official .pt or an NCNN .param")
    p.add_argument("-o", "--output", type=Path, default=None, help="ONNX file to write (default: MODEL.onnx)")
    p.add_argument("--img", type=int, nargs=2, metavar=("H", "W"), default=None,
                   help="input size (default 320 320 for YOLOv6Lite, else 640 640)")
    p.add_argument("--batch", default="dynamic", help="'dynamic' (default) or a fixed batch size")
    p.add_argument("--end2end", action="store_true", help="put NMS inside the graph (num_dets/det_* outputs)")
    p.add_argument("--conf", type=unit_float, default=0.25, help="end-to-end score threshold")
    p.add_argument("--iou", type=unit_float, default=0.45, help="end-to-end NMS IoU threshold")
    p.add_argument("--max-det", type=positive_int, default=100, help="end-to-end detections per image")
    p.add_argument("--opset", type=int, default=17)
    p.add_argument("--no-simplify", action="store_true", help="skip onnxslim")
    return p


def run(args) -> int:
    from ..export.onnx import check_export_args, export_onnx
    from ..models import default_input_size
    from ..weights import load_model
    from .checks import check_files, image_size, model_files

    out = args.output or args.model.with_suffix(".onnx")
    check_export_args(out, batch=args.batch, opset=args.opset, end2end=args.end2end, conf=args.conf, iou=args.iou,
                      max_det=args.max_det)
    check_files(model_files(args.model), {out: "ONNX file"})
    model, info = load_model(args.model)
    size = image_size(args.img) or default_input_size(model.model_name)
    export_onnx(model, out, img_size=size, batch=args.batch, opset=args.opset, simplify=not args.no_simplify,
                end2end=args.end2end, conf=args.conf, iou=args.iou, max_det=args.max_det)
    kind = "end-to-end (NMS inside)" if args.end2end else "boxes+scores"
    print(f"{args.model} -> {out}: {model.model_name}, input {size[0]}x{size[1]}, batch {args.batch}, {kind}")
    return 0
