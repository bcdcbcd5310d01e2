"""The dozen CUDA runtime calls the TensorRT backend needs, through ctypes on libcudart.

Why ctypes and not cuda-python: every TensorRT install already brings libcudart (the pip wheels pull
nvidia-cuda-runtime, JetPack ships it), so this needs no extra package and no wheel that must match the
CUDA/JetPack version. The surface is small (memory, one stream, copies, graphs) and each call is checked.
Imported lazily by the backend: CPU-only installs never load it.
"""
import ctypes
import ctypes.util
import glob
import os
import sys

from ...errors import Yolov6EdgeError

H2D, D2H, D2D = 1, 2, 3  # cudaMemcpyKind
ATTR_CC_MAJOR, ATTR_CC_MINOR = 75, 76  # cudaDeviceAttr
CAPTURE_MODE_THREAD_LOCAL = 1  # cudaStreamCaptureMode: other threads may keep using CUDA while we capture
NAMES = ("libcudart.so", "libcudart.so.13", "libcudart.so.12", "libcudart.so.11.0")


class CudaError(Yolov6EdgeError):
    pass


def _candidates():
    found = ctypes.util.find_library("cudart")
    if found:
        yield found
    yield from NAMES
    # pip installs: nvidia-cuda-runtime-cu12 / cu13 put the library under site-packages/nvidia/.
    for base in sys.path:
        yield from sorted(glob.glob(os.path.join(base, "nvidia", "*", "lib", "libcudart.so*")))
        yield from sorted(glob.glob(os.path.join(base, "nvidia", "cu*", "lib", "libcudart.so*")))


def load_cudart():
    errors = []
    for name in _candidates():
        try:
            return ctypes.CDLL(name)
        except OSError as e:
            errors.append(str(e))
    raise CudaError("cuda: libcudart could not be loaded (install the CUDA runtime that matches TensorRT, "
                    f"e.g. pip install nvidia-cuda-runtime-cu12); tried {', '.join(NAMES)}; last error: "
                    f"{errors[-1] if errors else 'none'}")


def gpu_info(cuda, path):
    """(name, compute capability) of device 0, or a one-line error naming `path` when no GPU is usable."""
    try:
        return cuda.device_name(), cuda.compute_capability()
    except CudaError as e:
        raise CudaError(f"{path}: needs a usable NVIDIA GPU and driver ({e})") from None


class Cuda:
    """Thin checked wrapper; pointers and handles are plain ints (what TensorRT's Python API takes)."""

    def __init__(self, lib=None):
        self.lib = lib if lib is not None else load_cudart()

    def _check(self, rc, what):
        if rc != 0:
            msg = ""
            fn = getattr(self.lib, "cudaGetErrorString", None)
            if fn is not None:
                fn.restype = ctypes.c_char_p
                raw = fn(rc)
                msg = raw.decode() if isinstance(raw, bytes) else str(raw)
            raise CudaError(f"cuda: {what} failed with error {rc} {msg}".rstrip())

    def _ptr_call(self, fn_name, *args):
        out = ctypes.c_void_p()
        self._check(getattr(self.lib, fn_name)(ctypes.byref(out), *args), fn_name)
        return out.value or 0

    # device
    def compute_capability(self, device=0) -> str:
        major, minor = ctypes.c_int(), ctypes.c_int()
        for out, attr in ((major, ATTR_CC_MAJOR), (minor, ATTR_CC_MINOR)):
            self._check(self.lib.cudaDeviceGetAttribute(ctypes.byref(out), attr, device), "cudaDeviceGetAttribute")
        return f"{major.value}.{minor.value}"

    def device_name(self, device=0) -> str:
        # cudaDeviceProp starts with char name[256] in every CUDA version; the rest of its layout changes,
        # so we give a buffer far larger than any version's struct and read only the name.
        buf = ctypes.create_string_buffer(16384)
        fn = getattr(self.lib, "cudaGetDeviceProperties_v2", None) or self.lib.cudaGetDeviceProperties
        self._check(fn(buf, device), "cudaGetDeviceProperties")
        return buf.raw[:256].split(b"\0", 1)[0].decode(errors="replace")

    # memory
    def malloc(self, nbytes) -> int:
        return self._ptr_call("cudaMalloc", ctypes.c_size_t(nbytes))

    def free(self, ptr) -> None:
        self._check(self.lib.cudaFree(ctypes.c_void_p(ptr)), "cudaFree")

    def malloc_host(self, nbytes) -> int:
        """Page-locked host memory: needed for truly asynchronous copies."""
        return self._ptr_call("cudaMallocHost", ctypes.c_size_t(nbytes))

    def free_host(self, ptr) -> None:
        self._check(self.lib.cudaFreeHost(ctypes.c_void_p(ptr)), "cudaFreeHost")

    def memcpy_async(self, dst, src, nbytes, kind, stream) -> None:
        rc = self.lib.cudaMemcpyAsync(ctypes.c_void_p(dst), ctypes.c_void_p(src), ctypes.c_size_t(nbytes),
                                      ctypes.c_int(kind), ctypes.c_void_p(stream))
        self._check(rc, "cudaMemcpyAsync")

    # streams
    def stream_create(self) -> int:
        return self._ptr_call("cudaStreamCreate")

    def stream_destroy(self, stream) -> None:
        self._check(self.lib.cudaStreamDestroy(ctypes.c_void_p(stream)), "cudaStreamDestroy")

    def stream_synchronize(self, stream) -> None:
        self._check(self.lib.cudaStreamSynchronize(ctypes.c_void_p(stream)), "cudaStreamSynchronize")

    # graphs: capture one enqueue once, replay it with one launch
    def begin_capture(self, stream) -> None:
        rc = self.lib.cudaStreamBeginCapture(ctypes.c_void_p(stream), ctypes.c_int(CAPTURE_MODE_THREAD_LOCAL))
        self._check(rc, "cudaStreamBeginCapture")

    def end_capture(self, stream) -> int:
        return self._ptr_call_after("cudaStreamEndCapture", ctypes.c_void_p(stream))

    def graph_instantiate(self, graph) -> int:
        # cudaGraphInstantiateWithFlags has kept one signature from CUDA 11.4 to 13.
        return self._ptr_call("cudaGraphInstantiateWithFlags", ctypes.c_void_p(graph), ctypes.c_ulonglong(0))

    def graph_launch(self, graph_exec, stream) -> None:
        self._check(self.lib.cudaGraphLaunch(ctypes.c_void_p(graph_exec), ctypes.c_void_p(stream)), "cudaGraphLaunch")

    def graph_destroy(self, graph) -> None:
        self._check(self.lib.cudaGraphDestroy(ctypes.c_void_p(graph)), "cudaGraphDestroy")

    def graph_exec_destroy(self, graph_exec) -> None:
        self._check(self.lib.cudaGraphExecDestroy(ctypes.c_void_p(graph_exec)), "cudaGraphExecDestroy")

    def _ptr_call_after(self, fn_name, first):
        out = ctypes.c_void_p()
        self._check(getattr(self.lib, fn_name)(first, ctypes.byref(out)), fn_name)
        return out.value or 0
