"""The runtime options eval, bench, predict and compare share: which backend runs an .onnx, how many threads.

The choices come from the backend registry (backends/base.py), which imports no runtime, so `yolov6-edge
--help` stays fast.
"""
from pathlib import Path

from ..backends import base as backends


def onnx_backends() -> list:
    """The registered backends that run .onnx files; the first is the default."""
    return list(backends.backends_for(".onnx"))


def add_backend_args(p, many: bool = False) -> None:
    from .checks import count

    choices = onnx_backends()
    p.add_argument("--backend", choices=choices, default=None, nargs="+" if many else None,
                   help=f"runtime for .onnx files: {', '.join(choices)} (default: the file's: openvino for an INT8 "
                        f"file placed for OpenVINO where it is installed, else {choices[0]}; openvino: pip install "
                        "'yolov6-edge[openvino]')" + ("; one for all models or one per model" if many else ""))
    p.add_argument("--threads", type=count, default=0,
                   help="inference threads of ONNX Runtime / OpenVINO (default 0: the runtime decides)")
    p.add_argument("--inference-precision", choices=["f32", "bf16", "f16"], default=None,
                   help="openvino only (--backend openvino, or a file that opens on it): precision of the float "
                        "parts (default f32, as on ONNX Runtime; OpenVINO itself would take bf16 on CPUs with "
                        "AVX512_BF16/AMX)")


def backend_kwargs(args) -> dict:
    """Detector/evaluate keyword arguments from parsed add_backend_args options."""
    from ..errors import fail

    if args.threads < 0:
        raise fail(args.model if hasattr(args, "model") else "--threads", f"--threads must be >= 0, not {args.threads}")
    options = {"inference_precision": args.inference_precision} if args.inference_precision else None
    backend = args.backend
    if options and "openvino" not in _chosen(backend, getattr(args, "model", None)):
        raise fail("--inference-precision", "applies to --backend openvino, or a file that opens on it, only")
    return {"backend": backend, "threads": args.threads, "backend_options": options}


def _chosen(backend, models) -> list:
    """The backends the models open on: the named one(s), else each file's default (an INT8 file placed for
    OpenVINO opens on it where it is installed)."""
    if backend is not None:
        return backend if isinstance(backend, list) else [backend]
    models = models if isinstance(models, list) else [models] if models is not None else []
    return [backends.choose_backend(m)[0] for m in models if backends.backends_for(Path(str(m)).suffix)]
