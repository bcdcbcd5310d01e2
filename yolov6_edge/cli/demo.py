"""`yolov6-edge demo`: model -> ONNX -> Detector on a few images, with latency, pictures and (if data) AP.

Model: --weights, else the official YOLOv6Lite-S NCNN weights in ../shared if present, else a YOLOv6Lite-S
trained here for --train-minutes on the built-in synthetic shapes set (--train-minutes 0: a fused random-weight
yolov6n, whose detections are meaningless, said so).
Images: ../shared/coco/val/images if present, else synthetic shapes drawn here.
"""
import json
import os
import statistics
import time
from pathlib import Path

from .checks import nonnegative_float, positive_int, unit_float

REPO_ROOT = Path(__file__).resolve().parents[2]
LITE_S = Path("weights/yolov6lite/yolov6-lite-s.param")
COCO_VAL = Path("coco/val")


def shared_dir() -> Path:
    return Path(os.environ.get("YOLOV6_EDGE_SHARED", REPO_ROOT.parent / "shared"))


def register(subparsers, name):
    p = subparsers.add_parser(name, help="export a model, run it on a few images, report latency and AP",
                              description=__doc__.splitlines()[0])
    p.add_argument("--weights", type=Path, default=None, help=".pt or .param (default: see above)")
    p.add_argument("-o", "--output", type=Path, default=Path("demo_out"), help="output folder")
    p.add_argument("--img", type=int, nargs=2, metavar=("H", "W"), default=None,
                   help="input size (default 320 320 for YOLOv6Lite, else 640 640)")
    p.add_argument("--images", type=positive_int, default=4, help="how many images to run and draw")
    p.add_argument("--runs", type=positive_int, default=20, help="timed runs for the latency figures")
    p.add_argument("--conf", type=unit_float, default=0.25)
    p.add_argument("--no-eval", action="store_true", help="skip the COCO AP even when ../shared is present")
    p.add_argument("--train-minutes", type=nonnegative_float, default=4.0,
                   help="without weights and ../shared: train on synthetic shapes this long (0: random weights)")
    return p


def pick_model(weights, train_minutes: float = 0.0, out: Path = Path("demo_out")):
    """(model, description, coco_trained)."""
    from ..weights import load_model

    if weights is not None:
        model, _ = load_model(weights)
        return model, f"{weights} ({model.model_name})", True
    lite = shared_dir() / LITE_S
    if lite.is_file():
        model, _ = load_model(lite)
        return model, f"{lite} (official YOLOv6Lite-S, COCO-trained)", True
    if train_minutes > 0:
        model = train_on_synthetic(train_minutes, out / "train")
        return (model, f"yolov6lite-s trained {train_minutes:g} min on synthetic shapes (no trained weights found)",
                False)
    from ..models import build_model

    model = build_model("yolov6n").fuse().eval()
    return model, "yolov6n with RANDOM weights (no trained weights found): detections are meaningless", False


