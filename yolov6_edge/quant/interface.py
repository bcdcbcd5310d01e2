"""Our one small quantization interface; everything else in quant/ is built on these five calls.

    qmodel = quantize(model, QuantConfig(skip=["neck.reduce4.conv"]))   # fake-quant copy of a fused model
    calibrate(qmodel, batches, method="entropy")                      # activation amax from images
    set_float(qmodel, ["head.cls_preds.0"])                           # leave layers in float later
    export_qdq(qmodel, "model_int8.onnx", img_size=(320, 320))        # explicit Q/DQ ONNX

Backend: torch's own fake-quantize ops (fake_quant.py); see docs/QUANTIZATION.md for why not ModelOpt.
"""
import copy
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn as nn
from tqdm import tqdm

# quant_layers and strip live with the modules they walk (export.py needs them without this module)
from .fake_quant import QuantConv2d, quant_layers, strip  # noqa: F401 - quant_layers, strip: part of this interface


@dataclass
class QuantConfig:
    skip: list = field(default_factory=list)  # layer names (the Conv2d's module name) kept in float
    method: str = "max"
    percentile: float = 99.99
    # "depthwise": depthwise conv inputs get per-channel scales (fake_quant.QuantConv2d); "none": off
    channel_scale: str = "depthwise"
    # 8, or 7 for the CPU targets whose INT8 kernels saturate 8-bit weights (quant/targets.py)
    weight_bits: int = 8


CHANNEL_SCALE_MODES = ("depthwise", "none")


def quantize(model: nn.Module, config: QuantConfig = None) -> nn.Module:
    """Return a copy of `model` with every Conv2d wrapped in QuantConv2d (skipped ones wrapped but off)."""
    config = config or QuantConfig()
    qmodel = copy.deepcopy(model).eval()
    names = [n for n, m in qmodel.named_modules() if isinstance(m, nn.Conv2d)]
    unknown = set(config.skip) - set(names)
    if unknown:
        raise ValueError(f"skip names not found among the model's convolutions: {sorted(unknown)[:5]}")
    for name in names:
        qmodel.set_submodule(name, QuantConv2d(qmodel.get_submodule(name), config.weight_bits))
    set_float(qmodel, config.skip)
    qmodel.quant_config = config
    return qmodel


def set_float(qmodel: nn.Module, names, only: bool = False) -> None:
    """Turn quantization off for `names` (and, with only=True, on for every other layer)."""
    names = set(names)
    for n, m in quant_layers(qmodel).items():
        if n in names:
            m.set_quantized(False)
        elif only:
            m.set_quantized(True)


def float_layers(qmodel: nn.Module) -> list:
    return [n for n, m in quant_layers(qmodel).items() if not m.quantized]


@torch.no_grad()
def calibrate(qmodel: nn.Module, batches, method: str = "max", percentile: float = 99.99, total=None,
              channel_scale: str = None) -> dict:
    """Run the calibration batches through the float model and set every activation amax.

    Observers see the float activations (quantizers pass through while calibrating), the way TensorRT's
    calibrators do. With channel_scale "depthwise" (the QuantConfig default) a first pass measures each
    depthwise input channel's range and the second calibrates the rescaled tensor, so `batches` must then
    be a list or a callable returning a fresh iterable. Returns {layer name: amax}.
    """
    if method == "percentile":
        from .. import arguments

        arguments.percentile(percentile)
    mode = channel_scale or getattr(getattr(qmodel, "quant_config", None), "channel_scale", "none")
    if mode not in CHANNEL_SCALE_MODES:
        raise ValueError(f"unknown channel_scale {mode!r} (expected one of {', '.join(CHANNEL_SCALE_MODES)})")
    layers = quant_layers(qmodel)
    qmodel.eval()
    for m in layers.values():
        m.set_channel_scale(None)
    if mode == "depthwise" and any(m.depthwise for m in layers.values()):
        if not callable(batches) and iter(batches) is batches:
            raise ValueError("channel scales need two passes: give a list of batches or a callable")
        ranges = channel_ranges(qmodel, batches() if callable(batches) else batches, total)
        for n, r in ranges.items():
            layers[n].set_channel_scale(scales_from_ranges(r))
    qs = {n: m.input_quantizer for n, m in layers.items()}
    for q in qs.values():
        q.start_calibration(method, percentile)
    # float weights too: the ranges are those of the float model, whatever the weights' bits (the cache
    # then serves every target)
    weights = {n: m.weight_quantizer.enabled for n, m in layers.items()}
    try:
        for m in layers.values():
            m.weight_quantizer.enabled = False
            m._wq = None
        for batch in tqdm(batches() if callable(batches) else batches, total=total,
                          desc=f"calibrating ({method})", unit="batch"):
            qmodel(torch.as_tensor(batch))
    finally:
        for n, m in layers.items():
            m.weight_quantizer.enabled = weights[n]
            m._wq = None
    for q in qs.values():
        q.finish_calibration()
    return {n: float(q.amax) for n, q in qs.items()}


