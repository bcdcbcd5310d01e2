"""backends/tensorrt/build.py + `yolov6-edge build`, against a recording FAKE of the tensorrt module.

Nothing here runs real TensorRT (it cannot be installed on CI). tests/fake_tensorrt.py mirrors the public
API of TensorRT 10.13 and 11.4 name for name and raises on anything the version lacks; its engine runs the
parsed ONNX with ONNX Runtime. So these tests check what we call and in which order, the files we leave,
and our error messages; they say nothing about TensorRT's own numerics or speed.
"""
import json
import sys

import pytest
from onnx import TensorProto

import fake_tensorrt
from qdq_graphs import tiny_onnx
from yolov6_edge.backends.tensorrt import build as trt_build
from yolov6_edge.backends.tensorrt import cuda as trt_cuda
from yolov6_edge.backends.tensorrt import metadata
from yolov6_edge.cli.main import main
from yolov6_edge.errors import Yolov6EdgeError

VERSIONS = ["10.13.0.35", "11.4.0.106"]


@pytest.fixture
def gpu(monkeypatch):
    g = fake_tensorrt.FakeGpu()
    monkeypatch.setattr(trt_cuda, "load_cudart", lambda: g.lib)
    return g


@pytest.fixture(params=VERSIONS)
def trt(request, monkeypatch, gpu):
    fake = fake_tensorrt.make(request.param, gpu=gpu)
    monkeypatch.setitem(sys.modules, "tensorrt", fake)
    return fake


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.suffix != ".onnx")


def test_fp32_build_strongly_typed_profile_workspace_and_metadata_with_fake_tensorrt(tmp_path, trt):
    src = tiny_onnx(tmp_path / "tiny.onnx")
    meta = trt_build.build_engine(src, tmp_path / "tiny.engine", batch=(1, 2, 4), workspace_mib=256)

    flags = fake_tensorrt.calls(trt, "Builder.create_network")
    # STRONGLY_TYPED is bit 1 on 10.x and bit 0 on 11.x: the enum, not a constant, must be used.
    assert flags == [(1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED),)]
    assert flags[0][0] == (2 if trt.__version__.startswith("10.") else 1)
    pools = fake_tensorrt.calls(trt, "IBuilderConfig.set_memory_pool_limit")
    assert pools == [(trt.MemoryPoolType.WORKSPACE, 256 << 20)]
    assert fake_tensorrt.calls(trt, "IOptimizationProfile.set_shape") == [
        ("images", (1, 3, 32, 32), (2, 3, 32, 32), (4, 3, 32, 32))]
    assert fake_tensorrt.calls(trt, "IBuilderConfig.set_flag") == []  # precision comes from the ONNX
    assert meta["precision"] == "fp32" and meta["max_batch"] == 4 and meta["input_size"] == [32, 32]
    assert meta["tensorrt_version"] == trt.__version__ and meta["compute_capability"] == "7.5"
    assert meta["gpu_name"] == "NVIDIA T4 (fake)" and meta["names"] == ["cat", "dog"]
    assert meta["onnx_sha256"] == metadata.sha256_file(src)
    assert meta["engine_sha256"] == metadata.sha256_file(tmp_path / "tiny.engine")
    assert "yolov6-edge build" in meta["build_command"] and "--max-batch 4" in meta["build_command"]
    assert leftovers(tmp_path) == ["tiny.engine", "tiny.engine.json"]


def test_fp16_build_parses_a_float16_graph_with_float32_io_with_fake_tensorrt(tmp_path, trt):
    src = tiny_onnx(tmp_path / "tiny.onnx")
    meta = trt_build.build_engine(src, tmp_path / "h.engine", precision="fp16")
    parsed = trt.parsed[-1]
    assert meta["precision"] == "fp16"
    assert {i.name: i.data_type for i in parsed.graph.initializer}["w"] == TensorProto.FLOAT16
    assert parsed.graph.input[0].type.tensor_type.elem_type == TensorProto.FLOAT
    assert leftovers(tmp_path) == ["h.engine", "h.engine.json"]  # the fp16 temp ONNX is gone


