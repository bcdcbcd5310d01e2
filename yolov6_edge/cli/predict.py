"""`yolov6-edge predict MODEL SOURCE...`: detect objects in images, videos, cameras and stream URLs.

Images: annotated copies + detections.json. Videos, cameras and URLs: cli/predict_stream.py (annotated videos and
JSON Lines with --save)."""
import json
from pathlib import Path

from ..errors import fail
from ..runtime.settings import PREDICT
from .backend_args import add_backend_args, backend_kwargs
from .checks import positive_int, unit_float


def register(subparsers, name):
    p = subparsers.add_parser(name, help="run a model on images, videos, cameras, stream URLs, folders or globs",
                              description=__doc__.splitlines()[0])
    p.add_argument("model", type=Path, help=".onnx, .engine, .pt or .param; with --server, the model's name on the "
                                            "server (e.g. yolov6)")
    p.add_argument("sources", nargs="+", help="image or video files, folders, glob patterns, camera indices (0) "
                                              "or stream URLs (rtsp://, http://)")
    p.add_argument("-o", "--output", type=Path, default=Path("predict_out"), help="output folder")
    # None: PREDICT's settings locally (runtime/settings.py); with --server, the served model's own defaults
    p.add_argument("--conf", type=unit_float, default=None, help=f"score threshold (default {PREDICT.conf})")
    p.add_argument("--iou", type=unit_float, default=None, help=f"NMS IoU threshold (default {PREDICT.iou})")
    p.add_argument("--max-det", type=positive_int, default=None,
                   help=f"detections per image (default {PREDICT.max_det})")
    p.add_argument("--img", type=int, nargs=2, metavar=("H", "W"), default=None,
                   help="input size for .pt/.param models (ONNX and engines use their own)")
    p.add_argument("--no-draw", action="store_true", help="write only detections.json / the .jsonl files")
    p.add_argument("--server", metavar="URL", default=None,
                   help="run MODEL on a Triton server instead: host:port (gRPC) or http://host:port "
                        "(yolov6-edge serve, docs/SERVING.md); --conf/--iou/--max-det go with each request")
    add_backend_args(p)
    from .predict_stream import add_stream_args

    add_stream_args(p)
    return p


INDEX = "detections.json"


def unique_names(paths, writable=lambda suffix: True) -> list:
    """Output file names, all different: the source name (as .jpg where OpenCV cannot write its format), with
    _1, _2, ... added where it is taken (compared ignoring case, for case-insensitive filesystems)."""
    taken, out = {INDEX}, []
    for p in paths:
        stem, suffix = Path(p).stem, Path(p).suffix
        if not suffix or not writable(suffix):
            suffix = ".jpg"
        name, n = stem + suffix, 0
        while name.lower() in taken:
            n += 1
            name = f"{stem}_{n}{suffix}"
        taken.add(name.lower())
        out.append(name)
    return out


def run(args) -> int:
    from .checks import image_size
    from .predict_stream import run_streams, split_sources

    files, streams = split_sources(args.sources)
    img_size = image_size(args.img)
    det = None
    if files:
        det = predict_images(args, files, img_size)
    if streams:
        det = det or open_detector(args, img_size)
        return run_streams(args, det, streams)
    return 0


def open_detector(args, img_size):
    """The local Detector on MODEL, or with --server a RemoteDetector on the model of that name."""
    if args.server:
        from ..serve.client import RemoteDetector

        return RemoteDetector(args.server, model=str(args.model), conf=args.conf, iou=args.iou,
                              max_det=args.max_det)
    from ..runtime.detector import Detector

    s = PREDICT.override(str(args.model), conf=args.conf, iou=args.iou, max_det=args.max_det)
    return Detector(args.model, conf=s.conf, iou=s.iou, max_det=s.max_det, img_size=img_size, **backend_kwargs(args))


def predict_images(args, files, img_size):
    """Annotated images and detections.json for still images; returns the Detector for the videos after."""
    import cv2
    from tqdm import tqdm

    from ..atomic import staged_folder
    from ..runtime.draw import draw
    from ..runtime.images import read_image
    from .checks import check_output_folder, check_outputs, model_files

    out_dir = check_output_folder(args.output)
    names = unique_names(files, writable=lambda suffix: cv2.haveImageWriter("x" + suffix))
    outputs = {} if args.no_draw else {out_dir / n: "annotated image" for n in names}
    outputs[out_dir / INDEX] = INDEX
    check_outputs(list(files) + ([] if args.server else model_files(args.model)), outputs)
    det = open_detector(args, img_size)
    records = []
    # Everything is written to a staging folder and moved into the output folder at the end: a run that fails
    # halfway leaves the folder as it was, not new images beside an older detections.json.
    with staged_folder(out_dir, last=(INDEX,)) as stage:
        for path, out_name in tqdm(list(zip(files, names)), desc="predict", unit="img"):
            img = read_image(path)
            result = det(img)
            result.source = str(path)
            records.append(result.to_dict())
            if not args.no_draw:
                ok, buf = cv2.imencode(Path(out_name).suffix, draw(img, result))
                if not ok:
                    raise fail(path, f"OpenCV could not encode the annotated image as {out_name}")
                (stage / out_name).write_bytes(buf.tobytes())
            print(f"{path}: {len(result)} detections" +
                  "".join(f"\n  {n} {s:.2f} {[round(float(v), 1) for v in b]}"
                          for b, s, n in zip(result.boxes[:10], result.scores[:10], result.names[:10])))
        (stage / INDEX).write_text(json.dumps({"model": str(args.model), "images": records}, indent=1) + "\n")
    print(f"wrote {len(records)} results to {out_dir}")
    return det
