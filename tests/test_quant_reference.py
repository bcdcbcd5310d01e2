"""quant/reference.py, the judge of what a QDQ ONNX means: onnx.reference with our two op replacements, checked
against hand-computed values, ONNX Runtime, onnx.reference's own ops and the torch model a file came from."""
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator as OnnxReference

from yolov6_edge.errors import Yolov6EdgeError
from yolov6_edge.quant.reference import (ReferenceEvaluator, dequantize_linear, quantize_dequantize,
                                         quantize_linear)


def _q_model(zp_type, opset=17, axis=None):
    kw = {} if axis is None else {"axis": axis}
    g = helper.make_graph([helper.make_node("QuantizeLinear", ["x", "s", "z"], ["y"], **kw)], "q",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, None),
                           helper.make_tensor_value_info("s", TensorProto.FLOAT, None),
                           helper.make_tensor_value_info("z", zp_type, None)],
                          [helper.make_tensor_value_info("y", zp_type, None)])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)


def _ort(model, feeds):
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)[0]


def test_quantize_linear_rounds_half_to_even_and_saturates():
    x = np.array([0.5, 1.5, 2.5, -0.5, -1.5, 300.0, -300.0, 0.49, 3e9, -3e9, np.inf, -np.inf], np.float32)
    assert quantize_linear(x, np.float32(1), np.array(0, np.int8)).tolist() == \
        [0, 2, 2, 0, -2, 127, -128, 0, 127, -128, 127, -128]
    assert quantize_linear(x, np.float32(1), np.array(128, np.uint8)).tolist() == \
        [128, 130, 130, 128, 126, 255, 0, 128, 255, 0, 255, 0]
    # the same function under both zero points: uint8 codes are the int8 codes + 128
    y = np.random.default_rng(0).normal(0, 3, 1000).astype(np.float32)
    s = np.float32(0.05)
    a = quantize_dequantize(y, s, np.array(0, np.int8))
    b = dequantize_linear(quantize_linear(y, s, np.array(128, np.uint8)), s, np.array(128, np.uint8))
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("zp_type, zp", [(TensorProto.INT8, np.array(0, np.int8)),
                                         (TensorProto.UINT8, np.array(128, np.uint8)),
                                         (TensorProto.UINT8, np.array(3, np.uint8))])
def test_quantize_linear_is_onnx_runtimes_and_onnx_references_function(zp_type, zp):
    """Ties, saturation and plain values: ORT (an independent implementation) everywhere, and onnx.reference's
    own QuantizeLinear wherever it does not wrap (|x / scale| < 2^31): we replace only its saturation."""
    rng = np.random.default_rng(1)
    s = np.array(0.02, np.float32)
    x = np.concatenate([rng.normal(0, 2, 5000), (np.arange(-300, 300) + 0.5) * 0.02,  # ties at half steps
                        [1e6, -1e6, 3e9, -3e9, np.inf, -np.inf]]).astype(np.float32)
    model = _q_model(zp_type)
    feeds = {"x": x, "s": s, "z": zp}
    ours = ReferenceEvaluator(model).run(feeds)["y"]
    np.testing.assert_array_equal(ours, _ort(model, feeds))
    with np.errstate(invalid="ignore"):  # its int32 cast of 3e9 and inf
        theirs = OnnxReference(_q_model(zp_type, opset=19)).run(None, feeds)[0]
    in_range = np.abs(x / s) < 2 ** 31
    np.testing.assert_array_equal(ours[in_range], theirs[in_range])


@pytest.mark.xfail(strict=True, reason="onnx.reference (1.23) casts round(x / scale) to int32 before saturating: "
                                       "3e9 wraps to -128 (our QuantizeLinear replaces it; drop ours when this "
                                       "passes)")
def test_onnx_reference_quantize_linear_saturates_beyond_int32():
    with np.errstate(invalid="ignore"):
        y = OnnxReference(_q_model(TensorProto.INT8, opset=19)).run(
            None, {"x": np.array([3e9], np.float32), "s": np.array(1, np.float32), "z": np.array(0, np.int8)})[0]
    assert y.tolist() == [127]


@pytest.mark.xfail(strict=True, reason="onnx.reference (1.23) has DequantizeLinear from opset 19 only; ours runs its "
                                       "opset-19 implementation for our opset-17 files (drop ours when this passes)")
def test_onnx_reference_has_dequantize_linear_at_opset_17():
    g = helper.make_graph([helper.make_node("DequantizeLinear", ["x", "s"], ["y"])], "dq",
                          [helper.make_tensor_value_info("x", TensorProto.INT8, [1]),
                           helper.make_tensor_value_info("s", TensorProto.FLOAT, [])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    OnnxReference(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]))


