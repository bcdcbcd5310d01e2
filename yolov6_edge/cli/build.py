"""`yolov6-edge build`: ONNX (or .pt + calibration images for INT8) -> TensorRT engine + .json sidecar."""
from pathlib import Path

from ..errors import fail
from .checks import positive_int


def register(sub, name):
    p = sub.add_parser(name, help="build a TensorRT 10.x/11.x engine (strongly typed) from an ONNX",
                       description=__doc__)
    p.add_argument("model", help="model.onnx (fp32, or a QDQ ONNX for --int8), or a .pt with --int8 --calib-images")
    p.add_argument("-o", "--output", required=True, help="engine path (a .json sidecar is written beside it)")
    prec = p.add_mutually_exclusive_group()
    prec.add_argument("--fp16", action="store_true", help="convert the ONNX to float16 first (float32 I/O kept)")
    prec.add_argument("--int8", action="store_true", help="explicit INT8 from QuantizeLinear/DequantizeLinear nodes")
    p.add_argument("--calib-images", help="with a .pt and --int8: folder of calibration images")
    p.add_argument("--img", type=int, nargs=2, default=None, metavar=("H", "W"),
                   help="with a .pt: input size of the calibrated ONNX (default: the recipe's, else 320 320 for "
                        "YOLOv6Lite and 640 640 for the others)")
    p.add_argument("--recipe", default=None,
                   help="with a .pt: calibration recipe YAML (calibration/*.yaml); its Q/DQ target is always "
                        "tensorrt here")
    p.add_argument("--min-batch", type=positive_int, default=1)
    p.add_argument("--opt-batch", type=positive_int, default=1, help="batch TensorRT tunes for (default 1)")
    p.add_argument("--max-batch", type=positive_int, default=32)
    p.add_argument("--workspace", type=positive_int, default=4096, help="builder workspace limit in MiB (default 4096)")
    p.add_argument("--timing-cache", help="read and update this timing cache file (faster rebuilds)")
    p.add_argument("--verbose", action="store_true", help="TensorRT INFO log")
    return p


def _calibrate(model, images, out_onnx, img_size, recipe_file=None):
    try:
        from ..quant.calibrate import calibrate_to_qdq
        from ..quant.recipe import QuantRecipe
    except ImportError:
        raise fail(model, "building INT8 from a .pt needs yolov6_edge.quant.calibrate.calibrate_to_qdq, which "
                          "this install lacks; make a QDQ ONNX with `yolov6-edge calibrate` and build that") from None
    recipe = QuantRecipe.load(recipe_file, img_size=tuple(img_size) if img_size else None, target="tensorrt")
    calibrate_to_qdq(str(model), str(images) if images else None, str(out_onnx), recipe=recipe)


def run(args):
    from ..backends.tensorrt.build import build_engine

    from .checks import check_files, model_files

    model = Path(args.model)
    output = Path(args.output)
    check_files(model_files(model) + [args.calib_images, args.recipe],
                [(output, "engine"), (output.with_name(output.name + ".json"), "engine sidecar"),
                 (output.with_name(f"{output.stem}.qdq.onnx") if model.suffix == ".pt" else None,
                  "calibrated QDQ ONNX"), (args.timing_cache, "timing cache")])
    precision = "fp16" if args.fp16 else "int8" if args.int8 else "fp32"
    batch = (args.min_batch, args.opt_batch, max(args.max_batch, args.opt_batch))
    onnx_path = model
    if model.suffix == ".pt":
        if not (args.int8 and (args.calib_images or args.recipe)):
            raise fail(model, "a .pt is built only with --int8 and --calib-images DIR (or a --recipe naming "
                              "images); for FP32/FP16 export it first with `yolov6-edge export`")
        # Kept beside the engine: the sidecar's rebuild command and onnx_sha256 then refer to a real file.
        output = Path(args.output)
        onnx_path = output.with_name(f"{output.stem}.qdq.onnx")
        _calibrate(model, args.calib_images, onnx_path, args.img, args.recipe)
        print(f"wrote {onnx_path} (calibrated QDQ ONNX)")
    meta = build_engine(onnx_path, args.output, precision=precision, batch=batch,
                        workspace_mib=args.workspace, timing_cache=args.timing_cache, verbose=args.verbose)
    print(f"wrote {args.output} ({meta['precision']}, TensorRT {meta['tensorrt_version']}, {meta['gpu_name']} "
          f"sm_{meta['compute_capability'].replace('.', '')}, batch {meta['min_batch']}..{meta['max_batch']}, "
          f"input {meta['input_size'][0]}x{meta['input_size'][1]})")
    return 0
