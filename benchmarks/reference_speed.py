"""The spec reference (quant/reference.py, on onnx.reference) against the numpy evaluator it replaced and
against ONNX Runtime, on a real INT8 file: run time of the whole graph, agreement node by node (each node fed
the same inputs), and `compare-runtimes` wall time with each evaluator.

The replaced evaluator is read from git (`--old-rev`, default the commit before the replacement), so both run
in this process on the same input; ONNX Runtime's time is the baseline the ratios are given against.

    python benchmarks/reference_speed.py /tmp/lite-s_int8.onnx --images ../shared/coco/val/images \
        [--num 1] [--repeat 3] [--compare] [--out benchmarks/results/reference_speed]

Timings interleave the evaluators (and alternate which goes first in compare-runtimes), medians.
"""
import argparse
import collections
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import helper

from yolov6_edge import ops
from yolov6_edge.host import cpu_flags, cpu_name
from yolov6_edge.quant import reference
from yolov6_edge.runtime.images import expand_sources, read_image

ROOT = Path(__file__).resolve().parents[1]
OLD_REV = "8393309"  # main before quant/reference.py moved onto onnx.reference


def load_old(rev):
    """quant/reference.py at `rev`, as module yolov6_edge.quant._reference_old (its relative imports work)."""
    src = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:yolov6_edge/quant/reference.py"],
                         capture_output=True, text=True, check=True).stdout
    spec = importlib.util.spec_from_loader("yolov6_edge.quant._reference_old", loader=None)
    mod = importlib.util.module_from_spec(spec)
    mod.__package__ = "yolov6_edge.quant"
    exec(compile(src, f"{rev}:yolov6_edge/quant/reference.py", "exec"), mod.__dict__)
    sys.modules[spec.name] = mod
    return mod


def interleaved(fns, repeat):
    """Median seconds of each of fns, called in turn `repeat` times after one untimed round."""
    times = [[] for _ in fns]
    for r in range(repeat + 1):
        for fn, ts in zip(fns, times):
            t = time.perf_counter()
            fn()
            if r:
                ts.append(time.perf_counter() - t)
    return [statistics.median(ts) for ts in times]


