"""Run a TensorRT 10.x/11.x engine behind the Backend interface (docs/ARCHITECTURE.md). No torch.

One execution context, one CUDA stream. Device buffers for every I/O tensor are allocated once for the
engine's max batch and bound once with set_tensor_address; a pinned host buffer per tensor stages the copies.
A call sets the input shape (only when the batch changes), copies in, enqueues with execute_async_v3, copies
out and synchronizes once. With cuda_graph=True the enqueue of each batch size is captured into a CUDA graph
on its first call and replayed afterwards (TensorRT needs one ordinary enqueue per shape before capture).

`infer_images` letterboxes uint8 images on the GPU straight into the input binding when the native module
was built with CUDA (yolov6_edge._C.letterbox_cuda), and falls back to the CPU letterbox + one copy otherwise.
"""
import ctypes
from pathlib import Path

import numpy as np

from ...errors import fail
from ..base import Backend
from . import metadata
from .cuda import D2H, H2D, Cuda, gpu_info
from .version import import_tensorrt

OUTPUTS = {"boxes_xyxy+scores": ("boxes", "scores"),
           "end2end": ("num_dets", "det_boxes", "det_scores", "det_classes")}


class _Binding:
    """One I/O tensor: its device buffer (max batch) and a pinned numpy view of the same size."""

    def __init__(self, cuda, name, dtype, max_shape):
        self.name, self.dtype, self.max_shape = name, np.dtype(dtype), tuple(int(d) for d in max_shape)
        self.nbytes = int(np.prod(self.max_shape)) * self.dtype.itemsize
        self.device = cuda.malloc(self.nbytes)
        self.host_ptr = cuda.malloc_host(self.nbytes)
        raw = (ctypes.c_char * self.nbytes).from_address(self.host_ptr)
        self.host = np.frombuffer(raw, dtype=self.dtype).reshape(self.max_shape)

    def sample_bytes(self):
        return self.nbytes // self.max_shape[0]


