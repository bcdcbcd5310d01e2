"""Device buffers through the CUDA driver API (ctypes on libcuda), for the CUDA op tests and scripts/gpu_check.

Why: the CUDA ops take `__cuda_array_interface__` objects, and the usual providers (torch with CUDA, CuPy) are
often absent where the GPU path must be proven (our venvs carry the CPU torch wheel). libcuda comes with every
NVIDIA driver, so this needs nothing installed. Buffers live in the device's primary context, the one the
CUDA runtime inside yolov6_edge._C uses, so pointers pass between them.
"""
import ctypes

import numpy as np

from .errors import Yolov6EdgeError


class CudaDriverError(Yolov6EdgeError):
    pass


class Driver:
    """The handful of driver calls: primary context, alloc/free, copies, synchronize."""

    def __init__(self, device=0, libname="libcuda.so.1"):
        try:
            self.lib = ctypes.CDLL(libname)
        except OSError as e:
            raise CudaDriverError(f"cuda: {libname} not found (no NVIDIA driver): {e}") from None
        self._check(self.lib.cuInit(0), "cuInit")
        dev = ctypes.c_int(0)
        self._check(self.lib.cuDeviceGet(ctypes.byref(dev), device), f"cuDeviceGet({device})")
        ctx = ctypes.c_void_p(0)
        self._check(self.lib.cuDevicePrimaryCtxRetain(ctypes.byref(ctx), dev), "cuDevicePrimaryCtxRetain")
        self._check(self.lib.cuCtxSetCurrent(ctx), "cuCtxSetCurrent")
        self.lib.cuMemAlloc_v2.argtypes = [ctypes.POINTER(ctypes.c_uint64), ctypes.c_size_t]
        self.lib.cuMemFree_v2.argtypes = [ctypes.c_uint64]
        self.lib.cuMemcpyHtoD_v2.argtypes = [ctypes.c_uint64, ctypes.c_void_p, ctypes.c_size_t]
        self.lib.cuMemcpyDtoH_v2.argtypes = [ctypes.c_void_p, ctypes.c_uint64, ctypes.c_size_t]
        self.lib.cuMemcpyDtoD_v2.argtypes = [ctypes.c_uint64, ctypes.c_uint64, ctypes.c_size_t]

    def _check(self, rc, what):
        if rc != 0:
            name = ctypes.c_char_p()
            self.lib.cuGetErrorName(rc, ctypes.byref(name))
            raise CudaDriverError(f"cuda: {what} failed: {name.value.decode() if name.value else rc}")

    def alloc(self, nbytes) -> int:
        ptr = ctypes.c_uint64(0)
        self._check(self.lib.cuMemAlloc_v2(ctypes.byref(ptr), max(int(nbytes), 1)), f"cuMemAlloc({nbytes})")
        return ptr.value

    def free(self, ptr):
        self.lib.cuMemFree_v2(ptr)

    def synchronize(self):
        self._check(self.lib.cuCtxSynchronize(), "cuCtxSynchronize")

    def copy_d2d(self, dst, src, nbytes):
        self._check(self.lib.cuMemcpyDtoD_v2(dst, src, nbytes), "cuMemcpyDtoD")


class DeviceArray:
    """A device buffer with a shape and dtype, exposing `__cuda_array_interface__` (version 3, C-contiguous)."""

    def __init__(self, driver: Driver, shape, dtype):
        self.driver, self.shape, self.dtype = driver, tuple(int(s) for s in shape), np.dtype(dtype)
        self.nbytes = int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize
        self.ptr = driver.alloc(self.nbytes)

    @classmethod
    def from_host(cls, driver, array):
        array = np.ascontiguousarray(array)
        out = cls(driver, array.shape, array.dtype)
        if out.nbytes:
            driver._check(driver.lib.cuMemcpyHtoD_v2(out.ptr, array.ctypes.data, out.nbytes), "cuMemcpyHtoD")
        return out

    def to_host(self) -> np.ndarray:
        out = np.empty(self.shape, self.dtype)
        self.driver.synchronize()
        if self.nbytes:
            self.driver._check(self.driver.lib.cuMemcpyDtoH_v2(out.ctypes.data, self.ptr, self.nbytes),
                               "cuMemcpyDtoH")
        return out

    @property
    def __cuda_array_interface__(self):
        return {"shape": self.shape, "typestr": self.dtype.str, "data": (self.ptr, False), "version": 3,
                "strides": None}

    def free(self):
        if self.ptr:
            self.driver.free(self.ptr)
            self.ptr = 0

    def __del__(self):
        try:
            self.free()
        except Exception:  # noqa: BLE001 - at interpreter shutdown the CUDA bindings may be gone
            pass
