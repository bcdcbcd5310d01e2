"""`yolov6-edge predict MODEL SOURCE...`: detect on images, write annotated copies and detections.json."""
import json
from pathlib import Path

from .backend_args import add_backend_args, backend_kwargs


def register(subparsers, name):
    p = subparsers.add_parser(name, help="run a model on images, folders or globs",
                              description=__doc__.splitlines()[0])
    p.add_argument("model", type=Path, help=".onnx, .engine, .pt or .param")
    p.add_argument("sources", nargs="+", help="image files, folders or glob patterns")
    p.add_argument("-o", "--output", type=Path, default=Path("predict_out"), help="output folder")
    p.add_argument("--conf", type=float, default=0.25)
    p.add_argument("--iou", type=float, default=0.45)
    p.add_argument("--max-det", type=int, default=300)
    p.add_argument("--img", type=int, nargs=2, metavar=("H", "W"), default=None,
                   help="input size for .pt/.param models (ONNX and engines use their own)")
    p.add_argument("--no-draw", action="store_true", help="write only detections.json")
    add_backend_args(p)
    return p


def unique_names(paths) -> list:
    """Output file names: the source name, with an index added where two sources share a name."""
    seen, out = {}, []
    for p in paths:
        name = Path(p).name
        n = seen.get(name, 0)
        seen[name] = n + 1
        out.append(name if n == 0 else f"{Path(name).stem}_{n}{Path(name).suffix}")
    return out


def run(args) -> int:
    import cv2
    from tqdm import tqdm

    from ..atomic import atomic_write_bytes, atomic_write_text
    from ..runtime.detector import Detector
    from ..runtime.draw import draw
    from ..runtime.images import expand_sources, read_image

    files = expand_sources(args.sources)
    det = Detector(args.model, conf=args.conf, iou=args.iou, max_det=args.max_det, img_size=args.img,
                   **backend_kwargs(args))
    records = []
    for path, out_name in tqdm(list(zip(files, unique_names(files))), desc="predict", unit="img"):
        img = read_image(path)
        result = det(img)
        result.source = str(path)
        records.append(result.to_dict())
        if not args.no_draw:
            ok, buf = cv2.imencode(Path(out_name).suffix or ".jpg", draw(img, result))
            if not ok:  # e.g. an input format OpenCV reads but cannot write: fall back to JPEG
                ok, buf = cv2.imencode(".jpg", draw(img, result))
                out_name = Path(out_name).stem + ".jpg"
            atomic_write_bytes(args.output / out_name, buf.tobytes())
        print(f"{path}: {len(result)} detections" +
              "".join(f"\n  {n} {s:.2f} {[round(float(v), 1) for v in b]}"
                      for b, s, n in zip(result.boxes[:10], result.scores[:10], result.names[:10])))
    atomic_write_text(args.output / "detections.json", json.dumps({"model": str(args.model), "images": records},
                                                                    indent=1) + "\n")
    print(f"wrote {len(records)} results to {args.output}")
    return 0
