"""CUDA letterbox, batched NMS and decode against the CPU ops and the references. Needs a GPU; device buffers
come from torch with CUDA or CuPy where present, else from the CUDA driver (yolov6_edge.cuda_memory)."""
import numpy as np
import pytest

from reference_ops import letterbox_reference, nms_reference
from yolov6_edge import _C, ops

def _device_lib():
    if not _C.cuda_built():
        pytest.skip("yolov6_edge._C was built without CUDA (no nvcc at build time)")
    if not _C.cuda_available():
        pytest.skip("no usable CUDA device (no GPU or no driver on this machine)")
    try:
        import torch

        if torch.cuda.is_available():
            return "torch"
    except ImportError:
        pass
    try:
        import cupy  # noqa: F401

        return "cupy"
    except ImportError:
        return "driver"  # libcuda itself: no array library needed


class Dev:
    """to_device / empty / to_host over torch or CuPy, whichever is present."""

    def __init__(self, lib):
        self.lib = lib
        if lib == "driver":
            from yolov6_edge.cuda_memory import DeviceArray, Driver

            self.driver, self.array = Driver(), DeviceArray

    def put(self, a):
        if self.lib == "driver":
            return self.array.from_host(self.driver, a)
        if self.lib == "torch":
            import torch

            return torch.from_numpy(np.ascontiguousarray(a)).cuda()
        import cupy

        return cupy.asarray(a)

    def empty(self, shape, dtype):
        if self.lib == "driver":
            return self.array(self.driver, shape, dtype)
        if self.lib == "torch":
            import torch

            return torch.empty(shape, dtype={np.float32: torch.float32, np.float16: torch.float16,
                                             np.int32: torch.int32}[dtype], device="cuda")
        import cupy

        return cupy.empty(shape, dtype)

    def get(self, t):
        if self.lib == "driver":
            return t.to_host()
        if self.lib == "torch":
            import torch

            torch.cuda.synchronize()
            return t.cpu().numpy()
        return t.get()


@pytest.fixture
def dev():
    return Dev(_device_lib())


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_letterbox_cuda_mixed_batch_matches_cpu_and_reference(dev, dtype):
    rng = np.random.default_rng(0)
    imgs = [rng.integers(0, 256, hw + (3,), dtype=np.uint8) for hw in [(1080, 1920), (1, 1), (37, 91), (4000, 1),
                                                                         (640, 640), (720, 1280)]]
    out = dev.empty((len(imgs), 3, 384, 640), dtype)
    params = ops.letterbox_cuda([dev.put(im) for im in imgs], out, center=True)
    got = dev.get(out).astype(np.float32)
    cpu, cpu_params = ops.letterbox(imgs, (384, 640), dtype=dtype)
    np.testing.assert_array_equal(params, cpu_params)
    assert np.abs(got - cpu.astype(np.float32)).max() <= (1e-5 if dtype == np.float32 else 1e-3)
    for k, im in enumerate(imgs):
        ref, _ = letterbox_reference(im, (384, 640))
        assert np.abs(got[k] - ref).max() <= 1 / 255 + (1e-6 if dtype == np.float32 else 1e-3)


@pytest.mark.cuda
@pytest.mark.parametrize("multi_label", [False, True])
@pytest.mark.parametrize("agnostic", [False, True])
def test_batched_nms_cuda_matches_reference(dev, multi_label, agnostic):
    rng = np.random.default_rng(1)
    b, n, c = 3, 8400, 80
    xy = rng.random((b, n, 2), dtype=np.float32) * 640
    boxes = np.concatenate([xy, xy + rng.random((b, n, 2), dtype=np.float32) * 100 + 1], -1).astype(np.float32)
    scores = (rng.random((b, n, c), dtype=np.float32) ** 6).astype(np.float32)
    scores[0, :10] = np.nan
    boxes[1, :10, 0] = np.inf
    for conf in (0.001, 0.25):
        out, counts = dev.empty((b, 300, 6), np.float32), dev.empty((b,), np.int32)
        ops.batched_nms_cuda(dev.put(boxes), dev.put(scores), out, counts, conf_thres=conf, iou_thres=0.65,
                             multi_label=multi_label, agnostic=agnostic)
        got, cnt = dev.get(out), dev.get(counts)
        for k in range(b):
            ref = nms_reference(boxes[k], scores[k], conf, 0.65, 300, multi_label, agnostic)
            # IoU is float on the GPU and double in the reference: allow a pair decided differently at
            # the threshold to change at most a couple of rows.
            assert abs(int(cnt[k]) - len(ref)) <= 2
            m = min(int(cnt[k]), len(ref))
            same = (got[k, :m] == ref[:m]).all(1).mean()
            assert same > 0.99, same


