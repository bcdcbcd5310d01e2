"""backends/tensorrt/runtime.py (TensorRTBackend) against a recording FAKE of tensorrt and of libcudart.

The fake engine runs the ONNX it was built from with ONNX Runtime, reading its input from and writing its
outputs to the "device" addresses our backend bound (host memory standing in for GPU memory). So the
reference is ONNX Runtime on the same ONNX, called directly; outputs must match exactly. What is tested:
buffer sizes and addresses, set_input_shape per batch, chunking above max batch, CUDA-graph capture and
replay, resource release, and the version / GPU / sidecar checks. No real TensorRT or GPU runs here.
"""
import json
import sys

import numpy as np
import onnxruntime as ort
import pytest

import fake_tensorrt
from qdq_graphs import tiny_onnx
from yolov6_edge.backends.tensorrt import cuda as trt_cuda
from yolov6_edge.backends.tensorrt import metadata
from yolov6_edge.backends.tensorrt import runtime as trt_runtime
from yolov6_edge.backends.tensorrt.build import build_engine
from yolov6_edge.backends.tensorrt.runtime import TensorRTBackend
from yolov6_edge.errors import Yolov6EdgeError


@pytest.fixture
def gpu(monkeypatch):
    g = fake_tensorrt.FakeGpu()
    monkeypatch.setattr(trt_cuda, "load_cudart", lambda: g.lib)
    return g


@pytest.fixture(params=["10.13.0.35", "11.4.0.106"])
def built(request, tmp_path, monkeypatch, gpu):
    fake = fake_tensorrt.make(request.param, gpu=gpu)
    monkeypatch.setitem(sys.modules, "tensorrt", fake)
    src = tiny_onnx(tmp_path / "tiny.onnx")
    engine = tmp_path / "tiny.engine"
    build_engine(src, engine, batch=(1, 2, 4))
    return fake, src, engine


def reference(src, x):
    sess = ort.InferenceSession(str(src), providers=["CPUExecutionProvider"])
    return sess.run(["boxes", "scores"], {"images": x})


def test_backend_matches_onnxruntime_across_batches_with_fake_tensorrt(built, gpu):
    fake, src, engine = built
    rng = np.random.default_rng(1)
    with TensorRTBackend(engine) as be:
        assert (be.input_size, be.max_batch, be.names, be.layout) == ((32, 32), 4, ["cat", "dog"], "boxes_xyxy+scores")
        for n in (1, 3, 6):  # 6 > max batch 4: split into 4 + 2
            x = rng.random((n, 3, 32, 32), dtype=np.float32)
            boxes, scores = be(x)
            ref_boxes, ref_scores = reference(src, x)
            np.testing.assert_array_equal(boxes, ref_boxes)
            np.testing.assert_array_equal(scores, ref_scores)
        shapes = [a[1] for a in fake_tensorrt.calls(fake, "IExecutionContext.set_input_shape")]
        assert shapes == [(4, 3, 32, 32), (1, 3, 32, 32), (3, 3, 32, 32), (4, 3, 32, 32), (2, 3, 32, 32)]
        # Addresses are bound once, at load, for all three tensors.
        assert sorted(a[0] for a in fake_tensorrt.calls(fake, "IExecutionContext.set_tensor_address")) == \
            ["boxes", "images", "scores"]
        streams = {a[0] for a in fake_tensorrt.calls(fake, "IExecutionContext.execute_async_v3")}
        assert len(streams) == 1 and streams != {0}  # our own stream, never the legacy default stream
    assert not gpu.device and not gpu.pinned and not gpu.streams  # everything released


def test_cuda_graph_replays_with_new_inputs_with_fake_tensorrt(built, gpu):
    fake, src, engine = built
    rng = np.random.default_rng(2)
    with TensorRTBackend(engine, cuda_graph=True) as be:
        outs = []
        for _ in range(3):
            x = rng.random((2, 3, 32, 32), dtype=np.float32)
            outs.append((be(x), reference(src, x)))
        for (b, s), (rb, rs) in outs:
            np.testing.assert_array_equal(b, rb)
            np.testing.assert_array_equal(s, rs)
        # First call: an ordinary enqueue, then one captured; later calls replay the graph.
        assert len(fake_tensorrt.calls(fake, "IExecutionContext.execute_async_v3")) == 2
        assert gpu.calls.count("graph_replay") == 2
    assert not gpu.graphs and not gpu.execs


