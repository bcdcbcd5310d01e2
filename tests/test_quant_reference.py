"""quant/reference.py, the numpy judge of what a QDQ ONNX means, checked against hand-computed values and torch."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from yolov6_edge.quant.reference import (ReferenceEvaluator, conv, conv_transpose, dequantize_linear, max_pool,
                                         quantize_linear)


def test_quantize_linear_rounds_half_to_even_and_saturates():
    x = np.array([0.5, 1.5, 2.5, -0.5, -1.5, 300.0, -300.0, 0.49], np.float32)
    assert quantize_linear(x, np.float32(1), np.array(0, np.int8)).tolist() == [0, 2, 2, 0, -2, 127, -128, 0]
    assert quantize_linear(x, np.float32(1), np.array(128, np.uint8)).tolist() == \
        [128, 130, 130, 128, 126, 255, 0, 128]
    # the same function under both zero points: uint8 codes are the int8 codes + 128
    y = np.random.default_rng(0).normal(0, 3, 1000).astype(np.float32)
    s = np.float32(0.05)
    a = dequantize_linear(quantize_linear(y, s, np.array(0, np.int8)), s, np.array(0, np.int8))
    b = dequantize_linear(quantize_linear(y, s, np.array(128, np.uint8)), s, np.array(128, np.uint8))
    np.testing.assert_array_equal(a, b)


def test_per_axis_quantization_uses_each_channels_scale():
    x = np.ones((2, 3, 1, 1), np.float32) * np.array([1.0, 2.0, 4.0], np.float32).reshape(1, 3, 1, 1)
    scale = np.array([1.0, 0.5, 0.25], np.float32)
    q = quantize_linear(x, scale, np.zeros(3, np.int8), axis=1)
    assert q[0, :, 0, 0].tolist() == [1, 4, 16]
    np.testing.assert_array_equal(dequantize_linear(q, scale, np.zeros(3, np.int8), axis=1), x)


@pytest.mark.parametrize("groups, stride, pad, dilation", [(1, 1, 1, 1), (2, 2, 0, 1), (8, 1, 2, 2), (1, 2, 1, 1)])
def test_conv_matches_torch(groups, stride, pad, dilation):
    rng = np.random.default_rng(groups)
    x = rng.normal(0, 1, (2, 8, 11, 9)).astype(np.float32)
    w = rng.normal(0, 1, (8, 8 // groups, 3, 3)).astype(np.float32)
    b = rng.normal(0, 1, 8).astype(np.float32)
    ref = F.conv2d(torch.from_numpy(x).double(), torch.from_numpy(w).double(), torch.from_numpy(b).double(),
                   stride, pad, dilation, groups).float().numpy()
    got = conv(x, w, b, (stride, stride), (pad,) * 4, (dilation, dilation), groups)
    np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-6)


def test_conv_transpose_and_max_pool_match_torch():
    rng = np.random.default_rng(1)
    x = rng.normal(0, 1, (1, 4, 5, 6)).astype(np.float32)
    w = rng.normal(0, 1, (4, 3, 2, 2)).astype(np.float32)
    ref = F.conv_transpose2d(torch.from_numpy(x), torch.from_numpy(w), stride=2).numpy()
    np.testing.assert_allclose(conv_transpose(x, w, strides=(2, 2)), ref, rtol=1e-5, atol=1e-5)
    ref = F.max_pool2d(torch.from_numpy(x), 5, 1, 2).numpy()
    np.testing.assert_array_equal(max_pool(x, (5, 5), (1, 1), (2, 2, 2, 2)), ref)


@pytest.mark.parametrize("name, size", [("yolov6lite-s", 64), ("yolov6n", 64), ("yolov6m", 64)])
def test_reference_runs_our_float_exports_like_the_torch_model(tmp_path, name, size):
    """The whole evaluator against the model it was exported from (an independent implementation)."""
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
    with torch.no_grad():  # in float64, like the reference's sums (it stores float32 between ops)
        boxes, scores = model.double()(x.double())
    out = ReferenceEvaluator(path).run({"images": x.numpy()})
    np.testing.assert_allclose(out["boxes"], boxes.numpy(), rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(out["scores"], scores.numpy(), rtol=1e-4, atol=1e-3)


def test_reference_keeps_intermediates_and_refuses_unknown_ops(tmp_path):
    from onnx import TensorProto, helper

    from yolov6_edge.errors import Yolov6EdgeError

    nodes = [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Neg", ["r"], ["y"])]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    ev = ReferenceEvaluator(model)
    with pytest.raises(Yolov6EdgeError, match="Neg"):
        ev.run({"x": np.array([-1, 2], np.float32)})
    g2 = helper.make_graph(nodes[:1], "g", g.input, [helper.make_tensor_value_info("r", TensorProto.FLOAT, [2])])
    out = ReferenceEvaluator(helper.make_model(g2, opset_imports=[helper.make_opsetid("", 17)])).run(
        {"x": np.array([-1, 2], np.float32)}, keep=["r", "x"])
    assert out["r"].tolist() == [0, 2] and out["x"].tolist() == [-1, 2]