def test_dequantize_linear_int8_uint8_and_int32_bias_match_onnx_runtime():
    rng = np.random.default_rng(2)
    cases = [(rng.integers(-128, 128, 500).astype(np.int8), np.array(0, np.int8), np.array(0.03, np.float32)),
             (rng.integers(0, 256, 500).astype(np.uint8), np.array(128, np.uint8), np.array(0.03, np.float32)),
             # int32 bias (the onnxruntime placement): scale = input scale x weight scale, zero point 0
             (rng.integers(-2 ** 31, 2 ** 31 - 1, 500, dtype=np.int64).astype(np.int32), None,
              np.array(1.3e-5, np.float32))]
    for x, zp, s in cases:
        names = ["x", "s", "z" if zp is not None else ""]
        inputs = [helper.make_tensor_value_info("x", helper.np_dtype_to_tensor_dtype(x.dtype), None),
                  helper.make_tensor_value_info("s", TensorProto.FLOAT, None)]
        feeds = {"x": x, "s": s}
        if zp is not None:
            inputs.append(helper.make_tensor_value_info("z", helper.np_dtype_to_tensor_dtype(zp.dtype), None))
            feeds["z"] = zp
        g = helper.make_graph([helper.make_node("DequantizeLinear", names, ["y"])], "dq", inputs,
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
        model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
        np.testing.assert_array_equal(ReferenceEvaluator(model).run(feeds)["y"], _ort(model, feeds))
        np.testing.assert_array_equal(dequantize_linear(x, s, zp), _ort(model, feeds))


def test_per_axis_quantization_uses_each_channels_scale():
    x = np.ones((2, 3, 1, 1), np.float32) * np.array([1.0, 2.0, 4.0], np.float32).reshape(1, 3, 1, 1)
    scale = np.array([1.0, 0.5, 0.25], np.float32)
    q = quantize_linear(x, scale, np.zeros(3, np.int8), axis=1)
    assert q[0, :, 0, 0].tolist() == [1, 4, 16]
    np.testing.assert_array_equal(dequantize_linear(q, scale, np.zeros(3, np.int8), axis=1), x)
    w = np.random.default_rng(3).normal(0, 1, (4, 2, 3, 3)).astype(np.float32)
    ws = np.array([0.01, 0.02, 0.04, 0.08], np.float32)
    model = _q_model(TensorProto.INT8, axis=0)
    feeds = {"x": w, "s": ws, "z": np.zeros(4, np.int8)}
    np.testing.assert_array_equal(ReferenceEvaluator(model).run(feeds)["y"], _ort(model, feeds))


def _pool_model(kernel, stride, pads=None, **attrs):
    if pads is not None:
        attrs["pads"] = pads
    g = helper.make_graph([helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[kernel] * 2, strides=[stride] * 2,
                                            **attrs)], "p",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, None)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


@pytest.mark.parametrize("kernel, stride, pads, attrs", [(5, 1, [2, 2, 2, 2], {}), (3, 2, [1, 1, 1, 1], {}),
                                                         (2, 2, [0, 0, 0, 0], {}), (3, 1, [0, 1, 2, 0], {}),
                                                         (3, 2, None, {"auto_pad": "VALID"}),
                                                         (3, 2, [1, 1, 1, 1], {"ceil_mode": 1})])
def test_max_pool_is_onnx_references_function(kernel, stride, pads, attrs):
    """Our MaxPool (for speed: onnx.reference loops per output element) against onnx.reference's bit for bit,
    and against ONNX Runtime; the ceil_mode form is handed to onnx.reference's."""
    model = _pool_model(kernel, stride, pads, **attrs)
    x = np.random.default_rng(kernel + stride).normal(0, 1, (2, 5, 13, 11)).astype(np.float32)
    x[0, 0, :3, :3] = -5  # a corner where only padding and negatives meet
    ours = ReferenceEvaluator(model).run({"x": x})["y"]
    np.testing.assert_array_equal(ours, _ort(model, {"x": x}))
    if pads is None or pads[:2] == pads[2:]:  # onnx.reference misreads asymmetric pads (the xfail below)
        np.testing.assert_array_equal(ours, OnnxReference(model).run(None, {"x": x})[0])


@pytest.mark.xfail(strict=True, reason="onnx.reference (1.23) MaxPool with stride 1 reads pads [top, left, bottom, "
                                       "right] = [0, 1, 2, 0] as if ordered otherwise: output 12x11, the spec (and "
                                       "ORT) 13x10; our exports pad symmetrically, and our MaxPool is right either way")
def test_onnx_reference_max_pool_asymmetric_pads():
    x = np.zeros((1, 1, 13, 11), np.float32)
    assert OnnxReference(_pool_model(3, 1, [0, 1, 2, 0])).run(None, {"x": x})[0].shape == (1, 1, 13, 10)


