"""Post-training quantization end to end: model file + images -> calibrated QDQ ONNX (+ cache, report).

`calibrate_to_qdq` is what `yolov6-edge calibrate` and the TensorRT build helper call.
"""
import json
from pathlib import Path

import torch

from .. import arguments
from ..atomic import atomic_write_text
from ..errors import fail
from ..models import default_input_size
from .cache import model_hash, read_cache, write_cache
from .data import images_hash, iter_batches, list_images, num_batches
from .interface import (CHANNEL_SCALE_MODES, QuantConfig, calibrate, channel_scales, float_layers,
                        load_amax, quant_layers, quantize, set_float)
from .observers import METHODS, VERSION as OBSERVERS_VERSION
from .placement import place


def load_float_model(model_path):
    from ..weights import load_model

    model, info = load_model(model_path, fuse=True)
    return model.eval(), info


def calibrated_model(model, model_path, images, img_size=640, num=512, method="max", percentile=99.99,
                     cache=None, recalibrate=False, batch=8, channel_scale="depthwise", weight_bits=8):
    """Fake-quant copy of `model` with every activation amax set (from the cache when it matches).

    The cache does not depend on weight_bits: activations are calibrated on the float model.
    """
    if method not in METHODS:
        raise fail(model_path, f"unknown calibration method {method!r} (expected {', '.join(METHODS)})")
    if channel_scale not in CHANNEL_SCALE_MODES:
        raise fail(model_path, f"unknown channel scale mode {channel_scale!r} "
                               f"(expected {', '.join(CHANNEL_SCALE_MODES)})")
    percentile = arguments.percentile(percentile, where=str(model_path))  # before any image is read
    size = [img_size, img_size] if isinstance(img_size, int) else list(img_size)
    paths = list_images(images, num)
    key = {"model_hash": model_hash(model_path), "images_hash": images_hash(paths), "method": method,
           "img_size": size, "num_images": len(paths), "percentile": percentile if method == "percentile" else None,
           "observers_version": OBSERVERS_VERSION, "channel_scale": channel_scale}
    qmodel = quantize(model, QuantConfig(method=method, percentile=percentile, channel_scale=channel_scale,
                                         weight_bits=weight_bits))
    cached = None if (cache is None or recalibrate) else read_cache(cache, key)
    if cached is None:
        amax = calibrate(qmodel, lambda: iter_batches(paths, size, batch), method, percentile,
                         total=num_batches(paths, batch))
        if cache is not None:
            write_cache(cache, amax, key, channel_scales(qmodel))
    else:
        load_amax(qmodel, *cached)
    qmodel.calib_paths = paths
    return qmodel


def method_cache(cache: Path, method: str) -> Path:
    """Where `--method auto` keeps each candidate's calibration: OUT.calib.json -> OUT.calib.mse.json."""
    return cache.with_name(f"{cache.stem}.{method}{cache.suffix}")


def pick_method(model, model_path, images, img_size, num, eval_images, eval_ann, percentile=99.99, cache=None,
                recalibrate=False, batch=8, channel_scale="depthwise", weight_bits=8, target="tensorrt"):
    """Calibrate with every method; keep the one whose all-INT8 model scores the best AP on the eval images.

    Each candidate is scored as the QDQ ONNX of `target` on the runtime that target is for (tensorrt: ONNX
    Runtime, which computes the spec's Q/DQ literally), not as the fake-quant torch model: the two rank
    methods differently (YOLOv6Lite-M: fake-quant picked percentile, the ONNX on ORT mse). Which method wins
    depends on the model, so it is measured rather than guessed. Returns (calibrated fake-quant model,
    method, {method: AP}, runtime scored on).
    """
    best, aps = None, {}
    runtime = None
    for m in METHODS:
        q = calibrated_model(model, model_path, images, img_size, num, m, percentile,
                             method_cache(cache, m) if cache else None, recalibrate, batch, channel_scale,
                             weight_bits)
        aps[m], runtime = onnx_ap(q, img_size, target, eval_images, eval_ann, weight_bits)
        if best is None or aps[m] > aps[best[0]]:  # ties keep the earlier (cheaper) method
            best = (m, q)
    return best[1], best[0], aps, runtime


