"""Q/DQ placement per target: each INT8 ONNX agrees layer by layer with the numpy reference on the runtime it
targets (ONNX Runtime, and OpenVINO as our stand-in for a fusing INT8 engine), and the known OpenVINO faults
are documented by the smallest graphs that show them."""
import json
import re

import numpy as np
import onnx
import pytest

from qdq_graphs import concat_conv, qdq_conv
from yolov6_edge.backends.openvino.signal_stack import keep_signal_stack
from yolov6_edge.host import has_vnni
from yolov6_edge.quant.reference import ReferenceEvaluator

SIZE = (64, 64)


def _openvino():
    return pytest.importorskip("openvino")


def _run_openvino(model, feeds, tmp_path):
    ov = _openvino()
    path = tmp_path / "g.onnx"
    onnx.save(model, str(path))
    # f32 float parts: OpenVINO takes bf16 by itself on CPUs with AVX512_BF16, and the reference is f32
    with keep_signal_stack():  # backends/openvino/signal_stack.py
        compiled = ov.Core().compile_model(str(path), "CPU", {"INFERENCE_NUM_THREADS": 1,
                                                              "INFERENCE_PRECISION_HINT": "f32"})
    res = compiled.create_infer_request().infer({compiled.input(k): v for k, v in feeds.items()})
    return np.array(res[compiled.output(0)])


def _rel(got, ref):
    return float(np.linalg.norm(got - ref) / np.linalg.norm(ref))


def _ov_version():
    ov = _openvino()
    return tuple(int(v) for v in re.findall(r"\d+", ov.get_version())[:2])


# Known faults of OpenVINO's CPU plugin, measured with 2026.4.1 (docs/QUANTIZATION.md, "Runtimes that fuse
# Q/DQ"). Strict: when a release fixes one, the test fails and the note (and the workaround) is re-checked.
@pytest.mark.xfail(reason="OpenVINO <= 2026.4 CPU: a signed-INT8 Concat feeding an INT8 conv is computed with 17 "
                          "levels instead of 256 (docs/QUANTIZATION.md)", strict=True)
def test_openvino_signed_int8_concat_into_int8_conv_matches_the_spec(tmp_path):
    """The smallest repro: X1, X2 -> Q/DQ (int8, zero point 0, one scale) -> Concat -> Q/DQ -> Conv."""
    if _ov_version() > (2026, 4):
        pytest.skip("re-check the Concat fault on this OpenVINO release (remove this skip when it passes)")
    model, feeds = concat_conv(signed=True, weight_bits=7)
    ref = ReferenceEvaluator(model).run(feeds)["Y"]
    assert _rel(_run_openvino(model, feeds, tmp_path), ref) < 1e-5


def test_openvino_runs_the_same_concat_right_with_uint8_zero_point_128(tmp_path):
    model, feeds = concat_conv(signed=False, weight_bits=7)
    ref = ReferenceEvaluator(model).run(feeds)["Y"]
    signed = ReferenceEvaluator(concat_conv(signed=True, weight_bits=7)[0]).run(feeds)["Y"]
    np.testing.assert_array_equal(ref, signed)  # the same function under the spec
    assert _rel(_run_openvino(model, feeds, tmp_path), ref) < 1e-5


def test_openvino_int8_conv_with_7_bit_weights_is_exact(tmp_path):
    model, feeds = qdq_conv(weight_bits=7)
    ref = ReferenceEvaluator(model).run(feeds)["Y"]
    assert _rel(_run_openvino(model, feeds, tmp_path), ref) < 1e-5


@pytest.mark.skipif(has_vnni(),
                    reason="this CPU has VNNI: its INT8 dot products do not saturate")
def test_openvino_saturates_8_bit_weights_on_cpus_without_vnni(tmp_path):
    """Why the CPU targets default to 7-bit weights: u8 x s8 pairs summed in 16 bits (vpmaddubsw) overflow."""
    model, feeds = qdq_conv(weight_bits=8)
    ref = ReferenceEvaluator(model).run(feeds)["Y"]
    if _ov_version() > (2026, 4) and _rel(_run_openvino(model, feeds, tmp_path), ref) < 1e-5:
        pytest.skip("this OpenVINO release no longer saturates: 8-bit weights could be the CPU default again")
    assert _rel(_run_openvino(model, feeds, tmp_path), ref) > 1e-2


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory):
    """A random YOLOv6Lite-S (3 classes) calibrated once on 4 small images: (fake-quant model, image folder)."""
    from standin_models import calibration_images, random_fused_lite
    from yolov6_edge.quant.interface import QuantConfig, calibrate, quantize
    from yolov6_edge.quant.data import iter_batches, list_images

    imgs = calibration_images(tmp_path_factory.mktemp("targets") / "images")
    model = random_fused_lite()
    paths = list_images(imgs)
    q = {}
    for bits in (7, 8):
        q[bits] = quantize(model, QuantConfig(method="max", weight_bits=bits))
        calibrate(q[bits], lambda: iter_batches(paths, list(SIZE), 2), "max")
    return q, imgs


