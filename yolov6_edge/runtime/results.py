"""Detections for one image: what the Detector returns."""
from dataclasses import dataclass, field, replace
from typing import Optional

import numpy as np


@dataclass
class Detections:
    """Boxes in original-image pixels (x1, y1, x2, y2), sorted by score, descending."""

    boxes: np.ndarray  # [K, 4] float32
    scores: np.ndarray  # [K] float32
    class_ids: np.ndarray  # [K] int64
    names: list = field(default_factory=list)  # class name per detection
    image_shape: tuple = ()  # (H, W) of the original image
    source: str = ""  # file name or "image array #i"; for streams the video, camera or URL
    # set by Detector.stream(): the frame's position in its source, its time in seconds (None for still
    # images), the source's VideoInfo (fps, size, frame count) and, with keep_frames, the BGR frame itself
    frame_index: Optional[int] = None
    timestamp: Optional[float] = None
    video: object = field(default=None, repr=False, compare=False)
    frame: Optional[np.ndarray] = field(default=None, repr=False, compare=False)
    # stream(track=...): the object id of each detection (int64 [K], -1 where no confirmed track holds it), and
    # how many times the source was reopened before this frame (a reconnect starts its tracks afresh)
    track_ids: Optional[np.ndarray] = None
    reconnects: int = 0

    def __len__(self) -> int:
        return len(self.scores)

    def select(self, keep) -> "Detections":
        """The detections where `keep` (a boolean mask or indices) holds, with the same frame information."""
        keep = np.asarray(keep)
        idx = np.flatnonzero(keep) if keep.dtype == bool else keep.astype(np.int64)
        return replace(self, boxes=self.boxes[idx], scores=self.scores[idx], class_ids=self.class_ids[idx],
                       names=[self.names[i] for i in idx],
                       track_ids=None if self.track_ids is None else self.track_ids[idx])

    def to_dict(self) -> dict:
        frame = {} if self.frame_index is None else {
            "frame_index": int(self.frame_index),
            "timestamp": None if self.timestamp is None else round(float(self.timestamp), 6)}
        tracks = [None] * len(self) if self.track_ids is None else self.track_ids
        return {
            "source": self.source,
            **frame,
            "image_shape": [int(v) for v in self.image_shape],
            "detections": [
                {"box": [round(float(v), 2) for v in b], "score": round(float(s), 5), "class_id": int(c), "name": n,
                 **({} if t is None else {"track_id": int(t)})}
                for b, s, c, n, t in zip(self.boxes, self.scores, self.class_ids, self.names, tracks)
            ],
        }
