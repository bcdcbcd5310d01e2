"""Fuzz the native ops and the loaders: random shapes, dtypes, NaN/inf and argument values for letterbox,
batched_nms and decode_boxes; truncated and mutated images, .param/.bin, checkpoints, official-style pickles,
ONNX files, COCO annotation files and calibration caches (from ../shared where present, else made here);
recipes (mutated YAML: odd values, alias bombs, deep nesting, bytes), official .pt trees edited structurally
(fields of other types, tensors of other shapes, views that claim more values than stored) and streams
(videos, damaged videos, arrays in a reused buffer, image lists, odd argument values).

    python tests/fuzz.py --seconds 600 [--seed 1] [--out benchmarks/results/fuzz_long.md]
    python tests/fuzz.py --cases 2000            # a fixed number of cases (what tests/test_fuzz.py runs)

A case passes when the call returns a well-formed result (checked: shapes, ranges, order; small NMS cases
against the numpy reference of tests/reference_ops.py) or raises the documented one-line error:
Yolov6EdgeError for files and model arguments, ValueError/TypeError/MemoryError for op arguments. Anything
else is a failure: another exception type (a traceback for the user), a message of several lines, a malformed
result, a pickle that ran code. Cases run in a worker subprocess, so an abort or a hang (no progress for
--hang-seconds) is caught by this parent, reported with the case that was running, and the worker restarted
after it. Every case is reproducible from (seed, index): `--seed S --start I --cases 1`.
"""
import argparse
import contextlib
import io
import json
import math
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("YOLOV6_EDGE_SHARED", ROOT.parent / "shared"))
MESSAGE_MAX = 1000  # one line still; long key lists of a mismatched checkpoint reach ~600
OP_ERRORS = (ValueError, TypeError, MemoryError)


class CaseFailure(Exception):
    """The case misbehaved: a wrong result, a side effect, an unexpected error."""


# ---- fixtures: the files the loader targets mutate ---------------------------------------------------------------

class Fixtures:
    """Seed files, made once per worker in a temporary folder."""

    def __init__(self, work: Path):
        import cv2
        import torch

        from standin_models import TinyContractModel  # beside this file: on sys.path when run or imported
        from yolov6_edge.export.onnx import export_onnx
        from yolov6_edge.models import build_model
        from yolov6_edge.weights.checkpoint import save_checkpoint

        self.work = work
        torch.set_num_threads(1)
        torch.manual_seed(0)
        rng = np.random.default_rng(0)
        self.images = {}
        val = SHARED / "coco" / "val" / "images"
        for p in sorted(val.glob("*.jpg"))[:3] if val.is_dir() else []:
            self.images[p.name] = p.read_bytes()
        img = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
        for ext in (".png", ".jpg", ".bmp", ".webp", ".tif"):
            self.images[f"made{ext}"] = cv2.imencode(ext, img)[1].tobytes()
        export_onnx(TinyContractModel().eval(), work / "tiny.onnx", img_size=(64, 64))
        export_onnx(TinyContractModel().eval(), work / "tiny_e2e.onnx", img_size=(64, 64), end2end=True,
                    max_det=20, simplify=False)
        self.onnx = {n: (work / n).read_bytes() for n in ("tiny.onnx", "tiny_e2e.onnx")}
        save_checkpoint(build_model("yolov6lite-s", num_classes=3).eval(), work / "m.pt")
        self.ckpt_bytes = (work / "m.pt").read_bytes()
        self.ckpt = torch.load(work / "m.pt", weights_only=True)
        lite = SHARED / "weights" / "yolov6lite" / "yolov6-lite-s.param"
        self.param = (lite.read_text(), lite.with_suffix(".bin").read_bytes()) if lite.is_file() else None
        official = SHARED / "weights" / "official-format" / "yolov6lite_s.pt"
        self.official = official.read_bytes() if official.is_file() else None
        ann = SHARED / "coco" / "val" / "instances.json"
        self.coco = json.loads(ann.read_text()) if ann.is_file() else _small_coco()
        self.cache = {"version": 1, "model_hash": "m", "images_hash": "i", "method": "max",
                      "amax": {f"layer{i}": float(rng.uniform(0.5, 8)) for i in range(6)},
                      "channel_scales": {"layer1": [float(v) for v in rng.uniform(0.1, 1, 8)]}}
        self.recipe = (ROOT / "calibration" / "yolov6lite_coco.yaml").read_text()
        # official-format trees (placeholders) to edit structurally: tests/official_files.py writes them back
        self.official_trees = {}
        for name in ("yolov6n.pt", "yolov6lite_s.pt"):
            src = SHARED / "weights" / "official-format" / name
            if src.is_file():
                from official_files import read_tree

                self.official_trees[name] = read_tree(src)
        # a short video (mp4v, 96x72, 10 frames) for the stream target; images too
        self.video = work / "clip.mp4"
        w = cv2.VideoWriter(str(self.video), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (96, 72))
        for i in range(10):
            frame = np.full((72, 96, 3), 30 + 20 * i, np.uint8)
            frame[10 + i:40 + i, 20:60] = 230
            w.write(frame)
        w.release()
        self.video_bytes = self.video.read_bytes()


def _small_coco():
    return {"images": [{"id": i, "file_name": f"{i}.jpg", "height": 60, "width": 80} for i in (1, 2)],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 20], "area": 400,
                             "iscrowd": 0}],
            "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]}


# ---- mutations -----------------------------------------------------------------------------------------------

def pick(rng, items, p=None):
    """One of `items` (of any types; rng.choice would make them one numpy array)."""
    return items[int(rng.choice(len(items), p=p))]


