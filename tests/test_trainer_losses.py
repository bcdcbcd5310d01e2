"""IoU variants, VariFocal, DFL and distillation losses against values computed by hand / numpy."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from yolov6_edge.losses.dfl import dfl_decode, dfl_loss
from yolov6_edge.losses.distill import distill_alpha, kl_soft
from yolov6_edge.losses.iou_loss import bbox_iou
from yolov6_edge.losses.varifocal import varifocal_loss


def t(*v):
    return torch.tensor([v], dtype=torch.float64)


@pytest.mark.parametrize("kind,expected", [
    ("iou", 1 / 7),
    ("giou", 1 / 7 - 2 / 9),          # enclosing 3x3=9, union 7
    ("diou", 1 / 7 - 2 / 18),         # centre distance^2 = 2, enclosing diagonal^2 = 18
    ("ciou", 1 / 7 - 2 / 18),         # same aspect ratio: v = 0
])
def test_iou_variants_on_overlapping_squares(kind, expected):
    got = bbox_iou(t(0, 0, 2, 2), t(1, 1, 3, 3), kind).item()
    assert got == pytest.approx(expected, abs=1e-6)


def test_ciou_with_different_aspect_ratio():
    v = 4 / math.pi ** 2 * (math.atan(2) - math.atan(1)) ** 2
    alpha = v / (v - 0.5 + 1)
    expected = 0.5 - (1 / 20 + v * alpha)  # iou 4/8, rho^2 1, enclosing 4x2 -> c^2 20
    assert bbox_iou(t(0, 0, 2, 2), t(0, 0, 4, 2), "ciou").item() == pytest.approx(expected, abs=1e-6)


def test_siou_horizontal_offset():
    # centres differ along x only: angle cost 0 -> gamma = -2; rho_x = (1/3)^2; shapes equal -> shape cost 0
    expected = 1 / 3 - 0.5 * (1 - math.exp(-2 / 9))
    assert bbox_iou(t(0, 0, 2, 2), t(1, 0, 3, 2), "siou").item() == pytest.approx(expected, abs=1e-6)


def test_siou_diagonal_offset_has_angle_cost():
    a, b = t(0, 0, 2, 2), t(1, 0.5, 3, 2.5)
    dx, dy = 1.0, 0.5
    sigma = math.hypot(dx, dy)
    sin_alpha = dy / sigma  # sin_x = 2/sqrt(5) > sqrt(2)/2 so the smaller angle is taken
    gamma = math.cos(2 * math.asin(sin_alpha) - math.pi / 2) - 2
    cw, ch = 3.0, 2.5
    dist = 2 - math.exp(gamma * (dx / cw) ** 2) - math.exp(gamma * (dy / ch) ** 2)
    inter = 1 * 1.5
    iou = inter / (8 - inter)
    assert bbox_iou(a, b, "siou").item() == pytest.approx(iou - 0.5 * dist, abs=1e-6)


def test_identical_boxes_give_one_for_every_kind():
    for kind in ("iou", "giou", "diou", "ciou", "siou"):
        assert bbox_iou(t(3, 4, 10, 20), t(3, 4, 10, 20), kind).item() == pytest.approx(1.0, abs=1e-6)


def test_unknown_iou_kind_is_refused():
    with pytest.raises(ValueError, match="unknown IoU kind"):
        bbox_iou(t(0, 0, 1, 1), t(0, 0, 1, 1), "xiou")


def test_varifocal_matches_numpy_formula():
    logits = np.array([[[0.3, -1.2], [2.0, 0.1]]])
    target = np.array([[[0.8, 0.0], [0.0, 0.0]]])
    onehot = np.array([[[1.0, 0.0], [0.0, 0.0]]])
    p = 1 / (1 + np.exp(-logits))
    bce = -(target * np.log(p) + (1 - target) * np.log(1 - p))
    weight = 0.75 * p ** 2 * (1 - onehot) + target * onehot
    expected = (bce * weight).sum()
    got = varifocal_loss(torch.tensor(logits), torch.tensor(target), torch.tensor(onehot)).item()
    assert got == pytest.approx(expected, rel=1e-6)  # the BCE runs in float32


def test_dfl_is_interpolated_cross_entropy():
    logits = torch.tensor([[[1.0, 2.0, 0.5, -1.0]] * 4])  # P=1, 4 sides, reg_max=3
    target = torch.tensor([[1.25, 1.25, 1.25, 1.25]])
    logp = F.log_softmax(logits[0, 0], -1)
    expected = -(0.75 * logp[1] + 0.25 * logp[2]).item()  # 1.25 lies between bins 1 and 2
    assert dfl_loss(logits, target).item() == pytest.approx(expected, rel=1e-6)


def test_dfl_decode_is_expectation_over_bins():
    logits = torch.log(torch.tensor([0.1, 0.2, 0.7])).repeat(4)
    assert torch.allclose(dfl_decode(logits, 2), torch.full((4,), 0.2 + 1.4))


def test_distill_kl_zero_for_equal_and_matches_formula():
    s = torch.tensor([[0.5, -0.3, 1.0]])
    assert kl_soft(s, s, 2.0).item() == pytest.approx(0.0, abs=1e-7)
    tch = torch.tensor([[1.5, 0.0, -1.0]])
    ps, pt = F.softmax(s / 2, -1), F.softmax(tch / 2, -1)
    expected = (pt * (pt.log() - ps.log())).sum().item() * 4
    assert kl_soft(s, tch, 2.0).item() == pytest.approx(expected, rel=1e-5)


def test_distill_weight_decays_by_cosine_from_one():
    assert distill_alpha(0, 10) == pytest.approx(1.0)
    assert distill_alpha(5, 10) == pytest.approx((1 + 0.01) / 2)
    assert distill_alpha(10, 10) == pytest.approx(0.01)
