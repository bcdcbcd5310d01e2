"""Write one Q/DQ placement of a calibrated fake-quant model: the CPU placements' float convs and weight levels,
then the QDQ ONNX (export.py, targets.py). calibrate, --target cpu and qat all write files through it."""
from .interface import export_qdq, set_float
from .squeeze_layers import layers_on_1x1
from .weight_levels import apply_weight_bits


def place(qmodel, path, img_size, placement, weight_bits) -> dict:
    """Write the QDQ ONNX of `placement` (tensorrt, openvino, onnxruntime) with its weight levels: 7 or 8
    bits, or "layer"/"channel" levels safe for that runtime's int16 pairs (weight_levels.py). Returns the
    levels summary."""
    if placement != "tensorrt":  # INT8 saves nothing on a 1x1 map and costs requantizations (squeeze_layers.py)
        set_float(qmodel, layers_on_1x1(qmodel, img_size))
    levels = apply_weight_bits(qmodel, weight_bits, placement if placement != "tensorrt" else None)
    export_qdq(qmodel, path, img_size=img_size, target=placement)
    return levels
