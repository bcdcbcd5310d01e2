"""Torch fake-quantization backend: the modules that simulate INT8 inside a float model.

`TensorQuantizer` holds one amax (per tensor) or a vector of them (per output channel, axis 0) and applies
torch.fake_quantize_per_*_affine, whose gradient is the straight-through estimator, so the same module
serves calibration, evaluation and QAT. Scales are symmetric: scale = amax / 127, zero point 0, the range
[-128, 127] of ONNX QuantizeLinear / TensorRT INT8. Weights may use fewer levels (`qmax` 63: 7-bit weights,
for CPU INT8 kernels that would otherwise saturate, quant/targets.py), per layer or per output channel
(`qmax` a vector: weight_levels.py).
"""
import copy

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .observers import make_observer

QMIN, QMAX = -128, 127


def weight_qmax(bits) -> int:
    """Largest code of symmetric `bits`-bit weights: 127 for 8, 63 for 7. The per-layer / per-channel modes
    ("layer", "channel") start at 8 bits; the levels are set for the runtime when the file is placed
    (weight_levels.py)."""
    if bits in ("layer", "channel"):
        return QMAX
    if bits not in (7, 8) or isinstance(bits, bool):
        raise ValueError(f"weight bits must be 7, 8, layer or channel, not {bits!r}")
    return 2 ** (bits - 1) - 1


class TensorQuantizer(nn.Module):
    def __init__(self, axis=None, qmax: int = QMAX):
        super().__init__()
        self.axis = axis  # None: per tensor; 0: per output channel (weights)
        self.qmax = qmax  # codes span [-qmax - 1, qmax]; scale = amax / qmax
        self.register_buffer("amax", torch.zeros(0))
        self.enabled = True
        self.observer = None  # set while calibrating: forward then records and passes x through

    @property
    def calibrated(self) -> bool:
        return self.amax.numel() > 0

    def start_calibration(self, method: str, percentile: float = 99.99) -> None:
        self.observer = make_observer(method, percentile)

    def finish_calibration(self) -> None:
        if self.observer is not None:
            self.set_amax(self.observer.compute())
            self.observer = None

    def set_amax(self, amax) -> None:
        value = torch.as_tensor(np.asarray(amax, np.float32)).reshape(-1 if self.axis is not None else ())
        if isinstance(self.amax, nn.Parameter):
            self.amax.data = value.to(self.amax.device)
        else:
            self.amax = value

    @property
    def learnable(self) -> bool:
        return isinstance(self.amax, nn.Parameter)

    def set_learnable(self, on: bool) -> None:
        """QAT: amax becomes a parameter trained with the LSQ gradient (and back to a buffer afterwards).

        The state_dict key stays `amax` either way, so checkpoints and caches do not care.
        """
        if on != self.learnable and self.calibrated:
            _buffer_to_parameter(self, "amax", on)

    @property
    def per_channel_levels(self) -> bool:
        return isinstance(self.qmax, torch.Tensor)

    def set_qmax(self, qmax) -> None:
        """Largest code: an int (every channel) or, for a per-channel quantizer, one value per channel."""
        q = np.asarray(qmax)
        if q.ndim and self.axis is None:
            raise ValueError("per-channel levels need a per-channel quantizer")
        if q.ndim and np.all(q == q.reshape(-1)[0]):
            q = q.reshape(-1)[0]
        if np.any(q < 1) or np.any(q > QMAX) or np.any(q != np.rint(q)):
            raise ValueError(f"qmax must be whole numbers in [1, {QMAX}], got {qmax!r}")
        self.qmax = torch.as_tensor(q.astype(np.float32)) if q.ndim else int(q)

    def scale(self) -> torch.Tensor:
        # an all-zero tensor (e.g. a dead channel) gets a tiny scale instead of a division by zero
        qmax = self.qmax.to(self.amax.device) if self.per_channel_levels else self.qmax
        return torch.clamp(self.amax.float(), min=1e-8) / qmax

    def forward(self, x):
        if self.observer is not None:
            self.observer.update(x.detach().float().cpu().numpy())
            return x
        if not self.enabled or not self.calibrated:
            return x
        if self.learnable and torch.is_grad_enabled():
            return _lsq_fake_quant(x, self.amax)
        scale = self.scale().to(x.device)
        if self.axis is None:
            return torch.fake_quantize_per_tensor_affine(x, float(scale), 0, -self.qmax - 1, self.qmax)
        zero = torch.zeros(scale.numel(), dtype=torch.int32, device=x.device)
        # per-channel levels: each channel's codes stay within +-qmax_c because its amax is its max |w|
        qmax = QMAX if self.per_channel_levels else self.qmax
        return torch.fake_quantize_per_channel_affine(x, scale, zero, self.axis, -qmax - 1, qmax)


def _buffer_to_parameter(module: nn.Module, name: str, on: bool) -> None:
    """Turn buffer `name` into a trainable parameter (on) or back, same key and values either way."""
    value = getattr(module, name).detach().clone()
    if on:
        del module._buffers[name]
        setattr(module, name, nn.Parameter(value))
    else:
        del module._parameters[name]
        module.register_buffer(name, value)


def _lsq_fake_quant(x, amax):
    """Per-tensor fake quantization whose gradient also reaches amax (LSQ, Esser et al. 2020).

    Inside the range d/dx = 1 and d/damax = (round(v) - v) / QMAX; clipped values pass no gradient to x and
    QMIN/QMAX / QMAX to amax, so the range grows when clipping costs more than rounding. Rounding is half to
    even, as torch.fake_quantize_* and ONNX QuantizeLinear do.
    """
    s = amax.clamp(min=1e-8) / QMAX
    v = (x / s).clamp(QMIN, QMAX)
    v = v + (torch.round(v) - v).detach()
    return v * s


