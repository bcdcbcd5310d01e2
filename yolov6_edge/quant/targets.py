"""One calibration, one Q/DQ placement per runtime: rewrite the TensorRT placement (qdq.py) for a target.

Each runtime fuses a QuantizeLinear/DequantizeLinear pattern of its own into its INT8 kernels, and a graph
one runtime fuses correctly can be slow or wrong on another (docs/QUANTIZATION.md, "Q/DQ placement per
target"). All targets start from the same calibrated scales:

- tensorrt: Q/DQ on conv inputs, signed INT8 with zero point 0 everywhere (the only form TensorRT's ONNX
  parser accepts), 8-bit weights.
- openvino: the same placement with every activation pair in uint8 and zero point 128: the same function
  under the ONNX spec (q_u8 = q_s8 + 128, both clip to the same 256 levels), but OpenVINO 2026.4 computes a
  signed-INT8 Concat that feeds an INT8 conv with 17 levels instead of 256, and runs it right in uint8.
- onnxruntime: ONNX Runtime fuses a conv into QLinearConv only for DQ(x), DQ(w) -> Conv -> Q(y), and drops a
  Relu only in front of a Q whose zero point is its lowest code. So every quantized conv whose output (after
  an optional Relu) some consumer already quantizes gets that Q right behind it, shared by all its readers;
  after a Relu it becomes uint8 with zero point 0 and 255 steps over [0, amax] (a finer grid than the signed
  one, which spends half its codes on values a Relu never makes); its bias becomes an explicit int32
  DequantizeLinear with scale s_x * s_w, as ORT would quantize it anyway, so the graph states what runs.
  Convs followed by other activations (HardSwish, SiLU) keep input-only Q/DQ: ORT has no INT8 kernel for
  those activations, and dequantizing around them costs more than the INT8 conv saves (measured in
  benchmarks/results/int8_cpu.md).

The CPU targets default to 7-bit weights (codes within +-63): without VNNI, x86 INT8 kernels multiply
uint8 by int8 with `vpmaddubsw`, whose 16-bit sums of two products saturate when both reach 255 x 127, and
OpenVINO then computes wrong convs (measured: relative error 0.08 on a plain Q/DQ conv, 1.1 on the
YOLOv6Lite stem, exact with 7-bit weights). 7 bits keep every pair sum within 255 x 63 x 2 < 2^15.
"""
import numpy as np
import onnx
from onnx import helper, numpy_helper

from .recipe import TARGETS


class _Edit:
    def __init__(self, model):
        self.g = model.graph
        self.inits = {i.name: i for i in self.g.initializer}
        self.n = 0

    def array(self, name):
        return numpy_helper.to_array(self.inits[name])

    def new_init(self, stem, value):
        self.n += 1
        name = f"{stem}_t{self.n}"
        init = numpy_helper.from_array(np.asarray(value), name)
        self.g.initializer.append(init)
        self.inits[name] = init
        return name

    def maps(self):
        producer = {o: n for n in self.g.node for o in n.output}
        readers = {}
        for n in self.g.node:
            for i in n.input:
                readers.setdefault(i, []).append(n)
        return producer, readers


def _is_activation_pair_param(edit, node) -> bool:
    """A per-tensor signed-INT8 zero point 0 on an activation Q/DQ (weights are initializers, per channel)."""
    if len(node.input) < 3 or node.input[2] not in edit.inits:
        return False
    zp = edit.array(node.input[2])
    return zp.ndim == 0 and zp.dtype == np.int8 and int(zp) == 0


def unsigned_activations(model: onnx.ModelProto) -> int:
    """Every activation Q/DQ with int8 zero point 0 -> uint8 zero point 128 (the same function); returns how
    many zero points changed."""
    edit = _Edit(model)
    done = {}
    for node in edit.g.node:
        if node.op_type in ("QuantizeLinear", "DequantizeLinear") and _is_activation_pair_param(edit, node):
            zp = node.input[2]
            if zp not in done:
                done[zp] = edit.new_init(zp, np.array(128, np.uint8))
            node.input[2] = done[zp]
    return len(done)


def _weight_dq(producer, conv):
    p = producer.get(conv.input[1])
    return p if p is not None and p.op_type == "DequantizeLinear" else None


def _set_pair(edit, q, dq, scale, zero_point):
    s = edit.new_init(q.input[1], np.asarray(scale, np.float32))
    z = edit.new_init(q.input[2], zero_point)
    for n in (q, dq):
        n.input[1], n.input[2] = s, z


