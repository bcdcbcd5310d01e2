"""`yolov6-edge` command line: one module a command, each with register(subparsers) and run(args).

Command modules import their heavy dependencies (torch, TensorRT) inside run(), so `yolov6-edge --help`
and the inference commands start without torch.
"""
import argparse
import contextlib
import importlib
import os
import signal
import sys
import warnings

from ..errors import Yolov6EdgeError

# command name -> module under yolov6_edge.cli
COMMANDS = {
    "demo": "demo",
    "export": "export",
    "export-triton": "export_triton",
    "import-ncnn": "import_ncnn",
    "info": "info",
    "predict": "predict",
    "eval": "evaluate",
    "bench": "bench",
    "build": "build",
    "calibrate": "calibrate",
    "sensitivity": "sensitivity",
    "compare": "compare",
    "compare-runtimes": "compare_runtimes",
    "qat": "qat",
    "train": "train",
    "serve": "serve",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="yolov6-edge", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module in COMMANDS.items():
        try:
            mod = importlib.import_module(f"yolov6_edge.cli.{module}")
        except ModuleNotFoundError as e:
            if e.name == f"yolov6_edge.cli.{module}":
                continue  # command not present in this build
            raise
        p = mod.register(sub, name)
        p.set_defaults(func=mod.run)
    return parser


# Optional dependency (top-level module) -> what to install. The base install runs inference only.
EXTRAS = {
    "torch": "pip install 'yolov6-edge[torch]'  (torch 2.13.0; see README)",
    "onnx": "pip install onnx  (or any of 'yolov6-edge[openvino]', '[trt]', '[torch]', which bring it)",
    "onnxslim": "pip install 'yolov6-edge[torch]'  (or: pip install onnxslim)",
    "pycocotools": "pip install pycocotools  (or 'yolov6-edge[torch]', which brings it)",
    "matplotlib": "pip install matplotlib  (or 'yolov6-edge[torch]')",
    "tensorrt": "install TensorRT 10/11 for your CUDA (pip install 'yolov6-edge[trt]')",
    "tritonclient": "pip install 'yolov6-edge[serve]'",
}


class Terminated(BaseException):
    """SIGTERM/SIGHUP as an exception, so unwinding removes temporary files (atomic.py) before exit."""

    def __init__(self, signum):
        super().__init__(signum)
        self.signum = signum


def _raise_terminated(signum, frame):
    raise Terminated(signum)


@contextlib.contextmanager
def _signals_as_exceptions():
    old = {}
    for sig in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):
        if sig is not None:
            with contextlib.suppress(ValueError, OSError):  # not the main thread: leave them alone
                old[sig] = signal.signal(sig, _raise_terminated)
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


class _ClosedPipeGuard:
    """sys.stdout / sys.stderr that keep the command going when the reader went away (`predict ... | head -1`):
    what is printed after that is dropped, the files are still written (a BrokenPipeError in a print would
    otherwise unwind the command and discard its finished outputs)."""

    def __init__(self, stream):
        self._stream = stream
        self.broken = False

    def write(self, text):
        if not self.broken:
            try:
                return self._stream.write(text)
            except BrokenPipeError:
                self._broke()
        return len(text)

    def flush(self):
        if not self.broken:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self._broke()

    def _broke(self):
        self.broken = True
        # what is still buffered can go nowhere: point the descriptor at /dev/null so the interpreter's last
        # flush at exit is quiet too
        with contextlib.suppress(OSError, ValueError, AttributeError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)

    def __getattr__(self, name):
        return getattr(self._stream, name)


@contextlib.contextmanager
def _guarded_output():
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _ClosedPipeGuard(sys.stdout), _ClosedPipeGuard(sys.stderr)
    try:
        yield sys.stdout
    finally:
        out, err = sys.stdout, sys.stderr
        with contextlib.suppress(Exception):
            out.flush()
        sys.stdout, sys.stderr = saved
        if isinstance(out, _ClosedPipeGuard) and out.broken and not (isinstance(err, _ClosedPipeGuard) and err.broken):
            with contextlib.suppress(Exception):
                print("yolov6-edge: standard output was closed early (broken pipe); the rest of the printed output "
                      "was dropped, files were written as usual", file=saved[1])


@contextlib.contextmanager
def _one_line_warnings(command):
    """Warnings printed as one line each, as errors are (`yolov6-edge CMD: warning: MESSAGE`): Python's own
    format adds the source line of whatever called warnings.warn, which means nothing to a command's user."""
    def show(message, category, filename, lineno, file=None, line=None):
        print(f"yolov6-edge {command}: warning: {message}", file=file or sys.stderr)

    with warnings.catch_warnings():  # restores showwarning (and the filters) on the way out
        warnings.showwarning = show
        yield


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    with _guarded_output(), _one_line_warnings(args.command):
        return _run(args)


def _run(args) -> int:
    from ..atomic import DISK_ERRNOS, write_error

    prefix = f"yolov6-edge {args.command}: error:"
    try:
        with _signals_as_exceptions():
            return int(args.func(args) or 0)
    except OSError as e:
        # a write failing for a reason of the disk somewhere atomic.py did not see it: still one line
        if e.errno not in DISK_ERRNOS:
            raise
        print(f"{prefix} {write_error(e.filename or 'output', e)}", file=sys.stderr)
        return 2
    except Yolov6EdgeError as e:
        print(f"{prefix} {e}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as e:
        root = (e.name or "").split(".")[0]
        if root not in EXTRAS:
            raise
        print(f"{prefix} this command needs {root}, which is not installed: {EXTRAS[root]}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"yolov6-edge {args.command}: interrupted (temporary files removed)", file=sys.stderr)
        return 130
    except Terminated as e:
        name = signal.Signals(e.signum).name
        print(f"yolov6-edge {args.command}: stopped by {name} (temporary files removed)", file=sys.stderr)
        return 128 + e.signum


if __name__ == "__main__":
    sys.exit(main())
