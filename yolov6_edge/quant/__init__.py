"""INT8 quantization: fake-quant model, calibration, QDQ ONNX, sensitivity, partial quantization, QAT."""
from .interface import QuantConfig, calibrate, export_qdq, float_layers, load_amax, quant_layers, quantize, set_float, strip


def calibrate_to_qdq(model_path, images, out_onnx, **opts):
    from .calibrate import calibrate_to_qdq as _impl

    return _impl(model_path, images, out_onnx, **opts)
