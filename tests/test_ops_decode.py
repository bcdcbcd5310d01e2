"""Native CPU box decoding (ltrb and DFL) against a numpy reference."""
import numpy as np
import pytest

from yolov6_edge import ops


def _reference(reg, anchors, strides, reg_max):
    reg = reg.astype(np.float64)
    if reg_max:
        logits = reg.reshape(*reg.shape[:2], 4, reg_max + 1)
        p = np.exp(logits - logits.max(-1, keepdims=True))
        dist = (p / p.sum(-1, keepdims=True)) @ np.arange(reg_max + 1)
    else:
        dist = reg
    dist = dist * strides[None, :, None]
    return np.concatenate([anchors - dist[..., :2], anchors + dist[..., 2:]], -1)


@pytest.mark.parametrize("reg_max", [0, 7, 16])
def test_decode_boxes_matches_numpy(reg_max):
    rng = np.random.default_rng(reg_max)
    n = 8400
    anchors = (rng.random((n, 2)) * 640).astype(np.float32)
    strides = rng.choice([8.0, 16.0, 32.0], n).astype(np.float32)
    reg = (rng.standard_normal((2, n, 4 * (reg_max + 1) if reg_max else 4)) * 3).astype(np.float32)
    got = ops.decode_boxes(reg, anchors, strides[:, None], reg_max)
    assert got.shape == (2, n, 4) and got.dtype == np.float32
    np.testing.assert_allclose(got, _reference(reg, anchors, strides, reg_max), rtol=1e-5, atol=2e-4)


def test_decode_boxes_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"expected \[B, N, 68\]"):
        ops.decode_boxes(np.zeros((1, 5, 4)), np.zeros((5, 2)), np.ones(5), reg_max=16)
    with pytest.raises(ValueError, match=r"expected \[5, 2\]"):
        ops.decode_boxes(np.zeros((1, 5, 4)), np.zeros((4, 2)), np.ones(5))
    with pytest.raises(ValueError, match="strides has 4 values"):
        ops.decode_boxes(np.zeros((1, 5, 4)), np.zeros((5, 2)), np.ones(4))