def quantize_conv_outputs(model: onnx.ModelProto) -> int:
    """The onnxruntime placement on top of the TensorRT one (module doc); returns how many convs it fuses."""
    edit = _Edit(model)
    producer, readers = edit.maps()
    graph_outputs = {o.name for o in edit.g.output}
    fused, dropped, before = 0, set(), {}
    for conv in list(edit.g.node):
        if conv.op_type != "Conv":
            continue
        x_dq, w_dq = producer.get(conv.input[0]), _weight_dq(producer, conv)
        if x_dq is None or x_dq.op_type != "DequantizeLinear" or w_dq is None:
            continue
        t, relu = conv.output[0], None
        rs = readers.get(t, [])
        if len(rs) == 1 and rs[0].op_type == "Relu" and t not in graph_outputs:
            relu, t = rs[0], rs[0].output[0]
        qs = [r for r in readers.get(t, []) if r.op_type == "QuantizeLinear" and id(r) not in dropped]
        if not qs or t in graph_outputs:
            continue
        main = qs[0]
        main_dq = [r for r in readers.get(main.output[0], []) if r.op_type == "DequantizeLinear"]
        if len(main_dq) != 1 or len(readers.get(main.output[0], [])) != 1:
            continue
        main_dq = main_dq[0]
        scale = float(edit.array(main.input[1]))
        # every other reader of t reads the shared pair: a Q with the same scale is the same pair again
        for r in list(readers.get(t, [])):
            if r is main:
                continue
            if r.op_type == "QuantizeLinear" and float(edit.array(r.input[1])) == scale and \
                    all(d.op_type == "DequantizeLinear" for d in readers.get(r.output[0], [])):
                for d in readers.get(r.output[0], []):
                    for later in readers.get(d.output[0], []):
                        later.input[:] = [main_dq.output[0] if i == d.output[0] else i for i in later.input]
                    dropped.add(id(d))
                dropped.add(id(r))
            else:
                r.input[:] = [main_dq.output[0] if i == t else i for i in r.input]
        if relu is not None:
            _set_pair(edit, main, main_dq, scale * 127.0 / 255.0, np.array(0, np.uint8))
        bias = _quantize_bias(edit, conv, x_dq, w_dq)
        if bias is not None:
            before[id(conv)] = bias
        fused += 1
    nodes = []
    for n in edit.g.node:
        if id(n) in before:
            nodes.append(before[id(n)])
        if id(n) not in dropped:
            nodes.append(n)
    del edit.g.node[:]
    edit.g.node.extend(nodes)
    return fused


def _quantize_bias(edit, conv, x_dq, w_dq):
    """Conv bias -> DequantizeLinear(int32 bias, s_x * s_w); returns the new node (placed before the conv)."""
    if len(conv.input) < 3 or conv.input[2] not in edit.inits or x_dq.input[1] not in edit.inits:
        return None
    s = np.float32(edit.array(x_dq.input[1])) * edit.array(w_dq.input[1]).astype(np.float32)
    s = np.maximum(s, np.float32(1e-30)).astype(np.float32)
    q = np.clip(np.rint(edit.array(conv.input[2]).astype(np.float64) / s), -2 ** 31, 2 ** 31 - 1).astype(np.int32)
    stem = conv.input[2]
    names = [edit.new_init(stem + "_int32", q), edit.new_init(stem + "_scale", s),
             edit.new_init(stem + "_zp", np.zeros(q.shape, np.int32))]
    out = stem + f"_dq{edit.n}"
    node = helper.make_node("DequantizeLinear", names, [out], name=out, axis=0)
    conv.input[2] = out
    return node


def apply_target(model: onnx.ModelProto, target: str) -> dict:
    """Rewrite a TensorRT-placement QDQ model in place for `target`; returns what changed (for the report)."""
    if target not in TARGETS:
        raise ValueError(f"unknown Q/DQ target {target!r} (expected one of {', '.join(TARGETS)})")
    done: dict = {"target": target}
    if target == "onnxruntime":
        done["fused_convs"] = quantize_conv_outputs(model)
    if target in ("openvino", "onnxruntime"):
        done["unsigned_zero_points"] = unsigned_activations(model)
    return done


def check_target(model: onnx.ModelProto, target: str) -> list:
    """Zero-point problems for `target`: TensorRT takes int8 zero points 0 only; the CPU targets run
    activations in uint8 (weights stay int8, zero point 0)."""
    g = model.graph
    inits = {i.name: i for i in g.initializer}
    problems = []
    for n in g.node:
        if n.op_type not in ("QuantizeLinear", "DequantizeLinear") or len(n.input) < 3 or n.input[2] not in inits:
            continue
        zp = numpy_helper.to_array(inits[n.input[2]])
        weight = n.input[0] in inits or zp.ndim > 0
        if zp.dtype == np.int32:
            if target == "tensorrt":
                problems.append(f"{n.name}: int32 (bias) quantization is not taken by TensorRT")
            continue
        if target == "tensorrt" or weight:
            if zp.dtype != np.int8 or np.any(zp != 0):
                problems.append(f"{n.name}: {'weight' if weight else 'activation'} zero point must be int8 0")
        elif zp.dtype != np.uint8:
            problems.append(f"{n.name}: activation zero point must be uint8 for {target}")
    return problems
