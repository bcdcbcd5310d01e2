"""Anchor points and distance-to-box decoding shared by every head (EfficientRep and Lite)."""
import torch


def make_anchors(feat_sizes, strides, offset: float = 0.5, device=None, dtype=torch.float32):
    """Cell-centre anchor points for each level, in input pixels, levels concatenated in order.

    feat_sizes: [(h, w), ...] per level; strides: [s, ...] per level.
    Returns anchor_points [N, 2] (x, y) and stride_tensor [N, 1], N = sum(h * w), row-major per level.
    """
    points, stride_list = [], []
    for (h, w), s in zip(feat_sizes, strides):
        sx = (torch.arange(w, device=device, dtype=dtype) + offset) * s
        sy = (torch.arange(h, device=device, dtype=dtype) + offset) * s
        yy, xx = torch.meshgrid(sy, sx, indexing="ij")
        points.append(torch.stack((xx, yy), -1).reshape(-1, 2))
        stride_list.append(torch.full((h * w, 1), float(s), device=device, dtype=dtype))
    return torch.cat(points), torch.cat(stride_list)


def dist2bbox(distance, anchor_points):
    """ltrb distances [..., N, 4] + anchor points [N, 2] (same units) -> xyxy boxes [..., N, 4]."""
    lt, rb = distance[..., :2], distance[..., 2:]
    return torch.cat((anchor_points - lt, anchor_points + rb), -1)


def bbox2dist(anchor_points, bbox, reg_max: float):
    """xyxy boxes -> ltrb distances from anchor points, clamped to [0, reg_max - 0.01] (DFL targets)."""
    lt = anchor_points - bbox[..., :2]
    rb = bbox[..., 2:] - anchor_points
    return torch.cat((lt, rb), -1).clamp(0, reg_max - 0.01)
