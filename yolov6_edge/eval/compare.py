"""Is model B better or worse than model A on this image set, and by how sure? A paired bootstrap over images.

Each model runs once (any file and backend `evaluate` takes). pycocotools matches its detections per image
once; each bootstrap draw re-samples the images with replacement, the same draw for every model, and
re-accumulates AP over that sample. The spread of (AP model - AP first model) over the draws is the standard
error of the measured difference, and its 2.5/97.5 percentiles the 95% interval: how far two models can sit
apart on this set by the luck of which images it holds. Being paired, it is much tighter than the spread of
AP itself (e.g. 0.4-0.65 AP against 1.8-2.0 for YOLOv6Lite INT8 vs float on 119 images).
"""
import contextlib
import copy
import io
import json
import tempfile
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .. import arguments
from ..errors import fail
from .coco import evaluate, load_annotations

MAX_DRAWS = 1_000_000  # each draw re-accumulates AP for every model: more is a typo, not precision


class Matched:
    """One model's per-image matches (pycocotools evaluateImg, area 'all', 100 detections per image)."""

    def __init__(self, coco, results):
        from pycocotools.cocoeval import COCOeval

        with contextlib.redirect_stdout(io.StringIO()):
            ev = COCOeval(coco, coco.loadRes(results), "bbox")
            ev.params.imgIds = sorted(coco.getImgIds())
            ev.params.areaRng, ev.params.areaRngLbl = ev.params.areaRng[:1], ev.params.areaRngLbl[:1]
            ev.params.maxDets = [100]
            ev.evaluate()
        self.ev = ev
        n_img = len(ev.params.imgIds)
        # evalImgs is flat in the order category, area, image; one area is left
        self.per_cat = [ev.evalImgs[k * n_img:(k + 1) * n_img] for k in range(len(ev.params.catIds))]
        self.n_images = n_img

    def ap(self, idx) -> float:
        """AP (percent) over the images at positions idx (repeats count again, as a bootstrap sample wants)."""
        ev = self.ev
        ev.evalImgs = [e for cat in self.per_cat for e in (cat[i] for i in idx)]
        # accumulate() indexes evalImgs by position in _paramsEval.imgIds: give it positions as ids
        pe = copy.copy(ev.params)
        pe.imgIds = list(range(len(idx)))
        ev._paramsEval, ev.params = pe, copy.copy(pe)
        with contextlib.redirect_stdout(io.StringIO()):
            ev.accumulate()
        p = ev.eval["precision"][:, :, :, 0, 0]
        return float(p[p > -1].mean() * 100) if (p > -1).any() else 0.0


def compare(models, images, ann, backends=None, draws: int = 1000, seed: int = 0, threads: int = 0,
            progress: bool = True, **eval_settings) -> dict:
    """AP of each model and its difference to the first, with a paired bootstrap SE and 95% interval.

    models: files (or Backends) `evaluate` takes; backends: one name for all or one per model (None: each
    file's default); eval_settings: evaluate()'s conf, iou, max_det, multi_label, img_size, batch.
    """
    models = list(models)
    if len(models) < 2:
        raise fail(models[0] if models else "compare", "compare needs at least two models (A, then B ...)")
    where = str(models[0])
    draws = arguments.integer(draws, "draws", 1, MAX_DRAWS, where=where)
    seed = arguments.seed(seed, where=where)
    backends = list(backends) if isinstance(backends, (list, tuple)) else [backends] * len(models)
    if len(backends) == 1:
        backends = backends * len(models)
    if len(backends) != len(models):
        raise fail("--backend", f"give one backend or one per model ({len(models)}), got {len(backends)}")
    coco = load_annotations(ann)
    rows, matched = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i, (m, b) in enumerate(zip(models, backends)):
            pred = Path(tmp) / f"pred{i}.json"
            stats = evaluate(m, images, ann, predictions_json=pred, progress=progress, backend=b, threads=threads,
                             **eval_settings)
            results = json.loads(pred.read_text())
            if not results:
                raise fail(m, "made no detection on these images: nothing to compare")
            mt = Matched(coco, results)
            full = mt.ap(np.arange(mt.n_images))
            # the re-accumulation must reproduce pycocotools' own AP on the full set
            if abs(full - stats["AP"]) > 0.01:
                raise RuntimeError(f"{m}: re-accumulated AP {full:.3f} != evaluate()'s {stats['AP']:.3f}")
            matched.append(mt)
            rows.append({"model": str(m), "backend": stats["backend"], "AP": full, "AP50": stats["AP50"]})
    n = matched[0].n_images
    rng = np.random.default_rng(seed)
    aps = np.empty((draws, len(models)))
    for d in tqdm(range(draws), desc="bootstrap", unit="draw", disable=not progress):
        idx = rng.integers(0, n, n)
        aps[d] = [m.ap(idx) for m in matched]
    diff = aps - aps[:, :1]
    for j, r in enumerate(rows):
        r["AP_se"] = float(aps[:, j].std(ddof=1)) if draws > 1 else 0.0
        if j:
            lo, hi = (float(x) for x in np.percentile(diff[:, j], [2.5, 97.5]))
            r.update(diff=r["AP"] - rows[0]["AP"], diff_se=float(diff[:, j].std(ddof=1)) if draws > 1 else 0.0,
                     diff_95=[lo, hi])
    return {"images": str(images), "ann": str(ann), "n_images": n, "draws": draws, "seed": seed,
            "eval": {k: v for k, v in eval_settings.items() if k != "img_size"}, "models": rows}


def format_table(report: dict) -> str:
    lines = [f"{report['n_images']} images, {report['draws']} paired bootstrap draws (seed {report['seed']}); "
             "differences are to the first model",
             f"{'model':<40} {'backend':<12} {'AP':>6} {'AP - A':>7} {'SE':>5} {'95% interval':>17}"]
    for j, r in enumerate(report["models"]):
        name = Path(r["model"]).name[-40:]
        if j == 0:
            lines.append(f"{name:<40} {r['backend']:<12} {r['AP']:6.2f} {'(A)':>7}")
        else:
            lo, hi = r["diff_95"]
            lines.append(f"{name:<40} {r['backend']:<12} {r['AP']:6.2f} {r['diff']:+7.2f} {r['diff_se']:5.2f} "
                         f"[{lo:+6.2f}, {hi:+6.2f}]")
    return "\n".join(lines)
