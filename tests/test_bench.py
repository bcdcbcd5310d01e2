"""bench.py + `yolov6-edge bench` on a small ONNX with ONNX Runtime on CPU: structure only, no timing claims."""
import json

import numpy as np
import pytest

from qdq_graphs import tiny_onnx
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
    assert [(r["mode"], r["batch"]) for r in rep["models"][0]["results"]] == [("model", 2)]
    assert "img/s" in capsys.readouterr().out
    with pytest.raises(SystemExit) as e:  # argparse: the value is refused before anything is opened
        main(["bench", str(src), "--iters", "0"])
    assert e.value.code == 2 and "--iters: must be at least 1" in capsys.readouterr().err
    with pytest.raises(Yolov6EdgeError, match="iters must be a whole number >= 1"):
        bench(src, iters=0)
    with pytest.raises(Yolov6EdgeError, match="model.txt"):
        bench(tmp_path / "model.txt", iters=1)


class _Recorder:
    """A Backend that records the order of calls in a shared log (to check the interleaving)."""

    layout, names, max_batch, input_size = "boxes_xyxy+scores", ["a"], 4, (16, 16)

    def __init__(self, tag, log):
        self.tag, self.log = tag, log

    def __call__(self, blob):
        self.log.append((self.tag, blob.shape[0]))
        return np.zeros((blob.shape[0], 4, 4), np.float32), np.zeros((blob.shape[0], 4, 1), np.float32)


def test_bench_many_interleaves_models_and_reports_ratios_to_the_first():
    from yolov6_edge.bench import bench_many, format_table

    log = []
    rep = bench_many([_Recorder("a", log), _Recorder("b", log), _Recorder("c", log)], batches=(1, 2), warmup=2,
                     iters=3)
    # per batch: 2 warm-up calls of each model in turn, then 3 rounds of a, b, c
    one_batch = ["a", "a", "b", "b", "c", "c"] + ["a", "b", "c"] * 3
    assert [t for t, _ in log] == one_batch * 2
    assert [b for _, b in log] == [1] * len(one_batch) + [2] * len(one_batch)
    assert rep["interleaved"] and len(rep["models"]) == 3
    for m in rep["models"]:
        for row, first in zip(m["results"], rep["models"][0]["results"]):
            assert row["ratio_to_first"] == pytest.approx(row["latency_ms"]["p50"] / first["latency_ms"]["p50"])
        assert m["ratio_to_first"] == m["results"][0]["ratio_to_first"]
    assert all(r["ratio_to_first"] == 1.0 for r in rep["models"][0]["results"])
    assert format_table(rep).count("x\n") + 1 >= 6  # one row per model and batch
    json.dumps(rep)


def test_cli_bench_several_files_one_backend_each(tmp_path, capsys):
    pytest.importorskip("openvino")
    src = tiny_onnx(tmp_path / "tiny.onnx")
    out = tmp_path / "r.json"
    assert main(["bench", str(src), str(src), "--backend", "onnxruntime", "openvino", "--threads", "1",
                 "--batch", "1", "--warmup", "0", "--iters", "2", "--json", str(out)]) == 0
    rep = json.loads(out.read_text())
    assert [m["runtime"] for m in rep["models"]] == ["onnxruntime", "openvino"]
    assert [m["threads"] for m in rep["models"]] == [1, 1]
    assert "ratio" in capsys.readouterr().out
    assert main(["bench", str(src), str(src), str(src), "--backend", "onnxruntime", "openvino",
                 "--iters", "1"]) == 2
    assert "one per model (3)" in capsys.readouterr().err


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


def test_openvino_runs_the_float_parts_in_f32_unless_asked(tmp_path):
    # OpenVINO's CPU plugin takes bf16 by itself on CPUs with AVX512_BF16/AMX; a file must compute what it
    # computes on ONNX Runtime unless the user asks for less precision
    ov = pytest.importorskip("openvino")
    from yolov6_edge.backends.onnxruntime.runtime import OnnxRuntimeBackend
    from yolov6_edge.backends.openvino.runtime import OpenVINOBackend

    src = tiny_onnx(tmp_path / "tiny.onnx")
    b = OpenVINOBackend(src, threads=1)
    assert b.inference_precision == "f32"
    x = np.random.default_rng(0).random((1, 3, *b.input_size), dtype=np.float32)
    got, ref = b(x), OnnxRuntimeBackend(src)(x)
    for g, r in zip(got, ref):
        np.testing.assert_allclose(g, r, rtol=1e-4, atol=1e-4)
    if "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
        assert OpenVINOBackend(src, threads=1, inference_precision="bf16").inference_precision == "bf16"