@pytest.mark.parametrize("name, size", [("yolov6lite-s", 64), ("yolov6n", 64), ("yolov6m", 64)])
def test_reference_runs_our_float_exports_like_the_torch_model(tmp_path, name, size):
    """The whole evaluator against the model it was exported from (an independent implementation): Conv,
    ConvTranspose, MaxPool, Resize, the activations and the shape arithmetic of unsimplified exports."""
    torch = pytest.importorskip("torch")
    from yolov6_edge.export.onnx import export_onnx
    from yolov6_edge.models import build_model

    torch.manual_seed(0)
    model = build_model(name, num_classes=3).eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.Conv2d):
                m.weight.normal_(0, (1.0 / (m.weight[0].numel())) ** 0.5)
    model.fuse()
    # unsimplified: more of the ops the QDQ graphs can hold (shape arithmetic), and faster to write
    path = export_onnx(model, tmp_path / "m.onnx", (size, size), simplify=False)
    x = torch.rand(2, 3, size, size)
    with torch.no_grad():  # float64, so a difference is float32 rounding (or a fault)
        expected = dict(zip(["boxes", "scores"], [t.numpy() for t in model.double()(x.double())]))
    out = ReferenceEvaluator(path).run({"images": x.numpy()})
    # The budget for float32 rounding through ~60 layers of random weights (logits in the hundreds, boxes
    # up to thousands of px) is what ONNX Runtime's float32 misses by; measured, the reference lands at
    # 1-5x that (float32 sums in its Conv; docs/QUANTIZATION.md), a fault at the size of the values.
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got_ort = dict(zip(["boxes", "scores"], sess.run(["boxes", "scores"], {"images": x.numpy()})))
    for k, ref in expected.items():
        budget = max(10 * float(np.abs(got_ort[k] - ref).max()), 1e-5)
        np.testing.assert_allclose(out[k], ref, rtol=0, atol=budget, err_msg=k)


def test_reference_keeps_intermediates_and_refuses_unknown_ops_and_names():
    nodes = [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Neg", ["r"], ["y"])]
    vi = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])]
    g = helper.make_graph(nodes, "g", vi, [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    ev = ReferenceEvaluator(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]))
    out = ev.run({"x": np.array([-1, 2], np.float32)}, keep=["r", "x", "y"])
    assert out["r"].tolist() == [0, 2] and out["x"].tolist() == [-1, 2] and out["y"].tolist() == [0, -2]
    with pytest.raises(Yolov6EdgeError, match="no tensor named 'nope'"):
        ev.run({"x": np.array([-1, 2], np.float32)}, keep=["nope"])
    with pytest.raises(Yolov6EdgeError, match="no value fed for input 'x'"):
        ev.run({})

    custom = helper.make_graph([helper.make_node("Gelu", ["x"], ["y"], domain="com.microsoft")], "g", vi,
                               [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    with pytest.raises(Yolov6EdgeError, match="com.microsoft.Gelu has no reference"):
        ReferenceEvaluator(helper.make_model(custom, opset_imports=[helper.make_opsetid("", 17),
                                                                    helper.make_opsetid("com.microsoft", 1)]))
    # opset 10's DequantizeLinear, which onnx.reference lacks, runs as opset 19's (the same function)
    old_dq = helper.make_graph([helper.make_node("DequantizeLinear", ["q", "s"], ["y"])], "g",
                               [helper.make_tensor_value_info("q", TensorProto.INT8, [2]),
                                helper.make_tensor_value_info("s", TensorProto.FLOAT, [])],
                               [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    ev = ReferenceEvaluator(helper.make_model(old_dq, opset_imports=[helper.make_opsetid("", 10)]))
    assert ev.run({"q": np.array([-3, 4], np.int8), "s": np.array(0.5, np.float32)})["y"].tolist() == [-1.5, 2.0]
    unknown = helper.make_graph([helper.make_node("Relu6", ["x"], ["y"])], "g", vi,
                                [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    with pytest.raises(Yolov6EdgeError, match="cannot evaluate it.*Relu6"):
        ReferenceEvaluator(helper.make_model(unknown, opset_imports=[helper.make_opsetid("", 17)]))


def test_reference_and_runtime_compare_run_without_torch_and_cli_names_the_onnx_extra(tmp_path):
    """The judge is part of the ONNX half of quant/: no torch (a runtime-only install with onnx runs
    compare-runtimes), and where onnx is missing the command says what to install, in one line."""
    code = textwrap.dedent(f"""
        import sys
        import numpy as np
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from qdq_graphs import concat_conv
        from yolov6_edge.quant.reference import ReferenceEvaluator
        from yolov6_edge.quant.runtime_compare import extract, find_units, snap_feeds
        model, feeds = concat_conv()
        values = ReferenceEvaluator(model).run(feeds, keep=["Y", "X1", "X2"])
        unit = find_units(model)[0]
        sub, sub_feeds = extract(model, unit.output, {{**feeds, **values}})
        snapped = snap_feeds(sub, sub_feeds)
        assert not np.array_equal(snapped["X1"], feeds["X1"])  # moved onto the grid of the Q that reads it
        ReferenceEvaluator(sub).run(snapped)
        loaded = [m for m in sys.modules if m == "torch" or m.startswith("torch.")]
        print("TORCH" if loaded else "NO_TORCH", loaded[:3])
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "NO_TORCH" in out.stdout, out.stdout

    code = textwrap.dedent(f"""
        import sys
        sys.modules["onnx"] = None  # as on the base install
        from yolov6_edge.cli.main import main
        sys.exit(main(["compare-runtimes", {str(tmp_path / "m.onnx")!r}, "--images", {str(tmp_path)!r}]))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2, out.stderr
    assert out.stderr.strip().count("\n") == 0 and "needs onnx" in out.stderr and "pip install onnx" in out.stderr