def train_on_synthetic(minutes: float, out: Path):
    """A small model the demo can show working where no trained weights exist (settings of
    benchmarks/train_synthetic.py, which reached mAP@0.5 0.57 in 9 minutes on a 2-core CPU)."""
    from ..datasets.synthetic import generate_splits
    from ..datasets.spec import load_data_spec
    from ..models import build_model
    from ..trainer.loop import Trainer, TrainArgs
    from ..weights import load_model

    size = 192  # a multiple of YOLOv6Lite's largest stride (64), which validation and export need
    root = Path.home() / ".cache" / "yolov6_edge" / f"synthetic_demo_{size}"
    data = load_data_spec(generate_splits(root, 600, 60, size=(size, size), seed=0, min_size=16,
                                          max_size=size // 2, max_objects=5))
    epochs = 12
    targs = TrainArgs(model="yolov6lite-s", epochs=epochs, img_size=size, batch=16, workers=1, device="cpu",
                      output=str(out), max_minutes=minutes, eval_interval=epochs, no_mosaic_epochs=4,
                      atss_epochs=2, warmup_epochs=1.0, min_warmup_iters=50, lr0=0.02, scale=0.3, mosaic=0.5)
    print(f"no trained weights found: training yolov6lite-s on synthetic shapes for {minutes:g} min ...")
    Trainer(targs, model=build_model("yolov6lite-s", len(data["names"])), data=data).fit()
    best = out / "best.pt"  # EMA weights, written at the closing validation
    model, _ = load_model(best if best.is_file() else out / "last.pt")
    return model


def pick_images(n: int, size) -> list:
    """(name, BGR image) pairs: COCO val images if present, else synthetic shapes."""
    from ..runtime.images import expand_sources, read_image

    folder = shared_dir() / COCO_VAL / "images"
    if folder.is_dir():
        return [(p.name, read_image(p)) for p in expand_sources([folder])[:n]]
    import numpy as np

    from ..datasets.synthetic import make_image

    rng = np.random.default_rng(0)
    return [(f"synthetic_{i}.jpg", make_image(rng, size=size)[0]) for i in range(n)]


def latency(det, img, runs: int) -> dict:
    """Whole Detector call (pre + infer + NMS) on one image, after two warm-up calls."""
    from tqdm import tqdm

    for _ in range(2):
        det(img)
    times, parts = [], {"pre": [], "infer": [], "post": []}
    for _ in tqdm(range(max(1, runs)), desc="latency", unit="run", leave=False):
        t0 = time.perf_counter()
        det(img)
        times.append((time.perf_counter() - t0) * 1000)
        for k in parts:
            parts[k].append(det.timing[k] * 1000)
    return {"runs": len(times), "mean_ms": round(statistics.fmean(times), 2),
            "p50_ms": round(statistics.median(times), 2), "min_ms": round(min(times), 2),
            **{f"{k}_p50_ms": round(statistics.median(v), 2) for k, v in parts.items()}}


def run(args) -> int:
    import cv2

    from ..atomic import atomic_write_bytes, atomic_write_text
    from ..export.onnx import export_onnx
    from ..runtime.detector import Detector
    from ..runtime.draw import draw
    from ..models import default_input_size
    from .checks import check_output_folder, check_outputs, model_files

    out = check_output_folder(args.output)
    weights = model_files(args.weights) if args.weights else []
    check_outputs(weights, {out / "summary.json": "summary"})
    model, description, coco_trained = pick_model(args.weights, args.train_minutes, out)
    size = tuple(args.img) if args.img else default_input_size(model.model_name)
    print(f"model: {description}")
    onnx_path = out / f"{model.model_name}.onnx"
    check_outputs(weights, {onnx_path: "ONNX file"})
    t0 = time.perf_counter()
    export_onnx(model, onnx_path, img_size=size)
    print(f"exported {onnx_path} ({onnx_path.stat().st_size / 1e6:.1f} MB, input {size[0]}x{size[1]}) "
          f"in {time.perf_counter() - t0:.1f} s")

    det = Detector(onnx_path, conf=args.conf)
    images = pick_images(args.images, size)
    results = []
    for name, img in images:
        dets = det(img)
        dets.source = name
        results.append(dets.to_dict())
        ok, buf = cv2.imencode(".jpg", draw(img, dets))
        atomic_write_bytes(out / f"{Path(name).stem}_det.jpg", buf.tobytes())
        top = ", ".join(f"{n} {s:.2f}" for n, s in zip(dets.names[:6], dets.scores[:6]))
        print(f"{name} {img.shape[1]}x{img.shape[0]}: {len(dets)} detections{': ' + top if top else ''}")
    lat = latency(det, images[0][1], args.runs)
    print(f"latency (ONNX Runtime CPU, whole Detector call, {lat['runs']} runs): mean {lat['mean_ms']} ms, "
          f"p50 {lat['p50_ms']} ms (p50 letterbox {lat['pre_p50_ms']} ms, inference {lat['infer_p50_ms']} ms, "
          f"NMS + mapping {lat['post_p50_ms']} ms)")

    summary = {"model": description, "onnx": str(onnx_path), "input_size": list(size),
               "providers": det.backend.providers, "latency": lat, "images": results}
    coco = shared_dir() / COCO_VAL
    if coco.is_dir() and not args.no_eval:
        from ..eval.coco import evaluate, format_table

        # The reference settings of ../shared/README.md, so the figure compares with its table.
        stats = evaluate(onnx_path, coco / "images", coco / "instances.json", conf=0.03, iou=0.65, max_det=300)
        label = "" if coco_trained else " (random weights: expect ~0)"
        print(f"float AP on {stats['n_images']} COCO val images{label}:\n{format_table(stats)}")
        summary["coco_val"] = stats
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=1) + "\n")
    print(f"wrote {len(images)} annotated images and summary.json to {out}")
    return 0
