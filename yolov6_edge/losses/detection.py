"""The YOLOv6 detection loss: assignment (ATSS warm-up, then TAL) + VariFocal + IoU + DFL.

Takes the model's train-mode HeadOutput (see docs/ARCHITECTURE.md) and padded targets.
All terms are normalised by the sum of the soft targets, as in the paper.
"""
import torch
import torch.nn.functional as F

from ..models.anchors import bbox2dist, dist2bbox
from .assigners import ATSSAssigner, TaskAlignedAssigner
from .dfl import dfl_decode, dfl_loss
from .iou_loss import bbox_iou
from .varifocal import varifocal_loss


class DetectionLoss:
    def __init__(self, num_classes, reg_max=16, iou_type="giou", warmup_epochs=4, weights=None,
                 level_sizes_fn=None):
        self.num_classes, self.reg_max, self.iou_type = num_classes, reg_max, iou_type
        self.warmup_epochs = warmup_epochs
        self.w = {"cls": 1.0, "iou": 2.5, "dfl": 0.5, **(weights or {})}
        self.tal = TaskAlignedAssigner(num_classes, topk=13, alpha=1.0, beta=6.0)
        self.atss = ATSSAssigner(num_classes, topk=9)

    def decode(self, out):
        """Predicted ltrb (stride units) and xyxy boxes in pixels from the head output."""
        if self.reg_max > 0:
            dist = dfl_decode(out.reg, self.reg_max)
        else:
            dist = out.reg
        boxes = dist2bbox(dist * out.stride_tensor, out.anchor_points)
        return dist, boxes

    def __call__(self, out, gt_labels, gt_boxes, mask_gt, epoch=0):
        """Returns (total loss, dict of detached parts)."""
        cls_logits = out.cls_logits
        B, N, C = cls_logits.shape
        _, pd_boxes = self.decode(out)
        if epoch < self.warmup_epochs:
            level_sizes = _level_sizes(out.stride_tensor)
            labels, t_boxes, t_scores, fg = self.atss(out.anchor_points, out.stride_tensor, level_sizes,
                                                     gt_labels, gt_boxes, mask_gt, pd_boxes.detach())
        else:
            labels, t_boxes, t_scores, fg = self.tal(cls_logits.detach().sigmoid(), pd_boxes.detach(),
                                                    out.anchor_points, gt_labels, gt_boxes, mask_gt)
        onehot = F.one_hot(labels, C + 1)[..., :C].float()
        score_sum = t_scores.sum().clamp(min=1.0)
        loss_cls = varifocal_loss(cls_logits, t_scores, onehot) / score_sum
        loss_iou = cls_logits.new_zeros(())
        loss_dfl = cls_logits.new_zeros(())
        if fg.any():
            weight = t_scores.sum(-1)[fg]
            iou = bbox_iou(pd_boxes[fg], t_boxes[fg], self.iou_type)
            loss_iou = ((1 - iou) * weight).sum() / score_sum
            if self.reg_max > 0:
                stride = out.stride_tensor.expand(B, N, 1)[fg]
                anchors = out.anchor_points.expand(B, N, 2)[fg]
                target = bbox2dist(anchors / stride, t_boxes[fg] / stride, self.reg_max)
                logits = out.reg[fg].view(-1, 4, self.reg_max + 1)
                loss_dfl = (dfl_loss(logits, target) * weight).sum() / score_sum
        total = self.w["cls"] * loss_cls + self.w["iou"] * loss_iou + self.w["dfl"] * loss_dfl
        parts = {"cls": loss_cls.detach(), "iou": loss_iou.detach(), "dfl": loss_dfl.detach()}
        return total, parts


def _level_sizes(stride_tensor):
    s = stride_tensor.flatten()
    change = torch.nonzero(s[1:] != s[:-1]).flatten() + 1
    bounds = [0] + change.tolist() + [len(s)]
    return [b - a for a, b in zip(bounds[:-1], bounds[1:])]