def mutate_bytes(rng, data: bytes) -> (bytes, str):
    data = bytearray(data)
    n = len(data)
    kind = pick(rng, ["truncate", "flip", "insert", "delete", "duplicate", "zero", "append", "cut+tail"])
    pos = int(rng.integers(0, max(n, 1)))
    if kind == "truncate":
        data = data[:pos]
    elif kind == "flip":
        for p in rng.integers(0, max(n, 1), int(rng.integers(1, 24))):
            if n:
                data[p] ^= int(rng.integers(1, 256))
    elif kind == "insert":
        data[pos:pos] = rng.integers(0, 256, int(rng.integers(1, 64)), dtype=np.uint8).tobytes()
    elif kind == "delete":
        del data[pos:pos + int(rng.integers(1, 256))]
    elif kind == "duplicate":
        data[pos:pos] = data[pos:pos + int(rng.integers(1, 512))]
    elif kind == "zero":
        end = min(n, pos + int(rng.integers(1, 512)))
        data[pos:end] = bytes(end - pos)
    elif kind == "append":
        data += rng.integers(0, 256, int(rng.integers(1, 128)), dtype=np.uint8).tobytes()
    else:  # a cut file that still ends like a whole one (JPEG EOI, zip tail)
        data = data[:pos] + data[-int(rng.integers(2, 64)):]
    return bytes(data), f"{kind}@{pos}"


ODD_VALUES = [None, -1, 0, 1, 2**31, 10**30, -(10**12), 1.5, float("nan"), float("inf"), "", "x", [], {}, [1, 2],
              True, [[1, 2], [3]], "[64, 64]"]


def mutate_json(rng, obj, depth=0):
    """Replace, delete or duplicate one random element somewhere in a JSON-like tree."""
    if isinstance(obj, dict) and obj:
        key = list(obj)[int(rng.integers(len(obj)))]
        r = rng.random()
        if r < 0.2 and depth > 0:
            del obj[key]
            return f"del {key}"
        if r < 0.45 or not isinstance(obj[key], (dict, list)):
            obj[key] = _odd(rng)
            return f"{key}={obj[key]!r:.30}"
        return f"{key}/" + mutate_json(rng, obj[key], depth + 1)
    if isinstance(obj, list) and obj:
        i = int(rng.integers(len(obj)))
        r = rng.random()
        if r < 0.15:
            obj.append(obj[i])
            return f"dup[{i}]"
        if r < 0.3:
            obj.clear()
            return "cleared"
        if r < 0.5 or not isinstance(obj[i], (dict, list)):
            obj[i] = _odd(rng)
            return f"[{i}]={obj[i]!r:.30}"
        return f"[{i}]/" + mutate_json(rng, obj[i], depth + 1)
    return "leaf"


def _odd(rng):
    v = ODD_VALUES[int(rng.integers(len(ODD_VALUES)))]
    return json.loads(json.dumps(v)) if isinstance(v, (list, dict)) else v


def mutate_param(rng, text: str) -> (str, str):
    lines = text.splitlines()
    i = int(rng.integers(0, len(lines)))
    kind = pick(rng, ["token", "token", "token", "del line", "dup line", "swap", "header"])
    if kind == "token" and lines[i].split():
        tokens = lines[i].split()
        j = int(rng.integers(len(tokens)))
        key, sep, _ = tokens[j].partition("=")
        new = str(pick(rng, ["648.5", "-3", "0", "99999999999", "nan", "abc", "", "1e3", "-23300=2,1,2"]))
        tokens[j] = f"{key}={new}" if sep else new
        if rng.random() < 0.2:
            del tokens[j]
        lines[i] = " ".join(tokens)
    elif kind == "del line":
        del lines[i]
    elif kind == "dup line":
        lines.insert(i, lines[i])
    elif kind == "swap":
        k = int(rng.integers(0, len(lines)))
        lines[i], lines[k] = lines[k], lines[i]
    else:
        lines[min(1, len(lines) - 1)] = str(pick(rng, ["0 0", "999 999", "x", "", "-1 5"]))
    return "\n".join(lines) + "\n", f"{kind} line {i}"


# ---- checks ----------------------------------------------------------------------------------------------------

def one_line(e: BaseException) -> None:
    msg = str(e)
    if "\n" in msg.strip() or len(msg) > MESSAGE_MAX:
        raise CaseFailure(f"{type(e).__name__} with a message of {len(msg)} chars / "
                          f"{msg.count(chr(10)) + 1} lines: {msg[:200]!r}")


