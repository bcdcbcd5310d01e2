"""`yolov6-edge bench MODEL [MODEL ...]`: latency (mean/p50/p99) and throughput, several models interleaved."""
import json

from .backend_args import add_backend_args, backend_kwargs
from .checks import count, positive_int


def register(sub, name):
    p = sub.add_parser(name, help="benchmark .onnx (ONNX Runtime / OpenVINO) or .engine (TensorRT) files",
                       description=__doc__.splitlines()[0] + ". With several models each row also gives its "
                       "p50 latency over the first model's (ratio_to_first in the JSON).")
    p.add_argument("model", nargs="+", help="model.onnx or model.engine; several are timed in turn, round by round")
    p.add_argument("--batch", type=positive_int, nargs="+", default=[1, 32], help="batch sizes (default: 1 32)")
    p.add_argument("--end-to-end", action="store_true", help="also time letterbox + inference + NMS on images")
    p.add_argument("--warmup", type=count, default=10, help="untimed calls first (default 10)")
    p.add_argument("--iters", type=positive_int, default=100, help="timed calls per batch size (default 100)")
    p.add_argument("--cuda-graph", action="store_true", help=".engine only: replay the enqueue as a CUDA graph")
    add_backend_args(p, many=True)
    p.add_argument("--json", help="write the full report to this JSON file")
    return p


def run(args):
    from ..atomic import atomic_write_text
    from ..bench import bench_many, format_table
    from .checks import check_files, model_files

    check_files([f for m in args.model for f in model_files(m)], {args.json: "--json report"})
    kw = backend_kwargs(args)
    report = bench_many(args.model, batches=args.batch, end_to_end=args.end_to_end, warmup=args.warmup,
                        iters=args.iters, cuda_graph=args.cuda_graph, backends=kw["backend"], threads=kw["threads"],
                        backend_options=kw["backend_options"])
    print(format_table(report))
    if args.json:
        atomic_write_text(args.json, json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0
