"""What an ONNX graph we write means, computed by the ONNX project's own reference: `onnx.reference`.

This is the judge of a QDQ file (runtime_compare.py): a runtime that fuses Q/DQ into integer kernels must give
the function the spec gives. `onnx.reference.ReferenceEvaluator` is the spec's executable form, kept by the
ONNX project next to the operator definitions, so we evaluate with it and add only what it gets wrong or lacks
for our files, each below with its spec clause and the measurement:
- QuantizeLinear (integer outputs): onnx.reference (1.23) casts round(x / scale) to int32 *before* it
  saturates, so |x / scale| >= 2^31, or an infinite x, wraps to the wrong end (x = 3e9 or +inf with scale 1
  gives -128 for int8, 0 for uint8; the spec saturates to 127 / 255). The same fault class as onnx/onnx#7835
  (QLinearMatMul wrapping, fixed there). Ours saturates in float first; on every other input it is the same
  function (tests/test_quant_reference.py checks both).
- DequantizeLinear at opsets 10 and 13: onnx.reference implements it from opset 19 on only ("No
  implementation for operator 'DequantizeLinear' ... version 17"); our files are opset 17. Opset 19 added
  float8 inputs and changed nothing for int8/uint8/int32, so its implementation serves, under its schema.
- MaxPool (2-D, the SPPF form): onnx.reference loops in Python over every output element, 22 s of the 58 s
  a YOLOv6-L graph at 640 takes per image; ours is the same exact max over shifted views (class doc). (With
  stride 1 and asymmetric pads onnx.reference also gets the output shape wrong; our exports pad
  symmetrically, and ours follows the spec's pad order, as ONNX Runtime does.)
Everything else, Conv included, is onnx.reference's: float32 throughout, like the runtimes. (The evaluator
this replaced summed convs in float64; measured on the INT8 YOLOv6Lite-S files, onnx.reference's float32
convs agree better with ONNX Runtime: median layer error 2e-8 against 9e-8, whole-graph scores 2e-6 against
4e-2 on the onnxruntime placement; benchmarks/results/reference_speed_lite_s.md.) An op that onnx.reference
does not know is refused by name. Slow by design, a few images, not a data set: 1.5 s per image for Lite-S at
320 and 7 s for YOLOv6-N at 640 (3-4x the evaluator it replaced; its im2col Conv and ConvTranspose are most of
it), which keeps `compare-runtimes` at 6 s and 12 s per image there.

onnx is imported here at module level: this module belongs to the ONNX half of quant/ (extras [torch],
[openvino] and [trt] bring onnx; the base install does not, and the CLI says which extra to install).
"""
from pathlib import Path

import numpy as np
import onnx
from onnx import helper
from onnx.reference import ReferenceEvaluator as _OnnxReference
from onnx.reference.op_run import OpRun
from onnx.reference.ops.op_dequantize_linear import DequantizeLinear_19
from onnx.reference.ops.op_max_pool import MaxPool as _OnnxMaxPool

from ..errors import fail

_INT_RANGES = {np.dtype(t): (np.iinfo(t).min, np.iinfo(t).max) for t in (np.int8, np.uint8, np.int16, np.uint16)}
_OPSET = 17  # what export/onnx.py and quant/export.py write; the one-node helpers below use it too


def _per_axis(value, ndim, axis):
    """A per-tensor (size 1) or per-axis (1-D) scale or zero point, shaped to broadcast along `axis`."""
    value = np.asarray(value)
    if value.size == 1:
        return value.reshape(())
    shape = [1] * ndim
    shape[axis % ndim] = value.size
    return value.reshape(shape)


class QuantizeLinear(OpRun):
    """y = saturate(round_half_even(x / y_scale) + y_zero_point), saturated before the integer cast.

    Replaces onnx.reference's for integer outputs only (see the module doc); other output types (float8) and
    blocked quantization are outside our files and refused.
    """

    op_domain = ""

    def _run(self, x, y_scale, y_zero_point=None, axis=1, saturate=1, block_size=0, output_dtype=0,
             precision=0):
        if block_size or precision:
            raise NotImplementedError("QuantizeLinear with block_size or precision")
        if y_zero_point is not None:
            dtype = y_zero_point.dtype
        else:  # the spec's default output is uint8
            dtype = np.dtype(helper.tensor_dtype_to_np_dtype(output_dtype) if output_dtype else np.uint8)
        if dtype not in _INT_RANGES:
            raise NotImplementedError(f"QuantizeLinear to {dtype}")
        lo, hi = _INT_RANGES[dtype]
        # x / y_scale in the input type (float32), as the spec and the runtimes divide; np.rint rounds half to
        # even; the zero point is added and the result saturated in float64, which holds every case exactly.
        q = np.rint(x / _per_axis(y_scale, x.ndim, axis)).astype(np.float64)
        if y_zero_point is not None:
            q += _per_axis(y_zero_point, x.ndim, axis)
        return (np.clip(q, lo, hi).astype(dtype),)


class DequantizeLinear(DequantizeLinear_19):
    """onnx.reference's opset-19 DequantizeLinear, used for opsets 10 and 13 too (see the module doc)."""

    op_domain = ""
    op_schema = onnx.defs.get_schema("DequantizeLinear", 19, "")