def expect(call, allowed):
    """Run `call`; return its result, or None when it raised an allowed one-line error."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return call()
    except allowed as e:
        one_line(e)
        return None


# ---- op targets ------------------------------------------------------------------------------------------------

def _array(rng, shape, dtype):
    if np.dtype(dtype).kind == "f":
        return (rng.standard_normal(shape) * pick(rng, [1, 50, 1e4])).astype(dtype)
    if np.dtype(dtype).kind == "b":
        return rng.random(shape) < 0.5
    return rng.integers(0, 256, shape).astype(dtype)


def _poison(rng, a):
    if a.dtype.kind == "f" and a.size and rng.random() < 0.4:
        idx = rng.integers(0, a.size, int(rng.integers(1, 8)))
        a.reshape(-1)[idx] = rng.choice(np.array([np.nan, np.inf, -np.inf, 3e38, -3e38, 0.0]), len(idx))
    return a


def case_letterbox(rng, fx):
    from yolov6_edge import ops

    n = int(rng.integers(0, 4))
    images = []
    for _ in range(n):
        if rng.random() < 0.85:
            h, w = (int(v) for v in rng.integers(1, [400, 400]))
            shape, dtype = (h, w, 3), np.uint8
        else:
            shape = tuple(int(v) for v in rng.integers(0, 40, int(rng.integers(1, 5))))
            dtype = pick(rng, [np.uint8, np.float32, np.int16, np.bool_])
        img = _array(rng, shape, dtype)
        if img.ndim == 3 and rng.random() < 0.2:
            img = img[::2, ::3]  # not contiguous
        images.append(img)
    arg = images if rng.random() < 0.8 or n != 1 else images[0]
    size = pick(rng, [(int(rng.integers(1, 700)), int(rng.integers(1, 700))), int(rng.integers(-5, 700)),
                       "320", (32.0, 32), (0, 64), 2**40, None], p=[0.6, 0.2, 0.04, 0.04, 0.04, 0.04, 0.04])
    dtype = pick(rng, [np.float32, np.float16, np.float64, "int8"], p=[0.5, 0.3, 0.1, 0.1])
    threads = int(pick(rng, [0, 1, 2, 8, -3, 10**6]))
    center = bool(rng.random() < 0.5)
    desc = f"letterbox(n={n} shapes={[i.shape for i in images]} size={size!r} dtype={np.dtype(dtype).name})"

    def run():
        out = expect(lambda: ops.letterbox(arg, size, center=center, dtype=dtype, threads=threads), OP_ERRORS)
        if out is None:
            return
        blob, params = out
        h, w = (size, size) if isinstance(size, (int, np.integer)) else size
        if blob.shape != (len(images), 3, h, w) or params.shape != (len(images), 3):
            raise CaseFailure(f"shapes {blob.shape} {params.shape}")
        b = blob.astype(np.float32)
        if not (np.isfinite(b).all() and b.min(initial=0) >= 0 and b.max(initial=0) <= 1):
            raise CaseFailure("blob values outside [0, 1]")
        if not (np.isfinite(params).all() and (params[:, 0] > 0).all()):
            raise CaseFailure(f"params {params}")
    return desc, run


def case_nms(rng, fx):
    from reference_ops import nms_reference
    from yolov6_edge import ops

    b, n, c = int(rng.integers(0, 4)), int(rng.integers(0, 400)), int(rng.integers(0, 90))
    xy = rng.uniform(-50, 700, (b, n, 2))
    wh = rng.uniform(-5, 200, (b, n, 2))
    boxes = np.concatenate([xy, xy + wh], -1).astype(pick(rng, [np.float32, np.float64, np.float16, np.int32]))
    scores = rng.random((b, n, c)).astype(np.float32)
    if rng.random() < 0.3:
        scores = np.round(scores, 1)
    boxes, scores = _poison(rng, boxes), _poison(rng, scores)
    if rng.random() < 0.1:  # shapes that disagree
        boxes = boxes[..., :3] if rng.random() < 0.5 else boxes[:, : max(n - 1, 0)]
    if rng.random() < 0.1 and b:
        boxes, scores = boxes[0], scores[0]  # 2-D: a batch of one
    kw = dict(conf_thres=float(pick(rng, [0.001, 0.25, 0.5, -1.0, 1.0, np.nan])) if rng.random() < 0.9 else "0.3",
              iou_thres=float(pick(rng, [0.0, 0.45, 0.65, 1.0, -0.5, 2.0])),
              max_det=int(pick(rng, [0, 1, 30, 300, 10**6, -1, 2**31])),
              multi_label=bool(rng.random() < 0.5), agnostic=bool(rng.random() < 0.2),
              max_candidates=int(pick(rng, [1, 50, 30000, 0, 2**40])), threads=int(pick(rng, [0, 1, 3, 10**9])))
    desc = f"batched_nms(boxes {boxes.shape} {boxes.dtype}, scores {scores.shape}, {kw})"

    def run():
        out = expect(lambda: ops.batched_nms(boxes, scores, **kw), OP_ERRORS)
        if out is None:
            return
        batch = 1 if scores.ndim == 2 else scores.shape[0]
        if len(out) != batch:
            raise CaseFailure(f"{len(out)} results for batch {batch}")
        s3 = scores if scores.ndim == 3 else scores[None]
        b3 = np.asarray(boxes if boxes.ndim == 3 else boxes[None], np.float32)
        for i, d in enumerate(out):
            if d.ndim != 2 or d.shape[1] != 6 or d.shape[0] > max(kw["max_det"], 0):
                raise CaseFailure(f"image {i}: result shape {d.shape}")
            if len(d) and (np.diff(d[:, 4]) > 0).any():
                raise CaseFailure(f"image {i}: scores not sorted")
            if len(d) and not (np.isfinite(d[:, :4]).all() and (d[:, 4] > kw["conf_thres"]).all()
                               and (d[:, 5] >= 0).all() and (d[:, 5] < s3.shape[2]).all()):
                raise CaseFailure(f"image {i}: a row breaks the rules: {d[:3]}")
            if s3.shape[1] * s3.shape[2] <= 4000 and kw["max_candidates"] <= 2**31 - 1 and kw["max_det"] <= 10**6:
                ref = nms_reference(b3[i], s3[i], kw["conf_thres"], kw["iou_thres"], kw["max_det"],
                                    kw["multi_label"], kw["agnostic"], kw["max_candidates"])
                if not np.array_equal(d, ref):
                    raise CaseFailure(f"image {i}: differs from the numpy reference ({len(d)} vs {len(ref)} rows)")
    return desc, run


def case_decode(rng, fx):
    from yolov6_edge import ops

    b, n = int(rng.integers(0, 3)), int(rng.integers(0, 300))
    reg_max = int(pick(rng, [0, 0, 4, 16, -1, 2**31]))
    width = 4 * (reg_max + 1) if 0 < reg_max < 100 else 4
    if rng.random() < 0.1:
        width += 1
    reg = _poison(rng, _array(rng, (b, n, width), pick(rng, [np.float32, np.float64])))
    anchors = _array(rng, (n + int(rng.random() < 0.1), 2), np.float32)
    strides = rng.choice(np.array([8.0, 16.0, 0.0, np.nan]), n) if rng.random() < 0.9 else np.ones(n + 1)
    desc = f"decode_boxes(reg {reg.shape}, anchors {anchors.shape}, strides {np.shape(strides)}, reg_max={reg_max})"

    def run():
        out = expect(lambda: ops.decode_boxes(reg, anchors, strides, reg_max), OP_ERRORS)
        if out is not None and out.shape != (b, n, 4):
            raise CaseFailure(f"result shape {out.shape}")
    return desc, run


# ---- loader targets --------------------------------------------------------------------------------------------

def _model_errors():
    from yolov6_edge.errors import Yolov6EdgeError

    return (Yolov6EdgeError,)


def case_image(rng, fx):
    from yolov6_edge.runtime.images import read_image

    name = list(fx.images)[int(rng.integers(len(fx.images)))]
    data, how = mutate_bytes(rng, fx.images[name])
    path = fx.work / f"case{Path(name).suffix}"
    path.write_bytes(data)
    corrupt = "warn" if rng.random() < 0.2 else "error"

    def run():
        img = expect(lambda: read_image(path, corrupt=corrupt), _model_errors())
        if img is not None and (img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3 or not img.size):
            raise CaseFailure(f"read_image returned {img.dtype} {img.shape}")
    return f"read_image({name} {how}, corrupt={corrupt})", run


def case_param(rng, fx):
    from yolov6_edge.weights import load_model

    if fx.param is None:
        return None
    text, binary = fx.param
    what = pick(rng, ["param", "param", "bin", "both"])
    how = []
    if what in ("param", "both"):
        text, h = mutate_param(rng, text)
        how.append(h)
    if what in ("bin", "both"):
        binary, h = mutate_bytes(rng, binary)
        how.append(h)
    (fx.work / "case.param").write_text(text)
    (fx.work / "case.bin").write_bytes(binary)

    def run():
        out = expect(lambda: load_model(fx.work / "case.param"), _model_errors())
        if out is not None and len(out[0].names) != out[0].num_classes:
            raise CaseFailure("names and num_classes disagree")
    return f"load_model(.param/.bin {what}: {'; '.join(how)})", run


def case_checkpoint(rng, fx):
    import torch

    from yolov6_edge.weights import load_model

    path = fx.work / "case.pt"
    if rng.random() < 0.5:
        data, how = mutate_bytes(rng, fx.ckpt_bytes)
        path.write_bytes(data)
    else:
        ckpt = dict(fx.ckpt, state_dict=dict(fx.ckpt["state_dict"]))
        key = pick(rng, ["num_classes", "names", "model_name", "fused", "format_version", "state_dict", "tensor"])
        if key == "tensor":
            k = list(ckpt["state_dict"])[int(rng.integers(len(ckpt["state_dict"])))]
            ckpt["state_dict"][k] = pick(rng, [torch.zeros(3), torch.zeros(0), torch.full((2, 2), float("nan")),
                                                torch.zeros((1,), dtype=torch.int8)])
            how = f"state_dict[{k}] replaced"
        else:
            ckpt[key] = _odd(rng) if key != "names" or rng.random() < 0.5 else ["a", "b"]
            how = f"{key}={ckpt[key]!r:.30}"
        torch.save(ckpt, path)

    def run():
        out = expect(lambda: load_model(path), _model_errors())
        if out is not None and len(out[0].names) != out[0].num_classes:
            raise CaseFailure("names and num_classes disagree")
    return f"load_model(checkpoint {how})", run


class _Reduce:
    def __init__(self, fn, args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


def case_pickle(rng, fx):
    """Official-style .pt files that would run code if unpickled naively: all must be refused, none may run."""
    import builtins
    import subprocess as sp

    import torch

    from yolov6_edge.weights import load_model

    marker = fx.work / "PWNED"
    cmd = f"touch {marker}"
    payloads = [(os.system, (cmd,)), (sp.call, ([sys.executable, "-c", f"open({str(marker)!r}, 'w')"],)),
                (builtins.eval, (f"open({str(marker)!r}, 'w')",)), (builtins.exec, (f"open({str(marker)!r}, 'w')",)),
                (shutil.copy, (str(fx.work / "m.pt"), str(marker))), (builtins.open, (str(marker), "w"))]
    fn, args = payloads[int(rng.integers(len(payloads)))]
    obj = _Reduce(fn, args)
    top = pick(rng, ["model", "ema", "nested", "plain"])
    payload = {"model": obj} if top == "model" else {"ema": obj, "model": None} if top == "ema" else \
        {"model": {"a": [obj]}} if top == "nested" else obj
    path = fx.work / "evil.pt"
    if rng.random() < 0.5:
        torch.save(payload, path)
    else:
        path.write_bytes(pickle.dumps(payload, protocol=int(rng.integers(2, 5))))

    def run():
        expect(lambda: load_model(path), _model_errors())
        if marker.exists():
            marker.unlink()
            raise CaseFailure(f"the pickled {fn.__module__}.{fn.__name__} ran")
    return f"load_model(pickle calling {fn.__module__}.{fn.__name__}, {top})", run


def case_official(rng, fx):
    from yolov6_edge.weights import load_model

    if fx.official is None:
        return None
    data, how = mutate_bytes(rng, fx.official)
    (fx.work / "official.pt").write_bytes(data)

    def run():
        expect(lambda: load_model(fx.work / "official.pt"), _model_errors())
    return f"load_model(official yolov6lite_s.pt {how})", run


def case_onnx(rng, fx):
    import onnx

    from yolov6_edge.runtime.detector import Detector

    name = pick(rng, list(fx.onnx))
    path = fx.work / "case.onnx"
    if rng.random() < 0.5:
        data, how = mutate_bytes(rng, fx.onnx[name])
        path.write_bytes(data)
    else:
        proto = onnx.load_from_string(fx.onnx[name])
        kind = pick(rng, ["meta", "output dim", "drop node", "rename output", "input dim"])
        if kind == "meta":
            entry = proto.metadata_props[int(rng.integers(len(proto.metadata_props)))]
            entry.value = json.dumps(_odd(rng)) if rng.random() < 0.7 else "{not json"
            how = f"metadata {entry.key}={entry.value[:30]}"
        elif kind in ("output dim", "input dim"):
            vi = proto.graph.output[0] if kind == "output dim" else proto.graph.input[0]
            dims = vi.type.tensor_type.shape.dim
            d = dims[int(rng.integers(len(dims)))]
            d.dim_value = int(pick(rng, [0, 1, 5, 64, 10**6]))
            how = f"{kind} of {vi.name} -> {d.dim_value}"
        elif kind == "drop node":
            i = int(rng.integers(len(proto.graph.node)))
            how = f"dropped node {proto.graph.node[i].op_type}"
            del proto.graph.node[i]
        else:
            out = proto.graph.output[int(rng.integers(len(proto.graph.output)))]
            how = f"output {out.name} renamed"
            out.name = "renamed"
        path.write_bytes(proto.SerializeToString())
    imgs = [rng.integers(0, 256, (int(rng.integers(1, 120)), int(rng.integers(1, 120)), 3), dtype=np.uint8)
            for _ in range(int(rng.integers(1, 4)))]

    def run():
        det = expect(lambda: Detector(path, conf=0.01), _model_errors())
        if det is None:
            return
        res = expect(lambda: det(imgs), _model_errors())
        if res is None:
            return
        if len(res) != len(imgs):
            raise CaseFailure(f"{len(res)} results for {len(imgs)} images")
        for r in res:
            if r.boxes.shape != (len(r.scores), 4) or not np.isfinite(r.boxes).all():
                raise CaseFailure(f"malformed detections {r.boxes.shape}")
    return f"Detector({name} {how})({len(imgs)} images)", run


def case_coco(rng, fx):
    from yolov6_edge.eval.coco import load_annotations, score

    data = json.loads(json.dumps(fx.coco))
    how = "; ".join(mutate_json(rng, data) for _ in range(int(rng.integers(1, 4))))
    path = fx.work / "case.json"
    text = json.dumps(data)
    if rng.random() < 0.15:
        raw, h = mutate_bytes(rng, text.encode())
        path.write_bytes(raw)
        how += f"; bytes {h}"
    else:
        path.write_text(text)

    def run():
        coco = expect(lambda: load_annotations(path), _model_errors())
        if coco is None:
            return
        # what eval does next: score detections against it (pycocotools used to KeyError here)
        img_ids, cat_ids = sorted(coco.getImgIds()), sorted(coco.getCatIds())
        results = [{"image_id": img_ids[int(rng.integers(len(img_ids)))],
                    "category_id": cat_ids[int(rng.integers(len(cat_ids)))],
                    "bbox": [float(v) for v in rng.uniform(0, 100, 4)], "score": float(rng.random())}
                   for _ in range(5)]
        with contextlib.redirect_stdout(io.StringIO()):
            stats = score(coco, results)
        if not all(math.isfinite(v) for v in stats.values()):
            raise CaseFailure(f"AP figures {stats}")
    return f"load_annotations+score({how[:120]})", run


def case_cache(rng, fx):
    from yolov6_edge.quant.cache import read_cache

    data = json.loads(json.dumps(fx.cache))
    how = mutate_json(rng, data)
    path = fx.work / "case.calib.json"
    path.write_text(json.dumps(data))
    key = {"model_hash": "m", "images_hash": "i", "method": "max"}

    def run():
        out = expect(lambda: read_cache(path, key), _model_errors())
        if out is not None:
            amax, scales = out
            if not (all(math.isfinite(v) and v >= 0 for v in amax.values()) and any(amax.values())
                    and all(math.isfinite(v) and v > 0 for sc in scales.values() for v in sc)):
                raise CaseFailure("accepted an unusable range")
    return f"read_cache({how})", run


def case_info(rng, fx):
    from yolov6_edge.cli.info import describe

    suffix = pick(rng, [".onnx", ".pt", ".engine"])
    seed = {".onnx": fx.onnx["tiny.onnx"], ".pt": fx.ckpt_bytes, ".engine": b"\x00" * 64}[suffix]
    data, how = mutate_bytes(rng, seed)
    path = fx.work / f"info{suffix}"
    path.write_bytes(data)

    def run():
        expect(lambda: describe(path), _model_errors())
    return f"info({suffix} {how})", run


ODD_YAML = ["0", "-1", "2.5", "1e400", ".nan", ".inf", "true", "null", "''", "[]", "{}", "[1, [2, [3]]]",
            "!!binary aGk=", "!!python/object/apply:os.system [echo]", "*undefined", "&a 5", "2020-01-01", "0x1F",
            "'\\xff'", "[a, b, c]", "{a: 1}", "99.99", "0.9999", "150", "auto", "mse", '"../../etc/passwd"']


def mutate_yaml(rng, text: str) -> (str, str):
    lines = text.splitlines()
    settings = [i for i, ln in enumerate(lines) if ":" in ln and not ln.lstrip().startswith("#")] or [0]
    lines = lines or [""]
    kind = pick(rng, ["value", "value", "value", "key", "del", "dup", "indent", "alias bomb", "nest", "bytes"])
    i = settings[int(rng.integers(len(settings)))]
    if kind == "value":
        key = lines[i].split(":", 1)[0] or "num"
        lines[i] = f"{key}: {pick(rng, ODD_YAML)}"
    elif kind == "key":
        lines[i] = pick(rng, ["colour", "qat.epochs", "", "- a", "? x", "<<"]) + ":" + lines[i].partition(":")[2]
    elif kind == "del":
        del lines[i]
    elif kind == "dup":
        lines.insert(i, lines[i])
    elif kind == "indent":
        lines[i] = " " * int(rng.integers(1, 6)) + lines[i]
    elif kind == "alias bomb":
        levels = int(rng.integers(2, 12))
        bomb = ["l0: &l0 [x, x, x, x, x, x, x, x, x]"] + [f"l{k}: &l{k} [" + ", ".join([f"*l{k - 1}"] * 9) + "]"
                                                          for k in range(1, levels)]
        lines[i:i] = bomb
    elif kind == "nest":
        depth = int(rng.integers(5, 200))
        lines[i] = (lines[i].split(":", 1)[0] or "num") + ": " + "[" * depth + "]" * depth
    else:
        raw, h = mutate_bytes(rng, "\n".join(lines).encode())
        return raw.decode("latin-1"), f"bytes {h}"
    return "\n".join(lines) + "\n", f"{kind} line {i}"


def case_recipe(rng, fx):
    """calibrate/qat/build --recipe: a recipe is read completely and bounded, or refused in one line."""
    from yolov6_edge.quant.recipe import QuantRecipe

    text, how = mutate_yaml(rng, fx.recipe)
    if rng.random() < 0.3:
        text, more = mutate_yaml(rng, text)
        how += "; " + more
    path = fx.work / "case.yaml"
    path.write_bytes(text.encode("latin-1", "replace") if "bytes" in how else text.encode())

    def run():
        recipe = expect(lambda: QuantRecipe.load(path), _model_errors())
        if recipe is None:
            return
        recipe.check()  # what was accepted must pass the checks again
        json.dumps(recipe.to_dict())
        if not (isinstance(recipe.num, int) and recipe.num >= 1 and 50 < recipe.percentile <= 100
                and isinstance(recipe.qat.epochs, int) and recipe.qat.lr > 0):
            raise CaseFailure(f"accepted an unusable recipe: {recipe}")
    return f"QuantRecipe.load({how})", run


def _tree_edit(rng, root):
    """One structural edit of an official module tree: a field of another type, a tensor of another shape
    (views included), a module removed or renamed."""
    import torch

    from yolov6_edge.weights.official_tree import walk

    nodes = list(walk(root))
    where, node = nodes[int(rng.integers(len(nodes)))]
    state = node.__dict__
    kind = pick(rng, ["field", "tensor", "view", "drop child", "class", "attr"])
    if kind == "field":
        key = pick(rng, ["_modules", "_parameters", "_buffers", "_non_persistent_buffers_set", "training"])
        state[key] = _odd(rng)
        return f"{where or '<model>'}.{key}={state[key]!r:.30}"
    tensors = [(d, k) for d in ("_parameters", "_buffers") for k, v in (state.get(d) or {}).items() if v is not None]
    if kind in ("tensor", "view") and tensors:
        d, k = tensors[int(rng.integers(len(tensors)))]
        t = state[d][k]
        if kind == "view" and t.numel():
            n = int(pick(rng, [0, 1, 7, 10**6, 10**9, 2**40]))
            state[d][k] = t.reshape(-1)[:1].expand(n, *([1] * max(t.dim() - 1, 0)))
            return f"{where}.{k} viewed as {tuple(state[d][k].shape)}"
        state[d][k] = pick(rng, [torch.zeros(0), torch.zeros(3, 3), torch.full(tuple(t.shape), float("nan")),
                                 t.to(torch.int8), t.reshape(-1), torch.zeros((1,) * 9)])
        return f"{where}.{k} -> {tuple(state[d][k].shape)} {state[d][k].dtype}"
    if kind == "drop child" and isinstance(state.get("_modules"), dict) and state["_modules"]:
        name = pick(rng, list(state["_modules"]))
        del state["_modules"][name]
        return f"dropped {where}.{name}"
    if kind == "class":  # another class for this one node (placeholder classes are shared: never edit one)
        from yolov6_edge.weights.official import _placeholder

        qualname = pick(rng, ["yolov6.layers.common.Nope", "torch.nn.modules.linear.Linear",
                              "yolov6.models.effidehead.Detect", "yolov6.layers.common.RepVGGBlock"])
        node.__class__ = _placeholder(*qualname.rsplit(".", 1))
        return f"{where} class -> {qualname}"
    key = pick(rng, ["nc", "stride", "reg_max", "use_dfl", "eps", "momentum", "nl", "grid"])
    state[key] = _odd(rng) if rng.random() < 0.7 else torch.tensor(pick(rng, [[8, 16], [0.5], [[8]], [-8, 16, 32]]))
    return f"{where}.{key}={state[key]!r:.30}"


def case_official_tree(rng, fx):
    """Official .pt files edited structurally (types, shapes, views that claim more than they store)."""
    import copy

    from official_files import save_tree
    from yolov6_edge.weights import load_model

    if not fx.official_trees:
        return None
    name = pick(rng, sorted(fx.official_trees))
    top = copy.deepcopy(fx.official_trees[name])
    how = "; ".join(_tree_edit(rng, top["model"]) for _ in range(int(rng.integers(1, 3))))
    path = fx.work / "tree.pt"
    try:
        save_tree(top, path)
    except Exception:  # noqa: BLE001 - an edit torch itself cannot save makes no file: nothing to load
        return f"official tree {name}: {how} (not savable)", lambda: None

    def run():
        out = expect(lambda: load_model(path), _model_errors())
        if out is not None:
            model, info = out
            if not 1 <= model.num_classes <= 100_000 or len(model.names) != model.num_classes:
                raise CaseFailure(f"loaded a model with {model.num_classes} classes")
    return f"load_model(official tree {name}: {how})", run


def case_stream(rng, fx):
    """Detector.stream over good and damaged sources with random argument values: each result well-formed, the
    stream ends (the parent catches a hang), faults are one line."""
    from yolov6_edge.runtime.detector import Detector

    if not hasattr(fx, "detector"):
        fx.detector = Detector(fx.work / "tiny.onnx", conf=0.05)
    kind = pick(rng, ["video", "damaged video", "arrays", "images", "mixed list"])
    frames_given = None
    if kind == "video":
        source = fx.video
    elif kind == "damaged video":
        data, h = mutate_bytes(rng, fx.video_bytes)
        source = fx.work / "case.mp4"
        source.write_bytes(data)
        kind += f" {h}"
    elif kind == "arrays":
        n = int(rng.integers(0, 12))
        frames_given = []
        for _ in range(n):
            if rng.random() < 0.85:
                frames_given.append(rng.integers(0, 256, (int(rng.integers(1, 90)), int(rng.integers(1, 90)), 3),
                                                 dtype=np.uint8))
            else:
                frames_given.append(_array(rng, tuple(int(v) for v in rng.integers(0, 20, int(rng.integers(1, 4)))),
                                           pick(rng, [np.uint8, np.float32])))
        buffer = rng.random() < 0.5  # one reused buffer, as a capture loop does

        def gen(frames=frames_given):
            buf = None
            for f in frames:
                if buffer and buf is not None and buf.shape == f.shape and f.dtype == buf.dtype:
                    buf[...] = f
                    yield buf
                else:
                    buf = f.copy()
                    yield buf
        source = gen()
    elif kind == "images":
        names = [pick(rng, list(fx.images)) for _ in range(int(rng.integers(1, 4)))]
        source = []
        for j, name in enumerate(names):
            p = fx.work / f"s{j}{Path(name).suffix}"
            data = fx.images[name] if rng.random() < 0.7 else mutate_bytes(rng, fx.images[name])[0]
            p.write_bytes(data)
            source.append(p)
    else:
        source = [fx.video, fx.video]
    kw = {}
    for key, values in (("batch", [1, 2, 4, 0, -1, 2.5, 10**9]), ("queue", [1, 3, 8, 0]), ("vid_stride", [1, 2, 5, 0]),
                        ("policy", ["auto", "block", "drop-oldest", "drop-newest", "x"]),
                        ("timeout", [1.0, 10.0, -1.0, float("nan"), "5"]), ("reconnect", [0, 1, -1]),
                        ("decoder", ["auto", "opencv", "pyav", "x"]), ("keep_frames", [False, True, "yes"])):
        if rng.random() < 0.3:
            kw[key] = pick(rng, values)

    def run():
        stream = expect(lambda: fx.detector.stream(source, **kw), _model_errors())
        if stream is None:
            return
        results = expect(lambda: list(stream), _model_errors())
        stream.close()
        if results is None:
            return
        last = {}
        for r in results:
            if r.boxes.shape != (len(r.scores), 4) or not np.isfinite(r.boxes).all():
                raise CaseFailure(f"malformed detections {r.boxes.shape}")
            key = id(r.video)  # one VideoInfo per source (two sources may share a name)
            if r.frame_index <= last.get(key, -1):
                raise CaseFailure(f"{r.source}: frame {r.frame_index} after {last[key]}")
            last[key] = r.frame_index
        if frames_given is not None and kw.get("keep_frames") is True:
            for r in results:  # the frame kept is the one given, whatever the caller did to its buffer since
                if not np.array_equal(r.frame, frames_given[r.frame_index]):
                    raise CaseFailure(f"frame {r.frame_index}: the result holds other pixels than were given")
    return f"stream({kind}, {kw})", run


# name -> (make case, relative weight)
TARGETS = {
    "letterbox": (case_letterbox, 6), "batched_nms": (case_nms, 8), "decode_boxes": (case_decode, 3),
    "image": (case_image, 6), "param": (case_param, 2), "checkpoint": (case_checkpoint, 2),
    "pickle": (case_pickle, 1), "official": (case_official, 1), "onnx": (case_onnx, 3), "coco": (case_coco, 3),
    "cache": (case_cache, 2), "info": (case_info, 2),
    "recipe": (case_recipe, 3), "official_tree": (case_official_tree, 1), "stream": (case_stream, 3),
}


def target_of(seed: int, index: int) -> str:
    names = list(TARGETS)
    weights = np.array([TARGETS[n][1] for n in names], float)
    return names[np.random.default_rng([seed, index, 0]).choice(len(names), p=weights / weights.sum())]


# ---- worker and parent ---------------------------------------------------------------------------------------

def worker(seed: int, start: int, count: int, deadline: float, progress: Path) -> None:
    """Run cases start.. until count or deadline; append one JSON line per case to `progress`."""
    with tempfile.TemporaryDirectory() as tmp:
        fx = Fixtures(Path(tmp))
        with open(progress, "a") as log:
            index = start
            while index < start + count and time.time() < deadline:
                name = target_of(seed, index)
                rng = np.random.default_rng([seed, index])
                record = {"index": index, "target": name}
                try:
                    made = TARGETS[name][0](rng, fx)
                    if made is None:
                        record["skipped"] = "its seed file is absent (../shared)"
                    else:
                        record["case"], run = made
                        log.write(json.dumps({"index": index, "target": name, "running": record["case"]}) + "\n")
                        log.flush()
                        t0 = time.perf_counter()
                        run()
                        record["seconds"] = round(time.perf_counter() - t0, 4)
                except CaseFailure as e:
                    record["failure"] = str(e)
                except Exception as e:  # noqa: BLE001 - an unexpected exception is what we look for
                    record["failure"] = f"unexpected {type(e).__name__}: {str(e)[:300]}"
                    record["traceback"] = traceback.format_exc()[-1500:]
                log.write(json.dumps(record) + "\n")
                log.flush()
                index += 1


def fuzz(seed=0, cases=None, seconds=None, start=0, hang_seconds=60.0, quiet=False) -> dict:
    """Run the fuzz in worker subprocesses; returns counts per target, failures and the wall time."""
    t0 = time.time()
    deadline = t0 + (seconds if seconds is not None else 10**9)
    end = start + (cases if cases is not None else 10**12)
    index, failures, tried, skipped, spent = start, [], {}, {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        progress = Path(tmp) / "progress.jsonl"
        while index < end and time.time() < deadline:
            progress.write_text("")
            cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "--seed", str(seed), "--start",
                   str(index), "--cases", str(end - index), "--deadline", str(deadline), "--progress", str(progress)]
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                    env=dict(os.environ, OMP_NUM_THREADS="1"))
            last_size, last_change, hung = 0, time.time(), False
            while proc.poll() is None:
                time.sleep(0.2)
                size = progress.stat().st_size
                if size != last_size:
                    last_size, last_change = size, time.time()
                elif time.time() - last_change > hang_seconds:
                    proc.kill()
                    hung = True
            stderr = proc.stderr.read()
            records = [json.loads(line) for line in progress.read_text().splitlines() if line.strip()]
            done = [r for r in records if "running" not in r]
            for r in done:
                if "skipped" in r:
                    skipped[r["target"]] = skipped.get(r["target"], 0) + 1
                    continue
                tried[r["target"]] = tried.get(r["target"], 0) + 1
                spent[r["target"]] = spent.get(r["target"], 0.0) + r.get("seconds", 0.0)
                if "failure" in r:
                    failures.append(r)
            last_done = max((r["index"] for r in done), default=index - 1)
            running = [r for r in records if "running" in r and r["index"] > last_done]
            if hung or proc.returncode != 0:
                what = "hang" if hung else f"worker died (returncode {proc.returncode})"
                if running:
                    r = running[-1]
                    tried[r["target"]] = tried.get(r["target"], 0) + 1
                    failures.append({"index": r["index"], "target": r["target"], "case": r["running"],
                                     "failure": what, "stderr": stderr[-1500:]})
                    index = r["index"] + 1
                else:  # died outside a case (building the fixtures): nothing more can run
                    failures.append({"index": last_done + 1, "target": "-", "case": "worker start",
                                     "failure": what, "stderr": stderr[-3000:]})
                    break
            else:
                index = last_done + 1
            if not quiet:
                print(f"  {sum(tried.values())} cases, {len(failures)} failures, {time.time() - t0:.0f} s",
                      file=sys.stderr)
    return {"seed": seed, "start": start, "cases": sum(tried.values()), "per_target": dict(sorted(tried.items())),
            "seconds_per_target": {k: round(v, 2) for k, v in sorted(spent.items())}, "skipped": skipped,
            "failures": failures, "seconds": round(time.time() - t0, 1)}


def report_markdown(result: dict, command: str) -> str:
    lines = [f"# Fuzz run: {result['cases']} cases in {result['seconds']} s, {len(result['failures'])} failures", "",
             f"`{command}` (seed {result['seed']})", "", "| target | cases | seconds in the calls |", "|---|---|---|"]
    lines += [f"| {t} | {n} | {result['seconds_per_target'].get(t, 0):.1f} |" for t, n in result["per_target"].items()]
    if result["skipped"]:
        lines += ["", f"Skipped (seed file absent): {result['skipped']}"]
    for f in result["failures"]:
        lines += ["", f"- case {f['index']} ({f['target']}): {f.get('case', '')}: **{f['failure']}**"]
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--start", type=int, default=0, help="first case index (reproduce one case: --cases 1)")
    ap.add_argument("--cases", type=int, default=None)
    ap.add_argument("--seconds", type=float, default=None)
    ap.add_argument("--hang-seconds", type=float, default=60.0)
    ap.add_argument("--out", type=Path, default=None, help="write a markdown report here")
    ap.add_argument("--json", type=Path, default=None, help="write the full result here")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--deadline", type=float, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--progress", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.seed, args.start, args.cases, args.deadline, args.progress)
        return 0
    if args.cases is None and args.seconds is None:
        args.cases = 2000
    result = fuzz(args.seed, args.cases, args.seconds, args.start, args.hang_seconds)
    command = "python tests/fuzz.py " + " ".join(sys.argv[1:])
    text = report_markdown(result, command)
    print(text)
    for f in result["failures"][:5]:
        print(f.get("traceback") or f.get("stderr") or "", file=sys.stderr)
    from yolov6_edge.atomic import atomic_write_text

    if args.out:
        atomic_write_text(args.out, text)
    if args.json:
        atomic_write_text(args.json, json.dumps(result, indent=1) + "\n")
    return 1 if result["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