def onnx_ap(qmodel, img_size, target, eval_images, eval_ann, weight_bits=8) -> tuple:
    """(AP, runtime) of `qmodel` written as the QDQ ONNX of `target` and run on that target's CPU runtime
    (tensorrt: ONNX Runtime; cpu: OpenVINO where installed, else ONNX Runtime)."""
    import tempfile

    from ..eval.coco import evaluate
    from .choose_target import _available

    placement = target
    if target == "cpu":
        placement = "openvino" if _available("openvino") is None else "onnxruntime"
    runtime = "onnxruntime" if placement == "tensorrt" else placement
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "candidate.onnx"
        place(qmodel, path, img_size, placement, weight_bits)
        ap = evaluate(path, eval_images, eval_ann, progress=False, backend=runtime)["AP"]
    return float(ap), runtime


def parse_skip(skip, qmodel, source):
    """Layer names from a comma-separated string, a list, or a calibrate/qat report JSON (its float_layers)."""
    if skip in (None, "", "auto"):
        return []
    if _is_report(skip):
        skip = float_layers_from_report(Path(skip))
    names = [s.strip() for s in (skip.split(",") if isinstance(skip, str) else skip) if s.strip()]
    unknown = [n for n in names if n not in quant_layers(qmodel)]
    if unknown:
        raise fail(source, f"--skip names no quantizable layer: {unknown[0]} (see `yolov6-edge sensitivity`)")
    return names


def float_layers_from_report(path: Path) -> list:
    try:
        return list(_read_report(path)["float_layers"])
    except (KeyError, TypeError):
        raise fail(path, "not a calibrate/qat report JSON with a 'float_layers' list")


def method_from_report(skip):
    """The calibration method a calibrate report (`--skip OUT.quant.json`) used, else None."""
    if not _is_report(skip):
        return None
    report = _read_report(Path(skip))
    method = report.get("method") if isinstance(report, dict) else None
    return method if method in METHODS else None


def _is_report(skip) -> bool:
    return isinstance(skip, (str, Path)) and str(skip).endswith(".json")


def _read_report(path: Path):
    from ..files import regular_file

    regular_file(path, "report")
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise fail(path, "no such report")
    except ValueError:
        raise fail(path, "not a calibrate/qat report JSON")