class MaxPool(_OnnxMaxPool):
    """onnx.reference's MaxPool with the form our exports write (2-D, no dilation, no ceil_mode, no indices:
    SPPF's k5 s1 p2) computed as a max over shifted views instead of a Python loop per output element.

    Why: that loop takes 7.4 s per call on YOLOv6-L's SPPF input [1, 512, 20, 20] at 640 (three calls per
    image: 22 s of the 58 s the whole graph took) and 5.5 s of 12.5 s on YOLOv6-N. A max is exact, so this
    is the same function (tests compare it bit for bit with onnx.reference's); every other form is theirs.
    """

    op_domain = ""

    def _run(self, x, auto_pad=None, ceil_mode=0, dilations=None, kernel_shape=None, pads=None, storage_order=0,
             strides=None):
        auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
        indices = len(self.onnx_node.output) > 1 and self.onnx_node.output[1]
        if (x.ndim != 4 or indices or ceil_mode or auto_pad not in (None, "NOTSET", "VALID")
                or any(d != 1 for d in dilations or ()) or not np.issubdtype(x.dtype, np.floating)):
            return super()._run(x, auto_pad=auto_pad, ceil_mode=ceil_mode, dilations=dilations,
                                kernel_shape=kernel_shape, pads=pads, storage_order=storage_order, strides=strides)
        (kh, kw), (sh, sw) = kernel_shape, strides or (1, 1)
        pt, pl, pb, pr = pads if pads and auto_pad != "VALID" else (0, 0, 0, 0)
        x = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)), constant_values=-np.inf)  # padding never wins
        ho, wo = (x.shape[2] - kh) // sh + 1, (x.shape[3] - kw) // sw + 1
        out = None
        for i in range(kh):
            for j in range(kw):
                window = x[:, :, i: i + sh * (ho - 1) + 1: sh, j: j + sw * (wo - 1) + 1: sw]
                out = window if out is None else np.maximum(out, window)
        return (out.copy(),)


CUSTOM_OPS = (QuantizeLinear, DequantizeLinear, MaxPool)


class ReferenceEvaluator:
    """Evaluate an ONNX model (ModelProto or path) with onnx.reference: `run(feeds, keep)` -> {name: array}."""

    def __init__(self, model):
        self.path = model if isinstance(model, (str, Path)) else (model.graph.name or "model")
        self.model = onnx.load(str(model)) if isinstance(model, (str, Path)) else model
        g = self.model.graph
        initializers = {i.name for i in g.initializer}
        self.input_names = [i.name for i in g.input if i.name not in initializers]
        self.output_names = [o.name for o in g.output]
        self.tensor_names = {*initializers, *self.input_names, *(t for n in g.node for t in n.output if t)}
        for n in g.node:
            if n.domain not in ("", "ai.onnx"):
                raise fail(self.path, f"node {n.name or n.op_type}: op {n.domain}.{n.op_type} has no reference")
        try:
            self._evaluator = _OnnxReference(self.model, new_ops=list(CUSTOM_OPS))
        except (NotImplementedError, RuntimeError, TypeError, ValueError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise fail(self.path, f"onnx.reference {onnx.__version__} cannot evaluate it: {first}") from None

    def run(self, feeds: dict, keep=None) -> dict:
        """Values of the graph outputs, or of every tensor named in `keep` (any intermediate)."""
        keep = list(dict.fromkeys(self.output_names if keep is None else keep))
        for name in self.input_names:
            if name not in feeds:
                raise fail(self.path, f"no value fed for input {name!r}")
        missing = [k for k in keep if k not in self.tensor_names]
        if missing:
            raise fail(self.path, f"no tensor named {sorted(missing)[0]!r} in the graph")
        feeds = {k: np.asarray(v) for k, v in feeds.items() if k in self.input_names}
        try:
            # onnx.reference's Sigmoid evaluates both branches of its np.where; the unused one overflows
            with np.errstate(over="ignore", invalid="ignore"):
                values = self._evaluator.run(keep, feeds)
        except (NotImplementedError, RuntimeError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise fail(self.path, f"onnx.reference {onnx.__version__} cannot evaluate it: {first}") from None
        return dict(zip(keep, values))


def _run_nodes(nodes, inputs: dict):
    """Nodes (in order, reading `inputs` by name, the last one writing "out") on numpy inputs."""
    feeds = {n: np.asarray(v) for n, v in inputs.items() if v is not None}
    g = helper.make_graph(nodes, nodes[-1].op_type, [helper.make_tensor_value_info(
        n, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape) for n, v in feeds.items()],
        [helper.make_tensor_value_info("out", 0, None)])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", _OPSET)])
    return ReferenceEvaluator(model).run(feeds)["out"]


def _params(scale, zero_point):
    return {"scale": np.asarray(scale, np.float32), "zero_point": zero_point}


def quantize_linear(x, scale, zero_point=None, axis=1):
    """ONNX QuantizeLinear (the reference's) on numpy arrays."""
    zp = "zero_point" if zero_point is not None else ""
    return _run_nodes([helper.make_node("QuantizeLinear", ["x", "scale", zp], ["out"], axis=axis)],
                      {"x": np.asarray(x, np.float32), **_params(scale, zero_point)})


def dequantize_linear(x, scale, zero_point=None, axis=1):
    """ONNX DequantizeLinear (the reference's) on numpy arrays."""
    zp = "zero_point" if zero_point is not None else ""
    return _run_nodes([helper.make_node("DequantizeLinear", ["x", "scale", zp], ["out"], axis=axis)],
                      {"x": np.asarray(x), **_params(scale, zero_point)})


def quantize_dequantize(x, scale, zero_point=None, axis=1):
    """x moved onto the grid of a QuantizeLinear: DequantizeLinear(QuantizeLinear(x)), one evaluation."""
    zp = "zero_point" if zero_point is not None else ""
    return _run_nodes([helper.make_node("QuantizeLinear", ["x", "scale", zp], ["q"], axis=axis),
                       helper.make_node("DequantizeLinear", ["q", "scale", zp], ["out"], axis=axis)],
                      {"x": np.asarray(x, np.float32), **_params(scale, zero_point)})
