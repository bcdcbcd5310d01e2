"""Exporters: ONNX (fp32, end-to-end) and the fp16 conversion used for TensorRT."""
from .onnx import export_onnx

__all__ = ["export_onnx"]