@pytest.mark.parametrize("target, runtime", [("tensorrt", "onnxruntime"), ("onnxruntime", "onnxruntime"),
                                             ("openvino", "openvino")])
def test_every_target_agrees_with_the_reference_layer_by_layer_on_its_runtime(calibrated, tmp_path, target,
                                                                              runtime):
    from yolov6_edge.quant.qdq import check_placement
    from yolov6_edge.quant.runtime_compare import compare_runtimes
    from yolov6_edge.quant.recipe import default_weight_bits

    from yolov6_edge.quant.placement import place

    if runtime == "openvino":
        _openvino()
    q, imgs = calibrated
    path = tmp_path / f"{target}.onnx"
    bits = default_weight_bits(target)
    place(q[8], path, SIZE, target, bits)  # the target's default levels (the CPU targets: per channel)
    m = onnx.load(str(path))
    meta = {p.key: p.value for p in m.metadata_props}
    # the CPU placements leave the convs on 1x1 maps in float (at 64x64 the SE convs and the stride-64 head)
    floats = json.loads(meta["yolov6_edge.float_layers"])
    assert (floats == []) == (target == "tensorrt")
    assert check_placement(m, skipped_weights={f + ".weight" for f in floats}, target=target) == []
    assert meta["yolov6_edge.qdq_target"] == target
    assert meta["yolov6_edge.weight_bits"] == ("8" if bits == 8 else "mixed")
    assert meta.get("yolov6_edge.weight_pairing") == (None if target == "tensorrt" else target)
    rep = compare_runtimes(path, imgs, backends=[runtime], num=2, progress=False)
    assert len(rep.layers) == 154
    assert rep.departing(runtime) == [], [r.to_dict() for r in rep.departing(runtime)][:3]


def test_the_openvino_placement_is_the_tensorrt_function(calibrated, tmp_path):
    """uint8 / zero point 128 changes no output of the reference. (That the signed placement departs on
    OpenVINO is shown by the smallest repro above and, on the official YOLOv6Lite-S at 320, by
    benchmarks/results/int8_cpu.md: 12 neck convs depart; this random 64x64 model does not trigger it.)"""
    from yolov6_edge import ops
    from yolov6_edge.quant.interface import export_qdq
    from yolov6_edge.runtime.images import read_image

    q, imgs = calibrated
    export_qdq(q[7], tmp_path / "trt7.onnx", img_size=SIZE, target="tensorrt")
    export_qdq(q[7], tmp_path / "ov.onnx", img_size=SIZE, target="openvino")
    blob, _ = ops.letterbox([read_image(p) for p in sorted(imgs.iterdir())], size=SIZE)
    a = ReferenceEvaluator(tmp_path / "trt7.onnx").run({"images": blob})
    b = ReferenceEvaluator(tmp_path / "ov.onnx").run({"images": blob})
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


def test_onnxruntime_placement_fuses_qlinearconv(tmp_path):
    """YOLOv6-N (ReLU): the onnxruntime target lets ORT turn the ReLU convs into QLinearConv; the TensorRT one
    leaves them as DequantizeLinear + float Conv."""
    import collections

    import onnxruntime as ort
    import torch

    from yolov6_edge.models import build_model
    from yolov6_edge.quant.interface import QuantConfig, calibrate, export_qdq, quantize

    torch.manual_seed(0)
    model = build_model("yolov6n", num_classes=3).eval().fuse()
    q = quantize(model, QuantConfig(weight_bits=7))
    calibrate(q, [torch.rand(2, 3, 64, 64) for _ in range(2)], "max")
    counts = {}
    for target in ("tensorrt", "onnxruntime"):
        path = tmp_path / f"{target}.onnx"
        export_qdq(q, path, img_size=SIZE, target=target)
        opts = ort.SessionOptions()
        opts.optimized_model_filepath = str(tmp_path / f"{target}.opt.onnx")
        opts.log_severity_level = 3
        ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        counts[target] = collections.Counter(n.op_type for n in onnx.load(opts.optimized_model_filepath).graph.node)
    assert counts["tensorrt"]["QLinearConv"] <= 4
    assert counts["onnxruntime"]["QLinearConv"] >= 50  # of 69 convs: the SiLU head convs and predictors stay


