"""QuantizeLinear/DequantizeLinear placement in an ONNX graph, where TensorRT fuses them.

Given a float ONNX and, per Conv weight, the activation amax and the per-channel weight amaxes, this inserts
- a Q/DQ pair on every quantized Conv's activation input (per tensor, one pair shared by all Convs that read
  the same tensor) and on its weight (per output channel, axis 0);
- Q/DQ pairs with the same scale on every input of a Concat whose output is quantized (through the layout
  ops of a channel shuffle), so TensorRT can run the Concat in INT8 instead of adding reformat layers;
  requantizing with the same scale is exact, so this leaves the numbers unchanged;
- on a residual Add (one input a Conv output, the other not), the non-conv input is read through the
  Q/DQ pair that already quantizes that tensor for a Conv, so TensorRT can fuse the Add into the Conv;
- for a depthwise Conv with a channel scale a (fake_quant.QuantConv2d): Mul(x, 1/a) before its activation
  Q/DQ pair and the weight replaced by weight * a, the same float function with per-channel input steps.

All zero points are 0 (symmetric INT8): this is the TensorRT placement, which quant/targets.py rewrites for
the CPU runtimes. `check_placement` verifies the result for tests and the CLI.
"""
from typing import NamedTuple, Optional

import numpy as np
import onnx
from onnx import helper, numpy_helper

QMAX = 127.0
LAYOUT_OPS = ("Reshape", "Transpose")


class ConvQuant(NamedTuple):
    """How one Conv is quantized: activation amax (per tensor) and weight amax (per output channel); for a
    channel-scaled depthwise Conv also the input multiplier 1/a ([1, C, 1, 1]) and the weight times a;
    weight_qmax 63 for 7-bit weights, or one value per output channel (quant/weight_levels.py)."""
    act_amax: float
    weight_amax: np.ndarray
    input_multiplier: Optional[np.ndarray] = None
    scaled_weight: Optional[np.ndarray] = None
    weight_qmax: object = QMAX  # a number, or an array with one per output channel


def _scale_init(name, amax, qmax=QMAX):
    scale = np.maximum(np.asarray(amax, np.float32), 1e-8) / np.asarray(qmax, np.float32)
    return numpy_helper.from_array(scale.astype(np.float32), name)


def _snap_to_grid(init, amax, qmax) -> None:
    """Store a weight already on its quantization grid (w = DQ(Q(w)); the ONNX function is unchanged).

    A runtime that recomputes the INT8 codes with its own arithmetic (OpenVINO folds Q/DQ into a
    FakeQuantize, TensorRT quantizes weights at build time) would otherwise round the rare weight that lies
    within float error of a half step the other way, and every output of that channel would be off.
    """
    w = numpy_helper.to_array(init).astype(np.float32)
    shape = (-1, *([1] * (w.ndim - 1)))
    scale = numpy_helper.to_array(_scale_init("s", amax, qmax)).reshape(shape)
    qmax = np.asarray(qmax, np.float32).reshape(shape) if np.ndim(qmax) else qmax
    q = np.clip(np.rint(w / scale), -qmax - 1, qmax)
    init.CopyFrom(numpy_helper.from_array((q * scale).astype(np.float32), init.name))


def _zero_init(name, n=None):
    z = np.zeros(n, np.int8) if n is not None else np.zeros((), np.int8)
    return numpy_helper.from_array(z, name)