@pytest.mark.cuda
def test_batched_nms_cuda_empty_and_max_det(dev):
    out, counts = dev.empty((2, 5, 6), np.float32), dev.empty((2,), np.int32)
    ops.batched_nms_cuda(dev.put(np.zeros((2, 0, 4), np.float32)), dev.put(np.zeros((2, 0, 3), np.float32)), out,
                         counts)
    assert dev.get(counts).tolist() == [0, 0]
    boxes = np.arange(2 * 50 * 4, dtype=np.float32).reshape(2, 50, 4) * 10
    boxes[..., 2:] = boxes[..., :2] + 5
    scores = np.full((2, 50, 1), 0.9, np.float32)
    ops.batched_nms_cuda(dev.put(boxes), dev.put(scores), out, counts)
    assert dev.get(counts).tolist() == [5, 5]
    np.testing.assert_array_equal(dev.get(out)[0, :, :4], boxes[0, :5])  # ties: lower index first


@pytest.mark.cuda
def test_decode_boxes_cuda_matches_cpu(dev):
    rng = np.random.default_rng(2)
    anchors = rng.random((500, 2), dtype=np.float32) * 640
    strides = rng.choice([8, 16, 32], 500).astype(np.float32)
    for reg_max in (0, 16):
        reg = rng.standard_normal((2, 500, 4 * (reg_max + 1) if reg_max else 4)).astype(np.float32)
        out = dev.empty((2, 500, 4), np.float32)
        ops.decode_boxes_cuda(dev.put(reg), dev.put(anchors), dev.put(strides), out, reg_max=reg_max)
        np.testing.assert_allclose(dev.get(out), ops.decode_boxes(reg, anchors, strides, reg_max), rtol=1e-5, atol=1e-3)


def test_cuda_ops_reject_host_arrays_with_a_clear_message():
    with pytest.raises(ValueError, match="__cuda_array_interface__"):
        ops.letterbox_cuda([np.zeros((4, 4, 3), np.uint8)], np.zeros((1, 3, 8, 8), np.float32))
    with pytest.raises(ValueError, match="__cuda_array_interface__"):
        ops.batched_nms_cuda(np.zeros((1, 1, 4), np.float32), np.zeros((1, 1, 1), np.float32), None, None)


class _StandIn:
    """A stand-in for a device array: only its __cuda_array_interface__ (pointer 0, never dereferenced)."""

    def __init__(self, shape, typestr):
        self.__cuda_array_interface__ = {"shape": shape, "typestr": typestr, "data": (0, False), "version": 3,
                                         "strides": None}


def test_cuda_wrappers_check_shapes_and_dtypes_with_stand_in_arrays():
    # Runs without a GPU: the checks in ops.py fire before anything reaches the device.
    with pytest.raises(ValueError, match="dtype float32, expected uint8"):
        ops.letterbox_cuda([_StandIn((4, 4, 3), "<f4")], _StandIn((1, 3, 8, 8), "<f4"))
    with pytest.raises(ValueError, match=r"expected \(2, 3, H, W\)"):
        ops.letterbox_cuda([_StandIn((4, 4, 3), "|u1")] * 2, _StandIn((1, 3, 8, 8), "<f4"))
    with pytest.raises(ValueError, match="shapes disagree"):
        ops.batched_nms_cuda(_StandIn((1, 10, 4), "<f4"), _StandIn((1, 9, 2), "<f4"), _StandIn((1, 5, 6), "<f4"),
                             _StandIn((1,), "<i4"))
    with pytest.raises(ValueError, match="dtype int64, expected int32"):
        ops.batched_nms_cuda(_StandIn((1, 10, 4), "<f4"), _StandIn((1, 10, 2), "<f4"), _StandIn((1, 5, 6), "<f4"),
                             _StandIn((1,), "<i8"))
    with pytest.raises(ValueError, match="shapes disagree"):
        ops.decode_boxes_cuda(_StandIn((1, 10, 68), "<f4"), _StandIn((10, 2), "<f4"), _StandIn((10,), "<f4"),
                              _StandIn((1, 10, 4), "<f4"), reg_max=15)
