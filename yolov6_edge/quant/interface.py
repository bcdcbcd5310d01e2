"""Our one small quantization interface; everything else in quant/ is built on these five calls.

    qmodel = quantize(model, QuantConfig(skip=["neck.reduce4.conv"]))   # fake-quant copy of a fused model
    calibrate(qmodel, batches, method="entropy")                      # activation amax from images
    set_float(qmodel, ["head.cls_preds.0"])                           # leave layers in float later
    export_qdq(qmodel, "model_int8.onnx", img_size=(320, 320))        # explicit Q/DQ ONNX

Backend: torch's own fake-quantize ops (fake_quant.py); see docs/QUANTIZATION.md for why not ModelOpt.
"""
import copy
from dataclasses import dataclass, field

import torch
import torch.nn as nn
from tqdm import tqdm

from .fake_quant import QuantConv2d, TensorQuantizer


@dataclass
class QuantConfig:
    skip: list = field(default_factory=list)  # layer names (the Conv2d's module name) kept in float
    method: str = "max"
    percentile: float = 99.99


def quantize(model: nn.Module, config: QuantConfig = None) -> nn.Module:
    """Return a copy of `model` with every Conv2d wrapped in QuantConv2d (skipped ones wrapped but off)."""
    config = config or QuantConfig()
    qmodel = copy.deepcopy(model).eval()
    names = [n for n, m in qmodel.named_modules() if isinstance(m, nn.Conv2d)]
    unknown = set(config.skip) - set(names)
    if unknown:
        raise ValueError(f"skip names not found among the model's convolutions: {sorted(unknown)[:5]}")
    for name in names:
        qmodel.set_submodule(name, QuantConv2d(qmodel.get_submodule(name)))
    set_float(qmodel, config.skip)
    qmodel.quant_config = config
    return qmodel


def quant_layers(qmodel: nn.Module) -> dict:
    """Layer name (the original Conv2d's name) -> QuantConv2d, in model order."""
    return {n: m for n, m in qmodel.named_modules() if isinstance(m, QuantConv2d)}


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
def calibrate(qmodel: nn.Module, batches, method: str = "max", percentile: float = 99.99, total=None) -> dict:
    """Run the calibration batches through the float model and set every activation amax.

    Observers see the float activations (quantizers pass through while calibrating), the way TensorRT's
    calibrators do; returns {layer name: amax}.
    """
    qs = {n: m.input_quantizer for n, m in quant_layers(qmodel).items()}
    for q in qs.values():
        q.start_calibration(method, percentile)
    qmodel.eval()
    for batch in tqdm(batches, total=total, desc=f"calibrating ({method})", unit="batch"):
        qmodel(torch.as_tensor(batch))
    for q in qs.values():
        q.finish_calibration()
    return {n: float(q.amax) for n, q in qs.items()}


def load_amax(qmodel: nn.Module, amax: dict) -> None:
    layers = quant_layers(qmodel)
    missing = set(layers) - set(amax)
    if missing:
        raise ValueError(f"no amax for {len(missing)} layers, e.g. {sorted(missing)[0]}")
    for n, m in layers.items():
        m.input_quantizer.set_amax(amax[n])


def strip(qmodel: nn.Module) -> nn.Module:
    """A float copy of qmodel (QuantConv2d replaced by its conv), for export and as a teacher."""
    model = copy.deepcopy(qmodel)
    for name, m in list(quant_layers(model).items()):
        model.set_submodule(name, m.conv)
    for m in model.modules():
        if isinstance(m, TensorQuantizer):
            raise RuntimeError("stray quantizer left in the stripped model")
    return model


def export_qdq(qmodel: nn.Module, path, img_size=(640, 640), residual: bool = True, opset: int = 17):
    from .export import export_qdq_onnx

    return export_qdq_onnx(qmodel, path, img_size, residual=residual, opset=opset)
