"""yolov6_edge: take a YOLOv6 model from training to a deployed detector.

This file only hands names on; importing it pulls in neither torch nor TensorRT.
"""
from .errors import Yolov6EdgeError

__all__ = ["Detector", "Yolov6EdgeError", "__version__"]


def __getattr__(name):
    # Detector is imported lazily so `import yolov6_edge` stays cheap for CLI start-up.
    if name == "Detector":
        from .runtime.detector import Detector

        return Detector
    if name == "__version__":
        # written once, in csrc/include/yolov6_edge/version.h; the package metadata carries it (pyproject.toml)
        from importlib.metadata import version

        return version("yolov6-edge")
    raise AttributeError(name)
