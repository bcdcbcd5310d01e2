"""Box IoU between every pair, and whether anchor points fall inside boxes (batched, xyxy)."""
import torch


def pairwise_iou(a, b, eps=1e-9):
    """a [..., M, 4], b [..., N, 4] -> IoU [..., M, N]."""
    lt = torch.maximum(a[..., :, None, :2], b[..., None, :, :2])
    rb = torch.minimum(a[..., :, None, 2:], b[..., None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    area_a = (a[..., 2:] - a[..., :2]).clamp(min=0).prod(-1)
    area_b = (b[..., 2:] - b[..., :2]).clamp(min=0).prod(-1)
    return inter / (area_a[..., :, None] + area_b[..., None, :] - inter + eps)


def points_in_boxes(points, boxes, eps=1e-9):
    """points [N, 2], boxes [B, M, 4] -> bool [B, M, N]: strictly inside the box."""
    lt = points[None, None] - boxes[..., None, :2]
    rb = boxes[..., None, 2:] - points[None, None]
    return torch.cat([lt, rb], -1).amin(-1) > eps


def resolve_multiple(mask_pos, overlaps):
    """An anchor claimed by several gts keeps only the one it overlaps most. mask_pos/overlaps [B, M, N]."""
    fg = mask_pos.sum(-2)
    if fg.max() > 1:
        multi = (fg > 1).unsqueeze(1).expand_as(mask_pos)
        best = overlaps.argmax(1)
        is_best = torch.zeros_like(mask_pos).scatter_(1, best.unsqueeze(1), 1)
        mask_pos = torch.where(multi, is_best, mask_pos)
        fg = mask_pos.sum(-2)
    return mask_pos, fg, mask_pos.argmax(-2)
