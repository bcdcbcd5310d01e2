"""Run in a subprocess with ONEDNN_MAX_CPU_ISA set (oneDNN reads it once, when OpenVINO first loads it).

    python tests/pair_probe.py probe OUT.json        planted weight pairs: which output channels depart
    python tests/pair_probe.py compare FILE IMAGES OUT.json   compare-runtimes on OpenVINO, isolated, 1 image

A conv whose every input sits at the top code (255) and whose weights are all 1 except one planted pair per
output channel: that channel departs from the reference iff the runtime sums the pair in one int16.
"""
import json
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

# (name, [(input channel, tap row, tap col, code), ...]) planted in one output channel each
PLANTS = [
    ("ic0+ic1 one tap", [(0, 1, 1, 100), (1, 1, 1, 100)]),
    ("ic1+ic2 one tap", [(1, 1, 1, 100), (2, 1, 1, 100)]),
    ("ic2+ic3 one tap", [(2, 1, 1, 100), (3, 1, 1, 100)]),
    ("ic3+ic4 one tap", [(3, 1, 1, 100), (4, 1, 1, 100)]),
    ("ic0+ic2 one tap", [(0, 1, 1, 100), (2, 1, 1, 100)]),
    ("ic0 two taps in a row", [(0, 1, 1, 100), (0, 1, 2, 100)]),
    ("ic0 two taps in a column", [(0, 1, 1, 100), (0, 2, 1, 100)]),
    ("ic14+ic15", [(14, 2, 2, 100), (15, 2, 2, 100)]),
    ("ic15+ic16", [(15, 2, 2, 100), (16, 2, 2, 100)]),
    ("64+65", [(0, 1, 1, 64), (1, 1, 1, 65)]),
    ("64+64", [(0, 1, 1, 64), (1, 1, 1, 64)]),
    ("-64-65", [(0, 1, 1, -64), (1, 1, 1, -65)]),
    ("-64-64", [(0, 1, 1, -64), (1, 1, 1, -64)]),
    ("127,-127", [(0, 1, 1, 127), (1, 1, 1, -127)]),
    ("none", []),
]


def planted_conv(cin, k, plants, group=1, stride=1, size=8):
    """(model, feeds, weight codes): X at the top uint8 code (zero point 128) -> Conv with the planted codes."""
    codes = np.ones((len(plants), cin // group, k, k), np.int64)
    for o, pl in enumerate(plants):
        for ic, a, b, code in pl:
            if ic < cin // group and a < k and b < k:
                codes[o, ic, a, b] = code
    cout = codes.shape[0]
    ws = np.full(cout, 0.01, np.float32)
    s = np.float32(0.05)
    inits = [numpy_helper.from_array((codes * ws.reshape(-1, 1, 1, 1)).astype(np.float32), "w"),
             numpy_helper.from_array(ws, "ws"), numpy_helper.from_array(np.zeros(cout, np.int8), "wz"),
             numpy_helper.from_array(np.array(s), "s"), numpy_helper.from_array(np.array(128, np.uint8), "z")]
    nodes = [helper.make_node("QuantizeLinear", ["X", "s", "z"], ["xq"]),
             helper.make_node("DequantizeLinear", ["xq", "s", "z"], ["xdq"]),
             helper.make_node("QuantizeLinear", ["w", "ws", "wz"], ["wq"], axis=0),
             helper.make_node("DequantizeLinear", ["wq", "ws", "wz"], ["wdq"], axis=0),
             helper.make_node("Conv", ["xdq", "wdq"], ["Y"], pads=[k // 2] * 4, strides=[stride] * 2, group=group)]
    graph = helper.make_graph(nodes, "planted", [helper.make_tensor_value_info("X", TensorProto.FLOAT,
                                                                                [1, cin, size, size])],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    return model, {"X": np.full((1, cin, size, size), 127 * s, np.float32)}, codes


def _departing_channels(model, feeds, tmp):
    import openvino as ov

    from yolov6_edge.quant.reference import ReferenceEvaluator

    onnx.save(model, str(tmp))
    compiled = ov.Core().compile_model(str(tmp), "CPU", {"INFERENCE_NUM_THREADS": 1,
                                                         "INFERENCE_PRECISION_HINT": "f32", "PERF_COUNT": "YES"})
    req = compiled.create_infer_request()
    got = np.array(req.infer(feeds)[compiled.output(0)])
    kernels = sorted({p.exec_type for p in req.profiling_info if "onvolution" in p.node_type})
    ref = ReferenceEvaluator(model).run(feeds)["Y"]
    err = np.abs(got - ref).reshape(got.shape[1], -1).max(1) / np.abs(ref).max()
    return (err > 1e-4).tolist(), kernels


def probe(out):
    from yolov6_edge.quant.saturation import can_saturate

    tmp = Path(out).with_suffix(".onnx")
    cases = {"conv 3x3, 32 channels": (32, 3, [p for _, p in PLANTS], 1, 1),
             "conv 1x1, 32 channels": (32, 1, [[(ic, 0, 0, c) for ic, _, _, c in p] for _, p in PLANTS], 1, 1),
             "stem 3x3 stride 2, 3 channels": (3, 3, [p for _, p in PLANTS[:3]] + [
                 [(2, 1, 1, 100), (0, 1, 2, 100)], []], 1, 2),
             "depthwise 3x3": (16, 3, [[(0, 1, 1, 127), (0, 1, 2, 127), (0, 2, 1, 127)]] * 16, 16, 1)}
    res = {}
    for name, (cin, k, plants, group, stride) in cases.items():
        model, feeds, codes = planted_conv(cin, k, plants, group, stride, size=16 if stride > 1 else 8)
        departs, kernels = _departing_channels(model, feeds, tmp)
        res[name] = {"departs": departs, "predicted": can_saturate(codes, group, "openvino").tolist(),
                     "kernels": kernels}
    Path(out).write_text(json.dumps(res))


def compare(path, images, out):
    from yolov6_edge.quant.runtime_compare import compare_runtimes

    rep = compare_runtimes(path, images, backends=["openvino"], num=1, progress=False)
    Path(out).write_text(json.dumps({"departing": [r.unit for r in rep.departing("openvino")],
                                     "layers": len(rep.layers)}))


if __name__ == "__main__":
    {"probe": probe, "compare": compare}[sys.argv[1]](*sys.argv[2:])
