"""ONNX Runtime backend (no torch)."""
from .runtime import OnnxRuntimeBackend

__all__ = ["OnnxRuntimeBackend"]