class _Graph:
    def __init__(self, model: onnx.ModelProto):
        self.model, self.g = model, model.graph
        self.new_nodes = []
        self.counter = 0

    def producers(self):
        return {o: n for n in self.g.node for o in n.output}

    def consumers(self):
        """Readers of each tensor's values (Shape nodes read only its shape, so they do not count)."""
        out = {}
        for n in self.g.node:
            if n.op_type == "Shape":
                continue
            for i in n.input:
                out.setdefault(i, []).append(n)
        return out

    def qdq(self, tensor, amax, axis=None, tag="act", qmax=QMAX):
        """Add Q -> DQ for `tensor`; return the DQ output name."""
        self.counter += 1
        base = f"{tensor}_{tag}{self.counter}"
        n = None if axis is None else int(np.asarray(amax).size)
        self.g.initializer.extend([_scale_init(base + "_scale", amax, qmax), _zero_init(base + "_zp", n)])
        kw = {} if axis is None else {"axis": axis}
        q = helper.make_node("QuantizeLinear", [tensor, base + "_scale", base + "_zp"], [base + "_q"],
                             name=base + "_QuantizeLinear", **kw)
        dq = helper.make_node("DequantizeLinear", [base + "_q", base + "_scale", base + "_zp"], [base + "_dq"],
                              name=base + "_DequantizeLinear", **kw)
        self.new_nodes.append((tensor, [q, dq]))
        return base + "_dq"

    def mul(self, tensor, multiplier):
        """Add Mul(tensor, multiplier constant); return its output name (committed with the Q/DQ nodes)."""
        self.counter += 1
        base = f"{tensor}_chscale{self.counter}"
        self.g.initializer.append(numpy_helper.from_array(np.asarray(multiplier, np.float32), base + "_mult"))
        node = helper.make_node("Mul", [tensor, base + "_mult"], [base], name=base + "_Mul")
        self.new_nodes.append((tensor, [node]))
        return base

    def commit(self):
        """Insert each new Q/DQ right after its tensor's producer, keeping the node list topologically sorted."""
        after = {}
        for tensor, nodes in self.new_nodes:
            after.setdefault(tensor, []).extend(nodes)
        ordered = []

        def place(node):
            ordered.append(node)
            for o in node.output:  # new nodes can read new nodes (Mul -> Q -> DQ)
                for n in after.pop(o, []):
                    place(n)

        graph_inputs = {i.name for i in self.g.input} | {i.name for i in self.g.initializer}
        for t in list(after):
            if t in graph_inputs:
                for n in after.pop(t):
                    place(n)
        for node in list(self.g.node):
            place(node)
        if after:
            raise RuntimeError(f"Q/DQ for tensors no node produces: {sorted(after)[:3]}")
        del self.g.node[:]
        self.g.node.extend(ordered)
        self.new_nodes = []


def insert_qdq(model: onnx.ModelProto, specs: dict, residual: bool = True) -> onnx.ModelProto:
    """specs: Conv weight initializer name -> ConvQuant (or a plain (activation amax, weight amax) pair)."""
    gr = _Graph(model)
    inits = {i.name: i for i in model.graph.initializer}
    act_dq = {}  # (tensor, amax) -> DQ output, shared by the Convs reading one tensor
    scaled_dq = {}  # (tensor, amax, multiplier bytes) -> DQ output of the rescaled tensor
    for node in list(model.graph.node):
        if node.op_type != "Conv" or node.input[1] not in specs:
            continue
        spec = ConvQuant(*specs[node.input[1]])
        x = node.input[0]
        if spec.input_multiplier is None:
            key = (x, float(spec.act_amax))
            if key not in act_dq:
                act_dq[key] = gr.qdq(x, spec.act_amax)
            node.input[0] = act_dq[key]
        else:
            mult = np.asarray(spec.input_multiplier, np.float32)
            key = (x, float(spec.act_amax), mult.tobytes())
            if key not in scaled_dq:
                scaled_dq[key] = gr.qdq(gr.mul(x, mult), spec.act_amax)
            node.input[0] = scaled_dq[key]
            w = inits[node.input[1]]
            w.CopyFrom(numpy_helper.from_array(np.asarray(spec.scaled_weight, np.float32), w.name))
        if node.input[1] in inits:
            _snap_to_grid(inits[node.input[1]], spec.weight_amax, spec.weight_qmax)
            node.input[1] = gr.qdq(node.input[1], spec.weight_amax, axis=0, tag="w", qmax=spec.weight_qmax)
    gr.commit()
    _quantize_concat_inputs(gr)
    if residual:
        _quantize_residual_adds(gr, act_dq)
    return model


