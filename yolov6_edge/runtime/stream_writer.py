"""Write a stream's results for one source: an annotated video and JSON Lines, one record per frame.

The video keeps the source's frame size and frame rate (divided by vid_stride, so it lasts as long as the
source). Where frames of a live source were dropped, the last annotated frame is repeated in their place, so
the recording keeps real time. Each JSON line: {"frame_index", "timestamp", "boxes" [[x1, y1, x2, y2], ...],
"scores", "class_ids", "names"}; boxes in frame pixels; with tracking also "track_ids" and what the caller adds
(line counts, zone occupancy: docs/TRACKING.md).

Files are written into a folder the caller stages (atomic.staged_folder), so an output folder never holds a
half-written video next to an older one's records. OpenCV picks the container from the file name, so the
video is named .mp4 (codec mp4v, which every OpenCV build can write).

OpenCV's VideoWriter reports no write error: on a full disk, a quota or a file-size limit it prints FFmpeg's
"Failed to write frame" warnings, goes on "writing" and leaves an mp4 without its index (unplayable). So the
writer captures what OpenCV prints while it writes (as images.decode does) and stops the video at the first
failed frame, watches for a full disk or a reached file-size limit, and at close reads the finished file's
frame count back; a video that does not hold every frame written is removed and close() returns a one-line
problem saying so and what was kept.
"""
import json
import os
import sys
from pathlib import Path

import cv2

from ..atomic import diagnose_short_write, write_error
from ..errors import fail
from .draw import draw
from .images import _stderr_captured

# frames between the checks for a full disk or a reached file-size limit while writing
CHECK_EVERY = 32

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

    def __init__(self, folder, stem: str, info, vid_stride: int = 1, video: bool = True, shown_folder=None):
        self.folder = Path(folder)
        self.video_path = self.folder / (stem + VIDEO_SUFFIX) if video else None
        self.jsonl_path = self.folder / (stem + ".jsonl")
        # where messages say the files are: the output folder the staged files are moved into
        self.shown = Path(shown_folder) if shown_folder is not None else self.folder
        self.info = info
        self.stride = vid_stride
        self.fps = (info.fps or LIVE_FPS) / vid_stride
        self.frames = 0
        self._writer: cv2.VideoWriter | None = None
        self._size: tuple | None = None
        self._last: tuple | None = None  # (frame index, annotated frame) for filling dropped frames
        self.records = 0
        self.video_problem: str | None = None  # why the video stopped being written, once it has
        try:
            self._jsonl = open(self.jsonl_path, "w")
        except OSError as e:
            raise write_error(self.shown / self.jsonl_path.name, e) from None

    def write(self, res, annotated=None, extra=None) -> None:
        """Add one result; `annotated` is its drawn frame (drawn here from res.frame when not given); `extra`: more
        fields for its JSON line.

        A failed JSON Lines write raises a one-line Yolov6EdgeError; a video that can no longer be written
        (video_problem) stops getting frames, the records go on."""
        try:
            self._jsonl.write(json.dumps({**record(res), **(extra or {})}) + "\n")
        except OSError as e:
            raise write_error(self.shown / self.jsonl_path.name, e) from None
        self.records += 1
        if self.video_path is None or self.video_problem:
            return
        if annotated is None:
            if res.frame is None:
                raise fail(res.source, "writing a video needs the frames: stream(..., keep_frames=True)")
            annotated = draw(res.frame, res)
        if self._writer is None:
            h, w = annotated.shape[:2]
            self._writer = cv2.VideoWriter(str(self.video_path), cv2.VideoWriter.fourcc(*FOURCC), self.fps, (w, h))
            if not self._writer.isOpened():
                raise fail(self.shown / self.video_path.name, f"OpenCV cannot write a {FOURCC} video here")
            self._size = (w, h)
        if (annotated.shape[1], annotated.shape[0]) != self._size:  # a camera that changed resolution
            annotated = cv2.resize(annotated, self._size)
        if self._last is not None and self.info.live:
            gap = (res.frame_index - self._last[0]) // self.stride - 1
            for _ in range(max(0, gap)):
                self._encode(lambda: self._writer.write(self._last[1]))
                self.frames += 1
        self._encode(lambda: self._writer.write(annotated))
        self.frames += 1
        self._last = (res.frame_index, annotated)
        if self.frames % CHECK_EVERY == 0:
            self._watch()

    def _encode(self, call) -> None:
        """Run a VideoWriter call, turning FFmpeg's printed write failures into video_problem (other lines are
        passed on to stderr)."""
        with _stderr_captured() as printed:
            call()
        failed = [ln for ln in printed if "Failed to write" in ln or "failed to write" in ln]
        other = [ln for ln in printed if ln not in failed]
        if other:
            print("\n".join(other), file=sys.stderr)
        if failed and not self.video_problem:
            self.video_problem = diagnose_short_write(self.video_path)

    def _watch(self) -> None:
        cause = diagnose_short_write(self.video_path)
        if not cause.startswith("the disk"):  # a full disk or a reached file-size limit: it cannot go on
            self.video_problem = cause

    def close(self):
        """Finish both files. Returns None when the video (if any) holds every frame written, else one line:
        the video is removed and the line says why and what was kept."""
        problem = None
        try:
            self._jsonl.close()
        except OSError as e:
            problem = str(write_error(self.shown / self.jsonl_path.name, e))
        if self._writer is not None:
            self._encode(self._writer.release)
            self._writer = None
            video = self._check_video()
            if video:
                kept = f"kept {self.jsonl_path.name} ({self.records} frames)" if not problem else "nothing kept"
                problem = f"{video}; the video was removed, {kept}"
        return problem

    def _check_video(self):
        """None when the finished file reads back with every frame written, else what went wrong."""
        readable = 0
        with _stderr_captured():  # a broken file makes FFmpeg print "moov atom not found": we say it better
            cap = cv2.VideoCapture(str(self.video_path), cv2.CAP_FFMPEG)
            if cap.isOpened():
                readable = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
            cap.release()
        if readable == self.frames and not self.video_problem:
            return None
        cause = self.video_problem or diagnose_short_write(self.video_path)
        try:
            os.unlink(self.video_path)
        except OSError:
            pass
        return (f"{self.shown / self.video_path.name}: the video could not be written completely ({readable} of "
                f"{self.frames} frames readable): {cause}")
