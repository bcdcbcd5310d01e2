"""Layer sensitivity: what quantizing one layer costs, and what keeping one layer in float buys back.

For every quantizable layer two settings are measured: only that layer INT8 (the rest float) and only that
layer float (the rest INT8). Each is scored two ways: COCO AP on an eval set (slow, the truth) and a proxy,
the relative error of the head outputs against the float model on calibration images (fast). The Spearman
correlation of the two rankings says how far the proxy can stand in for AP.
"""
import csv
import io
import json
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..atomic import atomic_path, atomic_write_text
from .interface import quant_layers, set_float


@torch.no_grad()
def head_outputs(model, batches) -> list:
    out = []
    for b in batches:
        o = model(torch.as_tensor(b))
        out.append([t.float() for t in (o if isinstance(o, (tuple, list)) else (o,))])
    return out


def relative_error(outs, refs) -> float:
    """Sum over outputs of ||q - f|| / ||f||, pooled over all batches."""
    total = 0.0
    for k in range(len(refs[0])):
        num = sum(float((o[k] - r[k]).pow(2).sum()) for o, r in zip(outs, refs))
        den = sum(float(r[k].pow(2).sum()) for r in refs)
        total += (num / max(den, 1e-12)) ** 0.5
    return total


def proxy_scores(model, qmodel, batches, mode="only_int8", refs=None) -> dict:
    """{layer: relative head-output error} with only that layer INT8 (or, mode='only_float', only it float)."""
    refs = refs or head_outputs(model, batches)
    layers = list(quant_layers(qmodel))
    scores = {}
    for name in tqdm(layers, desc=f"proxy ({mode})", unit="layer"):
        if mode == "only_int8":
            set_float(qmodel, [n for n in layers if n != name], only=True)
        else:
            set_float(qmodel, [name], only=True)
        scores[name] = relative_error(head_outputs(qmodel, batches), refs)
    set_float(qmodel, [], only=True)
    return scores


def proxy_ranking(model, qmodel, batches) -> list:
    """Layer names, most sensitive first, by the only-INT8 proxy."""
    s = proxy_scores(model, qmodel, batches)
    return sorted(s, key=lambda n: -s[n])


def eval_ap(model, eval_images, eval_ann, img_size) -> float:
    from ..eval.coco import evaluate

    size = (img_size, img_size) if isinstance(img_size, int) else tuple(img_size)
    return float(evaluate(model, eval_images, eval_ann, img_size=size, progress=False)["AP"])


def spearman(a, b) -> float:
    """Spearman rank correlation (average ranks for ties), numpy only."""
    def ranks(x):
        x = np.asarray(x, np.float64)
        order = np.argsort(x, kind="mergesort")
        r = np.empty(len(x))
        r[order] = np.arange(len(x))
        for v in np.unique(x):  # ties share their mean rank
            m = x == v
            r[m] = r[m].mean()
        return r
    ra, rb = ranks(a), ranks(b)
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def analyse(model, qmodel, batches, eval_images=None, eval_ann=None, img_size=640, ap_layers=None) -> dict:
    """Full table. ap_layers: limit the (slow) AP measurements to these layers (default: all)."""
    refs = head_outputs(model, batches)
    p_int8 = proxy_scores(model, qmodel, batches, "only_int8", refs)
    p_float = proxy_scores(model, qmodel, batches, "only_float", refs)
    set_float(qmodel, [], only=True)
    all_int8_proxy = relative_error(head_outputs(qmodel, batches), refs)
    rows = [{"layer": n, "proxy_only_int8": p_int8[n], "proxy_only_float": p_float[n],
             "proxy_recovered": all_int8_proxy - p_float[n]} for n in p_int8]
    result = {"all_int8_proxy": all_int8_proxy, "rows": rows}
    if eval_images and eval_ann:
        layers = list(quant_layers(qmodel))
        result["float_ap"] = eval_ap(model, eval_images, eval_ann, img_size)
        result["all_int8_ap"] = eval_ap(qmodel, eval_images, eval_ann, img_size)
        todo = [r for r in rows if ap_layers is None or r["layer"] in ap_layers]
        for r in tqdm(todo, desc="AP per layer", unit="layer"):
            set_float(qmodel, [n for n in layers if n != r["layer"]], only=True)
            r["ap_drop_only_int8"] = result["float_ap"] - eval_ap(qmodel, eval_images, eval_ann, img_size)
            set_float(qmodel, [r["layer"]], only=True)
            r["ap_gain_only_float"] = eval_ap(qmodel, eval_images, eval_ann, img_size) - result["all_int8_ap"]
        set_float(qmodel, [], only=True)
        if len(todo) > 2:
            result["spearman_only_int8"] = spearman([r["proxy_only_int8"] for r in todo],
                                                    [r["ap_drop_only_int8"] for r in todo])
            result["spearman_only_float"] = spearman([r["proxy_recovered"] for r in todo],
                                                     [r["ap_gain_only_float"] for r in todo])
    key = "ap_drop_only_int8" if "float_ap" in result else "proxy_only_int8"
    rows.sort(key=lambda r: -r.get(key, r["proxy_only_int8"]))
    for i, r in enumerate(rows):
        r["rank"] = i + 1
    result["ranked_by"] = key
    return result


def write_outputs(result: dict, out_prefix) -> list:
    """<prefix>.json, <prefix>.csv (ranked) and <prefix>.png; returns the paths."""
    out_prefix = Path(out_prefix)
    paths = [out_prefix.with_suffix(s) for s in (".json", ".csv", ".png")]
    atomic_write_text(paths[0], json.dumps(result, indent=1))
    cols = ["rank", "layer", "proxy_only_int8", "proxy_only_float", "proxy_recovered",
            "ap_drop_only_int8", "ap_gain_only_float"]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore")
    w.writeheader()
    w.writerows(result["rows"])
    atomic_write_text(paths[1], buf.getvalue())
    _plot(result, paths[2])
    return paths


def _plot(result, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["rows"]
    n = len(rows)
    fig, axes = plt.subplots(1, 2 if "float_ap" in result else 1, figsize=(14, max(4, n * 0.14)), squeeze=False)
    labels = [r["layer"] for r in rows][::-1]
    axes[0][0].barh(labels, [r["proxy_only_int8"] for r in rows][::-1])
    axes[0][0].set_xlabel("proxy: relative head-output error, only this layer INT8")
    if "float_ap" in result:
        axes[0][1].barh(labels, [r.get("ap_drop_only_int8", np.nan) for r in rows][::-1], color="tab:red")
        axes[0][1].set_xlabel("AP drop, only this layer INT8")
        axes[0][1].set_yticklabels([])
        fig.suptitle(f"Spearman(proxy, AP) = {result.get('spearman_only_int8', float('nan')):.2f}")
    for ax in axes[0]:
        ax.tick_params(axis="y", labelsize=6)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    plt.close(fig)
