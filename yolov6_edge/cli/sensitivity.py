"""`yolov6-edge sensitivity MODEL --images DIR`: per-layer INT8 sensitivity, ranked (CSV, JSON, PNG)."""
from pathlib import Path

from .checks import positive_int
from .quant_args import add_calibration_inputs


def register(subparsers, name):
    p = subparsers.add_parser(name, help="rank layers by how much INT8 quantization hurts them",
                              description=__doc__.splitlines()[0])
    add_calibration_inputs(p, "calibration image folder or image list (.txt)", 64,
                           "calibration images (also used by the proxy)")
    p.add_argument("--proxy-images", type=positive_int, default=16, help="images the fast proxy runs on")
    p.add_argument("--eval-images", type=Path, default=None, help="COCO image folder for the AP measurement")
    p.add_argument("--eval-ann", type=Path, default=None, help="COCO annotation JSON for the AP measurement")
    p.add_argument("--ap-top", type=int, default=20,
                   help="measure AP for the K layers the proxy ranks most sensitive (0: all; AP is slow)")
    p.add_argument("-o", "--output", type=Path, default=Path("sensitivity"), help="output prefix")
    return p


def run(args) -> int:
    from ..errors import fail
    from ..models import default_input_size
    from ..quant.calibrate import calibrated_model, load_float_model
    from ..quant.data import iter_batches, list_images
    from ..quant.sensitivity import analyse, write_outputs
    from .checks import check_files, quant_inputs

    check_files(quant_inputs(args.model, args.images, args.eval_ann),
                {Path(args.output).with_suffix(s): f"{s} output" for s in (".json", ".csv", ".png")})
    if bool(args.eval_images) != bool(args.eval_ann):
        raise fail(args.model, "--eval-images and --eval-ann go together")
    model, _ = load_float_model(args.model)
    size = tuple(args.img) if args.img else default_input_size(model.model_name)
    qmodel = calibrated_model(model, args.model, args.images, size, args.num, args.method,
                              channel_scale=args.channel_scale)
    proxy_paths = list_images(args.images, args.proxy_images)
    batches = list(iter_batches(proxy_paths, size, batch=8))
    ap_layers = None
    if args.eval_images and args.ap_top > 0:
        # AP per layer costs two evaluations a layer: measure it where the proxy says it matters
        from ..quant.sensitivity import proxy_ranking

        ap_layers = set(proxy_ranking(model, qmodel, batches)[: args.ap_top])
    result = analyse(model, qmodel, batches, args.eval_images, args.eval_ann, size, ap_layers=ap_layers)
    result["ap_layers"] = "all" if ap_layers is None else f"top {len(ap_layers)} by proxy"
    paths = write_outputs(result, args.output)
    rows = result["rows"]
    print(f"{len(rows)} quantizable layers, ranked by {result['ranked_by']}; all-INT8 proxy error "
          f"{result['all_int8_proxy']:.3f}" + (f", float AP {result['float_ap']:.2f}, all-INT8 AP "
                                                f"{result['all_int8_ap']:.2f}" if "float_ap" in result else ""))
    print(f"{'rank':>4}  {'layer':<44} {'proxy':>8} {'AP drop':>8}")
    for r in rows[:15]:
        drop = r.get("ap_drop_only_int8")
        print(f"{r['rank']:>4}  {r['layer']:<44} {r['proxy_only_int8']:>8.4f} "
              f"{'' if drop is None else f'{drop:8.2f}':>8}")
    if "spearman_only_int8" in result:
        print(f"Spearman(proxy, AP drop) over the {result['ap_layers']} layers: {result['spearman_only_int8']:.2f}"
              " (close to 1: the fast proxy is enough to rank layers)")
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0
