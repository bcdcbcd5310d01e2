"""What this install can run on this machine: `yolov6-edge info --system` and scripts/gpu_check.sh report it.

Everything is probed, nothing is required: a missing package or driver is reported as such, never raised.
Versions come from package metadata where that avoids importing a heavy module (torch is never imported);
TensorRT is imported because JetPack's system TensorRT has no pip metadata.
"""
import ctypes
import importlib
import importlib.metadata
import os
import platform

CU_ATTR_CC_MAJOR, CU_ATTR_CC_MINOR = 75, 76  # CUdevice_attribute


def _dist_version(*names):
    for name in names:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def glibc_version():
    name, version = platform.libc_ver()
    return version if name == "glibc" else None


def native_info() -> dict:
    """Whether yolov6_edge._C is there, whether its CUDA kernels were compiled in, and whether a GPU is usable."""
    try:
        from . import _C
    except ImportError as e:
        return {"native_module": False, "error": str(e), "cuda_built": False, "cuda_available": False}
    return {"native_module": True, "native_version": _C.__version__, "cuda_built": bool(_C.cuda_built()),
            "cuda_available": bool(_C.cuda_available())}


def gpu_info(libname="libcuda.so.1") -> dict:
    """Driver version and GPUs from the CUDA driver library itself (no nvidia-smi: Jetsons may lack it)."""
    try:
        cuda = ctypes.CDLL(libname)
    except OSError:
        return {"driver": None, "gpus": [], "error": f"{libname} not found (no NVIDIA driver)"}
    version = ctypes.c_int(0)
    driver = None
    if cuda.cuDriverGetVersion(ctypes.byref(version)) == 0 and version.value:
        driver = f"{version.value // 1000}.{version.value % 1000 // 10}"  # the CUDA version the driver supports
    rc = cuda.cuInit(0)
    if rc != 0:
        return {"driver": driver, "gpus": [], "error": f"cuInit failed with CUresult {rc} (no usable GPU)"}
    count = ctypes.c_int(0)
    cuda.cuDeviceGetCount(ctypes.byref(count))
    gpus = []
    for i in range(count.value):
        dev = ctypes.c_int(0)
        if cuda.cuDeviceGet(ctypes.byref(dev), i) != 0:
            continue
        name = ctypes.create_string_buffer(256)
        cuda.cuDeviceGetName(name, 256, dev)
        major, minor, mem = ctypes.c_int(0), ctypes.c_int(0), ctypes.c_size_t(0)
        cuda.cuDeviceGetAttribute(ctypes.byref(major), CU_ATTR_CC_MAJOR, dev)
        cuda.cuDeviceGetAttribute(ctypes.byref(minor), CU_ATTR_CC_MINOR, dev)
        cuda.cuDeviceTotalMem_v2(ctypes.byref(mem), dev)
        gpus.append({"index": i, "name": name.value.decode(errors="replace"),
                     "compute_capability": f"{major.value}.{minor.value}", "memory_gib": round(mem.value / 2**30, 2)})
    return {"driver": driver, "gpus": gpus}


def tensorrt_version():
    try:
        trt = importlib.import_module("tensorrt")
    except Exception as e:  # noqa: BLE001 - ImportError, or a missing libnvinfer raising OSError from inside the bindings
        return None, f"not importable ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})"
    from .backends.tensorrt.version import SUPPORTED_MAJORS, parse_version
    from .errors import Yolov6EdgeError

    text = getattr(trt, "__version__", "unknown")
    try:
        ok = parse_version(text)[0] in SUPPORTED_MAJORS
    except Yolov6EdgeError:
        ok = False
    return text, None if ok else "not supported (yolov6-edge needs TensorRT 10.x or 11.x)"


def onnxruntime_info():
    try:
        import onnxruntime as ort
    except ImportError:
        return None, []
    return ort.__version__, list(ort.get_available_providers())


def backends_report() -> dict:
    """{registered backend: "yes" where it runs here, else why not} (backends/base.py; a new backend appears
    here by being registered)."""
    from .backends.base import availability

    return {name: why or "yes" for name, why in availability().items()}


def system_report() -> dict:
    from . import __version__

    trt, trt_note = tensorrt_version()
    ort_version, ort_providers = onnxruntime_info()
    native, gpu = native_info(), gpu_info()
    notes = {}
    if gpu["gpus"] and not native["cuda_built"]:
        notes["cuda_note"] = ("a GPU is here but the CUDA kernels were not built (no nvcc when this was installed): "
                              "letterbox and NMS run on the CPU; reinstall with CUDA_HOME set (docs/INSTALL.md)")
    return {
        "yolov6_edge": __version__,
        "python": platform.python_version(),
        "platform": f"{platform.system()} {platform.machine()}",
        "glibc": glibc_version(),
        **native,
        **{f"gpu_{k}" if k == "error" else k: v for k, v in gpu.items()},
        **notes,
        "tensorrt": trt, **({"tensorrt_note": trt_note} if trt_note else {}),
        "onnxruntime": ort_version, "onnxruntime_providers": ort_providers,
        "openvino": _dist_version("openvino"),
        "onnx": _dist_version("onnx"),
        "torch": _dist_version("torch"),
        "cuda_home": os.environ.get("CUDA_HOME") or os.environ.get("CUDA_PATH"),
        "backends": backends_report(),
    }
