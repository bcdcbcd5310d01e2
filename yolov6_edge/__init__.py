"""yolov6_edge: take a YOLOv6 model from training to a deployed detector.

This file only hands names on; importing it pulls in neither torch nor TensorRT.
"""
from .errors import Yolov6EdgeError

__version__ = "0.1.0"
__all__ = ["Detector", "Yolov6EdgeError", "__version__"]


def __getattr__(name):
    # Detector is imported lazily so `import yolov6_edge` stays cheap for CLI start-up.
    if name == "Detector":
        from .runtime.detector import Detector

        return Detector
    raise AttributeError(name)