def per_node(model, old_values, custom_ops):
    """Each node on onnx.reference (with our ops), fed the old evaluator's values: op -> [max diff per node]
    (fraction of codes that differ for integer outputs, relative L2 error for float ones)."""
    from onnx.reference import ReferenceEvaluator as OnnxReference

    diffs, seconds = collections.defaultdict(list), collections.Counter()
    for node in model.graph.node:
        ins = [i for i in node.input if i]
        feeds = {i: np.asarray(old_values[i]) for i in ins}
        g = helper.make_graph([node], "n", [helper.make_tensor_value_info(i, helper.np_dtype_to_tensor_dtype(
            v.dtype), None) for i, v in feeds.items()], [helper.make_tensor_value_info(o, 0, None)
                                                           for o in node.output if o])
        sub = helper.make_model(g, opset_imports=model.opset_import, ir_version=model.ir_version)
        t = time.perf_counter()
        with np.errstate(over="ignore", invalid="ignore"):
            got = OnnxReference(sub, new_ops=list(custom_ops)).run(None, feeds)
        seconds[node.op_type] += time.perf_counter() - t
        for name, b in zip([o for o in node.output if o], got):
            a = np.asarray(old_values[name])
            if np.issubdtype(a.dtype, np.integer) or a.dtype == bool:
                d = float(np.mean(a != b)) if a.size else 0.0
            else:
                d = float(np.linalg.norm(a.astype(np.float64) - b) / max(np.linalg.norm(a.astype(np.float64)),
                                                                          1e-30))
            diffs[node.op_type].append(d)
    return diffs, seconds


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", type=Path, help="a QDQ (or float) ONNX we wrote")
    ap.add_argument("--images", required=True)
    ap.add_argument("--num", type=int, default=1, help="images, one batch")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--old-rev", default=OLD_REV, help="git revision whose quant/reference.py is the baseline")
    ap.add_argument("--compare", action="store_true", help="also time compare-runtimes (onnxruntime) with each")
    ap.add_argument("--out", type=Path, default=None, help="write OUT.json and OUT.md")
    args = ap.parse_args()

    import onnxruntime as ort

    old = load_old(args.old_rev)
    model = onnx.load(str(args.model))
    dims = model.graph.input[0].type.tensor_type.shape.dim
    size = (dims[2].dim_value, dims[3].dim_value)
    files = expand_sources([args.images])[:args.num]
    blob, _ = ops.letterbox([read_image(f) for f in files], size=size)
    feeds = {model.graph.input[0].name: blob}
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.log_severity_level = 3
    sess = ort.InferenceSession(str(args.model), opts, providers=["CPUExecutionProvider"])
    new_ev, old_ev = reference.ReferenceEvaluator(model), old.ReferenceEvaluator(model)
    # interleaved (ORT, new, old, ORT, new, old, ...), so load that drifts on a shared machine hits all three
    t_ort, t_new, t_old = interleaved([lambda: sess.run(None, feeds), lambda: new_ev.run(feeds),
                                       lambda: old_ev.run(feeds)], args.repeat)
    t = time.perf_counter()
    reference.ReferenceEvaluator(model)
    t_init = time.perf_counter() - t
    names = [o for n in model.graph.node for o in n.output if o]
    old_values = {**old_ev.initializers, **feeds, **old_ev.run(feeds, keep=names)}
    new_out, old_out = new_ev.run(feeds), old_ev.run(feeds)
    diffs, node_seconds = per_node(model, old_values, reference.CUSTOM_OPS)

    res = {"model": str(args.model), "images": len(files), "size": list(size), "cpu": cpu_name(),
           "cpu_flags": [f for f in cpu_flags() if f.startswith(("avx", "amx", "fma", "sse4"))],
           "old_rev": args.old_rev, "onnx": onnx.__version__, "onnxruntime": ort.__version__,
           "seconds": {"onnxruntime": t_ort, "reference_onnx": t_new, "reference_old": t_old,
                       "reference_onnx_init": t_init},
           "ratio_to_onnxruntime": {"reference_onnx": t_new / t_ort, "reference_old": t_old / t_ort},
           "per_node": {op: {"nodes": len(v), "differing": int(sum(d > 0 for d in v)), "max": max(v),
                             "onnx_reference_seconds": node_seconds[op]} for op, v in sorted(diffs.items())},
           "whole_graph_outputs_old_vs_new": {
               k: float(np.linalg.norm(old_out[k] - new_out[k]) / max(np.linalg.norm(old_out[k]), 1e-30))
               for k in old_out}}
    if args.compare:
        from yolov6_edge.quant import runtime_compare

        res["compare_runtimes"] = {}
        evaluators = [("reference_onnx", reference.ReferenceEvaluator), ("reference_old", old.ReferenceEvaluator)]
        seconds = collections.defaultdict(list)
        for r in range(args.repeat):  # ABBA order: neither goes first every time
            for label, cls in (evaluators if r % 2 == 0 else evaluators[::-1]):
                runtime_compare.ReferenceEvaluator = cls
                t = time.perf_counter()
                rep = runtime_compare.compare_runtimes(args.model, files, backends=["onnxruntime"], progress=False)
                seconds[label].append(time.perf_counter() - t)
                rels = [r.rel_err for r in rep.layers]
                res["compare_runtimes"][label] = {"seconds": statistics.median(seconds[label]), "layers": len(rels),
                                                  "departing": len(rep.departing("onnxruntime")),
                                                  "median_rel_err": float(np.median(rels)),
                                                  "max_rel_err": float(np.max(rels)),
                                                  "bit_exact_layers": int(sum(x == 0 for x in rels)),
                                                  "outputs": rep.outputs["onnxruntime"]}
        runtime_compare.ReferenceEvaluator = reference.ReferenceEvaluator

    s = res["seconds"]
    lines = [f"# quant/reference.py on onnx.reference vs the numpy evaluator of {args.old_rev}: {args.model.name}",
             "", f"`python benchmarks/reference_speed.py {args.model} --images {args.images} --num {args.num} "
                 f"--repeat {args.repeat}{' --compare' if args.compare else ''}`; {res['cpu']} "
                 f"({', '.join(res['cpu_flags'])}); onnx {res['onnx']}, onnxruntime {res['onnxruntime']}; "
                 f"medians of interleaved runs; ORT on one thread, numpy with OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}"
                 f", OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}.", "",
             "| whole graph, one batch | seconds | x ONNX Runtime |", "|---|---|---|",
             f"| ONNX Runtime (baseline) | {s['onnxruntime']:.3f} | 1 |",
             f"| reference on onnx.reference | {s['reference_onnx']:.2f} (+{s['reference_onnx_init']:.2f} load) | "
             f"{s['reference_onnx'] / s['onnxruntime']:.0f} |",
             f"| replaced numpy evaluator | {s['reference_old']:.2f} | {s['reference_old'] / s['onnxruntime']:.0f} |",
             "", "Node by node, each node fed the replaced evaluator's inputs (max over nodes: fraction of codes "
                 "that differ for integer outputs, relative L2 error for float ones):", "",
             "| op | nodes | differing | max | onnx.reference s |", "|---|---|---|---|---|"]
    for op, d in res["per_node"].items():
        lines.append(f"| {op} | {d['nodes']} | {d['differing']} | {d['max']:.2g} | {d['onnx_reference_seconds']:.2f} |")
    lines += ["", "Whole-graph outputs, old vs new (relative L2; last-bit differences flip INT8 codes at ties and "
                  "compound): " + ", ".join(f"{k} {v:.2g}" for k, v in res["whole_graph_outputs_old_vs_new"].items())]
    for label, c in res.get("compare_runtimes", {}).items():
        lines.append(f"- compare-runtimes (onnxruntime, isolated) with {label}: {c['seconds']:.1f} s, "
                     f"{c['departing']}/{c['layers']} depart, median rel err {c['median_rel_err']:.2g}, max "
                     f"{c['max_rel_err']:.2g}, bit-exact layers {c['bit_exact_layers']}; whole-graph outputs "
                     + ", ".join(f"{k} {v['rel_err']:.2g}" for k, v in c["outputs"].items()))
    print("\n".join(lines))
    if args.out:
        from yolov6_edge.atomic import atomic_write_text

        atomic_write_text(Path(f"{args.out}.json"), json.dumps(res, indent=1) + "\n")
        atomic_write_text(Path(f"{args.out}.md"), "\n".join(lines) + "\n")
        print(f"wrote {args.out}.json, {args.out}.md")


if __name__ == "__main__":
    main()