def test_wrong_blob_shape_names_the_engine_with_fake_tensorrt(built):
    _, _, engine = built
    with TensorRTBackend(engine) as be:
        with pytest.raises(Yolov6EdgeError, match=r"tiny.engine: input blob must be \[B, 3, 32, 32\]"):
            be(np.zeros((1, 3, 64, 64), np.float32))
        with pytest.raises(Yolov6EdgeError, match="B >= 1"):
            be(np.zeros((0, 3, 32, 32), np.float32))


def test_engine_from_another_tensorrt_or_gpu_is_refused_with_rebuild_command_with_fake_tensorrt(
        built, monkeypatch, gpu):
    fake, src, engine = built
    other = "11.4.0.106" if fake.__version__.startswith("10.") else "10.13.0.35"
    monkeypatch.setitem(sys.modules, "tensorrt", fake_tensorrt.make(other, gpu=gpu))
    with pytest.raises(Yolov6EdgeError, match=f"built with TensorRT {fake.__version__} but TensorRT {other} is "
                                              f"installed.*rebuild it here with: yolov6-edge build .*tiny.onnx"):
        TensorRTBackend(engine)

    monkeypatch.setitem(sys.modules, "tensorrt", fake)
    gpu.cc = (8, 7)  # an Orin instead of the T4 it was built on
    with pytest.raises(Yolov6EdgeError, match=r"built for compute capability 7.5 \(NVIDIA T4 \(fake\)\) but this "
                                              r"GPU is 8.7; rebuild it here with: yolov6-edge build"):
        TensorRTBackend(engine)


def test_missing_or_mismatched_sidecar_is_refused_with_fake_tensorrt(built):
    _, _, engine = built
    side = metadata.sidecar_path(engine)
    meta = json.loads(side.read_text())
    engine.write_bytes(engine.read_bytes() + b"x")
    with pytest.raises(Yolov6EdgeError, match="does not match its metadata tiny.engine.json"):
        TensorRTBackend(engine)
    side.unlink()
    with pytest.raises(Yolov6EdgeError, match="tiny.engine: no metadata file tiny.engine.json"):
        TensorRTBackend(engine)
    side.write_text(json.dumps(dict(meta, format="other")))
    with pytest.raises(Yolov6EdgeError, match="not a yolov6-edge engine metadata file"):
        TensorRTBackend(engine)


def test_infer_images_uses_device_letterbox_when_native_cuda_exists_with_fake_tensorrt(built, monkeypatch):
    """A stand-in for yolov6_edge._C's CUDA letterbox: it reads the uploaded images at their "device"
    addresses, letterboxes them with the CPU op and writes straight into the engine's input binding."""
    ops = pytest.importorskip("yolov6_edge.ops")
    import ctypes

    _, src, engine = built
    seen = {}

    class NativeStandIn:
        @staticmethod
        def letterbox_cuda(ptrs, shapes, out, h, w, center, half, stream):
            imgs = []
            for p, (ih, iw, stride) in zip(ptrs, shapes):
                raw = (ctypes.c_char * (ih * stride)).from_address(p)
                imgs.append(np.frombuffer(raw, np.uint8).reshape(ih, iw, 3).copy())
            blob, params = ops.letterbox(imgs, size=(h, w), center=center)
            ctypes.memmove(out, blob.ctypes.data, blob.nbytes)
            seen["out"] = out
            return params

    monkeypatch.setattr(trt_runtime, "_native_cuda", lambda: NativeStandIn)
    rng = np.random.default_rng(3)
    images = [rng.integers(0, 255, (20, 40, 3), np.uint8), rng.integers(0, 255, (50, 30, 3), np.uint8)]
    with TensorRTBackend(engine) as be:
        (boxes, scores), params = be.infer_images(images)
        assert seen["out"] == be._bindings["images"].device  # written straight into the input binding
    blob, ref_params = ops.letterbox(images, size=(32, 32))
    ref_boxes, ref_scores = reference(src, blob)
    np.testing.assert_array_equal(params, ref_params)
    np.testing.assert_array_equal(boxes, ref_boxes)
    np.testing.assert_array_equal(scores, ref_scores)


