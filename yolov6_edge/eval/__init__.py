"""Evaluation: COCO mAP of any backend."""
from .coco import evaluate

__all__ = ["evaluate"]
