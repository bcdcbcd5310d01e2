"""Native CPU batched NMS against the numpy greedy-per-class reference (tests/reference_ops.py)."""
import numpy as np
import pytest

from reference_ops import nms_reference
from yolov6_edge import ops


def _random(rng, b, n, c, size=640.0, spread=120.0):
    xy = rng.random((b, n, 2), dtype=np.float32) * size
    wh = rng.random((b, n, 2), dtype=np.float32) * spread + 1
    boxes = np.concatenate([xy, xy + wh], -1).astype(np.float32)
    scores = rng.random((b, n, c), dtype=np.float32)
    return boxes, scores


def _check(boxes, scores, **kw):
    got = ops.batched_nms(boxes, scores, **kw)
    assert len(got) == boxes.shape[0]
    for k in range(boxes.shape[0]):
        ref = nms_reference(boxes[k], scores[k], **kw)
        assert got[k].dtype == np.float32 and got[k].shape == ref.shape, (got[k].shape, ref.shape)
        np.testing.assert_array_equal(got[k], ref)
        assert np.all(np.diff(got[k][:, 4]) <= 0)
    return got


@pytest.mark.parametrize("multi_label", [False, True])
@pytest.mark.parametrize("agnostic", [False, True])
@pytest.mark.parametrize("conf, iou", [(0.25, 0.45), (0.5, 0.65), (0.05, 0.3)])
def test_nms_matches_reference_random(multi_label, agnostic, conf, iou):
    rng = np.random.default_rng(int(conf * 100) + int(iou * 10) + 2 * multi_label + agnostic)
    boxes, scores = _random(rng, 3, 500, 7)
    _check(boxes, scores, conf_thres=conf, iou_thres=iou, multi_label=multi_label, agnostic=agnostic)


def test_nms_ties_and_duplicates_keep_lower_index_first():
    rng = np.random.default_rng(7)
    boxes, scores = _random(rng, 1, 300, 4, size=200.0)
    scores = np.round(scores * 8) / 8  # many exact ties
    boxes[0, 100:150] = boxes[0, 50:100]  # exact duplicates
    scores[0, 100:150] = scores[0, 50:100]
    for ml in (False, True):
        _check(boxes, scores, conf_thres=0.1, iou_thres=0.5, multi_label=ml)
    # a duplicate pair: the lower index survives
    b = np.zeros((1, 2, 4), np.float32) + np.array([0, 0, 10, 10], np.float32)
    s = np.array([[[0.9], [0.9]]], np.float32)
    out = ops.batched_nms(b, s)[0]
    assert len(out) == 1


def test_nms_zero_area_and_inverted_boxes_never_suppress():
    boxes = np.array([[[0, 0, 10, 10], [5, 5, 5, 20], [3, 3, 3, 3], [10, 10, 0, 0], [0, 0, 10, 10]]], np.float32)
    scores = np.array([[[0.9], [0.8], [0.7], [0.6], [0.5]]], np.float32)
    out = _check(boxes, scores, iou_thres=0.1)[0]
    assert out[:, 4].tolist() == pytest.approx([0.9, 0.8, 0.7, 0.6])  # the real duplicate (0.5) goes


def test_nms_nan_scores_and_nonfinite_boxes_are_dropped():
    rng = np.random.default_rng(8)
    boxes, scores = _random(rng, 2, 200, 5)
    scores[0, :20, :] = np.nan  # all-NaN rows: no candidate
    scores[0, 20:40, 2] = np.nan  # one NaN class: the others still count
    boxes[1, :15, 0] = np.inf
    boxes[1, 15:30, 3] = np.nan
    boxes[1, 30:35, 2] = -np.inf
    for ml in (False, True):
        got = _check(boxes, scores, conf_thres=0.2, multi_label=ml)
        assert np.isfinite(got[0]).all() and np.isfinite(got[1]).all()
        assert not np.isin(got[1][:, 0], boxes[1, :35, 0]).any()