class QuantConv2d(nn.Module):
    """A Conv2d whose input (per tensor) and weight (per output channel) are fake-quantized.

    It keeps the original conv as a child so that weights, names and fuse state stay where they were.

    A depthwise conv may also carry `channel_scale` (a, one value per channel): its input is multiplied by
    1/a before the per-tensor quantizer and its weights by a. The float function is unchanged, but each
    channel then gets a quantization step proportional to its own range. Per-tensor steps starve the quiet
    channels of a depthwise conv, which has no other channels to average the error into; a per-channel
    activation scale is what TensorRT cannot take on a Conv input, a Mul before the Q/DQ pair is.
    """

    def __init__(self, conv: nn.Conv2d, weight_bits: int = 8):
        super().__init__()
        self.conv = conv
        self.input_quantizer = TensorQuantizer(axis=None)
        self.weight_quantizer = TensorQuantizer(axis=0, qmax=weight_qmax(weight_bits))
        self.register_buffer("channel_scale", torch.zeros(0))
        self.calibrate_weight()
        self._wq = None  # fake-quantized weight reused in eval mode (weights do not change there)

    @property
    def depthwise(self) -> bool:
        c = self.conv
        return c.groups > 1 and c.groups == c.in_channels == c.out_channels

    @property
    def channel_scaled(self) -> bool:
        return self.channel_scale.numel() > 0

    def set_channel_scale(self, scale) -> None:
        """Per-input-channel scale a (None or empty: none); only depthwise convs can absorb it exactly."""
        value = torch.as_tensor(np.asarray([] if scale is None else scale, np.float32)).reshape(-1)
        if value.numel():
            if not self.depthwise:
                raise ValueError("a channel scale needs a depthwise conv (its weights absorb it exactly)")
            if value.numel() != self.conv.in_channels or not bool((value > 0).all()):
                raise ValueError(f"channel scale needs {self.conv.in_channels} positive values")
        value = value.to(self.conv.weight.device)
        if self.channel_scale_learnable:
            if value.numel() != self.channel_scale.numel():
                raise ValueError("a learnable channel scale keeps its size (call set_channel_scale_learnable(False))")
            self.channel_scale.data = value
        else:
            self.channel_scale = value
        self._wq = None
        self.calibrate_weight()

    @property
    def channel_scale_learnable(self) -> bool:
        return isinstance(self.channel_scale, nn.Parameter)

    def set_channel_scale_learnable(self, on: bool) -> None:
        """QAT: a becomes a parameter, so each channel's input step is learned (LSQ-like, per channel).

        The gradient reaches a from both sides: through x / a into the input quantizer and through w * a
        into the weight quantizer, both straight-through. The state_dict key stays `channel_scale`.
        """
        if on != self.channel_scale_learnable and self.channel_scaled:
            _buffer_to_parameter(self, "channel_scale", on)
            self._wq = None

    def inverse_channel_scale(self) -> torch.Tensor:
        # one float32 reciprocal, multiplied in: the exported Mul uses these very numbers
        return (1.0 / self.channel_scale).reshape(1, -1, 1, 1)

    def effective_weight(self) -> torch.Tensor:
        w = self.conv.weight
        return w * self.channel_scale.reshape(-1, 1, 1, 1) if self.channel_scaled else w

    def calibrate_weight(self) -> None:
        # weights are known: per-channel max is exact and needs no data
        w = self.effective_weight().detach()
        self.weight_quantizer.set_amax(w.abs().reshape(w.shape[0], -1).amax(1).cpu().numpy())

    @property
    def quantized(self) -> bool:
        return self.input_quantizer.enabled

    def set_quantized(self, on: bool) -> None:
        self.input_quantizer.enabled = on
        self.weight_quantizer.enabled = on
        self._wq = None

    def forward(self, x):
        c = self.conv
        # a layer left in float runs its conv untouched; the scale only exists for the quantized form
        scaled = self.channel_scaled and (self.input_quantizer.enabled or self.weight_quantizer.enabled)
        if self.training:
            self.calibrate_weight()  # QAT: the per-channel max follows the weights as they move
            self._wq = None
            w = self.weight_quantizer(self.effective_weight() if scaled else c.weight)
        else:
            if self._wq is None or self._wq.device != c.weight.device:
                with torch.no_grad():
                    self._wq = self.weight_quantizer(self.effective_weight() if scaled else c.weight).detach()
            w = self._wq
        if scaled:
            x = x * self.inverse_channel_scale().to(x.device)
        return F.conv2d(self.input_quantizer(x), w, c.bias, c.stride, c.padding, c.dilation, c.groups)


def quant_layers(qmodel: nn.Module) -> dict:
    """Layer name (the original Conv2d's name) -> QuantConv2d, in model order."""
    return {n: m for n, m in qmodel.named_modules() if isinstance(m, QuantConv2d)}


def strip(qmodel: nn.Module) -> nn.Module:
    """A float copy of qmodel (QuantConv2d replaced by its conv), for export and as a teacher."""
    model = copy.deepcopy(qmodel)
    for name, m in list(quant_layers(model).items()):
        model.set_submodule(name, m.conv)
    for m in model.modules():
        if isinstance(m, TensorQuantizer):
            raise RuntimeError("stray quantizer left in the stripped model")
    return model