def _quantize_concat_inputs(gr: _Graph) -> None:
    prod, cons = gr.producers(), gr.consumers()
    for q in [n for n in gr.g.node if n.op_type == "QuantizeLinear"]:
        t = q.input[0]
        # walk back through a channel shuffle while each tensor has this path as its only reader
        while t in prod and prod[t].op_type in LAYOUT_OPS and len(cons.get(t, [])) == 1:
            t = prod[t].input[0]
        node = prod.get(t)
        if node is None or node.op_type != "Concat" or len(cons.get(t, [])) != 1:
            continue
        amax = numpy_helper.to_array(_init(gr.g, q.input[1])) * QMAX
        for i, x in enumerate(node.input):
            p = prod.get(x)
            if p is not None and p.op_type == "DequantizeLinear":
                continue
            node.input[i] = gr.qdq(x, float(amax), tag="cat")
    gr.commit()


def _quantize_residual_adds(gr: _Graph, act_dq: dict) -> None:
    prod = gr.producers()
    by_tensor = {}
    for (t, _), dq in act_dq.items():
        by_tensor.setdefault(t, dq)
    for node in gr.g.node:
        if node.op_type != "Add" or len(node.input) != 2:
            continue
        kinds = [prod[x].op_type if x in prod else None for x in node.input]
        for i in (0, 1):
            if kinds[1 - i] == "Conv" and kinds[i] not in ("Conv", "DequantizeLinear") and node.input[i] in by_tensor:
                node.input[i] = by_tensor[node.input[i]]
                break


def _init(g, name):
    for i in g.initializer:
        if i.name == name:
            return i
    raise KeyError(name)


def check_placement(model: onnx.ModelProto, skipped_weights=(), target: str = "tensorrt") -> list:
    """Return a list of problems (empty when the placement is right).

    Every Conv whose weight is not in `skipped_weights` must read its activation and its weight through
    DequantizeLinear (weight per channel, axis 0); skipped Convs must read neither; the inputs of a Concat
    are either all quantized with one scale or not at all; zero points are what `target` takes
    (targets.check_target).
    """
    from .targets import check_target

    g = model.graph
    prod = {o: n for n in g.node for o in n.output}
    inits = {i.name: i for i in g.initializer}

    def weight_name(conv):
        w = conv.input[1]
        p = prod.get(w)
        while p is not None and p.op_type in ("DequantizeLinear", "QuantizeLinear"):
            w = p.input[0]
            p = prod.get(w)
        return w

    problems = check_target(model, target)
    for n in g.node:
        if n.op_type != "Conv":
            continue
        w = weight_name(n)
        a_dq = prod.get(n.input[0])
        w_dq = prod.get(n.input[1])
        a_q = a_dq is not None and a_dq.op_type == "DequantizeLinear"
        w_q = w_dq is not None and w_dq.op_type == "DequantizeLinear"
        if w in skipped_weights:
            if a_q or w_q:
                problems.append(f"{n.name} ({w}): skipped layer is quantized")
            continue
        if not a_q:
            problems.append(f"{n.name} ({w}): activation input not quantized")
        if not w_q:
            problems.append(f"{n.name} ({w}): weight not quantized")
        else:
            axis = {a.name: a.i for a in w_dq.attribute}.get("axis", 1)
            scale = inits.get(w_dq.input[1])
            if axis != 0 or scale is None or numpy_helper.to_array(scale).ndim != 1:
                problems.append(f"{n.name} ({w}): weight not quantized per output channel (axis 0)")
    for n in g.node:
        if n.op_type != "Concat":
            continue
        scales = []
        for x in n.input:
            p = prod.get(x)
            scales.append(float(numpy_helper.to_array(inits[p.input[1]])) if p is not None
                          and p.op_type == "DequantizeLinear" and p.input[1] in inits else None)
        if any(s is not None for s in scales) and len(set(scales)) != 1:
            problems.append(f"{n.name}: Concat inputs quantized inconsistently (scales {scales})")
    return problems


def quantized_conv_weights(model: onnx.ModelProto) -> set:
    """Names of the float weight initializers of Convs that read their weight through Q/DQ."""
    prod = {o: n for n in model.graph.node for o in n.output}
    out = set()
    for n in model.graph.node:
        if n.op_type == "Conv":
            p = prod.get(n.input[1])
            if p is not None and p.op_type == "DequantizeLinear":
                out.add(prod[p.input[0]].input[0])
    return out
