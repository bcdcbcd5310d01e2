"""TrackerConfig: the settings of a tracker, and what `stream(track=...)` accepts (True, "bytetrack", a config)."""
import math
from dataclasses import dataclass, fields
from typing import Optional

from ..errors import fail

ALGORITHMS = ("bytetrack",)


@dataclass(frozen=True)
class TrackerConfig:
    """ByteTrack's settings, in the units a user thinks in (seconds, scores, IoU).

    high_conf: detections at or above it are matched to tracks first. None (the default): the Detector's conf.
    new_track_conf: the least score of a detection that starts a new track. None (the default): high_conf + 0.1,
        ByteTrack's rule (a new object needs a clearly confident box).
    low_conf: detections between it and high_conf only continue existing tracks (ByteTrack's second match,
        which keeps an object through a partial occlusion). The stream runs NMS down to this score while
        tracking; a detection under the Detector's own `conf` is returned only where it continued a track.
        None (the default): the Detector's conf is the floor. A floor of 0.1 hands the tracker several times the
        boxes, which costs tracker time, and did not raise IDF1 on benchmarks/track_accuracy.py's choosing
        sequences (docs/TRACKING.md).
    match_iou: the least IoU x score (ByteTrack's fused similarity) between a track's predicted box and a
        detection for them to match in the first stage (the second stage, for low-score detections, asks
        IoU >= 0.5: ByteTrack's fixed rule).
    lost_seconds: how long a track that is not seen survives (occlusion, missed detections, dropped frames),
        in the source's time, not in calls: a live source that drops frames does not age its tracks faster.
    min_frames: frames a new track must be matched in a row before it gets an id (1 = from its second frame;
        ByteTrack confirms no track on a single sighting except in a source's very first frame).
    fps: frame rate assumed where the source does not say (cameras that do not report one, image lists,
        iterables).
    class_agnostic: boxes of different classes that overlap by at least the detector's NMS IoU are one object
        to the tracker: the higher-scoring box is kept and the others are dropped from the results (class-agnostic
        NMS over what the detector's class-aware NMS kept). Without it, a small model's two boxes for one object
        under two classes (car and truck) become two tracks, and a line counts the object twice. False: every box
        the detector returned is tracked (Ultralytics' behaviour).
    """

    algorithm: str = "bytetrack"
    high_conf: Optional[float] = None
    new_track_conf: Optional[float] = None
    low_conf: Optional[float] = None
    match_iou: float = 0.2
    lost_seconds: float = 1.0
    min_frames: int = 1
    fps: float = 30.0
    class_agnostic: bool = True

    def __post_init__(self):
        if self.algorithm not in ALGORITHMS:
            raise fail("track", f"unknown tracker {self.algorithm!r} (expected one of {', '.join(ALGORITHMS)})")
        for name in ("high_conf", "new_track_conf", "low_conf"):
            if getattr(self, name) is not None:
                _check_number(name, getattr(self, name), 0.0, 1.0)
        if None not in (self.low_conf, self.high_conf) and self.low_conf > self.high_conf:
            raise fail("track", f"low_conf ({self.low_conf}) must not be above high_conf ({self.high_conf})")
        _check_number("match_iou", self.match_iou, 0.0, 1.0)
        _check_number("lost_seconds", self.lost_seconds, 0.0, math.inf)
        _check_number("fps", self.fps, 1e-3, math.inf)
        if not isinstance(self.class_agnostic, bool):
            raise fail("track", f"class_agnostic must be True or False, got {self.class_agnostic!r}")
        if not isinstance(self.min_frames, int) or isinstance(self.min_frames, bool) or self.min_frames < 1:
            raise fail("track", f"min_frames must be an integer >= 1, got {self.min_frames!r}")


def _check_number(name, value, low, high):
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or not low <= value <= high:
        raise fail("track", f"{name} must be a number in [{low:g}, {high:g}], got {value!r}")


def tracker_config(track) -> Optional[TrackerConfig]:
    """None (no tracking) for None/False; a TrackerConfig for True, an algorithm name, a TrackerConfig or a dict
    of its fields."""
    if track is None or track is False:
        return None
    if track is True:
        return TrackerConfig()
    if isinstance(track, TrackerConfig):
        return track
    if isinstance(track, str):
        return TrackerConfig(algorithm=track.lower())
    if isinstance(track, dict):
        known = {f.name for f in fields(TrackerConfig)}
        unknown = sorted(set(track) - known)
        if unknown:
            raise fail("track", f"unknown setting(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")
        return TrackerConfig(**track)
    raise fail("track", f"expected True, a tracker name ({', '.join(ALGORITHMS)}) or a TrackerConfig, "
                        f"got {type(track).__name__}")
