"""`yolov6-edge bench`: latency (mean/p50/p99) and throughput of an .onnx or .engine, optionally end to end."""
import json

from .checks import positive_int


def register(sub, name):
    p = sub.add_parser(name, help="benchmark an .onnx (ONNX Runtime) or .engine (TensorRT)", description=__doc__)
    p.add_argument("model", help="model.onnx or model.engine")
    p.add_argument("--batch", type=positive_int, nargs="+", default=[1, 32], help="batch sizes (default: 1 32)")
    p.add_argument("--end-to-end", action="store_true", help="also time letterbox + inference + NMS on images")
    p.add_argument("--warmup", type=int, default=10, help="untimed calls first (default 10)")
    p.add_argument("--iters", type=int, default=100, help="timed calls per batch size (default 100)")
    p.add_argument("--cuda-graph", action="store_true", help=".engine only: replay the enqueue as a CUDA graph")
    p.add_argument("--json", help="write the full report to this JSON file")
    return p


def run(args):
    from ..atomic import atomic_write_text
    from ..bench import bench, format_table
    from .checks import check_files, model_files

    check_files(model_files(args.model), {args.json: "--json report"})
    report = bench(args.model, batches=args.batch, end_to_end=args.end_to_end, warmup=args.warmup,
                   iters=args.iters, cuda_graph=args.cuda_graph)
    print(format_table(report))
    if args.json:
        atomic_write_text(args.json, json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0
