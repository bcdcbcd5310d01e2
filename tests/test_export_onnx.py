"""ONNX export: PyTorch vs ONNX Runtime parity, metadata, dynamic/fixed batch, end-to-end NMS, atomic writes."""
import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from conftest import shared_path
from reference_ops import nms_reference
from standin_models import TinyContractModel
from yolov6_edge.errors import Yolov6EdgeError
from yolov6_edge.export.onnx import export_onnx
from yolov6_edge.models.lite import build_lite

TOL = 1e-3  # fp32 PyTorch vs ORT: different conv kernels, same maths


def _perturb(model):
    """Non-trivial BatchNorm statistics (so the fusion done by export is exercised) and a spread-out head (it
    starts with zero class/box weights, which would make every anchor predict the same)."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
        head = model.head if hasattr(model, "head") else model.detect  # Lite names it head, YOLOv6 detect
        for p in head.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model


def _random_lite(seed=0):
    torch.manual_seed(seed)
    return _perturb(build_lite("yolov6lite-s").eval())


def _blob(n, size, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, 3, *size), dtype=np.float32)


def _ort(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _letterboxed_images(size):
    """Real photos when ../shared is here (natural activations), else the synthetic shapes images."""
    from conftest import SHARED
    from yolov6_edge.ops import letterbox
    from yolov6_edge.runtime.images import expand_sources, read_image

    folder = SHARED / "coco" / "val" / "images"
    if folder.is_dir():
        imgs = [read_image(p) for p in expand_sources([folder])[:2]]
    else:
        from yolov6_edge.datasets.synthetic import make_image

        rng = np.random.default_rng(0)
        imgs = [make_image(rng, size=(240, 320))[0] for _ in range(2)]
    return letterbox(imgs, size=size)[0]


def _parity(model, path, size, stride_units=False):
    """Scores: abs diff < TOL. Boxes: abs diff < TOL in pixels, or in stride units with stride_units=True.

    Boxes are distances times the stride (up to 64) plus the anchor; fp32 PyTorch and ORT differ by up to
    ~6e-3 px on Lite-S at stride 16 with the official weights (3.5e-4 stride units), so for trained weights
    a flat 1e-3 px bound would measure float32 rounding of large coordinates, not export errors.
    """
    x = _letterboxed_images(size)
    with torch.no_grad():
        ref_boxes, ref_scores = (t.numpy() for t in model(torch.from_numpy(x)))
    boxes, scores = _ort(path).run(["boxes", "scores"], {"images": x})
    assert boxes.shape == ref_boxes.shape and scores.shape == ref_scores.shape
    strides = np.concatenate([np.full((size[0] // s) * (size[1] // s), s, np.float32) for s in model.strides])
    unit = strides[None, :, None] if stride_units else 1.0
    assert (np.abs(boxes - ref_boxes) / unit).max() < TOL
    assert np.abs(scores - ref_scores).max() < TOL


@pytest.fixture(scope="module")
def lite_onnx(tmp_path_factory):
    model = _random_lite()
    x = _letterboxed_images((128, 192))
    with torch.no_grad():  # reference from the unfused (training-form) model, before export fuses it
        ref = tuple(t.numpy() for t in model(torch.from_numpy(x)))
    path = tmp_path_factory.mktemp("export") / "lite.onnx"
    export_onnx(model, path, img_size=(128, 192))
    return model, path, x, ref


def test_random_lite_s_parity_unfused_torch_vs_onnxruntime(lite_onnx):
    model, path, x, (ref_boxes, ref_scores) = lite_onnx
    boxes, scores = _ort(path).run(["boxes", "scores"], {"images": x})
    assert np.abs(boxes - ref_boxes).max() < TOL and np.abs(scores - ref_scores).max() < TOL
    _parity(model, path, (128, 192))  # and against the fused model export left behind


def test_random_yolov6n_parity_torch_vs_onnxruntime(tmp_path):
    try:
        from yolov6_edge.models.yolov6 import build_yolov6
    except ImportError as e:
        pytest.skip(f"yolov6_edge.models.yolov6 not available yet ({e})")
    torch.manual_seed(0)
    model = _perturb(build_yolov6("yolov6n").eval())
    x = _letterboxed_images((128, 160))
    with torch.no_grad():  # the training form (RepVGG branches + BN), before export fuses it
        ref_boxes, ref_scores = (t.numpy() for t in model(torch.from_numpy(x)))
    export_onnx(model, tmp_path / "n.onnx", img_size=(128, 160))
    boxes, scores = _ort(tmp_path / "n.onnx").run(["boxes", "scores"], {"images": x})
    assert np.abs(boxes - ref_boxes).max() < TOL and np.abs(scores - ref_scores).max() < TOL
    assert ref_scores.std() > 1e-3  # the head really varies across anchors
    _parity(model, tmp_path / "n.onnx", (128, 160))


def test_official_lite_s_parity_torch_vs_onnxruntime(tmp_path):
    from yolov6_edge.weights import load_model

    param = shared_path("weights", "yolov6lite", "yolov6-lite-s.param")
    model, _ = load_model(param)
    export_onnx(param, tmp_path / "s.onnx", img_size=(320, 320))
    _parity(model, tmp_path / "s.onnx", (320, 320), stride_units=True)


def test_metadata_and_output_names(lite_onnx):
    model, path = lite_onnx[:2]
    proto = onnx.load(str(path))
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["yolov6_edge.format_version"] == "1"
    assert meta["model_name"] == "yolov6lite-s"
    assert json.loads(meta["names"]) == model.names
    assert json.loads(meta["input_size"]) == [128, 192]
    assert json.loads(meta["strides"]) == [8, 16, 32, 64]
    assert meta["layout"] == "boxes_xyxy+scores" and meta["precision"] == "fp32"
    assert [i.name for i in proto.graph.input] == ["images"]
    assert [o.name for o in proto.graph.output] == ["boxes", "scores"]
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param  # symbolic batch
    assert not any(n.op_type == "BatchNormalization" for n in proto.graph.node)


def test_dynamic_batch_1_and_3_give_the_same_per_image_results(lite_onnx):
    path = lite_onnx[1]
    sess = _ort(path)
    x = _blob(3, (128, 192), 7)
    b3, s3 = sess.run(["boxes", "scores"], {"images": x})
    for i in range(3):
        b1, s1 = sess.run(["boxes", "scores"], {"images": x[i:i + 1]})
        assert np.abs(b1[0] - b3[i]).max() < 1e-4 and np.abs(s1[0] - s3[i]).max() < 1e-5


def test_fixed_batch_export_of_tiny_stand_in_model_has_a_fixed_batch_dimension(tmp_path):
    path = export_onnx(TinyContractModel(), tmp_path / "b2.onnx", img_size=(64, 64), batch=2)
    dim = onnx.load(str(path)).graph.input[0].type.tensor_type.shape.dim[0]
    assert dim.dim_value == 2 and not dim.dim_param


def test_end2end_export_matches_nms_on_the_raw_outputs(tmp_path, lite_onnx):
    model, raw_path = lite_onnx[:2]
    x = _blob(2, (128, 192), 11)
    boxes, scores = _ort(raw_path).run(["boxes", "scores"], {"images": x})
    # A random model scores everything near its prior; put conf between two observed scores so a few hundred
    # candidates pass and no score sits on the threshold.
    flat = np.unique(scores.ravel())[::-1]
    conf = float((flat[300] + flat[301]) / 2)
    iou, max_det = 0.5, 50
    e2e = export_onnx(model, tmp_path / "e2e.onnx", img_size=(128, 192), end2end=True, conf=conf, iou=iou,
                      max_det=max_det, simplify=False)
    num, det_boxes, det_scores, det_classes = _ort(e2e).run(
        ["num_dets", "det_boxes", "det_scores", "det_classes"], {"images": x})
    assert num.shape == (2, 1) and det_boxes.shape == (2, max_det, 4) and det_classes.dtype == np.int64
    for i in range(2):
        ref = nms_reference(boxes[i], scores[i], conf_thres=conf, iou_thres=iou, max_det=max_det, multi_label=True)
        n = int(num[i, 0])
        assert n == len(ref) and n > 0
        got = np.concatenate([det_boxes[i, :n], det_scores[i, :n, None], det_classes[i, :n, None]], 1)
        order_ref = np.lexsort((ref[:, 5], -ref[:, 4]))
        order_got = np.lexsort((got[:, 5], -got[:, 4]))
        np.testing.assert_allclose(got[order_got], ref[order_ref], atol=1e-4)
        assert np.all(det_scores[i, n:] == 0) and np.all(det_boxes[i, n:] == 0)


def test_bad_size_fails_and_leaves_no_file(tmp_path):
    out = tmp_path / "bad.onnx"
    with pytest.raises(Yolov6EdgeError, match="multiples of the largest stride 64"):
        export_onnx(_random_lite(), out, img_size=(100, 128))
    assert list(tmp_path.iterdir()) == []


def test_failure_while_writing_leaves_no_partial_file(tmp_path, monkeypatch, lite_onnx):
    import yolov6_edge.export.onnx as mod

    traced = onnx.load(str(lite_onnx[1]))
    monkeypatch.setattr(mod, "_trace", lambda *a: traced)  # tracing is tested above; this test is the write

    def half_save(proto, path):
        with open(path, "wb") as f:
            f.write(b"partial")
        raise OSError("simulated disk full")

    monkeypatch.setattr(mod.onnx, "save", half_save)
    with pytest.raises(OSError, match="disk full"):
        export_onnx(build_lite("yolov6lite-s"), tmp_path / "x.onnx", img_size=(128, 192), simplify=False)
    assert list(tmp_path.iterdir()) == []


def test_output_must_be_onnx_and_model_must_follow_the_contract(tmp_path):
    with pytest.raises(Yolov6EdgeError, match="must end in .onnx"):
        export_onnx(_random_lite(), tmp_path / "x.engine")
    with pytest.raises(Yolov6EdgeError, match="not a YOLOv6 model"):
        export_onnx(torch.nn.Conv2d(3, 3, 1), tmp_path / "x.onnx")
