"""The torch-free runtime: Detector, image reading/validation, detections and drawing."""
from .detector import Detector
from .results import Detections

__all__ = ["Detector", "Detections"]
