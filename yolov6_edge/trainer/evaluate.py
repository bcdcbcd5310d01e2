"""Validation during training: COCO mAP of a model's eval outputs with pycocotools.

Boxes are mapped back through the letterbox to original pixels and scored against a COCO ground truth
built from the same records (so COCO JSON and YOLO txt datasets are scored alike).
"""
import contextlib
import io

import numpy as np
import torch
from tqdm import tqdm


def nms(boxes, scores, conf=0.001, iou=0.65, max_det=300, max_candidates=3000):
    """Per image [K, 6] (x1, y1, x2, y2, score, class): yolov6_edge.ops when built, else a torch fallback."""
    try:
        from ...ops import batched_nms

        return batched_nms(boxes.float().cpu().numpy(), scores.float().cpu().numpy(), conf_thres=conf,
                           iou_thres=iou, max_det=max_det, multi_label=True)
    except (ImportError, AttributeError):
        return [_torch_nms(b, s, conf, iou, max_det, max_candidates) for b, s in zip(boxes, scores)]


def _torch_nms(boxes, scores, conf, iou_thr, max_det, max_candidates):
    i, j = torch.nonzero(scores > conf, as_tuple=True)  # multi-label: one candidate per (anchor, class)
    s = scores[i, j]
    if len(s) > max_candidates:
        s, k = s.topk(max_candidates)
        i, j = i[k], j[k]
    b = boxes[i] + j[:, None].float() * 10_000  # class offset: boxes of different classes never overlap
    order = s.argsort(descending=True)
    b, s, i, j = b[order], s[order], i[order], j[order]
    area = (b[:, 2:] - b[:, :2]).clamp(min=0).prod(1)
    keep = []
    suppressed = torch.zeros(len(s), dtype=torch.bool)
    for n in range(len(s)):
        if suppressed[n]:
            continue
        keep.append(n)
        if len(keep) >= max_det:
            break
        lt = torch.maximum(b[n, :2], b[n + 1:, :2])
        rb = torch.minimum(b[n, 2:], b[n + 1:, 2:])
        inter = (rb - lt).clamp(min=0).prod(1)
        suppressed[n + 1:] |= inter / (area[n] + area[n + 1:] - inter + 1e-9) > iou_thr
    k = torch.tensor(keep, dtype=torch.long)
    out = torch.cat([boxes[i[k]], s[k, None], j[k, None].float()], 1)
    return out.cpu().numpy().astype(np.float32)


def coco_gt(records, names, category_ids=None):
    from pycocotools.coco import COCO

    cat_ids = category_ids or list(range(1, len(names) + 1))
    images, anns = [], []
    for path, labels, (h, w), image_id in records:
        images.append({"id": image_id, "file_name": str(path), "height": h, "width": w})
        for c, x1, y1, x2, y2 in labels.tolist():
            anns.append({"id": len(anns) + 1, "image_id": image_id, "category_id": cat_ids[int(c)], "iscrowd": 0,
                         "bbox": [x1, y1, x2 - x1, y2 - y1], "area": (x2 - x1) * (y2 - y1)})
    gt = COCO()
    gt.dataset = {"images": images, "annotations": anns,
                  "categories": [{"id": i, "name": n} for i, n in zip(cat_ids, names)]}
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
    return gt


@torch.no_grad()
def evaluate_model(model, loader, gt, category_ids, conf=0.001, iou=0.65, device="cpu", half=False):
    """Returns {'AP': .., 'AP50': ..} in [0, 1] (AP over IoU .50:.95, AP50 at .50)."""
    from pycocotools.cocoeval import COCOeval

    was_training = model.training
    model.eval()
    dets = []
    for imgs, _, infos in tqdm(loader, desc="val", leave=False):
        x = imgs.to(device).float() / 255
        with torch.autocast(device_type=torch.device(device).type, enabled=half):
            boxes, scores = model(x)
        for d, info in zip(nms(boxes, scores, conf, iou), infos):
            if len(d) == 0:
                continue
            d = np.asarray(d, np.float32)
            r, (pl, pt) = info["scale"], info["pad"]
            h0, w0 = info["orig_shape"]
            xyxy = d[:, :4].copy()
            xyxy[:, [0, 2]] = ((xyxy[:, [0, 2]] - pl) / r).clip(0, w0)
            xyxy[:, [1, 3]] = ((xyxy[:, [1, 3]] - pt) / r).clip(0, h0)
            for (x1, y1, x2, y2), s, c in zip(xyxy.tolist(), d[:, 4].tolist(), d[:, 5].astype(int).tolist()):
                dets.append({"image_id": info["image_id"], "category_id": category_ids[c],
                             "bbox": [x1, y1, x2 - x1, y2 - y1], "score": s})
    model.train(was_training)
    if not dets:
        return {"AP": 0.0, "AP50": 0.0}
    with contextlib.redirect_stdout(io.StringIO()):
        dt = gt.loadRes(dets)
        ev = COCOeval(gt, dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return {"AP": float(ev.stats[0]), "AP50": float(ev.stats[1])}
