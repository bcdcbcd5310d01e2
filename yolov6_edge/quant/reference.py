"""A numpy evaluator of the ONNX graphs we write, with the exact QuantizeLinear/DequantizeLinear semantics.

This is the judge of what an INT8 ONNX means. A runtime that fuses Q/DQ into integer kernels must give the
function the spec gives, and this module computes that function independently of every runtime:
- QuantizeLinear: y = saturate(round_half_even(x / scale) + zero_point), x / scale in float32, per tensor or
  per `axis`; DequantizeLinear: y = (x - zero_point) * scale in float32.
- Conv / ConvTranspose / MatMul sum in float64 and round once to float32: on dequantized inputs that is the
  exact integer dot product times the scales, which is what an integer kernel computes before its
  requantization.
- Everything else follows the ONNX operator definitions, in float32 like the runtimes.
It covers the ops our exports produce (YOLOv6 N/S/M/L, YOLOv6Lite, shape arithmetic of the unsimplified
QDQ graphs); an op outside that set is refused by name. Slow by design: a few images, not a data set.
"""
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from ..errors import fail

_NP_TYPES = {onnx.TensorProto.FLOAT: np.float32, onnx.TensorProto.DOUBLE: np.float64,
             onnx.TensorProto.FLOAT16: np.float16, onnx.TensorProto.INT8: np.int8,
             onnx.TensorProto.UINT8: np.uint8, onnx.TensorProto.INT32: np.int32,
             onnx.TensorProto.INT64: np.int64, onnx.TensorProto.BOOL: np.bool_}
_INT_RANGE = {np.dtype(np.int8): (-128, 127), np.dtype(np.uint8): (0, 255), np.dtype(np.int32): (-2 ** 31, 2 ** 31 - 1)}


def _attrs(node) -> dict:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _s(v):
    return v.decode() if isinstance(v, bytes) else v


def _axis_shape(scale, x, axis):
    """Reshape a per-axis parameter so it broadcasts along `axis` of x."""
    scale = np.asarray(scale)
    if scale.ndim == 0 or scale.size == 1 and x.ndim == 0:
        return scale.reshape(())
    shape = [1] * x.ndim
    shape[axis % x.ndim] = scale.size
    return scale.reshape(shape)


def quantize_linear(x, scale, zero_point=None, axis=1):
    zp = np.zeros((), np.uint8) if zero_point is None else np.asarray(zero_point)
    lo, hi = _INT_RANGE[zp.dtype]
    s = _axis_shape(np.asarray(scale, np.float32), x, axis)
    z = _axis_shape(zp, x, axis).astype(np.int64)
    q = np.rint(np.asarray(x, np.float32) / s).astype(np.int64) + z  # np.rint rounds half to even
    return np.clip(q, lo, hi).astype(zp.dtype)


def dequantize_linear(x, scale, zero_point=None, axis=1):
    x = np.asarray(x)
    s = _axis_shape(np.asarray(scale, np.float32), x, axis)
    z = np.zeros((), np.int64) if zero_point is None else _axis_shape(np.asarray(zero_point), x, axis)
    return ((x.astype(np.int64) - z.astype(np.int64)).astype(np.float32) * s).astype(np.float32)


def _pads(attrs, nd):
    if _s(attrs.get("auto_pad", "NOTSET")) not in ("NOTSET", "VALID"):
        raise NotImplementedError(f"auto_pad={_s(attrs['auto_pad'])}")
    return list(attrs.get("pads", [0] * 2 * nd))


def conv(x, w, b=None, strides=(1, 1), pads=(0, 0, 0, 0), dilations=(1, 1), group=1):
    """2-D convolution in float64 (NCHW, OIHW), rounded once to float32."""
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    (sh, sw), (dh, dw) = strides, dilations
    pt, pl, pb, pr = pads
    x = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    ho = (h + pt + pb - dh * (kh - 1) - 1) // sh + 1
    wo = (wd + pl + pr - dw * (kw - 1) - 1) // sw + 1
    og = o // group
    xg = x.reshape(n, group, cg, *x.shape[2:])
    wg = w.reshape(group, og, cg, kh, kw)
    out = np.zeros((n, group, og, ho, wo), np.float64)
    for i in range(kh):
        for j in range(kw):
            patch = xg[:, :, :, i * dh: i * dh + sh * (ho - 1) + 1: sh, j * dw: j * dw + sw * (wo - 1) + 1: sw]
            if cg == 1 and og == 1:  # depthwise: one product per channel
                out[:, :, 0] += patch[:, :, 0] * wg[None, :, 0, 0, i, j, None, None]
            elif group == 1:
                out[:, 0] += np.tensordot(wg[0, :, :, i, j], patch[:, 0], axes=([1], [1])).transpose(1, 0, 2, 3)
            else:
                out += np.einsum("goc,ngchw->ngohw", wg[:, :, :, i, j], patch)
    out = out.reshape(n, o, ho, wo)
    if b is not None:
        out += np.asarray(b, np.float64).reshape(1, -1, 1, 1)
    return out.astype(np.float32)


