"""Tracking and counting on streams: object ids across frames (ByteTrack, the optional extra `[track]`), objects
crossing lines and staying in zones (docs/TRACKING.md).

This package sits just under the runtime: it imports nothing of the runtime (it works on any object with the
Detections fields), and nothing of the extra until a tracker is made.
"""
from .config import TrackerConfig

__all__ = ["TrackerConfig", "StreamTracker", "track", "Line", "Zone", "Counter"]


def __getattr__(name):
    if name in ("StreamTracker", "track"):
        from . import tracker

        return getattr(tracker, name)
    if name in ("Line", "Zone", "Counter"):
        from . import counting

        return getattr(counting, name)
    raise AttributeError(name)