def test_nms_empty_inputs():
    for b, n, c in [(0, 10, 3), (2, 0, 3), (2, 10, 0), (0, 0, 0)]:
        out = ops.batched_nms(np.zeros((b, n, 4), np.float32), np.zeros((b, n, c), np.float32))
        assert len(out) == b and all(o.shape == (0, 6) and o.dtype == np.float32 for o in out)
    boxes, scores = _random(np.random.default_rng(0), 1, 50, 3)
    assert ops.batched_nms(boxes, scores * 0.1, conf_thres=0.5)[0].shape == (0, 6)
    assert ops.batched_nms(boxes, scores, max_det=0)[0].shape == (0, 6)


def test_nms_max_det_and_max_candidates():
    rng = np.random.default_rng(9)
    boxes, scores = _random(rng, 2, 2000, 10, spread=20)
    got = _check(boxes, scores, conf_thres=0.05, max_det=37, multi_label=True)
    assert all(len(g) == 37 for g in got)
    _check(boxes, scores, conf_thres=0.05, max_candidates=100, multi_label=True)
    _check(boxes, scores, conf_thres=0.05, max_candidates=1)


def test_nms_eval_setting_8400x80_conf_0001_is_exact():
    # The evaluation setting: 8400 anchors x 80 classes at conf 0.001, multi-label, max_det 300.
    rng = np.random.default_rng(10)
    boxes, scores = _random(rng, 1, 8400, 80)
    scores = scores ** 6  # skewed like real sigmoid outputs: most low, a few high
    for ml in (True, False):
        _check(boxes, scores, conf_thres=0.001, iou_thres=0.65, max_det=300, multi_label=ml)


def test_nms_conf_0001_keeps_everything_below_max_candidates():
    # Nothing above the threshold is dropped before NMS while fewer than max_candidates pass.
    boxes = (np.tile(np.array([0, 0, 1, 1], np.float32), (1, 1000, 1))
             + np.arange(1000, dtype=np.float32)[None, :, None] * 2)
    scores = np.full((1, 1000, 1), 0.0015, np.float32)
    assert len(ops.batched_nms(boxes, scores, conf_thres=0.001, max_det=1000)[0]) == 1000


def test_nms_is_class_aware_unless_agnostic():
    boxes = np.array([[[0, 0, 10, 10], [0, 0, 10, 10]]], np.float32)
    scores = np.array([[[0.9, 0.0], [0.0, 0.8]]], np.float32)
    assert len(ops.batched_nms(boxes, scores)[0]) == 2
    assert len(ops.batched_nms(boxes, scores, agnostic=True)[0]) == 1
    # multi-label: one box, two classes above conf -> two detections
    out = ops.batched_nms(boxes[:, :1], np.array([[[0.9, 0.7]]], np.float32), multi_label=True)[0]
    assert out[:, 5].tolist() == [0.0, 1.0]


def test_nms_2d_inputs_are_a_batch_of_one():
    boxes, scores = _random(np.random.default_rng(11), 1, 100, 3)
    np.testing.assert_array_equal(ops.batched_nms(boxes[0], scores[0])[0], ops.batched_nms(boxes, scores)[0])


@pytest.mark.parametrize("boxes, scores, kw, message", [
    (np.zeros((1, 5, 3)), np.zeros((1, 5, 2)), {}, "expected [B, N, 4]"),
    (np.zeros((1, 5, 4)), np.zeros((1, 6, 2)), {}, "disagree on B or N"),
    (np.zeros((1, 5, 4)), np.zeros((5, 2)), {}, "expected [B, N, C]"),
    (np.zeros((1, 5, 4)), np.zeros((1, 5, 2)), {"max_det": -1}, "max_det must be >= 0"),
    (np.zeros((1, 5, 4)), np.zeros((1, 5, 2)), {"max_candidates": 0}, "max_candidates must be >= 1"),
    (np.zeros((1, 5, 4)), np.zeros((1, 5, 2)), {"iou_thres": float("nan")}, "must not be NaN"),
])
def test_nms_rejects_bad_arguments(boxes, scores, kw, message):
    with pytest.raises(ValueError) as e:
        ops.batched_nms(boxes, scores, **kw)
    assert message in str(e.value)
