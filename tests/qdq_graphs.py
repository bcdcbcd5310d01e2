"""Small Q/DQ graphs built with onnx.helper (no torch): the shapes that runtimes fuse, for runtime tests."""
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def _qdq(name, x, scale, zp, axis=None):
    kw = {} if axis is None else {"axis": axis}
    return [helper.make_node("QuantizeLinear", [x, scale, zp], [name + "_q"], name=name + "_Q", **kw),
            helper.make_node("DequantizeLinear", [name + "_q", scale, zp], [name + "_dq"], name=name + "_DQ", **kw)]


def concat_conv(signed=True, weight_bits=7, cin=16, cout=8, size=12, seed=0):
    """X1, X2 -> Q/DQ (one shared per-tensor scale) -> Concat -> Q/DQ -> Conv (per-channel Q/DQ weights, stored
    on their grid) -> Y. signed: int8 zero point 0 (TensorRT's form), else uint8 zero point 128 (the same
    function). Returns (model, feeds)."""
    rng = np.random.default_rng(seed)
    qmax = 2 ** (weight_bits - 1) - 1
    w = rng.normal(0, 0.2, (cout, 2 * cin, 3, 3)).astype(np.float32)
    ws = (np.abs(w).reshape(cout, -1).max(1) / qmax).astype(np.float32)
    w = (np.rint(w / ws.reshape(-1, 1, 1, 1)) * ws.reshape(-1, 1, 1, 1)).astype(np.float32)
    zp = np.array(0, np.int8) if signed else np.array(128, np.uint8)
    inits = [numpy_helper.from_array(w, "w"), numpy_helper.from_array(ws, "ws"),
             numpy_helper.from_array(np.zeros(cout, np.int8), "wz"),
             numpy_helper.from_array(np.array(4.0 / 127, np.float32), "s"), numpy_helper.from_array(zp, "z"),
             numpy_helper.from_array(rng.normal(0, 0.1, cout).astype(np.float32), "b")]
    nodes = _qdq("x1", "X1", "s", "z") + _qdq("x2", "X2", "s", "z")
    nodes.append(helper.make_node("Concat", ["x1_dq", "x2_dq"], ["cat"], axis=1, name="Concat"))
    nodes += _qdq("cat", "cat", "s", "z") + _qdq("wq", "w", "ws", "wz", axis=0)
    nodes.append(helper.make_node("Conv", ["cat_dq", "wq_dq", "b"], ["Y"], pads=[1, 1, 1, 1], name="Conv"))
    shape = [1, cin, size, size]
    graph = helper.make_graph(nodes, "concat_conv", [helper.make_tensor_value_info("X1", TensorProto.FLOAT, shape),
                                                     helper.make_tensor_value_info("X2", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, cout, size, size])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.checker.check_model(model)
    feeds = {"X1": rng.normal(0, 1.5, shape).astype(np.float32), "X2": rng.normal(0, 1.5, shape).astype(np.float32)}
    return model, feeds


def qdq_conv(weight_bits=8, signed=True, cin=64, cout=32, size=16, seed=0):
    """X -> Q/DQ -> Conv 1x1 (per-channel Q/DQ weights on their grid) -> Y, X spread over the whole range."""
    rng = np.random.default_rng(seed)
    qmax = 2 ** (weight_bits - 1) - 1
    w = rng.normal(0, 1, (cout, cin, 1, 1)).astype(np.float32)
    ws = (np.abs(w).reshape(cout, -1).max(1) / qmax).astype(np.float32)
    w = (np.rint(w / ws.reshape(-1, 1, 1, 1)) * ws.reshape(-1, 1, 1, 1)).astype(np.float32)
    zp = np.array(0, np.int8) if signed else np.array(128, np.uint8)
    inits = [numpy_helper.from_array(w, "w"), numpy_helper.from_array(ws, "ws"),
             numpy_helper.from_array(np.zeros(cout, np.int8), "wz"),
             numpy_helper.from_array(np.array(2.5 / 127, np.float32), "s"), numpy_helper.from_array(zp, "z")]
    nodes = _qdq("x", "X", "s", "z") + _qdq("wq", "w", "ws", "wz", axis=0)
    nodes.append(helper.make_node("Conv", ["x_dq", "wq_dq"], ["Y"], name="Conv"))
    shape = [1, cin, size, size]
    graph = helper.make_graph(nodes, "qdq_conv", [helper.make_tensor_value_info("X", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, cout, size, size])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    feeds = {"X": rng.uniform(-2.5, 2.5, shape).astype(np.float32)}
    return model, feeds