def test_cpu_target_times_both_placements_and_keeps_a_right_one(calibrated, tmp_path):
    """The real path: both placements checked and timed against float on ORT and OpenVINO f32, interleaved."""
    from yolov6_edge.quant.choose_target import choose_cpu_target, verdict

    _openvino()
    q, imgs = calibrated
    out = tmp_path / "cpu.onnx"
    rep = choose_cpu_target(q[7], out, SIZE, threads=1, images=imgs, iters=3, check_layers="neck")
    cands = rep["cpu_choice"]["candidates"]
    assert set(cands) == {"openvino", "onnxruntime"}
    assert all(c["departing"] == 0 and c["p50_ms"] > 0 for c in cands.values())
    assert rep["target"] == min(cands, key=lambda t: cands[t]["p50_ms"])
    floats = rep["cpu_choice"]["float"]
    assert set(floats) == {"onnxruntime", "openvino"} and all(f["p50_ms"] > 0 for f in floats.values())
    assert rep["float_p50_ms"] == min(f["p50_ms"] for f in floats.values())
    assert rep["int8_p50_ms"] == cands[rep["target"]]["p50_ms"]
    assert rep["ap_float"] is None and rep["ap_int8"] is None  # no labelled images given
    # the verdict is the rule applied to what was measured (which way it goes depends on this machine)
    assert rep["verdict"] == verdict(rep["float_p50_ms"], cands)["verdict"]
    assert rep["verdict"] == ("int8" if rep["int8_p50_ms"] < rep["float_p50_ms"] else "float")
    assert ("deploy the INT8 file" in rep["message"]) == (rep["verdict"] == "int8")
    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert meta["yolov6_edge.qdq_target"] == rep["target"]
    recorded = json.loads(meta["yolov6_edge.cpu_choice"])
    assert recorded["chosen"] == rep["target"] and recorded["verdict"] == rep["verdict"]


def test_tensorrt_build_refuses_a_cpu_placement(calibrated, tmp_path):
    from yolov6_edge.backends.tensorrt.build import _check_precision, read_onnx_contract
    from yolov6_edge.errors import Yolov6EdgeError
    from yolov6_edge.quant.interface import export_qdq

    q, _ = calibrated
    export_qdq(q[7], tmp_path / "ov.onnx", img_size=SIZE, target="openvino")
    with pytest.raises(Yolov6EdgeError, match="--target tensorrt"):
        _check_precision(tmp_path / "ov.onnx", "int8", read_onnx_contract(tmp_path / "ov.onnx"))


def test_cli_compare_runtimes_reports_and_exits_by_verdict(calibrated, tmp_path, capsys):
    from yolov6_edge.cli.main import main
    from yolov6_edge.quant.interface import export_qdq

    q, imgs = calibrated
    export_qdq(q[7], tmp_path / "ort.onnx", img_size=SIZE, target="onnxruntime")
    out = tmp_path / "r.json"
    assert main(["compare-runtimes", str(tmp_path / "ort.onnx"), "--images", str(imgs), "--backend", "onnxruntime",
                 "--layers", "neck", "--json", str(out)]) == 0
    rep = json.loads(out.read_text())
    assert rep["summary"]["onnxruntime"]["departing"] == 0 and rep["layers"]
    assert all("neck" in r["unit"] for r in rep["layers"])
    assert "0 of" in capsys.readouterr().out
    # a tolerance no float computation meets makes every layer depart: exit 1
    assert main(["compare-runtimes", str(tmp_path / "ort.onnx"), "--images", str(imgs), "--backend", "onnxruntime",
                 "--layers", "stem", "--tol", "1e-30"]) == 1


def test_cpu_target_takes_8_bit_weights_only_where_the_cpu_has_vnni():
    # --target cpu is about this machine: VNNI accumulates u8 x s8 in 32 bits, so 8-bit weights cannot saturate;
    # without it, per-channel levels that keep every int16 pair sum safe (weight_levels.py)
    from yolov6_edge.quant.recipe import default_weight_bits

    assert default_weight_bits("cpu", flags=["avx2", "avx512f", "avx512_vnni"]) == 8
    assert default_weight_bits("cpu", flags=["avx2", "avx_vnni"]) == 8
    assert default_weight_bits("cpu", flags=["avx", "avx2"]) == "channel"
    # the portable CPU targets and TensorRT do not depend on the machine that writes the file
    for flags in (["avx2"], ["avx512_vnni"]):
        assert default_weight_bits("openvino", flags=flags) == "channel"
        assert default_weight_bits("onnxruntime", flags=flags) == "channel"
        assert default_weight_bits("tensorrt", flags=flags) == 8
    assert default_weight_bits("cpu") == (8 if has_vnni() else "channel")