def test_detector_on_engine_equals_detector_on_onnx_with_fake_tensorrt(built):
    from yolov6_edge.runtime.detector import Detector

    _, src, engine = built
    rng = np.random.default_rng(4)
    images = [rng.integers(0, 255, (40, 60, 3), np.uint8) for _ in range(5)]  # 5 > max batch 4
    on_engine = Detector(engine, conf=0.3)(images)
    on_onnx = Detector(src, conf=0.3)(images)
    assert sum(len(d.scores) for d in on_onnx) > 0
    for a, b in zip(on_engine, on_onnx):
        np.testing.assert_array_equal(a.boxes, b.boxes)
        np.testing.assert_array_equal(a.class_ids, b.class_ids)


def test_runtime_path_imports_neither_torch_nor_tensorrt():
    import subprocess

    code = ("import sys; import yolov6_edge.backends.tensorrt.runtime, yolov6_edge.bench; "
            "bad = [m for m in ('torch', 'tensorrt') if m in sys.modules]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_cuda_ctypes_wrapper_against_the_real_libcudart():
    """The real libcudart (CUDA 13 here, no driver/GPU): every symbol cuda.py calls must exist, and calls
    fail with CUDA's own error text instead of crashing. On a GPU machine they return real values."""
    try:
        lib = trt_cuda.load_cudart()
    except trt_cuda.CudaError as e:
        pytest.skip(f"no libcudart on this machine: {e}")
    for name in ("cudaMalloc", "cudaFree", "cudaMallocHost", "cudaFreeHost", "cudaMemcpyAsync", "cudaStreamCreate",
                 "cudaStreamDestroy", "cudaStreamSynchronize", "cudaDeviceGetAttribute", "cudaStreamBeginCapture",
                 "cudaStreamEndCapture", "cudaGraphInstantiateWithFlags", "cudaGraphLaunch", "cudaGraphDestroy",
                 "cudaGraphExecDestroy", "cudaGetErrorString"):
        assert hasattr(lib, name), name
    assert hasattr(lib, "cudaGetDeviceProperties_v2") or hasattr(lib, "cudaGetDeviceProperties")
    cuda = trt_cuda.Cuda(lib)
    try:
        cc = cuda.compute_capability()
    except trt_cuda.CudaError as e:
        assert "cudaDeviceGetAttribute failed with error" in str(e)
        with pytest.raises(Yolov6EdgeError, match="x.engine: needs a usable NVIDIA GPU and driver"):
            trt_cuda.gpu_info(cuda, "x.engine")
    else:
        assert cc.count(".") == 1
        ptr = cuda.malloc(1024)
        cuda.free(ptr)


def test_end2end_engine_outputs_in_contract_order_with_fake_tensorrt(tmp_path, monkeypatch, gpu):
    onnx_mod = pytest.importorskip("onnx")
    from yolov6_edge.export.onnx import append_nms
    from yolov6_edge.runtime.detector import Detector

    monkeypatch.setitem(sys.modules, "tensorrt", fake_tensorrt.make("11.4.0.106", gpu=gpu))
    proto = append_nms(onnx_mod.load(str(tiny_onnx(tmp_path / "tiny.onnx"))), conf=0.3, iou=0.45, max_det=20)
    for p in proto.metadata_props:
        if p.key == "layout":
            p.value = "end2end"
    onnx_mod.save(proto, str(tmp_path / "e2e.onnx"))
    build_engine(tmp_path / "e2e.onnx", tmp_path / "e2e.engine", batch=(1, 1, 2))
    rng = np.random.default_rng(5)
    images = [rng.integers(0, 255, (30, 50, 3), np.uint8) for _ in range(3)]
    with TensorRTBackend(tmp_path / "e2e.engine") as be:
        assert be.layout == "end2end" and be.output_names == ("num_dets", "det_boxes", "det_scores", "det_classes")
        num, boxes, scores, classes = be(np.zeros((1, 3, 32, 32), np.float32))
        assert (num.dtype, classes.dtype, boxes.shape, scores.shape) == (np.int64, np.int64, (1, 20, 4), (1, 20))
        on_engine = Detector(be)(images)
    on_onnx = Detector(tmp_path / "e2e.onnx")(images)
    assert sum(len(d.scores) for d in on_onnx) > 0
    for a, b in zip(on_engine, on_onnx):
        np.testing.assert_array_equal(a.boxes, b.boxes)
        np.testing.assert_array_equal(a.class_ids, b.class_ids)
