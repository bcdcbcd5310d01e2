"""Detector: against an independent numpy reference, on paths/arrays/lists, batching, end-to-end files."""
import json

import cv2
import numpy as np
import onnxruntime as ort
import pytest
import torch

from conftest import shared_path
from reference_ops import nms_reference
from standin_models import TinyContractModel
from yolov6_edge.export.onnx import export_onnx
from yolov6_edge.ops import letterbox
from yolov6_edge.runtime.detector import Detector
from yolov6_edge.runtime.results import Detections

SIZE = (64, 96)


def _images(n=3, seed=0):
    rng = np.random.default_rng(seed)
    shapes = [(50, 70), (120, 90), (64, 96), (33, 200), (90, 90)]
    return [rng.integers(0, 256, (*shapes[i % len(shapes)], 3), dtype=np.uint8) for i in range(n)]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    torch.manual_seed(0)
    model = TinyContractModel().eval()
    d = tmp_path_factory.mktemp("det")
    export_onnx(model, d / "tiny.onnx", img_size=SIZE)
    export_onnx(model, d / "tiny_b2.onnx", img_size=SIZE, batch=2)
    export_onnx(model, d / "tiny_e2e.onnx", img_size=SIZE, end2end=True, conf=0.3, iou=0.5, max_det=20)
    return model, d


def _reference(onnx_path, img, conf, iou, max_det, multi_label=False):
    """ORT on the letterboxed blob, numpy NMS, numpy mapping back to the original image."""
    blob, params = letterbox([img], size=SIZE)
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    boxes, scores = sess.run(["boxes", "scores"], {"images": blob})
    dets = nms_reference(boxes[0], scores[0], conf_thres=conf, iou_thres=iou, max_det=max_det, multi_label=multi_label)
    scale, left, top = params[0]
    h, w = img.shape[:2]
    dets[:, [0, 2]] = np.clip((dets[:, [0, 2]] - left) / scale, 0, w)
    dets[:, [1, 3]] = np.clip((dets[:, [1, 3]] - top) / scale, 0, h)
    return dets


def _as_array(d: Detections):
    return np.concatenate([d.boxes, d.scores[:, None], d.class_ids[:, None].astype(np.float32)], 1)


def test_detector_matches_numpy_reference_on_tiny_stand_in_model(tiny):
    _, d = tiny
    det = Detector(d / "tiny.onnx", conf=0.3, iou=0.5, max_det=30)
    for img in _images(3):
        ref = _reference(d / "tiny.onnx", img, 0.3, 0.5, 30)
        got = det(img)
        assert isinstance(got, Detections) and len(got) == len(ref) > 0
        np.testing.assert_allclose(_as_array(got), ref, atol=1e-3)
        assert got.boxes[:, [0, 2]].max() <= img.shape[1] and got.boxes[:, [1, 3]].max() <= img.shape[0]
        assert got.names == [det.names[c] for c in got.class_ids]


def test_path_array_and_list_give_the_same_detections(tiny, tmp_path):
    _, d = tiny
    det = Detector(d / "tiny.onnx", conf=0.3)
    imgs = _images(2)
    paths = []
    for i, img in enumerate(imgs):
        paths.append(tmp_path / f"{i}.png")  # lossless, so the file decodes to the same array
        cv2.imwrite(str(paths[-1]), img)
    from_list = det([paths[0], imgs[1]])
    assert isinstance(from_list, list) and len(from_list) == 2
    np.testing.assert_array_equal(_as_array(det(str(paths[0]))), _as_array(from_list[0]))
    np.testing.assert_array_equal(_as_array(det(imgs[1])), _as_array(from_list[1]))
    assert from_list[0].source == str(paths[0]) and det([]) == []


def test_fixed_batch_file_splits_and_pads_batches(tiny):
    _, d = tiny
    det2 = Detector(d / "tiny_b2.onnx", conf=0.3)
    assert det2.backend.max_batch == 2
    det = Detector(d / "tiny.onnx", conf=0.3)
    imgs = _images(5)
    for a, b in zip(det2(imgs), [det(i) for i in imgs]):  # 5 images: chunks of 2, 2 and a padded 1
        np.testing.assert_allclose(_as_array(a), _as_array(b), atol=1e-4)


