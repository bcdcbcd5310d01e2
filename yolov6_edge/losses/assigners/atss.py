"""ATSS assigner (used by YOLOv6 for the first warm-up epochs, before predictions are worth trusting).

Each anchor point gets an anchor box of side 5*stride. Per gt and per level the top-k anchors by centre
distance are candidates; the IoU threshold is mean + std of their IoUs; positives are candidates above the
threshold whose centre is inside the gt. Anchors claimed twice keep the gt of highest IoU. Soft targets:
one-hot times the IoU of the predicted box with its gt (when predictions are given).
"""
import torch

from .iou import pairwise_iou, points_in_boxes, resolve_multiple
from .tal import _targets


class ATSSAssigner:
    def __init__(self, num_classes, topk=9, anchor_scale=5.0, eps=1e-9):
        self.num_classes, self.topk, self.anchor_scale, self.eps = num_classes, topk, anchor_scale, eps

    @torch.no_grad()
    def __call__(self, anchor_points, stride_tensor, level_sizes, gt_labels, gt_boxes, mask_gt, pd_boxes=None):
        """level_sizes: anchors per level (list of int). Returns like TaskAlignedAssigner."""
        B, M = gt_labels.shape[:2]
        N, C = anchor_points.shape[0], self.num_classes
        dev = anchor_points.device
        if M == 0:
            return (torch.full((B, N), C, dtype=torch.long, device=dev), torch.zeros(B, N, 4, device=dev),
                    torch.zeros(B, N, C, device=dev), torch.zeros(B, N, dtype=torch.bool, device=dev))
        half = stride_tensor * self.anchor_scale / 2
        anchors = torch.cat([anchor_points - half, anchor_points + half], -1)  # [N, 4]
        overlaps = pairwise_iou(gt_boxes, anchors.expand(B, N, 4))  # [B, M, N]
        gt_c = (gt_boxes[..., :2] + gt_boxes[..., 2:]) / 2
        dist = (gt_c[..., None, :] - anchor_points[None, None]).norm(dim=-1)  # [B, M, N]
        cand = torch.zeros_like(overlaps)
        start = 0
        for n in level_sizes:
            k = min(self.topk, n)
            idx = dist[..., start:start + n].topk(k, dim=-1, largest=False).indices + start
            cand.scatter_(-1, idx, 1.0)
            start += n
        cand_iou = overlaps * cand
        count = cand.sum(-1, keepdim=True).clamp(min=1)
        mean = cand_iou.sum(-1, keepdim=True) / count
        std = (((overlaps - mean) * cand) ** 2).sum(-1, keepdim=True).div((count - 1).clamp(min=1)).sqrt()
        thr = mean + std
        inside = points_in_boxes(anchor_points, gt_boxes)
        mask_pos = (cand.bool() & (overlaps > thr) & inside & mask_gt.bool()).float()
        mask_pos, fg, gt_idx = resolve_multiple(mask_pos, overlaps)
        labels, boxes, scores = _targets(gt_labels, gt_boxes, gt_idx, fg, C)
        if pd_boxes is not None:
            ious = (pairwise_iou(gt_boxes, pd_boxes) * mask_pos).amax(-2)  # [B, N]
            scores = scores * ious.unsqueeze(-1)
        return labels, boxes, scores, fg > 0
