"""How precisely a small labelled set measures an AP difference: a paired bootstrap over its images.

(`yolov6-edge compare` does this for users, one reference at a time; this script runs several groups.)

Each group is a reference model (the float ONNX) and the models compared with it (INT8 QDQ ONNX files).
Every model is run once on the images (ONNX Runtime, the settings of eval_lite_ap.py); pycocotools then
matches its detections per image once, and each bootstrap draw re-samples the images with replacement, the
same draw for every model of the group, and re-accumulates AP over that sample. The spread of
(AP model - AP reference) over the draws is the standard error of the measured difference: how far two
models can sit apart on this set by the luck of which images it holds.

    python benchmarks/ap_noise.py --group yolov6lite-s lite-s.onnx lite-s_mse.onnx lite-s_mse_qat.onnx \
        [--group ...] [--draws 1000] [--val ../shared/coco/val]
"""
import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quant_common import EVAL

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("YOLOV6_EDGE_SHARED", ROOT.parent / "shared"))


def main(argv=None) -> int:
    a = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    a.add_argument("--group", nargs="+", action="append", required=True, metavar="NAME REF MODEL",
                   help="a name, the reference model, then the models compared with it")
    a.add_argument("--val", type=Path, default=SHARED / "coco" / "val")
    a.add_argument("--draws", type=int, default=1000)
    a.add_argument("--seed", type=int, default=0)
    a.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "ap_noise.json")
    args = a.parse_args(argv)
    for g in args.group:
        if len(g) < 3:
            a.error(f"--group {' '.join(g)}: wants a name, a reference model and at least one model")
    from tqdm import tqdm

    from yolov6_edge.atomic import atomic_write_text
    from yolov6_edge.eval.coco import evaluate, load_annotations
    from yolov6_edge.eval.compare import Matched

    coco = load_annotations(args.val / "instances.json")
    res = {"command": "python benchmarks/ap_noise.py " + " ".join(argv if argv is not None else sys.argv[1:]),
           "val": str(args.val), "draws": args.draws, "seed": args.seed, "eval": EVAL, "groups": {}}
    lines = ["| group | model | AP | AP - reference | bootstrap SE of the difference | 95% interval |",
             "|---|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as tmp:
        for name, *paths in args.group:
            matched, full = [], []
            for p in paths:
                pred = Path(tmp) / "pred.json"
                stats = evaluate(p, args.val / "images", args.val / "instances.json", progress=False,
                                 predictions_json=pred, **EVAL)
                m = Matched(coco, json.loads(pred.read_text()))
                ap = m.ap(np.arange(m.n_images))
                # the re-accumulation must reproduce pycocotools' own AP on the full set
                if abs(ap - stats["AP"]) > 0.01:
                    raise RuntimeError(f"{p}: re-accumulated AP {ap:.3f} != evaluate()'s {stats['AP']:.3f}")
                matched.append(m)
                full.append(ap)
            rng = np.random.default_rng(args.seed)
            n = matched[0].n_images
            draws = np.empty((args.draws, len(paths)))
            for d in tqdm(range(args.draws), desc=f"bootstrap {name}", unit="draw"):
                idx = rng.integers(0, n, n)
                draws[d] = [m.ap(idx) for m in matched]
            diff = draws[:, 1:] - draws[:, :1]
            g = {"reference": {"path": paths[0], "AP": full[0], "bootstrap_se": float(draws[:, 0].std(ddof=1))},
                 "models": []}
            lines.append(f"| {name} | {Path(paths[0]).name} (reference) | {full[0]:.2f} | | "
                         f"(SE of AP itself: {draws[:, 0].std(ddof=1):.2f}) | |")
            for j, p in enumerate(paths[1:]):
                d = full[j + 1] - full[0]
                se = float(diff[:, j].std(ddof=1))
                lo, hi = (float(x) for x in np.percentile(diff[:, j], [2.5, 97.5]))
                g["models"].append({"path": p, "AP": full[j + 1], "diff": d, "diff_se": se, "diff_95": [lo, hi]})
                lines.append(f"| {name} | {Path(p).name} | {full[j + 1]:.2f} | {d:+.2f} | {se:.2f} | "
                             f"[{lo:+.2f}, {hi:+.2f}] |")
            res["groups"][name] = g
    head = ["# How precisely the val set measures an AP difference (paired bootstrap over images)", "",
            f"`{res['command']}`", "",
            f"{n} images of {args.val}, {args.draws} draws with replacement, the same draws for every model of a "
            "group; ONNX Runtime CPU, conf 0.03, IoU 0.65, multi-label, max 300.", ""]
    atomic_write_text(args.out, json.dumps(res, indent=1))
    atomic_write_text(args.out.with_suffix(".md"), "\n".join(head + lines) + "\n")
    print("\n".join(head + lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