def test_end2end_file_gives_the_same_detections_as_multi_label_nms(tiny):
    _, d = tiny
    e2e = Detector(d / "tiny_e2e.onnx", conf=0.3, max_det=20)
    assert e2e.backend.layout == "end2end"
    plain = Detector(d / "tiny.onnx", conf=0.3, iou=0.5, max_det=20, multi_label=True)
    for img in _images(3, seed=1):
        a, b = _as_array(e2e(img)), _as_array(plain(img))
        assert len(a) == len(b) > 0
        np.testing.assert_allclose(a[np.lexsort((a[:, 5], -a[:, 4]))], b[np.lexsort((b[:, 5], -b[:, 4]))], atol=1e-3)


def test_to_dict_is_json_serializable(tiny):
    _, d = tiny
    result = Detector(d / "tiny.onnx", conf=0.3)(_images(1)[0])
    data = json.loads(json.dumps(result.to_dict()))
    assert len(data["detections"]) == len(result)
    assert set(data["detections"][0]) == {"box", "score", "class_id", "name"}


def test_torch_backend_on_a_module_matches_onnxruntime(tiny):
    model, d = tiny
    via_torch = Detector(model, conf=0.3, img_size=SIZE)
    via_ort = Detector(d / "tiny.onnx", conf=0.3)
    for img in _images(2):
        np.testing.assert_allclose(_as_array(via_torch(img)), _as_array(via_ort(img)), atol=1e-3)


def test_official_lite_s_onnx_and_param_give_the_same_detections(tmp_path):
    param = shared_path("weights", "yolov6lite", "yolov6-lite-s.param")
    images = sorted(shared_path("coco", "val", "images").iterdir())[:3]
    export_onnx(param, tmp_path / "s.onnx", img_size=(320, 320))
    via_ort = Detector(tmp_path / "s.onnx")(images)
    via_torch = Detector(param, img_size=(320, 320))(images)
    assert sum(len(r) for r in via_ort) > 5
    for a, b in zip(via_ort, via_torch):
        assert len(a) == len(b) and a.names == b.names
        np.testing.assert_allclose(a.boxes, b.boxes, atol=0.05)
        np.testing.assert_allclose(a.scores, b.scores, atol=1e-4)


def test_draw_marks_the_box_and_leaves_the_input_alone():
    from yolov6_edge.runtime.draw import colour, draw

    img = np.zeros((100, 120, 3), np.uint8)
    dets = Detections(boxes=np.array([[20, 40, 80, 90]], np.float32), scores=np.array([0.9], np.float32),
                      class_ids=np.array([3]), names=["cat"])
    out = draw(img, dets)
    assert out.shape == img.shape and not img.any()
    assert tuple(out[65, 20]) == colour(3) and tuple(out[90, 50]) == colour(3)  # left and bottom edges
    assert not out[60:80, 40:60].any()  # inside stays untouched


def test_public_stages_give_what_a_call_gives_and_take_per_call_thresholds(tiny):
    """preprocess -> infer -> postprocess (what streams and the Triton model run apart) equals det(images); a
    per-call conf equals a detector built with that conf, and the detector's own setting is unchanged."""
    _, d = tiny
    imgs = _images(3, seed=4)
    det = Detector(d / "tiny.onnx", conf=0.3, iou=0.5, max_det=30)
    staged = det.postprocess(det.infer(det.preprocess(imgs)), ["a", "b", "c"])
    whole = det(imgs)
    assert [r.source for r in staged] == ["a", "b", "c"]
    assert sum(len(r) for r in whole) > 0
    for s, w in zip(staged, whole):
        np.testing.assert_array_equal(_as_array(s), _as_array(w))
    strict = Detector(d / "tiny.onnx", conf=0.6, iou=0.5, max_det=30)(imgs)
    override = det.postprocess(det.infer(det.preprocess(imgs)), conf=0.6)
    assert det.conf == 0.3
    for s, w in zip(override, strict):
        np.testing.assert_array_equal(_as_array(s), _as_array(w))
    with pytest.raises(Exception, match="conf"):
        det.postprocess(det.infer(det.preprocess(imgs)), conf=2.0)
