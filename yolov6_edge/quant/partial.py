"""Partial quantization: keep the fewest, most sensitive layers in float until INT8 is within an AP budget.

Layers are ranked by the proxy (relative error of the head outputs when only that layer is quantized),
then the smallest float prefix of that ranking meeting the budget is found by doubling then bisecting,
each candidate measured by COCO AP of the fake-quant model (the same math as the QDQ ONNX on ORT).
"""
from .interface import set_float
from .sensitivity import eval_ap, proxy_ranking


def choose_float_layers(model, qmodel, eval_images, eval_ann, img_size, max_ap_drop, calib_batches=None,
                        ranking=None, known=None) -> dict:
    """known: {number of float layers: AP} already measured on these images (e.g. {0: all-INT8 AP})."""
    float_ap = eval_ap(model, eval_images, eval_ann, img_size)
    if ranking is None:
        ranking = proxy_ranking(model, qmodel, calib_batches or _default_batches(qmodel, img_size))
    tried = dict(known or {})

    def ap_with(k):
        if k not in tried:
            set_float(qmodel, ranking[:k], only=True)
            tried[k] = eval_ap(qmodel, eval_images, eval_ann, img_size)
        return tried[k]

    def ok(k):
        return float_ap - ap_with(k) <= max_ap_drop

    lo, hi = 0, 1
    if ok(0):
        hi = 0
    else:
        while hi < len(ranking) and not ok(hi):
            lo, hi = hi, min(2 * hi, len(ranking))
        while hi - lo > 1:  # ok(hi) holds, ok(lo) does not
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if ok(mid) else (mid, hi)
    set_float(qmodel, ranking[:hi], only=True)
    return {"float_ap": float_ap, "int8_ap": ap_with(hi), "max_ap_drop": max_ap_drop,
            "float_layers": ranking[:hi], "met": ok(hi), "tried": {str(k): v for k, v in sorted(tried.items())}}


def _default_batches(qmodel, img_size, n=32):
    from .data import iter_batches

    size = (img_size, img_size) if isinstance(img_size, int) else img_size
    return list(iter_batches(qmodel.calib_paths[:n], size))
