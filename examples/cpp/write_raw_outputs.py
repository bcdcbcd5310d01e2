"""Write a model's raw outputs on one image for examples/cpp without TensorRT:

    python examples/cpp/write_raw_outputs.py MODEL.onnx IMAGE -o IMAGE.raw

The file: one text line "yolov6_edge_raw 1 H W N C center\n" (input size, candidates, classes, 1 when the
letterbox is centred), then float32 little-endian boxes [N, 4] (xyxy in letterboxed input pixels) and scores
[N, C]: exactly what a boxes/scores engine returns for that image, so the C++ example runs the same letterbox
and NMS on it as it would after an engine call.
"""
import argparse
import sys
from pathlib import Path

import numpy as np

from yolov6_edge import Detector, ops
from yolov6_edge.atomic import atomic_path
from yolov6_edge.errors import Yolov6EdgeError, fail
from yolov6_edge.runtime.images import read_image


def write_raw(model, image, out, center=True) -> Path:
    det = Detector(model, center=center)
    if det.backend.layout != "boxes_xyxy+scores":
        raise fail(model, f"has layout {det.backend.layout}; the C++ example needs raw boxes/scores outputs "
                          "(export without --end2end)")
    img = read_image(image)
    blob, _ = ops.letterbox(img, size=det.input_size, center=center, dtype=det.dtype)
    boxes, scores = det.backend(blob)
    boxes = np.ascontiguousarray(boxes[0], "<f4")
    scores = np.ascontiguousarray(scores[0], "<f4")
    h, w = det.input_size
    header = f"yolov6_edge_raw 1 {h} {w} {boxes.shape[0]} {scores.shape[1]} {int(center)}\n".encode()
    with atomic_path(out) as tmp:
        Path(tmp).write_bytes(header + boxes.tobytes() + scores.tobytes())
    return Path(out)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model", type=Path, help="an .onnx exported by yolov6-edge (boxes/scores outputs)")
    p.add_argument("image", type=Path)
    p.add_argument("-o", "--out", type=Path, required=True)
    p.add_argument("--no-center", action="store_true", help="top-left letterbox instead of centred")
    args = p.parse_args(argv)
    try:
        write_raw(args.model, args.image, args.out, center=not args.no_center)
    except Yolov6EdgeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