def conv_transpose(x, w, b=None, strides=(1, 1), pads=(0, 0, 0, 0), output_padding=(0, 0), group=1):
    if group != 1:
        raise NotImplementedError("ConvTranspose with group > 1")
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)  # [C_in, C_out, kh, kw]
    n, c, h, wd = x.shape
    _, o, kh, kw = w.shape
    sh, sw = strides
    full = np.zeros((n, o, (h - 1) * sh + kh + output_padding[0], (wd - 1) * sw + kw + output_padding[1]))
    for i in range(kh):
        for j in range(kw):
            full[:, :, i: i + (h - 1) * sh + 1: sh, j: j + (wd - 1) * sw + 1: sw] += \
                np.tensordot(x, w[:, :, i, j], axes=([1], [0])).transpose(0, 3, 1, 2)
    pt, pl, pb, pr = pads
    out = full[:, :, pt: full.shape[2] - pb, pl: full.shape[3] - pr]
    if b is not None:
        out = out + np.asarray(b, np.float64).reshape(1, -1, 1, 1)
    return out.astype(np.float32)


def max_pool(x, kernel, strides, pads):
    pt, pl, pb, pr = pads
    x = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)), constant_values=-np.inf)
    kh, kw = kernel
    sh, sw = strides
    ho = (x.shape[2] - kh) // sh + 1
    wo = (x.shape[3] - kw) // sw + 1
    out = np.full((*x.shape[:2], ho, wo), -np.inf, x.dtype)
    for i in range(kh):
        for j in range(kw):
            out = np.maximum(out, x[:, :, i: i + sh * (ho - 1) + 1: sh, j: j + sw * (wo - 1) + 1: sw])
    return out


def _nearest_index(out_size, in_size, scale, mode, nearest_mode):
    o = np.arange(out_size, dtype=np.float64)
    if mode == "asymmetric":
        src = o / scale
    elif mode in ("half_pixel", "pytorch_half_pixel"):
        src = (o + 0.5) / scale - 0.5
        if mode == "pytorch_half_pixel" and out_size == 1:
            src = np.zeros_like(o)
    elif mode == "align_corners":
        src = o * (in_size - 1) / max(out_size - 1, 1)
    else:
        raise NotImplementedError(f"Resize coordinate_transformation_mode={mode}")
    if nearest_mode == "floor":
        idx = np.floor(src)
    elif nearest_mode == "ceil":
        idx = np.ceil(src)
    elif nearest_mode == "round_prefer_ceil":
        idx = np.floor(src + 0.5)
    else:  # round_prefer_floor, the default
        idx = np.ceil(src - 0.5)
    return np.clip(idx, 0, in_size - 1).astype(np.int64)


def resize_nearest(x, out_shape, scales, mode, nearest_mode):
    for axis in range(x.ndim):
        if out_shape[axis] != x.shape[axis]:
            idx = _nearest_index(out_shape[axis], x.shape[axis], scales[axis], mode, nearest_mode)
            x = np.take(x, idx, axis=axis)
    return x


def _int_div(a, b):
    if np.issubdtype(np.asarray(a).dtype, np.integer):
        return (np.trunc(np.asarray(a, np.float64) / b)).astype(np.asarray(a).dtype)
    return (np.asarray(a) / b).astype(np.result_type(a, b))