def test_int8_needs_qdq_and_builds_from_qdq_with_fake_tensorrt(tmp_path, trt):
    plain = tiny_onnx(tmp_path / "tiny.onnx")
    with pytest.raises(Yolov6EdgeError, match="tiny.onnx: --int8 needs a QDQ ONNX.*yolov6-edge calibrate"):
        trt_build.build_engine(plain, tmp_path / "q.engine", precision="int8")
    qdq = tiny_onnx(tmp_path / "tiny_qdq.onnx", qdq=True)
    meta = trt_build.build_engine(qdq, tmp_path / "q.engine", precision="int8")
    assert meta["precision"] == "int8-qdq" and "--int8" in meta["build_command"]
    assert fake_tensorrt.calls(trt, "IBuilderConfig.set_flag") == []  # no INT8 flag, no calibrator
    with pytest.raises(Yolov6EdgeError, match="build it with --int8"):
        trt_build.build_engine(qdq, tmp_path / "x.engine", precision="fp32")


def test_parser_errors_are_reported_and_nothing_is_left_with_fake_tensorrt(tmp_path, monkeypatch, gpu, capsys):
    fake = fake_tensorrt.make("11.4.0.106", gpu=gpu, unsupported_ops={"Sigmoid"})
    monkeypatch.setitem(sys.modules, "tensorrt", fake)
    src = tiny_onnx(tmp_path / "tiny.onnx")
    with pytest.raises(Yolov6EdgeError, match=r"tiny.onnx: TensorRT's ONNX parser failed: node 6 \(Sigmoid\): "
                                              "No importer registered for op: Sigmoid"):
        trt_build.build_engine(src, tmp_path / "t.engine")
    assert "TensorRT ONNX parser: node 6 (Sigmoid)" in capsys.readouterr().err
    assert leftovers(tmp_path) == []


def test_failed_build_leaves_nothing_and_timing_cache_round_trips_with_fake_tensorrt(tmp_path, monkeypatch, gpu):
    src = tiny_onnx(tmp_path / "tiny.onnx")
    fake = fake_tensorrt.make("10.13.0.35", gpu=gpu, fail_build=True)
    monkeypatch.setitem(sys.modules, "tensorrt", fake)
    with pytest.raises(Yolov6EdgeError, match="TensorRT could not build an engine"):
        trt_build.build_engine(src, tmp_path / "t.engine", timing_cache=tmp_path / "t.cache")
    assert leftovers(tmp_path) == []

    fake = fake_tensorrt.make("10.13.0.35", gpu=gpu)
    monkeypatch.setitem(sys.modules, "tensorrt", fake)
    trt_build.build_engine(src, tmp_path / "t.engine", timing_cache=tmp_path / "t.cache")
    cache = (tmp_path / "t.cache").read_bytes()
    assert cache.startswith(b"FAKECACHE:10.13.0.35")
    trt_build.build_engine(src, tmp_path / "t.engine", timing_cache=tmp_path / "t.cache")
    assert fake_tensorrt.calls(fake, "IBuilderConfig.create_timing_cache")[-1] == (cache,)  # reused

    # A cache from another TensorRT is refused with a clear message.
    fake11 = fake_tensorrt.make("11.4.0.106", gpu=gpu)
    monkeypatch.setitem(sys.modules, "tensorrt", fake11)
    with pytest.raises(Yolov6EdgeError, match="refused the timing cache"):
        trt_build.build_engine(src, tmp_path / "u.engine", timing_cache=tmp_path / "t.cache")
    assert not (tmp_path / "u.engine").exists()


@pytest.mark.parametrize("version", ["8.6.1", "12.0.0", "x.y"])
def test_unsupported_tensorrt_versions_are_refused_with_fake_tensorrt(tmp_path, monkeypatch, gpu, version):
    monkeypatch.setitem(sys.modules, "tensorrt", fake_tensorrt.make(version, gpu=gpu))
    with pytest.raises(Yolov6EdgeError, match="tensorrt: (version .* is not supported .*10.x or 11.x|cannot read)"):
        trt_build.build_engine(tiny_onnx(tmp_path / "tiny.onnx"), tmp_path / "t.engine")


