"""bench.py + `yolov6-edge bench` on a small ONNX with ONNX Runtime on CPU: structure only, no timing claims."""
import json

import numpy as np
import pytest

from test_trt_build_with_recording_fake_tensorrt import tiny_onnx
from yolov6_edge.bench import bench, latency_stats
from yolov6_edge.cli.main import main
from yolov6_edge.errors import Yolov6EdgeError


def test_latency_stats_against_numpy():
    s = [0.001, 0.002, 0.003, 0.004, 0.100]
    st = latency_stats(s)
    assert st["mean"] == pytest.approx(22.0) and st["p50"] == pytest.approx(3.0)
    assert st["p99"] == pytest.approx(np.percentile([1, 2, 3, 4, 100], 99))
    assert (st["min"], st["max"]) == (pytest.approx(1.0), pytest.approx(100.0))


def test_bench_onnx_model_and_end_to_end_report_structure(tmp_path):
    src = tiny_onnx(tmp_path / "tiny.onnx")
    rep = bench(src, batches=(1, 3), end_to_end=True, warmup=1, iters=3, image_shape=(24, 40))
    assert rep["backend"] == "OnnxRuntimeBackend" and rep["input_size"] == [32, 32]
    assert [(r["mode"], r["batch"]) for r in rep["results"]] == [
        ("model", 1), ("end_to_end", 1), ("model", 3), ("end_to_end", 3)]
    for r in rep["results"]:
        st = r["latency_ms"]
        assert 0 < st["min"] <= st["p50"] <= st["p99"] <= st["max"]
        assert r["throughput_fps"] == pytest.approx(r["batch"] * 1000 / st["mean"])
    json.dumps(rep)  # JSON-ready


def test_cli_bench_writes_json_and_rejects_bad_arguments(tmp_path, capsys):
    src = tiny_onnx(tmp_path / "tiny.onnx")
    out = tmp_path / "r.json"
    assert main(["bench", str(src), "--batch", "2", "--warmup", "0", "--iters", "2", "--json", str(out)]) == 0
    rep = json.loads(out.read_text())
    assert [(r["mode"], r["batch"]) for r in rep["results"]] == [("model", 2)]
    assert "img/s" in capsys.readouterr().out
    assert main(["bench", str(src), "--iters", "0"]) == 2
    assert "iters must be >= 1" in capsys.readouterr().err
    with pytest.raises(Yolov6EdgeError, match="model.txt"):
        bench(tmp_path / "model.txt", iters=1)


def test_bench_engine_with_cuda_graph_with_fake_tensorrt(tmp_path, monkeypatch):
    """An .engine through a FAKE tensorrt + fake libcudart (tests/fake_tensorrt.py): structure only."""
    import sys

    import fake_tensorrt
    from yolov6_edge.backends.tensorrt import cuda as trt_cuda
    from yolov6_edge.backends.tensorrt.build import build_engine

    gpu = fake_tensorrt.FakeGpu()
    monkeypatch.setattr(trt_cuda, "load_cudart", lambda: gpu.lib)
    monkeypatch.setitem(sys.modules, "tensorrt", fake_tensorrt.make("10.13.0.35", gpu=gpu))
    build_engine(tiny_onnx(tmp_path / "tiny.onnx"), tmp_path / "t.engine", batch=(1, 1, 2))
    rep = bench(tmp_path / "t.engine", batches=(1, 2), warmup=1, iters=2, cuda_graph=True)
    assert rep["backend"] == "TensorRTBackend" and rep["cuda_graph"] and rep["precision"] == "fp32"
    assert [(r["mode"], r["batch"]) for r in rep["results"]] == [("model", 1), ("model", 2)]
    assert gpu.calls.count("graph_replay") == 4  # (1 warmup + 2 timed) per batch size, minus the captured first