def _run_node(node, ins):
    """Outputs of one node from its input values (None for an omitted optional input)."""
    op, a = node.op_type, _attrs(node)
    x = ins[0] if ins else None
    if op == "QuantizeLinear":
        return [quantize_linear(x, ins[1], ins[2] if len(ins) > 2 else None, a.get("axis", 1))]
    if op == "DequantizeLinear":
        return [dequantize_linear(x, ins[1], ins[2] if len(ins) > 2 else None, a.get("axis", 1))]
    if op == "Conv":
        nd = x.ndim - 2
        if nd != 2:
            raise NotImplementedError("Conv other than 2-D")
        p = _pads(a, nd)
        return [conv(x, ins[1], ins[2] if len(ins) > 2 else None, a.get("strides", [1, 1]),
                     (p[0], p[1], p[2], p[3]), a.get("dilations", [1, 1]), a.get("group", 1))]
    if op == "ConvTranspose":
        p = _pads(a, 2)
        if any(d != 1 for d in a.get("dilations", [1, 1])) or "output_shape" in a:
            raise NotImplementedError("ConvTranspose with dilations or output_shape")
        return [conv_transpose(x, ins[1], ins[2] if len(ins) > 2 else None, a.get("strides", [1, 1]),
                               (p[0], p[1], p[2], p[3]), a.get("output_padding", [0, 0]), a.get("group", 1))]
    if op == "MatMul":
        return [np.matmul(np.asarray(x, np.float64), np.asarray(ins[1], np.float64)).astype(np.float32)]
    if op == "MaxPool":
        if a.get("ceil_mode", 0) or any(d != 1 for d in a.get("dilations", [1, 1])) or len(node.output) > 1:
            raise NotImplementedError("MaxPool with ceil_mode, dilations or indices")
        return [max_pool(x, a["kernel_shape"], a.get("strides", [1, 1]), _pads(a, 2))]
    if op == "GlobalAveragePool":
        return [x.astype(np.float64).mean(axis=tuple(range(2, x.ndim)), keepdims=True).astype(x.dtype)]
    if op == "Resize":
        if _s(a.get("mode", "nearest")) != "nearest":
            raise NotImplementedError(f"Resize mode={_s(a['mode'])}")
        scales = ins[2] if len(ins) > 2 and ins[2] is not None and np.asarray(ins[2]).size else None
        sizes = ins[3] if len(ins) > 3 and ins[3] is not None else None
        if sizes is not None:
            out_shape = [int(v) for v in sizes]
            scales = [o / i for o, i in zip(out_shape, x.shape)]
        else:
            scales = [float(v) for v in scales]
            out_shape = [int(np.floor(i * s)) for i, s in zip(x.shape, scales)]
        return [resize_nearest(x, out_shape, scales, _s(a.get("coordinate_transformation_mode", "half_pixel")),
                               _s(a.get("nearest_mode", "round_prefer_floor")))]
    if op == "Relu":
        return [np.maximum(x, 0).astype(x.dtype)]
    if op == "Sigmoid":
        return [(1.0 / (1.0 + np.exp(-x.astype(np.float64)))).astype(x.dtype)]
    if op == "HardSigmoid":
        alpha, beta = np.float32(a.get("alpha", 0.2)), np.float32(a.get("beta", 0.5))
        return [np.clip(alpha * x + beta, 0, 1).astype(x.dtype)]
    if op == "HardSwish":
        return [(x * np.clip(x * np.float32(1 / 6) + np.float32(0.5), 0, 1)).astype(x.dtype)]
    if op == "Clip":
        lo = ins[1] if len(ins) > 1 and ins[1] is not None else -np.inf
        hi = ins[2] if len(ins) > 2 and ins[2] is not None else np.inf
        return [np.clip(x, lo, hi).astype(x.dtype)]
    if op == "Softmax":
        axis = a.get("axis", -1)
        e = np.exp(x.astype(np.float64) - x.max(axis=axis, keepdims=True))
        return [(e / e.sum(axis=axis, keepdims=True)).astype(x.dtype)]
    if op == "ReduceSum":
        axes = tuple(int(v) for v in ins[1]) if len(ins) > 1 and ins[1] is not None else None
        return [x.astype(np.float64).sum(axis=axes, keepdims=bool(a.get("keepdims", 1))).astype(x.dtype)]
    if op in ("Add", "Sub", "Mul"):
        f = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply}[op]
        return [f(x, ins[1]).astype(np.result_type(x, ins[1]))]
    if op == "Div":
        return [_int_div(x, ins[1])]
    if op == "Mod":
        if a.get("fmod", 0):
            return [np.fmod(x, ins[1])]
        return [np.mod(x, ins[1])]
    if op == "Equal":
        return [np.equal(x, ins[1])]
    if op == "Where":
        return [np.where(x, ins[1], ins[2])]
    if op == "Concat":
        return [np.concatenate(ins, axis=a["axis"])]
    if op == "Split":
        axis = a.get("axis", 0)
        if len(ins) > 1 and ins[1] is not None:
            sizes = [int(v) for v in ins[1]]
        elif "split" in a:
            sizes = list(a["split"])
        else:
            n = a.get("num_outputs", len(node.output))
            sizes = [-(-x.shape[axis] // n)] * n
            sizes[-1] = x.shape[axis] - sum(sizes[:-1])
        return list(np.split(x, np.cumsum(sizes)[:-1], axis=axis))
    if op == "Slice":
        starts, ends = [int(v) for v in ins[1]], [int(v) for v in ins[2]]
        axes = [int(v) for v in ins[3]] if len(ins) > 3 and ins[3] is not None else list(range(len(starts)))
        steps = [int(v) for v in ins[4]] if len(ins) > 4 and ins[4] is not None else [1] * len(starts)
        idx = [slice(None)] * x.ndim
        for s, e, ax, st in zip(starts, ends, axes, steps):
            dim = x.shape[ax]
            s, e = s + dim if s < 0 else s, e + dim if e < 0 else e
            if st > 0:
                s, e = min(max(s, 0), dim), min(max(e, 0), dim)
            else:
                s, e = min(max(s, 0), dim - 1), min(max(e, -1), dim - 1)
            idx[ax] = slice(s, None if e < 0 else e, st)
        return [x[tuple(idx)]]
    if op == "Reshape":
        shape = [int(v) for v in ins[1]]
        if not a.get("allowzero", 0):
            shape = [x.shape[i] if v == 0 else v for i, v in enumerate(shape)]
        return [x.reshape(shape)]
    if op == "Flatten":
        axis = a.get("axis", 1) % max(x.ndim, 1)
        return [x.reshape(int(np.prod(x.shape[:axis])), -1)]
    if op == "Transpose":
        return [np.transpose(x, a.get("perm"))]
    if op == "Shape":
        shape = np.array(x.shape, np.int64)
        return [shape[a.get("start", 0): a.get("end", len(shape))]]
    if op == "Gather":
        return [np.take(x, np.asarray(ins[1], np.int64), axis=a.get("axis", 0))]
    if op == "Unsqueeze":
        out = x
        axes = sorted(int(v) % (x.ndim + len(ins[1])) for v in ins[1])
        for ax in axes:
            out = np.expand_dims(out, ax)
        return [out]
    if op == "Squeeze":
        axes = tuple(int(v) for v in ins[1]) if len(ins) > 1 and ins[1] is not None else None
        return [np.squeeze(x, axis=axes)]
    if op == "Expand":
        shape = np.broadcast_shapes(x.shape, tuple(int(v) for v in ins[1]))
        return [np.broadcast_to(x, shape).copy()]
    if op == "Cast":
        return [x.astype(_NP_TYPES[a["to"]])]
    if op == "Identity":
        return [x]
    if op == "Constant":
        if "value" in a:
            return [numpy_helper.to_array(a["value"])]
        for k, dt in (("value_float", np.float32), ("value_floats", np.float32), ("value_int", np.int64),
                      ("value_ints", np.int64)):
            if k in a:
                return [np.asarray(a[k], dt)]
        raise NotImplementedError("Constant without a value")
    if op == "ConstantOfShape":
        value = numpy_helper.to_array(a["value"]) if "value" in a else np.zeros(1, np.float32)
        return [np.full([int(v) for v in x], value.reshape(-1)[0], value.dtype)]
    if op == "Range":
        return [np.arange(x, ins[1], ins[2]).astype(np.asarray(x).dtype)]
    raise NotImplementedError(op)


class ReferenceEvaluator:
    """Evaluate an ONNX model (ModelProto or path) in numpy: `run(feeds, keep)`."""

    def __init__(self, model):
        self.path = model if isinstance(model, (str, Path)) else getattr(model.graph, "name", "model")
        self.model = onnx.load(str(model)) if isinstance(model, (str, Path)) else model
        g = self.model.graph
        self.initializers = {i.name: numpy_helper.to_array(i) for i in g.initializer}
        self.nodes = list(g.node)
        self.output_names = [o.name for o in g.output]
        self.input_names = [i.name for i in g.input if i.name not in self.initializers]
        for n in self.nodes:
            if n.domain not in ("", "ai.onnx"):
                raise fail(self.path, f"node {n.name or n.op_type}: op {n.domain}.{n.op_type} has no reference")

    def run(self, feeds: dict, keep=None) -> dict:
        """Values of the graph outputs, or of every tensor named in `keep` (any intermediate)."""
        keep = set(self.output_names if keep is None else keep)
        remaining = {}
        for n in self.nodes:
            for i in n.input:
                remaining[i] = remaining.get(i, 0) + 1
        values = dict(self.initializers)
        for name in self.input_names:
            if name not in feeds:
                raise fail(self.path, f"no value fed for input {name!r}")
            values[name] = np.asarray(feeds[name])
        out = {k: values[k] for k in keep if k in values}
        for node in self.nodes:
            ins = [values[i] if i else None for i in node.input]
            try:
                results = _run_node(node, ins)
            except NotImplementedError as e:
                raise fail(self.path, f"node {node.name or node.op_type}: {node.op_type} ({e}) is outside what "
                                      "the reference evaluator covers") from None
            for name, v in zip(node.output, results):
                if name:
                    values[name] = v
                    if name in keep:
                        out[name] = v
            for i in node.input:  # free what no later node reads
                remaining[i] -= 1
                if remaining[i] == 0 and i not in keep and i not in self.initializers:
                    values.pop(i, None)
        missing = keep - set(out)
        if missing:
            raise fail(self.path, f"no tensor named {sorted(missing)[0]!r} in the graph")
        return out
