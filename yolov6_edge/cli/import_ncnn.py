"""`yolov6-edge import-ncnn model.param -o model.pt`: official YOLOv6Lite NCNN weights -> our checkpoint."""
from pathlib import Path


def register(subparsers, name):
    p = subparsers.add_parser(name, help="convert a YOLOv6Lite NCNN .param/.bin pair into a yolov6-edge .pt",
                              description=__doc__.splitlines()[0])
    p.add_argument("param", type=Path, help="NCNN .param file (its .bin is read from beside it)")
    p.add_argument("-o", "--output", type=Path, default=None,
                   help="checkpoint to write (default: the .param path with a .pt suffix)")
    return p


def run(args) -> int:
    from ..weights.checkpoint import save_checkpoint
    from ..weights.ncnn import load_ncnn_model
    from .checks import check_files, model_files

    output = args.output if args.output is not None else args.param.with_suffix(".pt")
    check_files(model_files(args.param), {output: "checkpoint"})
    model, info = load_ncnn_model(args.param)
    save_checkpoint(model, output)
    n = sum(p.numel() for p in model.parameters())
    print(f"{args.param} -> {output}: {info['model_name']}, {len(info['names'])} classes, {n:,} parameters (fused)")
    return 0
