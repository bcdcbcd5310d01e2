"""IoU, GIoU, DIoU, CIoU and SIoU between matching boxes (xyxy), and 1 - that as a loss.

The paper's choice per size: SIoU for N/T, GIoU for S, CIoU for M/L (see IOU_FOR_MODEL).
"""
import math

import torch

IOU_FOR_MODEL = {"n": "siou", "t": "siou", "s": "giou", "m": "ciou", "l": "ciou"}


def paper_iou_type(model_name) -> str:
    """SIoU for N/T (and Lite), GIoU for S, CIoU for M/L."""
    name = str(model_name).lower().replace("-v1", "")
    if "lite" in name:
        return "siou"
    return IOU_FOR_MODEL.get(name[-1:], "giou") if name.startswith("yolov6") else "giou"


def bbox_iou(a, b, kind="giou", eps=1e-7):
    """a, b [..., 4] xyxy, matched element-wise -> [...] IoU of the chosen kind."""
    ax1, ay1, ax2, ay2 = a.unbind(-1)
    bx1, by1, bx2, by2 = b.unbind(-1)
    w1, h1 = ax2 - ax1, ay2 - ay1 + eps
    w2, h2 = bx2 - bx1, by2 - by1 + eps
    inter = (torch.minimum(ax2, bx2) - torch.maximum(ax1, bx1)).clamp(min=0) * \
            (torch.minimum(ay2, by2) - torch.maximum(ay1, by1)).clamp(min=0)
    union = w1 * h1 + w2 * h2 - inter + eps
    iou = inter / union
    if kind == "iou":
        return iou
    cw = torch.maximum(ax2, bx2) - torch.minimum(ax1, bx1)  # enclosing box
    ch = torch.maximum(ay2, by2) - torch.minimum(ay1, by1)
    if kind == "giou":
        c_area = cw * ch + eps
        return iou - (c_area - union) / c_area
    c2 = cw ** 2 + ch ** 2 + eps
    dx = (bx1 + bx2 - ax1 - ax2) / 2  # centre offsets
    dy = (by1 + by2 - ay1 - ay2) / 2
    rho2 = dx ** 2 + dy ** 2
    if kind == "diou":
        return iou - rho2 / c2
    if kind == "ciou":
        v = (4 / math.pi ** 2) * (torch.atan(w2 / h2) - torch.atan(w1 / h1)) ** 2
        with torch.no_grad():
            alpha = v / (v - iou + (1 + eps))
        return iou - (rho2 / c2 + v * alpha)
    if kind == "siou":
        # angle cost pulls the centre line towards an axis, distance cost scales with it, shape cost w/h
        sigma = torch.sqrt(rho2) + eps
        sin_x, sin_y = dx.abs() / sigma, dy.abs() / sigma
        thr = math.sqrt(2) / 2
        sin_alpha = torch.where(sin_x > thr, sin_y, sin_x)
        angle = torch.cos(2 * torch.arcsin(sin_alpha) - math.pi / 2)
        gamma = angle - 2
        rho_x, rho_y = (dx / (cw + eps)) ** 2, (dy / (ch + eps)) ** 2
        dist = 2 - torch.exp(gamma * rho_x) - torch.exp(gamma * rho_y)
        omega_w = (w1 - w2).abs() / torch.maximum(w1, w2)
        omega_h = (h1 - h2).abs() / torch.maximum(h1, h2)
        shape = (1 - torch.exp(-omega_w)).pow(4) + (1 - torch.exp(-omega_h)).pow(4)
        return iou - 0.5 * (dist + shape)
    raise ValueError(f"unknown IoU kind '{kind}' (iou, giou, diou, ciou, siou)")


def iou_loss(pred, target, kind="giou"):
    return 1.0 - bbox_iou(pred, target, kind)
