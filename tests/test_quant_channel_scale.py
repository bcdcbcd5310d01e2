"""Depthwise channel scales: per-channel input steps for depthwise convs, exact in float, exported as a Mul."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from yolov6_edge.quant.fake_quant import QuantConv2d
from yolov6_edge.quant.interface import (QuantConfig, calibrate, channel_ranges, channel_scales, export_qdq,
                                         quant_layers, quantize, scales_from_ranges)
from yolov6_edge.quant.qdq import check_placement

from standin_models import batches, tiny


def _quantize_np(x, step):
    return np.clip(np.round(x / step), -128, 127) * step


def test_channel_scale_is_per_channel_input_quantization_of_a_depthwise_conv():
    torch.manual_seed(0)
    c = 6
    conv = nn.Conv2d(c, c, 3, 1, 1, groups=c).eval()
    q = QuantConv2d(conv).eval()
    # channels 100x apart in range: one per-tensor step would leave the quiet ones a few levels
    spread = torch.tensor([100.0, 1.0, 3.0, 0.5, 20.0, 7.0])
    x = torch.randn(2, c, 8, 8) * spread.view(1, -1, 1, 1)
    amax = 2.5 * 100.0
    q.input_quantizer.set_amax(amax)
    a = (spread / spread.max()).numpy()
    q.set_channel_scale(a)
    with torch.no_grad():
        out = q(x).numpy()

    # independent reference in float64: input step (amax * a_c) / 127 per channel, weight step max|w_c| / 127
    xn, w = x.double().numpy(), conv.weight.detach().double().numpy()
    xq = _quantize_np(xn, (amax * a.astype(np.float64) / 127).reshape(1, -1, 1, 1))
    wq = _quantize_np(w, (np.abs(w).reshape(c, -1).max(1) / 127).reshape(-1, 1, 1, 1))
    ref = F.conv2d(torch.from_numpy(xq), torch.from_numpy(wq), conv.bias.detach().double(), 1, 1, 1, c).numpy()
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-3)

    # the same layer without the scale quantizes the quiet channels far more coarsely: the test can fail
    q.set_channel_scale(None)
    with torch.no_grad():
        coarse = q(x).numpy()
    err = lambda o: np.abs(o[:, 1:4] - ref[:, 1:4]).mean()  # noqa: E731
    assert err(coarse) > 20 * max(err(out), 1e-6)


def test_channel_scale_needs_a_depthwise_conv_and_positive_values():
    q = QuantConv2d(nn.Conv2d(4, 4, 1))
    with pytest.raises(ValueError, match="depthwise"):
        q.set_channel_scale([1, 1, 1, 1])
    dw = QuantConv2d(nn.Conv2d(4, 4, 3, groups=4))
    with pytest.raises(ValueError, match="4 positive"):
        dw.set_channel_scale([1, 0, 1, 1])
    with pytest.raises(ValueError, match="4 positive"):
        dw.set_channel_scale([1, 1])


def test_learnable_channel_scale_trains_per_channel_steps_and_round_trips():
    torch.manual_seed(0)
    c = 4
    conv = nn.Conv2d(c, c, 3, 1, 1, groups=c).eval()
    q = QuantConv2d(conv)
    spread = torch.tensor([50.0, 1.0, 0.2, 5.0])
    x = torch.randn(8, c, 8, 8) * spread.view(1, -1, 1, 1)
    q.input_quantizer.set_amax(float(x.abs().max()))
    q.set_channel_scale(np.ones(c))  # start as plain per-tensor steps: the quiet channels are starved
    keys = set(q.state_dict())
    q.set_channel_scale_learnable(True)
    assert isinstance(q.channel_scale, nn.Parameter) and set(q.state_dict()) == keys
    with torch.no_grad():
        ref = conv(x)
    err = lambda: float(((q(x) - ref) ** 2).mean((0, 2, 3)).div(ref.var((0, 2, 3))).mean())  # noqa: E731
    q.train()
    before = err()
    opt = torch.optim.Adam([q.channel_scale], lr=0.02)
    for _ in range(60):
        loss = ((q(x) - ref) ** 2).mean((0, 2, 3)).div(ref.var((0, 2, 3))).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            q.channel_scale.clamp_(min=1e-3)
    after = err()
    a = q.channel_scale.detach().numpy().copy()
    assert after < 0.5 * before  # the gradient reaches a through both x / a and w * a
    assert a[2] < a[0]  # the quietest channel got the finer step
    q.set_channel_scale_learnable(False)
    assert not isinstance(q.channel_scale, nn.Parameter) and set(q.state_dict()) == keys
    np.testing.assert_array_equal(q.channel_scale.numpy(), a)


def test_channel_ranges_are_the_mean_over_images_of_each_channel_max():
    model = tiny()
    q = quantize(model)
    data = batches(3)
    seen = []
    h = model.dw.register_forward_pre_hook(lambda m, i: seen.append(i[0].detach().abs().amax((2, 3)).numpy()))
    with torch.no_grad():
        for b in data:
            model(b)
    h.remove()
    want = np.concatenate(seen).mean(0)  # [images, channels] -> per channel
    got = channel_ranges(q, data)
    assert list(got) == ["dw"]  # only the depthwise conv gets a scale
    np.testing.assert_allclose(got["dw"], want, rtol=1e-5)
    s = scales_from_ranges(np.array([4.0, 2.0, 0.0, 1e-9]))
    np.testing.assert_allclose(s, [1.0, 0.5, 1e-3, 1e-3])


def test_calibrate_sets_scales_only_in_depthwise_mode():
    q = quantize(tiny(), QuantConfig(channel_scale="depthwise"))
    calibrate(q, batches(), "max")
    assert set(channel_scales(q)) == {"dw"}
    q = quantize(tiny(), QuantConfig(channel_scale="none"))
    calibrate(q, batches(), "max")
    assert channel_scales(q) == {}
    with pytest.raises(ValueError, match="two passes"):
        calibrate(quantize(tiny()), iter(batches()), "max")


def _bypass_qdq(m: onnx.ModelProto) -> onnx.ModelProto:
    """The same graph with every Q -> DQ pair removed: what remains is its float function."""
    prod = {o: n for n in m.graph.node for o in n.output}
    for n in m.graph.node:
        for i, x in enumerate(n.input):
            p = prod.get(x)
            if p is not None and p.op_type == "DequantizeLinear":
                n.input[i] = prod[p.input[0]].input[0]
    keep = [n for n in m.graph.node if n.op_type not in ("QuantizeLinear", "DequantizeLinear")]
    del m.graph.node[:]
    m.graph.node.extend(keep)
    return m


def test_exported_mul_and_scaled_weight_keep_the_float_function(tmp_path):
    model = tiny()
    q = quantize(model)
    calibrate(q, batches(), "max")
    path = tmp_path / "cs.onnx"
    names = export_qdq(q, path, img_size=(32, 32))
    m = onnx.load(str(path))
    assert check_placement(m) == []
    prod = {o: n for n in m.graph.node for o in n.output}
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in m.graph.initializer}
    dw = next(n for n in m.graph.node if n.op_type == "Conv" and
              prod[prod[n.input[1]].input[0]].input[0] == names["dw"])
    dq = prod[dw.input[0]]
    mul = prod[prod[dq.input[0]].input[0]]
    assert (dq.op_type, mul.op_type) == ("DequantizeLinear", "Mul")
    a = quant_layers(q)["dw"].channel_scale.numpy()
    np.testing.assert_allclose(inits[mul.input[1]].ravel(), 1 / a, rtol=1e-6)
    w = model.dw.weight.detach().numpy()
    # stored on its quantization grid: w * a rounded to the step of its channel (qdq._snap_to_grid)
    step = inits[prod[prod[dw.input[1]].input[0]].input[1]].reshape(-1, 1, 1, 1)
    stored = inits[names["dw"]]
    np.testing.assert_allclose(stored, np.rint(w * a.reshape(-1, 1, 1, 1) / step) * step, rtol=1e-6, atol=1e-9)
    assert np.all(np.abs(stored - w * a.reshape(-1, 1, 1, 1)) <= step / 2 + 1e-7)

    sess = ort.InferenceSession(_bypass_qdq(m).SerializeToString(), providers=["CPUExecutionProvider"])
    x = batches(1, seed=5)[0]
    for layer in quant_layers(q).values():  # the float function of the exported graph: quantized weights only
        layer.input_quantizer.enabled = False
    with torch.no_grad():
        ref = q(x)
    for o, r in zip(sess.run(None, {"images": x.numpy()}), ref):
        np.testing.assert_allclose(o, r.numpy(), rtol=1e-4, atol=1e-4)


def test_cli_offers_exactly_the_channel_scale_modes():
    from yolov6_edge.cli.quant_args import CHANNEL_SCALE_MODES as CLI_MODES
    from yolov6_edge.quant.interface import CHANNEL_SCALE_MODES

    assert list(CLI_MODES) == list(CHANNEL_SCALE_MODES)


def test_cache_from_before_channel_scales_is_refused_by_name(tmp_path):
    import json

    from yolov6_edge.errors import Yolov6EdgeError
    from yolov6_edge.quant.cache import read_cache, write_cache

    path = tmp_path / "old.calib.json"
    path.write_text(json.dumps({"version": 1, "method": "max", "amax": {"a": 1.0}}))
    with pytest.raises(Yolov6EdgeError, match="old.calib.json.*predates the 'channel_scale' setting"):
        read_cache(path, {"method": "max", "channel_scale": "depthwise"})
    write_cache(path, {"a": 1.0}, {"method": "max", "channel_scale": "depthwise"}, {"dw": [1.0, 0.5]})
    assert read_cache(path, {"method": "max", "channel_scale": "depthwise"}) == ({"a": 1.0}, {"dw": [1.0, 0.5]})
