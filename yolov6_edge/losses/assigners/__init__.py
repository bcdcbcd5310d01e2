"""Label assignment: TAL (task-aligned, the main one) and ATSS (the warm-up epochs)."""
from .atss import ATSSAssigner
from .tal import TaskAlignedAssigner

__all__ = ["ATSSAssigner", "TaskAlignedAssigner"]
