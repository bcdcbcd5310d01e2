"""`yolov6-edge compare-runtimes M.onnx --images DIR`: where a runtime departs from the ONNX meaning of a
QDQ model, layer by layer, judged by the spec's reference evaluator (onnx.reference; quant/reference.py)."""
import json
from pathlib import Path

from .backend_args import onnx_backends
from .checks import count, positive_float, positive_int


def register(subparsers, name):
    p = subparsers.add_parser(name, help="check an (INT8) ONNX layer by layer against the spec reference on "
                                         "ONNX Runtime and OpenVINO", description=__doc__.replace("\n", " "))
    p.add_argument("model", type=Path, help="a .onnx (QDQ or float)")
    p.add_argument("--images", required=True, type=Path, help="image file, folder or glob")
    p.add_argument("--num", type=positive_int, default=1, help="images used (default 1; each is a batch element)")
    p.add_argument("--backend", nargs="+", choices=onnx_backends(), default=None,
                   help="runtimes to check (default: onnxruntime, and openvino where installed)")
    p.add_argument("--mode", choices=["isolated", "prefix"], default="isolated",
                   help="isolated (default): each layer alone, fed the reference's inputs on their quantization "
                        "grid; prefix: the graph from the image up to the layer (accumulated error)")
    p.add_argument("--layers", default=None, help="only layers whose name contains this text")
    p.add_argument("--tol", type=positive_float, default=None, help="relative error above which a layer departs "
                                                           "(default 1e-3; see quant/runtime_compare.py)")
    p.add_argument("--threads", type=count, default=1, help="runtime threads (default 1)")
    p.add_argument("--top", type=count, default=15, help="rows shown, worst first")
    p.add_argument("--json", type=Path, default=None, help="write every layer's figures here")
    return p


def run(args) -> int:
    from ..atomic import atomic_write_text
    from ..errors import fail
    from ..quant.runtime_compare import DEFAULT_TOL, compare_runtimes, format_report
    from .checks import check_files

    backends = args.backend
    if backends is None:
        try:
            import openvino  # noqa: F401

            backends = ["onnxruntime", "openvino"]
        except ImportError:
            backends = ["onnxruntime"]
    if args.num < 1:
        raise fail(args.model, f"--num must be at least 1, not {args.num}")
    check_files([args.model, args.images], {args.json: "--json report"})
    report = compare_runtimes(args.model, args.images, backends=backends, num=args.num, mode=args.mode,
                              layers=args.layers, tol=args.tol or DEFAULT_TOL, threads=args.threads)
    print(format_report(report, top=args.top))
    if args.json:
        atomic_write_text(args.json, json.dumps(report.to_dict(), indent=1) + "\n")
        print(f"wrote {args.json}")
    return 1 if any(report.departing(b) for b in backends) else 0
