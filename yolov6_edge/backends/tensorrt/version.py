"""Which TensorRT is installed, and whether we support it (10.x and 11.x only).

TensorRT 11 removed the weakly typed precision flags (BuilderFlag.FP16/INT8), the implicit INT8 calibrators
and EXPLICIT_BATCH; 10.x still has them but we never use them, so one code path serves both. Anything older
lacks the I/O tensor API (set_tensor_address / execute_async_v3) the runtime is written against.
"""
import importlib

from ...errors import Yolov6EdgeError

SUPPORTED_MAJORS = (10, 11)
INSTALL_HINT = "install TensorRT 10.x or 11.x (pip install 'tensorrt>=10,<12' on x86_64; JetPack 6+ on Jetson)"


def parse_version(text: str) -> tuple:
    """'10.13.0.35' -> (10, 13, 0); a malformed string raises Yolov6EdgeError."""
    parts = str(text).strip().split(".")
    try:
        nums = tuple(int(p) for p in parts[:3])
    except ValueError:
        raise Yolov6EdgeError(f"tensorrt: cannot read the version string {text!r}") from None
    if len(nums) < 2:
        raise Yolov6EdgeError(f"tensorrt: cannot read the version string {text!r}")
    return nums + (0,) * (3 - len(nums))


def check_version(text: str) -> tuple:
    v = parse_version(text)
    if v[0] not in SUPPORTED_MAJORS:
        raise Yolov6EdgeError(
            f"tensorrt: version {text} is not supported (yolov6-edge needs 10.x or 11.x); {INSTALL_HINT}"
        )
    return v


def import_tensorrt():
    """Import the `tensorrt` module lazily and check its version; returns (module, (major, minor, patch))."""
    try:
        trt = importlib.import_module("tensorrt")
    except ImportError as e:
        raise Yolov6EdgeError(f"tensorrt: the Python package is not importable ({e}); {INSTALL_HINT}") from None
    return trt, check_version(getattr(trt, "__version__", "unknown"))


def availability():
    """None when a supported TensorRT imports here, else one line saying why not (the backend registry's check)."""
    try:
        import_tensorrt()
    except Yolov6EdgeError as e:
        return str(e)
    except Exception as e:  # noqa: BLE001 - a missing libnvinfer raises OSError from inside the bindings
        first = str(e).splitlines()[0] if str(e) else ""
        return f"tensorrt: not importable ({type(e).__name__}: {first}); {INSTALL_HINT}"
    return None
