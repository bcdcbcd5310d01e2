"""`yolov6-edge calibrate` end to end on a tiny random model: QDQ ONNX, cache reuse/rejection, errors."""
import json

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from yolov6_edge.cli.main import main
from yolov6_edge.quant.qdq import check_placement


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("calib")
    from yolov6_edge.models import build_model
    from yolov6_edge.weights.checkpoint import save_checkpoint

    torch.manual_seed(0)
    model = build_model("yolov6lite-s", num_classes=3).eval()
    save_checkpoint(model, d / "tiny.pt")
    imgs = d / "images"
    imgs.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        cv2.imwrite(str(imgs / f"{i}.jpg"), rng.integers(0, 255, (70 + 10 * i, 90, 3), dtype=np.uint8))
    return d, imgs


def test_calibrate_cli_writes_qdq_onnx_and_reuses_cache(setup, capsys):
    d, imgs = setup
    out = d / "tiny_int8.onnx"
    assert main(["calibrate", str(d / "tiny.pt"), "--images", str(imgs), "--img", "64", "64",
                 "--num", "4", "--batch", "2", "-o", str(out)]) == 0
    m = onnx.load(str(out))
    onnx.checker.check_model(m)
    assert check_placement(m) == []
    assert {p.key: p.value for p in m.metadata_props}["precision"] == "int8-qdq"
    cache = json.loads((d / "tiny_int8.calib.json").read_text())
    assert cache["method"] == "mse" and cache["num_images"] == 4 and len(cache["amax"]) > 10
    assert np.mean([v > 0 for v in cache["amax"].values()]) > 0.9  # a random net has a few dead inputs
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    boxes, scores = sess.run(None, {"images": np.random.rand(1, 3, 64, 64).astype(np.float32)})
    assert np.isfinite(boxes).all() and scores.shape[-1] == 3

    # depthwise inputs carry per-channel scales (the default), stored with the amax
    assert cache["channel_scale"] == "depthwise" and len(cache["channel_scales"]) > 10
    assert all(max(v) == pytest.approx(1.0) and min(v) > 0 for v in cache["channel_scales"].values())
    first = {i.name: onnx.numpy_helper.to_array(i) for i in m.graph.initializer}

    # same model and images: the cache is reused (amax and channel scales unchanged, no calibration pass)
    mtime = (d / "tiny_int8.calib.json").stat().st_mtime_ns
    assert main(["calibrate", str(d / "tiny.pt"), "--images", str(imgs), "--img", "64", "64",
                 "--num", "4", "-o", str(out)]) == 0
    assert (d / "tiny_int8.calib.json").stat().st_mtime_ns == mtime
    again = {i.name: onnx.numpy_helper.to_array(i) for i in onnx.load(str(out)).graph.initializer}
    assert again.keys() == first.keys() and any("chscale" in k for k in again)
    for k in first:
        np.testing.assert_array_equal(again[k], first[k], err_msg=k)

    # another channel-scale mode is another calibration: refused, naming the field
    capsys.readouterr()
    assert main(["calibrate", str(d / "tiny.pt"), "--images", str(imgs), "--img", "64", "64",
                 "--num", "4", "--channel-scale", "none", "-o", str(out)]) == 2
    assert "channel_scale" in capsys.readouterr().err

    # fewer images: a different image set, refused with a message naming the cache
    capsys.readouterr()
    assert main(["calibrate", str(d / "tiny.pt"), "--images", str(imgs), "--img", "64", "64",
                 "--num", "3", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "tiny_int8.calib.json" in err and "different image set" in err and len(err.strip().splitlines()) == 1


def test_cache_rejects_other_model(setup, capsys):
    d, imgs = setup
    from yolov6_edge.models import build_model
    from yolov6_edge.weights.checkpoint import save_checkpoint

    torch.manual_seed(1)
    save_checkpoint(build_model("yolov6lite-s", num_classes=3).eval(), d / "other.pt")
    out = d / "a_int8.onnx"
    args = ["--images", str(imgs), "--img", "64", "64", "--num", "2", "-o", str(out)]
    assert main(["calibrate", str(d / "tiny.pt")] + args) == 0
    capsys.readouterr()
    assert main(["calibrate", str(d / "other.pt")] + args) == 2
    assert "different model" in capsys.readouterr().err


def test_empty_folder_is_one_line_error(setup, tmp_path, capsys):
    d, _ = setup
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["calibrate", str(d / "tiny.pt"), "--images", str(empty), "-o", str(tmp_path / "x.onnx")]) == 2
    err = capsys.readouterr().err.strip()
    assert str(empty) in err and "no images" in err and len(err.splitlines()) == 1
