"""Weight pairs that saturate without VNNI: the pairing rule, the exact bound, the levels that avoid it, and
OpenVINO under ONEDNN_MAX_CPU_ISA=AVX2 / AVX512_CORE (no VNNI) departing exactly where the analysis says."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

from yolov6_edge.quant.saturation import SAFE_PAIR_SUM, can_saturate, mlas_conv_sym, onnx_pair_sums, pair_sums

HERE = Path(__file__).resolve().parent
SIZE = (64, 64)
NO_VNNI_CAPS = ("AVX2", "AVX512_CORE")


def _codes(shape, plants):
    w = np.ones(shape, np.int64)
    for (o, c, a, b), v in plants.items():
        w[o, c, a, b] = v
    return w


def test_pairs_are_adjacent_input_channels_of_one_tap_on_openvino():
    w = _codes((4, 6, 3, 3), {(0, 0, 1, 1): 100, (0, 1, 1, 1): 100,  # channels 0+1: one pair
                              (1, 1, 1, 1): 100, (1, 2, 1, 1): 100,  # 1+2: two pairs
                              (2, 0, 1, 1): 100, (2, 0, 1, 2): 100,  # one channel, two taps
                              (3, 4, 0, 0): -100, (3, 5, 0, 0): -100})  # 4+5, negative
    assert pair_sums(w, 1, "openvino").tolist() == [200, 101, 101, 200]
    assert can_saturate(w, 1, "openvino").tolist() == [True, False, False, True]


def test_the_bound_is_255_times_the_same_sign_sum_against_int16():
    # 255 * 129 = 32895 > 32767 and 255 * 128 = 32640 fits, on either side; mixed signs never saturate
    for pair, sat in (((64, 65), True), ((64, 64), False), ((-64, -65), True), ((-64, -64), False),
                      ((127, -127), False), ((-128, -1), True), ((63, 63), False)):
        w = _codes((1, 2, 1, 1), {(0, 0, 0, 0): pair[0], (0, 1, 0, 0): pair[1]})
        assert can_saturate(w, 1, "openvino")[0] == sat, pair
    assert SAFE_PAIR_SUM * 255 <= 32767 < (SAFE_PAIR_SUM + 1) * 255


def test_depthwise_convs_have_no_pairs_and_odd_channel_counts_pair_with_padding():
    dw = np.full((8, 1, 3, 3), 127)
    assert pair_sums(dw, 8, "openvino").tolist() == [0] * 8
    assert pair_sums(dw, 8, "onnxruntime").tolist() == [0] * 8
    stem = _codes((2, 3, 3, 3), {(0, 2, 1, 1): 127, (1, 0, 1, 1): 127})
    # channel 2 pairs with the zero padding: 127 + 0 cannot saturate; channel 0 pairs with channel 1 (code 1)
    assert pair_sums(stem, 1, "openvino").tolist() == [127, 128]


def test_onnxruntime_pairs_follow_the_mlas_path_the_conv_takes():
    # MlasConvSym (4 | C, 8 | O, O >= 16) packs channels of one tap like oneDNN; the im2col GEMM pairs the
    # flattened index tap * C + c, which crosses taps when C is odd
    assert mlas_conv_sym(16, 32, 1) and not mlas_conv_sym(8, 32, 1) and not mlas_conv_sym(16, 3, 1)
    w = np.ones((16, 3, 3, 3), np.int64)
    w[0, 2, 0, 0], w[0, 0, 0, 1] = 100, 100  # flat indices 2 and 3: one GEMM pair
    w[1, 0, 0, 0], w[1, 1, 0, 0] = 100, 100  # flat 0 and 1: a pair on both
    assert pair_sums(w, 1, "onnxruntime")[:2].tolist() == [200, 200]
    assert pair_sums(w, 1, "openvino")[:2].tolist() == [101, 200]
    sym = np.ones((16, 4, 1, 1), np.int64)
    sym[0, 1, 0, 0], sym[0, 2, 0, 0] = 100, 100  # channels 1+2: not a pair in MlasConvSym
    assert pair_sums(sym, 1, "onnxruntime")[0] == 101


@pytest.fixture(scope="module")
def lite(tmp_path_factory):
    """A random YOLOv6Lite-S (3 classes) calibrated on 4 images at 8 bits: (fake-quant model, image folder)."""
    from standin_models import calibration_images, random_fused_lite
    from yolov6_edge.quant.data import iter_batches, list_images
    from yolov6_edge.quant.interface import QuantConfig, calibrate, quantize

    imgs = calibration_images(tmp_path_factory.mktemp("levels") / "images")
    model = random_fused_lite()
    q = quantize(model, QuantConfig(method="max", weight_bits=8))
    calibrate(q, lambda: iter_batches(list_images(imgs), list(SIZE), 2), "max")
    return q, imgs


@pytest.mark.parametrize("pairing", ["openvino", "onnxruntime"])
def test_channel_levels_keep_every_pair_safe_with_the_most_levels(lite, tmp_path, pairing):
    from yolov6_edge.quant.interface import export_qdq, quant_layers
    from yolov6_edge.quant.weight_levels import apply_weight_bits

    q, _ = lite
    eight = onnx_pair_sums(_export(q, 8, pairing, tmp_path / "8.onnx"), pairing)
    assert sum(v > SAFE_PAIR_SUM for v in eight.values()) > 50  # random weights: most layers could saturate
    for mode in ("layer", "channel"):
        s = apply_weight_bits(q, mode, pairing)
        export_qdq(q, tmp_path / f"{mode}.onnx", img_size=SIZE, target=pairing)
        sums = onnx_pair_sums(onnx.load(str(tmp_path / f"{mode}.onnx")), pairing)
        assert max(sums.values()) <= SAFE_PAIR_SUM, mode
        # 8 bits wherever no pair could saturate at 8 bits: every depthwise conv, every safe layer
        assert s["layers_8bit"] == sum(v <= SAFE_PAIR_SUM for v in eight.values())
        if mode == "channel":
            assert s["layers_7bit"] == 0 < s["layers_mixed"]
            for m in quant_layers(q).values():
                qmax = np.atleast_1d(m.weight_quantizer.qmax.numpy() if hasattr(m.weight_quantizer.qmax, "numpy")
                                     else m.weight_quantizer.qmax)
                assert ((qmax >= 63) & (qmax <= 127)).all()
            # the largest levels: one more level would make a pair unsafe in every channel not at 127
            m = next(m for m in quant_layers(q).values() if np.ndim(m.weight_quantizer.qmax))
            from yolov6_edge.quant.saturation import weight_codes

            qmax = m.weight_quantizer.qmax.numpy().astype(int)
            w = m.effective_weight().detach().numpy()
            amax = np.abs(w).reshape(w.shape[0], -1).max(1)
            for c in np.nonzero((qmax < 127) & (qmax > 63))[0][:5]:
                assert pair_sums(weight_codes(w[c:c + 1], amax[c:c + 1], qmax[c] + 1), 1, pairing)[0] > SAFE_PAIR_SUM
    meta = {p.key: p.value for p in onnx.load(str(tmp_path / "channel.onnx")).metadata_props}
    assert meta["yolov6_edge.weight_bits"] == "mixed" and meta["yolov6_edge.weight_pairing"] == pairing
    apply_weight_bits(q, 8)


def _export(q, bits, target, path):
    from yolov6_edge.quant.interface import export_qdq
    from yolov6_edge.quant.weight_levels import apply_weight_bits

    apply_weight_bits(q, bits, target)
    export_qdq(q, path, img_size=SIZE, target=target)
    return onnx.load(str(path))


def _capped(isa, *args, tmp_path):
    pytest.importorskip("openvino")
    out = tmp_path / f"{args[0]}_{isa}.json"
    env = dict(os.environ, ONEDNN_MAX_CPU_ISA=isa)
    subprocess.run([sys.executable, str(HERE / "pair_probe.py"), *args, str(out)], env=env, check=True,
                   timeout=600, cwd=HERE.parent)
    return json.loads(out.read_text())


@pytest.mark.parametrize("isa", NO_VNNI_CAPS)
def test_openvino_without_vnni_sums_exactly_the_pairs_the_analysis_names(isa, tmp_path):
    """The pairing rule proved on the runtime: under the ISA cap a planted pair departs iff can_saturate."""
    res = _capped(isa, "probe", tmp_path=tmp_path)
    if not any(any(r["departs"]) for r in res.values()):
        pytest.skip(f"OpenVINO ignored ONEDNN_MAX_CPU_ISA={isa} here (kernels {res}): nothing saturates")
    for name, r in res.items():
        assert r["departs"] == r["predicted"], (name, r)
    conv = res["conv 3x3, 32 channels"]["departs"]
    assert sum(conv) == 5  # 0+1, 2+3, 14+15, 64+65, -64-65; not 1+2, 3+4, 0+2, taps, 15+16, 64+64, -64-64
    assert not any(res["depthwise 3x3"]["departs"])


@pytest.mark.slow  # two 154-layer comparisons in a subprocess
def test_channel_levels_run_right_on_openvino_without_vnni_and_8_bits_depart_where_predicted(lite, tmp_path):
    # one cap is enough here: the probe above shows AVX2 and AVX512_CORE pair alike
    isa = "AVX2"
    q, imgs = lite
    eight = _export(q, 8, "openvino", tmp_path / "8.onnx")
    predicted = {k for k, v in onnx_pair_sums(eight, "openvino").items() if v > SAFE_PAIR_SUM}
    _export(q, "channel", "openvino", tmp_path / "channel.onnx")
    from yolov6_edge.quant.weight_levels import apply_weight_bits

    apply_weight_bits(q, 8)
    bad8 = _capped(isa, "compare", str(tmp_path / "8.onnx"), str(imgs), tmp_path=tmp_path)
    if not bad8["departing"]:
        pytest.skip(f"no layer of the 8-bit file departs under ONEDNN_MAX_CPU_ISA={isa}: the cap had no effect")
    assert set(bad8["departing"]) <= predicted, sorted(set(bad8["departing"]) - predicted)
    good = _capped(isa, "compare", str(tmp_path / "channel.onnx"), str(imgs), tmp_path=tmp_path)
    assert good["layers"] == 154 and good["departing"] == []


def test_an_isa_cap_without_vnni_counts_as_no_vnni(monkeypatch):
    from yolov6_edge.host import has_vnni
    from yolov6_edge.quant.recipe import default_weight_bits

    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "avx2")
    assert not has_vnni() and default_weight_bits("cpu") == "channel"
    assert has_vnni(["avx512_vnni"])  # given flags decide alone
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_VNNI")
    from yolov6_edge.host import cpu_flags, VNNI_FLAGS

    assert has_vnni() == any(f in cpu_flags() for f in VNNI_FLAGS)


def test_cpu_placements_leave_the_convs_on_1x1_maps_in_float(lite, tmp_path):
    """At 320 those are exactly YOLOv6Lite's squeeze-and-excitation convs; the TensorRT placement keeps them."""
    from yolov6_edge.models import build_model
    from yolov6_edge.quant.placement import place
    from yolov6_edge.quant.interface import QuantConfig, quantize, set_float
    from yolov6_edge.quant.squeeze_layers import layers_on_1x1

    model = build_model("yolov6lite-s", num_classes=3).eval().fuse()
    names = layers_on_1x1(quantize(model, QuantConfig()), (320, 320))
    assert len(names) == 28 and all(".se." in n or "_se." in n for n in names)
    assert layers_on_1x1(quantize(build_model("yolov6n", num_classes=3).eval().fuse(), QuantConfig()), (320, 320)) == []
    q, _ = lite
    on_1x1 = layers_on_1x1(q, SIZE)
    place(q, tmp_path / "ov.onnx", SIZE, "openvino", "channel")
    meta = {p.key: p.value for p in onnx.load(str(tmp_path / "ov.onnx")).metadata_props}
    assert set(json.loads(meta["yolov6_edge.float_layers"])) == set(on_1x1)
    set_float(q, [], only=True)
    place(q, tmp_path / "trt.onnx", SIZE, "tensorrt", 8)
    meta = {p.key: p.value for p in onnx.load(str(tmp_path / "trt.onnx")).metadata_props}
    assert json.loads(meta["yolov6_edge.float_layers"]) == []
