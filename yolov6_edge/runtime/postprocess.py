"""Turn backend outputs into per-image [K, 6] detections in original pixels (NMS itself is yolov6_edge.ops)."""
import numpy as np


def end2end_to_dets(num_dets, det_boxes, det_scores, det_classes) -> list:
    """End-to-end outputs (NMS already in the graph) -> list of [K, 6] (x1, y1, x2, y2, score, class)."""
    out = []
    for n, b, s, c in zip(num_dets.reshape(-1), det_boxes, det_scores, det_classes):
        n = int(n)
        out.append(np.concatenate([b[:n], s[:n, None], c[:n, None]], 1).astype(np.float32))
    return out


def to_original(dets: np.ndarray, params, shape) -> np.ndarray:
    """Map boxes from letterboxed input pixels back to the original image and clip to it.

    params: (scale, pad_left, pad_top) from ops.letterbox; shape: original (H, W).
    """
    dets = dets.astype(np.float32, copy=True)
    scale, pad_x, pad_y = (float(v) for v in params)
    dets[:, [0, 2]] = ((dets[:, [0, 2]] - pad_x) / scale).clip(0, shape[1])
    dets[:, [1, 3]] = ((dets[:, [1, 3]] - pad_y) / scale).clip(0, shape[0])
    return dets
