"""The torch-free runtime: Detector, image reading/validation, detections, drawing and detection settings.

Names load on first use, so `runtime.settings` (what the CLI reads for its --help) imports nothing heavy.
"""
__all__ = ["Detector", "Detections"]


def __getattr__(name):
    if name == "Detector":
        from .detector import Detector

        return Detector
    if name == "Detections":
        from .results import Detections

        return Detections
    raise AttributeError(name)
