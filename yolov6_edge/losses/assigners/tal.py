"""Task-aligned assigner (TOOD, as used by YOLOv6 after the warm-up epochs).

For each gt: candidates are anchors whose centre lies inside the gt; the alignment metric
t = s^alpha * u^beta (s: predicted score of the gt's class, u: IoU of predicted box and gt) ranks them and
the top-k become positives. An anchor claimed by several gts keeps the gt of highest IoU. Soft targets:
t rescaled per gt so its best anchor gets that gt's best IoU.
"""
import torch
import torch.nn.functional as F

from .iou import pairwise_iou, points_in_boxes, resolve_multiple


class TaskAlignedAssigner:
    def __init__(self, num_classes, topk=13, alpha=1.0, beta=6.0, eps=1e-9):
        self.num_classes, self.topk, self.alpha, self.beta, self.eps = num_classes, topk, alpha, beta, eps

    @torch.no_grad()
    def __call__(self, pd_scores, pd_boxes, anchor_points, gt_labels, gt_boxes, mask_gt):
        """pd_scores [B,N,C] (sigmoid), pd_boxes [B,N,4] xyxy pixels, anchor_points [N,2],
        gt_labels [B,M,1], gt_boxes [B,M,4], mask_gt [B,M,1] bool.

        Returns target_labels [B,N] long, target_boxes [B,N,4], target_scores [B,N,C], fg_mask [B,N] bool.
        """
        B, N, C = pd_scores.shape
        M = gt_boxes.shape[1]
        if M == 0:
            return (torch.full((B, N), C, dtype=torch.long, device=pd_scores.device),
                    torch.zeros_like(pd_boxes), torch.zeros_like(pd_scores),
                    torch.zeros(B, N, dtype=torch.bool, device=pd_scores.device))
        overlaps = pairwise_iou(gt_boxes, pd_boxes)  # [B, M, N]
        cls = gt_labels.long().squeeze(-1).clamp(0, C - 1)  # [B, M]
        bbox_scores = pd_scores.gather(2, cls.unsqueeze(1).expand(B, N, M)).permute(0, 2, 1)  # [B, M, N]
        align = bbox_scores.pow(self.alpha) * overlaps.pow(self.beta)
        inside = points_in_boxes(anchor_points, gt_boxes) & mask_gt.bool()
        metric = align * inside
        k = min(self.topk, N)
        top_idx = metric.topk(k, dim=-1).indices  # [B, M, k]
        is_top = torch.zeros_like(metric).scatter_(-1, top_idx, 1.0)
        mask_pos = is_top * inside * mask_gt  # top-k must still be inside and a real gt
        mask_pos, fg, gt_idx = resolve_multiple(mask_pos, overlaps)
        target_labels, target_boxes, target_scores = _targets(gt_labels, gt_boxes, gt_idx, fg, C)
        # soft targets: per gt, align / max(align) * max(iou) over its positives
        metric = metric * mask_pos
        pos_align = metric.amax(-1, keepdim=True)
        pos_iou = (overlaps * mask_pos).amax(-1, keepdim=True)
        norm = (metric * pos_iou / (pos_align + self.eps)).amax(-2).unsqueeze(-1)  # [B, N, 1]
        return target_labels, target_boxes, target_scores * norm, fg > 0


def _targets(gt_labels, gt_boxes, gt_idx, fg, num_classes):
    B, M = gt_labels.shape[:2]
    flat = gt_idx + torch.arange(B, device=gt_idx.device)[:, None] * M
    labels = gt_labels.long().flatten()[flat]
    boxes = gt_boxes.reshape(-1, 4)[flat]
    labels = torch.where(fg > 0, labels, torch.full_like(labels, num_classes))
    scores = F.one_hot(labels, num_classes + 1)[..., :num_classes].float()
    return labels, boxes, scores
