"""INT8 quantization: fake-quant model, calibration, QDQ ONNX, sensitivity, partial quantization, QAT.

The torch parts (interface, calibrate, qat, ...) load on first use, so the ONNX-only modules (qdq, targets,
reference, compare) import without torch: `build --int8` and `compare-runtimes` run on a runtime-only
install.
"""
import importlib

_INTERFACE = ("QuantConfig", "calibrate", "export_qdq", "float_layers", "load_amax", "quant_layers", "quantize",
              "set_float", "strip")


def calibrate_to_qdq(model_path, images, out_onnx, **opts):
    from .calibrate import calibrate_to_qdq as _impl

    return _impl(model_path, images, out_onnx, **opts)


def __getattr__(name):
    if name in _INTERFACE:
        return getattr(importlib.import_module(".interface", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
