"""Serving on NVIDIA Triton Inference Server (docs/SERVING.md).

repository.py writes a model repository (export-triton), models/ is the code its Python-backend models run,
server.py starts and stops the tritonserver binary, client.py is RemoteDetector, metrics.py reads the server's
statistics. This file only hands names on: `from yolov6_edge.serve import RemoteDetector`.
"""

__all__ = ["RemoteDetector", "TritonServer", "export_triton"]


def __getattr__(name):
    if name == "RemoteDetector":
        from .client import RemoteDetector

        return RemoteDetector
    if name == "TritonServer":
        from .server import TritonServer

        return TritonServer
    if name == "export_triton":
        from .repository import export_triton

        return export_triton
    raise AttributeError(name)
