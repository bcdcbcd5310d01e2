"""The whole path a user takes, on a model the trainer just trained: train -> checkpoint -> export ->
calibrate (INT8 QDQ) -> Detector on ONNX Runtime, float and INT8 side by side.

A few CPU steps cannot make a good detector, so the checks are about the pipeline: every file is produced and
valid, and the INT8 model computes the same function as the float one (outputs close, same top boxes).
"""
import json

import numpy as np
import onnx
import pytest
import torch

from yolov6_edge.cli.main import main
from yolov6_edge.datasets.synthetic import generate_splits
from yolov6_edge.models import build_model
from yolov6_edge.runtime.detector import Detector
from yolov6_edge.runtime.images import read_image
from yolov6_edge.datasets.spec import load_data_spec
from yolov6_edge.trainer.loop import Trainer, TrainArgs


@pytest.mark.slow
def test_trained_model_exports_calibrates_and_runs_in_detector(tmp_path):
    torch.set_num_threads(1)
    data = load_data_spec(generate_splits(tmp_path / "syn", train=24, val=4, size=(64, 64), seed=3,
                                          min_size=14, max_size=30, max_objects=3))
    args = TrainArgs(model="yolov6lite-s", epochs=1, img_size=64, batch=8, workers=0, output=str(tmp_path / "run"),
                     eval_interval=0, atss_epochs=1, no_mosaic_epochs=1, min_warmup_iters=2, warmup_epochs=0.5,
                     max_steps=3)
    Trainer(args, model=build_model("yolov6lite-s", len(data["names"])), data=data).fit()
    ckpt = tmp_path / "run" / "last.pt"
    assert ckpt.is_file()

    float_onnx, int8_onnx = tmp_path / "m.onnx", tmp_path / "m_int8.onnx"
    assert main(["export", str(ckpt), "-o", str(float_onnx), "--img", "64", "64"]) == 0
    calib = tmp_path / "syn" / "train" / "images"
    assert main(["calibrate", str(ckpt), "--images", str(calib), "--img", "64", "64", "--num", "16",
                 "-o", str(int8_onnx)]) == 0

    m = onnx.load(str(int8_onnx))
    props = {p.key: p.value for p in m.metadata_props}
    assert props["precision"] == "int8-qdq" and json.loads(props["names"]) == list(data["names"])
    assert sum(n.op_type == "QuantizeLinear" for n in m.graph.node) > 0

    images = sorted((tmp_path / "syn" / "val" / "images").iterdir())
    img = read_image(images[0])
    fdet, qdet = Detector(float_onnx, conf=0.0), Detector(int8_onnx, conf=0.0)
    assert fdet.names == qdet.names == list(data["names"])
    from yolov6_edge import ops

    blob, _ = ops.letterbox([img], size=(64, 64))
    fb, fs = fdet.backend(blob)
    qb, qs = qdet.backend(blob)
    # INT8 vs float of the same weights: scores within 0.05 on average, boxes within 2 px (64 px input)
    assert np.abs(qs - fs).mean() < 0.05
    assert np.median(np.abs(qb - fb)) < 2.0
    fr, qr = fdet(img), qdet(img)
    assert len(fr) > 0 and len(qr) > 0
    # the best float box is found by INT8 too (IoU > 0.5 with one of INT8's top 10)
    b = fr.boxes[0]
    q = qr.boxes[:10]
    inter = (np.minimum(q[:, 2], b[2]) - np.maximum(q[:, 0], b[0])).clip(0) * \
            (np.minimum(q[:, 3], b[3]) - np.maximum(q[:, 1], b[1])).clip(0)
    union = (b[2] - b[0]) * (b[3] - b[1]) + (q[:, 2] - q[:, 0]) * (q[:, 3] - q[:, 1]) - inter
    assert (inter / np.maximum(union, 1e-9)).max() > 0.5
