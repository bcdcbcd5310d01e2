"""`yolov6-edge export-triton MODEL -o REPO`: a Triton Inference Server model repository for a detector."""
from pathlib import Path

from .checks import positive_int, unit_float


def register(subparsers, name):
    from ..serve.repository import FLAVOURS

    p = subparsers.add_parser(name, help="write a Triton Inference Server model repository (docs/SERVING.md)",
                              description=__doc__.splitlines()[0])
    p.add_argument("model", type=Path, help=".onnx, .engine (tensorrt, or python on TensorRT), .pt or .param")
    p.add_argument("-o", "--output", type=Path, required=True, help="repository folder (may hold other models)")
    p.add_argument("--name", default="yolov6", help="the served model's name (default yolov6)")
    p.add_argument("--model-backend", choices=FLAVOURS, default="python",
                   help="python (default): one Python-backend model runs the whole pipeline; onnxruntime, "
                        "openvino, tensorrt: an ensemble of Python pre/post-processing and the network on "
                        "Triton's own backend; python-ensemble: that ensemble with the network step on the "
                        "Python backend (for testing where Triton's own backends are absent)")
    p.add_argument("--max-batch", type=positive_int, default=16, help="largest batch Triton forms (default 16)")
    p.add_argument("--instances", type=positive_int, default=1, help="model instances (per GPU for gpu kinds)")
    p.add_argument("--device", choices=("auto", "cpu", "gpu"), default="auto",
                   help="instance kind of the network (auto: gpu for TensorRT engines, else cpu)")
    p.add_argument("--threads", type=int, default=0,
                   help="ONNX Runtime intra-op threads per instance of the python flavour (0: ORT decides)")
    p.add_argument("--queue-delay-us", type=int, default=2000,
                   help="how long a request may wait for others to join its batch (default 2000 us)")
    p.add_argument("--conf", type=unit_float, default=0.25, help="default score threshold (requests may override)")
    p.add_argument("--iou", type=unit_float, default=0.45, help="default NMS IoU threshold")
    p.add_argument("--max-det", type=positive_int, default=300, help="detections per image: the outputs' padded size")
    p.add_argument("--img", type=int, nargs=2, metavar=("H", "W"), default=None, help="input size of .pt/.param")
    return p


def run(args) -> int:
    from ..serve.repository import ExportSettings, export_triton
    from .checks import image_size

    settings = ExportSettings(name=args.name, flavour=args.model_backend, max_batch=args.max_batch,
                              instances=args.instances, conf=args.conf, iou=args.iou, max_det=args.max_det,
                              threads=args.threads, queue_delay_us=args.queue_delay_us, device=args.device,
                              img_size=image_size(args.img))
    info = export_triton(args.model, args.output, settings)
    h, w = info["input_size"]
    print(f"{args.model} -> {args.output}: {', '.join(info['models'])} ({info['flavour']}; {info['model_name']}, "
          f"input {h}x{w}, {info['classes']} classes, max batch {args.max_batch}, {args.instances} "
          f"{info['kind']} instance(s))")
    print(f"serve it: yolov6-edge serve {args.output}    (or NVIDIA's Triton container, docs/SERVING.md)")
    return 0