class TensorRTBackend(Backend):
    name = "tensorrt"
    letterboxes_on_device = True  # infer_images: the letterbox runs on the GPU into the input binding

    def __init__(self, path, cuda_graph=False, cuda=None):
        self.path = Path(path)
        if not self.path.is_file():
            raise fail(self.path, "file not found")
        meta = metadata.read(self.path)
        self.trt, _ = import_tensorrt()
        self.cuda = cuda if cuda is not None else Cuda()
        _, cc = gpu_info(self.cuda, self.path)
        metadata.check_compatible(self.path, meta, self.trt.__version__, cc)
        self.metadata = meta
        self.input_size = tuple(meta["input_size"])
        self.names = list(meta["names"])
        self.layout = meta["layout"]
        self.max_batch = int(meta["max_batch"])
        self.precision = meta["precision"]
        self.cuda_graph = cuda_graph
        self._bindings, self._graphs, self._bound_batch = {}, {}, None
        self._stream = 0
        self._images_dev, self._images_dev_bytes = 0, 0
        self._load_engine()

    def _load_engine(self):
        trt = self.trt
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)
        self._engine = self._runtime.deserialize_cuda_engine(self.path.read_bytes())
        if self._engine is None:
            raise fail(self.path,
                       f"TensorRT could not deserialize it; rebuild it with: {self.metadata['build_command']}")
        self._context = self._engine.create_execution_context()
        if self._context is None:
            raise fail(self.path, "TensorRT could not create an execution context (out of GPU memory?)")

        names = [self._engine.get_tensor_name(i) for i in range(self._engine.num_io_tensors)]
        inputs = [n for n in names if self._engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        if inputs != ["images"]:
            raise fail(self.path, f"engine inputs are {inputs}, expected ['images']")
        self.output_names = OUTPUTS.get(self.layout)
        if self.output_names is None or not set(self.output_names) <= set(names):
            raise fail(self.path, f"engine outputs {[n for n in names if n not in inputs]} do not match its "
                                  f"layout {self.layout!r}")
        h, w = self.input_size
        max_in = (self.max_batch, 3, h, w)
        profile_max = tuple(self._engine.get_tensor_profile_shape("images", 0)[2])
        if profile_max != max_in:
            raise fail(self.path, f"engine profile max shape {profile_max} differs from its metadata {max_in}")

        self._stream = self.cuda.stream_create()
        # Output shapes at max batch come from the context once the input shape is set.
        self._context.set_input_shape("images", max_in)
        for name in names:
            shape = max_in if name == "images" else tuple(self._context.get_tensor_shape(name))
            dtype = self.trt.nptype(self._engine.get_tensor_dtype(name))
            b = self._bindings[name] = _Binding(self.cuda, name, dtype, shape)
            if not self._context.set_tensor_address(name, b.device):
                raise fail(self.path, f"TensorRT refused the address of tensor {name!r}")
        self._bound_batch = self.max_batch
        # FP16 engines keep float32 I/O (export/fp16.py), so this is float32 unless the ONNX said otherwise.
        self.dtype = self._bindings["images"].dtype

    # Backend interface
    def __call__(self, blob):
        blob = np.asarray(blob)
        h, w = self.input_size
        if blob.ndim != 4 or blob.shape[1:] != (3, h, w) or len(blob) == 0:
            raise fail(self.path, f"input blob must be [B, 3, {h}, {w}] with B >= 1, got {list(blob.shape)}")
        parts = [self._run_host(blob[i:i + self.max_batch]) for i in range(0, len(blob), self.max_batch)]
        if len(parts) == 1:
            return parts[0]
        return tuple(np.concatenate(p, 0) for p in zip(*parts))

    def _run_host(self, chunk):
        inp = self._bindings["images"]
        n = len(chunk)
        np.copyto(inp.host[:n], chunk, casting="same_kind")
        self.cuda.memcpy_async(inp.device, inp.host_ptr, n * inp.sample_bytes(), H2D, self._stream)
        return self._execute(n)

    def _execute(self, n):
        """Run the engine on the first `n` samples already in the input binding; returns the outputs."""
        if n != self._bound_batch:
            h, w = self.input_size
            if not self._context.set_input_shape("images", (n, 3, h, w)):
                raise fail(self.path, f"TensorRT refused batch {n} (profile allows 1..{self.max_batch})")
            self._bound_batch = n
        graph = self._graphs.get(n)
        if graph is not None:
            self.cuda.graph_launch(graph[1], self._stream)
        else:
            self._enqueue()
            if self.cuda_graph:
                self._capture(n)
        outs = []
        for name in self.output_names:
            b = self._bindings[name]
            self.cuda.memcpy_async(b.host_ptr, b.device, n * b.sample_bytes(), D2H, self._stream)
        self.cuda.stream_synchronize(self._stream)
        for name in self.output_names:
            outs.append(self._bindings[name].host[:n].copy())
        return tuple(outs)

    def _enqueue(self):
        if not self._context.execute_async_v3(self._stream):
            raise fail(self.path, "TensorRT execute_async_v3 failed (its log above says why)")

    def _capture(self, n):
        self.cuda.begin_capture(self._stream)
        try:
            self._enqueue()
        finally:
            graph = self.cuda.end_capture(self._stream)
        self._graphs[n] = (graph, self.cuda.graph_instantiate(graph))

    # Pre-processing on the device
    def infer_images(self, images, center=True):
        """Letterbox uint8 BGR images and run the engine; returns (outputs tuple, params [B, 3])."""
        images = list(images) if isinstance(images, (list, tuple)) else [images]
        if len(images) > self.max_batch:
            raise fail(self.path, f"{len(images)} images exceed the engine's max batch {self.max_batch}")
        native = _native_cuda()
        h, w = self.input_size
        if native is None:
            from ...ops import letterbox

            blob, params = letterbox(images, size=(h, w), center=center)
            return self(blob), params
        params = self._letterbox_on_device(native, images, center)
        return self._execute(len(images)), params

    def _letterbox_on_device(self, native, images, center):
        images = [np.ascontiguousarray(im, dtype=np.uint8) for im in images]
        total = sum(im.nbytes for im in images)
        if total > self._images_dev_bytes:
            self._free_images()
            self._images_dev = self.cuda.malloc(total)
            self._images_host = self.cuda.malloc_host(total)
            self._images_dev_bytes = total
        ptrs, shapes, offset = [], [], 0
        for im in images:
            ctypes.memmove(self._images_host + offset, im.ctypes.data, im.nbytes)
            ptrs.append(self._images_dev + offset)
            shapes.append((im.shape[0], im.shape[1], im.strides[0]))
            offset += im.nbytes
        self.cuda.memcpy_async(self._images_dev, self._images_host, total, H2D, self._stream)
        h, w = self.input_size
        half = self._bindings["images"].dtype == np.float16
        return native.letterbox_cuda(ptrs, shapes, self._bindings["images"].device, h, w, center, half, self._stream)

    def _free_images(self):
        if self._images_dev:
            self.cuda.free(self._images_dev)
            self.cuda.free_host(self._images_host)
            self._images_dev, self._images_dev_bytes = 0, 0

    def close(self):
        if not self._stream:
            return
        self.cuda.stream_synchronize(self._stream)
        for graph, graph_exec in self._graphs.values():
            self.cuda.graph_exec_destroy(graph_exec)
            self.cuda.graph_destroy(graph)
        self._graphs.clear()
        for b in self._bindings.values():
            self.cuda.free(b.device)
            self.cuda.free_host(b.host_ptr)
        self._bindings.clear()
        self._free_images()
        # The context and engine hold device memory: release them before the stream goes.
        self._context = self._engine = None
        self.cuda.stream_destroy(self._stream)
        self._stream = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001 - at interpreter shutdown the CUDA bindings may be gone
            pass


def _native_cuda():
    """yolov6_edge._C when it was built with CUDA and a device is usable, else None."""
    try:
        from ... import _C
    except ImportError:
        return None
    if not _C.cuda_built():
        # The usual cause: nvcc was not found when the package was installed. Say it once, it costs latency.
        import warnings

        warnings.warn("yolov6_edge: the native module was built without its CUDA kernels, so TensorRT engines get "
                      "a CPU letterbox; build it again from source with nvcc reachable (CUDA_HOME=/usr/local/cuda, "
                      "docs/INSTALL.md) and check `yolov6-edge info --system`", stacklevel=3)
        return None
    if not (hasattr(_C, "letterbox_cuda") and _C.cuda_available()):
        return None
    return _C
