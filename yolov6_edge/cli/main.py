"""`yolov6-edge` command line: one module a command, each with register(subparsers) and run(args).

Command modules import their heavy dependencies (torch, TensorRT) inside run(), so `yolov6-edge --help`
and the inference commands start without torch.
"""
import argparse
import importlib
import sys

from ..errors import Yolov6EdgeError

# command name -> module under yolov6_edge.cli
COMMANDS = {
    "demo": "demo",
    "export": "export",
    "import-ncnn": "import_ncnn",
    "info": "info",
    "predict": "predict",
    "eval": "evaluate",
    "bench": "bench",
    "build": "build",
    "calibrate": "calibrate",
    "sensitivity": "sensitivity",
    "compare-runtimes": "compare_runtimes",
    "qat": "qat",
    "train": "train",
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


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except Yolov6EdgeError as e:
        print(f"yolov6-edge {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