@torch.no_grad()
def channel_ranges(qmodel: nn.Module, batches, total=None) -> dict:
    """{depthwise layer: per-channel range of its float input}, the mean over images of each channel's max.

    The mean of per-image maxima rather than the overall max: one outlier image would otherwise set a
    channel's scale (measured on YOLOv6Lite-S, fake-quant val AP 27.4 with the mean vs 26.5 with the max).
    """
    sums, count, hooks = {}, [0], []
    layers = {n: m for n, m in quant_layers(qmodel).items() if m.depthwise}

    def record(name):
        def hook(module, inputs):
            v = inputs[0].detach().abs().amax((2, 3)).sum(0).double()
            sums[name] = sums.get(name, 0) + v
        return hook

    for n, m in layers.items():
        hooks.append(m.register_forward_pre_hook(record(n)))
    saved = {n: (m.input_quantizer.enabled, m.weight_quantizer.enabled) for n, m in quant_layers(qmodel).items()}
    try:
        set_float(qmodel, list(saved))  # the ranges are those of the float model
        for batch in tqdm(batches, total=total, desc="channel ranges", unit="batch"):
            x = torch.as_tensor(batch)
            count[0] += x.shape[0]
            qmodel(x)
    finally:
        for h in hooks:
            h.remove()
        for n, m in quant_layers(qmodel).items():
            m.input_quantizer.enabled, m.weight_quantizer.enabled = saved[n]
            m._wq = None
    return {n: (v / max(count[0], 1)).float().numpy() for n, v in sums.items()}


CHANNEL_SCALE_FLOOR = 1e-3  # smallest a: keeps 1/a (the exported Mul) finite for silent channels


def scales_from_ranges(ranges, floor: float = CHANNEL_SCALE_FLOOR) -> np.ndarray:
    """Channel scale a = range / largest range; the floor keeps silent channels from blowing up 1/a."""
    r = np.asarray(ranges, np.float64)
    top = r.max() if r.size and r.max() > 0 else 1.0
    return np.maximum(r / top, floor).astype(np.float32)


def channel_scales(qmodel: nn.Module) -> dict:
    """{layer: channel scale list} of the layers that carry one (for the calibration cache)."""
    return {n: m.channel_scale.tolist() for n, m in quant_layers(qmodel).items() if m.channel_scaled}


def load_amax(qmodel: nn.Module, amax: dict, scales: dict = None) -> None:
    layers = quant_layers(qmodel)
    missing = set(layers) - set(amax)
    if missing:
        raise ValueError(f"no amax for {len(missing)} layers, e.g. {sorted(missing)[0]}")
    unknown = set(scales or {}) - set(layers)
    if unknown:
        raise ValueError(f"channel scales for unknown layers, e.g. {sorted(unknown)[0]}")
    for n, m in layers.items():
        m.set_channel_scale((scales or {}).get(n))
        m.input_quantizer.set_amax(amax[n])


def export_qdq(qmodel: nn.Module, path, img_size=(640, 640), residual: bool = True, opset: int = 17,
               target: str = "tensorrt"):
    """Write the QDQ ONNX with the Q/DQ placement `target` fuses (quant/targets.py)."""
    from .export import export_qdq_onnx

    return export_qdq_onnx(qmodel, path, img_size, residual=residual, opset=opset, target=target)