def test_bad_inputs_name_the_file(tmp_path, trt):
    with pytest.raises(Yolov6EdgeError, match="missing.onnx: file not found"):
        trt_build.build_engine(tmp_path / "missing.onnx", tmp_path / "t.engine")
    (tmp_path / "junk.onnx").write_text("hello")
    with pytest.raises(Yolov6EdgeError, match="junk.onnx: not a readable ONNX"):
        trt_build.build_engine(tmp_path / "junk.onnx", tmp_path / "t.engine")
    src = tiny_onnx(tmp_path / "tiny.onnx")
    with pytest.raises(Yolov6EdgeError, match="1 <= min <= opt <= max"):
        trt_build.build_engine(src, tmp_path / "t.engine", batch=(4, 2, 8))


def test_fake_tensorrt_itself_rejects_removed_apis():
    t11, t10 = fake_tensorrt.make("11.4.0.106"), fake_tensorrt.make("10.13.0.35")
    with pytest.raises(AttributeError):
        _ = t11.BuilderFlag.FP16
    with pytest.raises(AttributeError):
        _ = t11.NetworkDefinitionCreationFlag.EXPLICIT_BATCH
    config = t11.Builder(t11.Logger()).create_builder_config()
    with pytest.raises(fake_tensorrt.RemovedAPI, match="int8_calibrator"):
        config.int8_calibrator = None
    with pytest.raises(fake_tensorrt.RemovedAPI, match="max_workspace_size"):
        _ = t10.Builder(t10.Logger()).create_builder_config().max_workspace_size
    with pytest.raises(fake_tensorrt.RemovedAPI, match="IInt8EntropyCalibrator2"):
        _ = t11.IInt8EntropyCalibrator2


def test_cli_build_writes_engine_and_reports_errors_in_one_line_with_fake_tensorrt(tmp_path, trt, capsys):
    src = tiny_onnx(tmp_path / "tiny.onnx")
    out = tmp_path / "cli.engine"
    assert main(["build", str(src), "-o", str(out), "--fp16", "--max-batch", "8", "--workspace", "64"]) == 0
    meta = json.loads((tmp_path / "cli.engine.json").read_text())
    assert meta["precision"] == "fp16" and meta["max_batch"] == 8
    assert str(out) in capsys.readouterr().out

    assert main(["build", str(src), "-o", str(out), "--int8"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--int8 needs a QDQ ONNX" in err


def test_cli_build_int8_from_pt_says_what_is_missing(tmp_path, trt, capsys, monkeypatch):
    pt = tmp_path / "m.pt"
    pt.write_bytes(b"x")
    monkeypatch.setitem(sys.modules, "yolov6_edge.quant.calibrate", None)  # make the import fail
    assert main(["build", str(pt), "-o", str(tmp_path / "m.engine"), "--int8", "--calib-images", str(tmp_path)]) == 2
    assert "calibrate_to_qdq" in capsys.readouterr().err


def test_cli_build_int8_from_pt_calibrates_then_builds_with_fake_tensorrt(tmp_path, trt, monkeypatch):
    """calibrate_to_qdq is replaced by a stand-in that writes a small QDQ ONNX: this checks the wiring only."""
    import yolov6_edge.quant.calibrate as calib

    seen = {}

    def fake_calibrate(model_path, images, out_onnx, **opts):
        seen.update(model=model_path, images=images, opts=opts)
        tiny_onnx(out_onnx, qdq=True)

    monkeypatch.setattr(calib, "calibrate_to_qdq", fake_calibrate)
    pt = tmp_path / "m.pt"
    pt.write_bytes(b"x")
    out = tmp_path / "m.engine"
    assert main(["build", str(pt), "-o", str(out), "--int8", "--calib-images", str(tmp_path), "--img", "32", "32"]) == 0
    assert (seen["model"], seen["images"]) == (str(pt), str(tmp_path))
    recipe = seen["opts"]["recipe"]
    assert recipe.img_size == (32, 32) and recipe.target == "tensorrt" and recipe.bits == 8
    meta = json.loads((tmp_path / "m.engine.json").read_text())
    assert meta["precision"] == "int8-qdq" and meta["onnx_path"] == str(tmp_path / "m.qdq.onnx")
    assert (tmp_path / "m.qdq.onnx").is_file()