def calibrate_to_qdq(model_path, images, out_onnx, recipe=None, cache=None, recalibrate=False, threads=None,
                     **settings) -> dict:
    """Calibrate `model_path` on `images` (folder or list) and write an INT8 QDQ ONNX to `out_onnx`.

    recipe: a QuantRecipe (recipe.py; the defaults when None); `settings` override its fields (num, img_size,
    method, skip, max_ap_drop, eval_images, eval_ann, percentile, batch, channel_scale, target, weight_bits).
    method "auto" (needs eval_images, eval_ann) calibrates with each method and keeps the best by AP on the
    eval images. skip: layer names kept in float, or "auto" with max_ap_drop (+ eval_images, eval_ann) to
    choose the fewest float layers that bring INT8 within max_ap_drop AP of float. target: the Q/DQ
    placement (targets.py); "cpu" writes the openvino and onnxruntime placements and keeps the faster one
    that agrees with the reference on this machine (choose_target.py). The cache defaults to
    <out_onnx>.calib.json (with "auto", one per method: <out_onnx>.calib.<method>.json) and serves every
    target. Returns a report dict, also written to <out_onnx>.quant.json.
    """
    from .recipe import QuantRecipe

    recipe = (recipe or QuantRecipe()).replace(images=str(images) if images is not None else None, **settings)
    if threads is not None:
        threads = arguments.integer(threads, "threads", 1, 1024, where=str(model_path))
    if threads:
        torch.set_num_threads(threads)
    out_onnx = Path(out_onnx)
    if out_onnx.suffix != ".onnx":
        raise fail(out_onnx, "the output must end in .onnx")
    if recipe.images is None:
        raise fail(model_path, "no calibration images (give --images or a recipe with images)")
    cache = Path(cache) if cache else out_onnx.with_suffix(".calib.json")
    model, info = load_float_model(model_path)
    img_size = recipe.img_size or default_input_size(getattr(model, "model_name", ""))
    img_size = (img_size, img_size) if isinstance(img_size, int) else tuple(img_size)
    r = recipe
    method, method_ap = r.method, None
    if method == "auto":
        if not r.eval_images or not r.eval_ann:
            raise fail(model_path, "--method auto needs --eval-images and --eval-ann (labelled images to score "
                                   "each calibration method on)")
        qmodel, method, method_ap, scored_on = pick_method(model, model_path, r.images, img_size, r.num,
                                                           r.eval_images, r.eval_ann, r.percentile, cache,
                                                           recalibrate, r.batch, r.channel_scale, r.bits, r.target)
        cache = method_cache(cache, method)
    else:
        qmodel = calibrated_model(model, model_path, r.images, img_size, r.num, method, r.percentile, cache,
                                  recalibrate, r.batch, r.channel_scale, r.bits)
    report = {"model": str(model_path), "images": str(r.images), "num_images": len(qmodel.calib_paths),
              "method": method, "channel_scale": r.channel_scale, "img_size": list(img_size), "cache": str(cache),
              "weight_bits": r.bits, "recipe": r.to_dict()}
    if method_ap is not None:
        report["method_ap"] = method_ap  # all-INT8 AP on the eval images per method; "method" is the best
        report["method_ap_runtime"] = scored_on
    if r.skip == "auto":
        if r.max_ap_drop is None or not r.eval_images or not r.eval_ann:
            raise fail(model_path, "--skip auto needs --max-ap-drop, --eval-images and --eval-ann")
        from .partial import choose_float_layers

        # the search scores fake-quant models against the float model (--method auto scored ONNX files)
        chosen = choose_float_layers(model, qmodel, r.eval_images, r.eval_ann, img_size, r.max_ap_drop)
        float_names = chosen["float_layers"]
        report["partial"] = chosen
    else:
        float_names = parse_skip(r.skip, qmodel, model_path)
    set_float(qmodel, float_names, only=True)
    report.update(export_for_target(qmodel, out_onnx, img_size, r.target, r.threads, r.images, r.bits, r))
    placed_float = float_layers(qmodel)  # the chosen ones, and for the CPU placements the convs on 1x1 maps
    report.update(onnx=str(out_onnx), float_layers=float_names,
                  float_on_1x1=sorted(set(placed_float) - set(float_names)),
                  quantized_layers=len(quant_layers(qmodel)) - len(placed_float))
    atomic_write_text(out_onnx.with_suffix(".quant.json"), json.dumps(report, indent=1))
    return report


def export_for_target(qmodel, out_onnx, img_size, target, threads=1, images=None, weight_bits=8,
                      recipe=None) -> dict:
    """Write the QDQ ONNX for `target`; for "cpu", measure the CPU placements against float and keep the
    faster right one (choose_target.py). recipe: its eval_images/eval_ann/ap_budget serve --target cpu."""
    if target != "cpu":
        return {"target": target, "weight_levels": place(qmodel, out_onnx, img_size, target, weight_bits)}
    from .choose_target import choose_cpu_target

    r = recipe
    return choose_cpu_target(qmodel, out_onnx, img_size, threads=threads, images=images, weight_bits=weight_bits,
                             eval_images=r.eval_images if r else None, eval_ann=r.eval_ann if r else None,
                             ap_budget=r.ap_budget if r else 1.0)
