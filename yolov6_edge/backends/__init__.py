"""Inference backends behind one duck-typed interface (see docs/ARCHITECTURE.md, Runtime).

A backend has `input_size` (H, W), `names`, `max_batch`, `layout`, and `__call__(blob [B,3,H,W]) -> outputs`
as numpy arrays: (boxes, scores) for layout "boxes_xyxy+scores", or (num_dets, det_boxes, det_scores,
det_classes) for "end2end". Each backend lives in its own subpackage, imported only when used.
"""
