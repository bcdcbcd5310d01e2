"""Write a stream's results for one source: an annotated video and JSON Lines, one record per frame.

The video keeps the source's frame size and frame rate (divided by vid_stride, so it lasts as long as the
source). Where frames of a live source were dropped, the last annotated frame is repeated in their place, so
the recording keeps real time. Each JSON line: {"frame_index", "timestamp", "boxes" [[x1, y1, x2, y2], ...],
"scores", "class_ids", "names"}; boxes in frame pixels; with tracking also "track_ids" and what the caller adds
(line counts, zone occupancy: docs/TRACKING.md).

Files are written into a folder the caller stages (atomic.staged_folder), so an output folder never holds a
half-written video next to an older one's records. OpenCV picks the container from the file name, so the
video is named .mp4 (codec mp4v, which every OpenCV build can write).
"""
import json
from pathlib import Path

import cv2

from ..errors import fail
from .draw import draw

VIDEO_SUFFIX = ".mp4"
FOURCC = "mp4v"
LIVE_FPS = 30.0  # a camera that does not say its rate


def record(res) -> dict:
    return {"frame_index": int(res.frame_index),
            "timestamp": None if res.timestamp is None else round(float(res.timestamp), 6),
            "boxes": [[round(float(v), 2) for v in b] for b in res.boxes],
            "scores": [round(float(s), 5) for s in res.scores],
            "class_ids": [int(c) for c in res.class_ids], "names": list(res.names),
            **({} if res.track_ids is None else {"track_ids": [int(t) for t in res.track_ids]})}


class StreamWriter:
    """Annotated video (`video=True`) and JSON Lines for the frames of one source, in a folder."""

    def __init__(self, folder, stem: str, info, vid_stride: int = 1, video: bool = True):
        self.folder = Path(folder)
        self.video_path = self.folder / (stem + VIDEO_SUFFIX) if video else None
        self.jsonl_path = self.folder / (stem + ".jsonl")
        self.info = info
        self.stride = vid_stride
        self.fps = (info.fps or LIVE_FPS) / vid_stride
        self.frames = 0
        self._writer: cv2.VideoWriter | None = None
        self._last: tuple | None = None  # (frame index, annotated frame) for filling dropped frames
        self._jsonl = open(self.jsonl_path, "w")

    def write(self, res, annotated=None, extra=None) -> None:
        """Add one result; `annotated` is its drawn frame (drawn here from res.frame when not given); `extra`: more
        fields for its JSON line."""
        self._jsonl.write(json.dumps({**record(res), **(extra or {})}) + "\n")
        if self.video_path is None:
            return
        if annotated is None:
            if res.frame is None:
                raise fail(res.source, "writing a video needs the frames: stream(..., keep_frames=True)")
            annotated = draw(res.frame, res)
        if self._writer is None:
            h, w = annotated.shape[:2]
            self._writer = cv2.VideoWriter(str(self.video_path), cv2.VideoWriter.fourcc(*FOURCC), self.fps, (w, h))
            if not self._writer.isOpened():
                raise fail(self.video_path, f"OpenCV cannot write a {FOURCC} video here")
            self._size = (w, h)
        if (annotated.shape[1], annotated.shape[0]) != self._size:  # a camera that changed resolution
            annotated = cv2.resize(annotated, self._size)
        if self._last is not None and self.info.live:
            gap = (res.frame_index - self._last[0]) // self.stride - 1
            for _ in range(max(0, gap)):
                self._writer.write(self._last[1])
                self.frames += 1
        self._writer.write(annotated)
        self.frames += 1
        self._last = (res.frame_index, annotated)

    def close(self) -> None:
        self._jsonl.close()
        if self._writer is not None:
            self._writer.release()
            self._writer = None
