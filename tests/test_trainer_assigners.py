"""TAL and ATSS assignment on small cases worked out by hand."""
import torch

from yolov6_edge.losses.assigners import ATSSAssigner, TaskAlignedAssigner
from yolov6_edge.losses.assigners.iou import pairwise_iou


def _gt(boxes, labels):
    b = torch.tensor([boxes], dtype=torch.float32)
    return torch.tensor([labels], dtype=torch.float32).view(1, -1, 1), b, torch.ones(1, len(boxes), 1, dtype=torch.bool)


def test_tal_picks_topk_by_alignment_and_normalises_scores():
    points = torch.tensor([[4, 4], [12, 4], [4, 12], [12, 12], [20, 20]], dtype=torch.float32)
    gt = [0, 0, 16, 16]
    pd_boxes = torch.tensor([[gt, [0, 0, 16, 8], gt, gt, gt]], dtype=torch.float32)  # IoU 1, .5, 1, 1, 1
    scores = torch.zeros(1, 5, 2)
    scores[0, :, 0] = torch.tensor([0.9, 0.5, 0.1, 0.5, 0.9])
    labels, boxes, tscores, fg = TaskAlignedAssigner(2, topk=2)(scores, pd_boxes, points, *_gt([gt], [0]))
    # metric s*u^6: .9, .5*.5^6=.0078, .1, .5, (anchor 4 is outside the gt) -> top-2 = anchors 0 and 3
    assert fg[0].tolist() == [True, False, False, True, False]
    assert labels[0].tolist() == [0, 2, 2, 0, 2]  # background = num_classes
    # soft target: metric / max metric * max IoU = .9/.9, .5/.9
    assert torch.allclose(tscores[0, :, 0], torch.tensor([1.0, 0, 0, 0.5 / 0.9, 0]), atol=1e-5)
    assert torch.all(tscores[0, :, 1] == 0)
    assert torch.allclose(boxes[0, 0], torch.tensor(gt, dtype=torch.float32))


def test_tal_anchor_claimed_by_two_gts_keeps_the_higher_iou():
    points = torch.tensor([[8, 8]], dtype=torch.float32)
    g1, g2 = [0, 0, 16, 16], [4, 4, 20, 20]
    pd = torch.tensor([[[4, 4, 19, 19]]], dtype=torch.float32)  # overlaps g2 (IoU .88) more than g1 (.52)
    scores = torch.full((1, 1, 3), 0.5)
    labels, boxes, _, fg = TaskAlignedAssigner(3, topk=1)(scores, pd, points, *_gt([g1, g2], [0, 2]))
    assert fg.tolist() == [[True]] and labels.tolist() == [[2]]
    assert boxes[0, 0].tolist() == g2


def test_tal_without_gts_assigns_background():
    lab, box, sc, fg = TaskAlignedAssigner(2)(torch.rand(1, 3, 2), torch.rand(1, 3, 4), torch.rand(3, 2),
                                              torch.zeros(1, 0, 1), torch.zeros(1, 0, 4),
                                              torch.zeros(1, 0, 1, dtype=torch.bool))
    assert not fg.any() and (lab == 2).all() and sc.sum() == 0


def test_atss_threshold_is_mean_plus_std_of_candidates():
    # one level, stride 8, a 1x4 row of anchors at x = 4, 12, 20, 28; anchor boxes 8x8 (anchor_scale=1)
    points = torch.tensor([[4, 4], [12, 4], [20, 4], [28, 4]], dtype=torch.float32)
    strides = torch.full((4, 1), 8.0)
    # gt (0,0,10,8): IoUs with the anchor boxes .8, .125, 0, 0 -> mean .23125, std (n-1) .3837, thr .615
    labels, _, scores, fg = ATSSAssigner(2, topk=4, anchor_scale=1.0)(points, strides, [4],
                                                                      *_gt([[0, 0, 10, 8]], [1]))
    assert fg[0].tolist() == [True, False, False, False]
    assert labels[0].tolist() == [1, 2, 2, 2]
    assert scores[0, 0].tolist() == [0.0, 1.0]


def test_atss_soft_targets_use_predicted_box_iou():
    points = torch.tensor([[4, 4], [12, 4], [20, 4], [28, 4]], dtype=torch.float32)
    pd = torch.tensor([[[0, 0, 10, 4]] * 4], dtype=torch.float32)  # IoU .5 with the gt
    _, _, scores, fg = ATSSAssigner(2, topk=4, anchor_scale=1.0)(points, torch.full((4, 1), 8.0), [4],
                                                                 *_gt([[0, 0, 10, 8]], [1]), pd_boxes=pd)
    assert abs(scores[0, 0, 1].item() - 0.5) < 1e-5 and scores[0, 1:].sum() == 0


def test_pairwise_iou_hand_values():
    a = torch.tensor([[0, 0, 2, 2.0]])
    b = torch.tensor([[1, 1, 3, 3.0], [0, 0, 2, 2.0], [5, 5, 6, 6.0]])
    assert torch.allclose(pairwise_iou(a, b), torch.tensor([[1 / 7, 1.0, 0.0]]))
