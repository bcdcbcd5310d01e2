"""Small ONNX graphs built with onnx.helper (no torch): a detector-shaped one (tiny_onnx) for the build, runtime
and bench tests, and the Q/DQ shapes that runtimes fuse, for runtime tests."""
import json

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def tiny_onnx(path, nc=2, size=32, qdq=False, op="Conv"):
    """A detector-shaped ONNX made with onnx.helper (no torch): images -> conv -> boxes/scores."""
    rng = np.random.default_rng(0)
    n = (size // 8) ** 2
    inits = [helper.make_tensor("w", TensorProto.FLOAT, [4 + nc, 3, 8, 8], rng.normal(0, .1, (4 + nc) * 192)),
             helper.make_tensor("shape", TensorProto.INT64, [3], [0, 4 + nc, n]),
             helper.make_tensor("two", TensorProto.FLOAT, [], [2.0])]
    src = "images"
    nodes = []
    if qdq:
        inits += [helper.make_tensor("s", TensorProto.FLOAT, [], [1 / 127]),
                  helper.make_tensor("z", TensorProto.INT8, [], [0])]
        nodes += [helper.make_node("QuantizeLinear", ["images", "s", "z"], ["q"]),
                  helper.make_node("DequantizeLinear", ["q", "s", "z"], ["dq"])]
        src = "dq"
    nodes += [helper.make_node(op, [src, "w"], ["f"], strides=[8, 8]) if op == "Conv" else
              helper.make_node(op, [src], ["f"]),
              helper.make_node("Reshape", ["f", "shape"], ["flat"]),
              helper.make_node("Transpose", ["flat"], ["t"], perm=[0, 2, 1]),
              helper.make_node("Slice", ["t", "st0", "en0", "ax"], ["b0"]),
              helper.make_node("Slice", ["t", "st1", "en1", "ax"], ["s0"]),
              helper.make_node("Mul", ["b0", "two"], ["boxes"]),
              helper.make_node("Sigmoid", ["s0"], ["scores"])]
    inits += [helper.make_tensor("st0", TensorProto.INT64, [1], [0]),
              helper.make_tensor("en0", TensorProto.INT64, [1], [4]),
              helper.make_tensor("st1", TensorProto.INT64, [1], [4]),
              helper.make_tensor("en1", TensorProto.INT64, [1], [4 + nc]),
              helper.make_tensor("ax", TensorProto.INT64, [1], [2])]
    graph = helper.make_graph(
        nodes, "tiny", [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 3, size, size])],
        [helper.make_tensor_value_info("boxes", TensorProto.FLOAT, ["batch", n, 4]),
         helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["batch", n, nc])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for k, v in {"names": json.dumps(["cat", "dog"][:nc]), "input_size": json.dumps([size, size]),
                 "layout": "boxes_xyxy+scores", "precision": "int8-qdq" if qdq else "fp32",
                 "model_name": "tiny", "strides": "[8]"}.items():
        model.metadata_props.add(key=k, value=v)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


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
