"""`yolov6-edge serve MODEL|REPO`: NVIDIA Triton Inference Server on a detector, until Ctrl-C or SIGTERM.

MODEL (.onnx, .engine, .pt, .param) is first written to a temporary repository (export-triton); a REPO folder is
served as it is. One line says when the server is ready and where; Ctrl-C or SIGTERM stop it cleanly (Triton
refuses new requests and finishes those in flight). A port in use, a model that does not load or a missing
`[serve]` extra: one line, exit 2, no server left running."""
import signal
import tempfile
import time
from pathlib import Path

from ..errors import fail
from .checks import positive_int


def _port(text) -> int:
    import argparse

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 1..65535, got {value}")
    return value


def register(subparsers, name):
    p = subparsers.add_parser(name, help="serve a model on Triton Inference Server (docs/SERVING.md)",
                              description=__doc__.splitlines()[0])
    p.add_argument("model", type=Path, help="a model file (.onnx, .engine, .pt, .param) or a repository folder")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; 0.0.0.0: all)")
    p.add_argument("--http-port", type=_port, default=8000)
    p.add_argument("--grpc-port", type=_port, default=8001)
    p.add_argument("--metrics-port", type=_port, default=8002)
    g = p.add_argument_group("for a model file (a repository is served as written)")
    g.add_argument("--name", default="yolov6", help="the served model's name (default yolov6)")
    g.add_argument("--model-backend", choices=("python", "python-ensemble"), default="python",
                   help="python (default): one model runs the pipeline; python-ensemble: pre / network / post "
                        "steps (the other flavours need Triton's own backends: export-triton + NGC container)")
    g.add_argument("--instances", type=positive_int, default=None, help="model instances (default 1)")
    g.add_argument("--max-batch", type=positive_int, default=None, help="largest batch Triton forms (default 16)")
    g.add_argument("--threads", type=int, default=0, help="ONNX Runtime threads per instance (0: ORT decides)")
    g.add_argument("--queue-delay-us", type=int, default=2000, help="batching wait (default 2000 us)")
    p.add_argument("--exit-timeout", type=positive_int, default=30,
                   help="seconds Triton waits for requests in flight when stopping (default 30)")
    return p


def _served_models(repo: Path) -> list:
    from ..serve import protocol

    return sorted(p.name for p in repo.iterdir()
                  if (p / "config.pbtxt").is_file() and protocol.FORMAT_KEY in (p / "config.pbtxt").read_text())


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def run(args) -> int:
    from ..serve.repository import ExportSettings, export_triton, is_repository
    from ..serve.server import TritonServer

    if not args.model.exists():
        raise fail(args.model, "no such file or folder")
    with tempfile.TemporaryDirectory(prefix="yolov6-edge-serve-") as tmp:
        if args.model.is_dir():
            if not is_repository(args.model):
                raise fail(args.model, "is a folder without models (no SUBFOLDER/config.pbtxt): not a repository")
            if args.instances or args.max_batch:
                raise fail(args.model, "--instances and --max-batch apply to a model file; a repository is served "
                                       "as its config.pbtxt files say")
            repo = args.model
        else:
            repo = Path(tmp) / "repository"
            export_triton(args.model, repo, ExportSettings(
                name=args.name, flavour=args.model_backend, max_batch=args.max_batch or 16,
                instances=args.instances or 1, threads=args.threads, queue_delay_us=args.queue_delay_us))
        server = TritonServer(repo, host=args.host, http_port=args.http_port, grpc_port=args.grpc_port,
                              metrics_port=args.metrics_port, exit_timeout=args.exit_timeout)
        # SIGTERM stops the server the way Ctrl-C does (the CLI would otherwise unwind at once)
        previous = signal.signal(signal.SIGTERM, _raise_interrupt)
        stopped_by = None
        try:
            server.start()
            models = ", ".join(_served_models(repo)) or "?"
            print(f"yolov6-edge serve: ready: {models} at grpc {server.grpc_url} | http {server.http_url} | "
                  f"metrics {server.metrics_url} (Ctrl-C stops)", flush=True)
            while server.alive():
                time.sleep(0.5)
            raise fail(repo, f"tritonserver stopped by itself ({server.process.returncode}): "
                             f"{server.failure_cause()}")
        except KeyboardInterrupt:
            stopped_by = "signal"
        finally:
            signal.signal(signal.SIGTERM, previous)
            server.stop()
        if stopped_by:
            print("yolov6-edge serve: stopped (requests in flight were finished)", flush=True)
    return 0
