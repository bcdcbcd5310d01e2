"""Object ids across frames: ByteTrack (from supervision, the optional extra `[track]`) behind a small wrapper.

`StreamTracker` consumes the Detections of any stream, one source's frames in order (sources may interleave,
as when several are batched together), and gives each detection a `track_id`:

    tracker = StreamTracker(TrackerConfig())
    for res in detector.stream(sources):          # or any iterable of Detections, e.g. a remote stream
        tracker.update(res)                        # sets res.track_ids; returns the (possibly filtered) result

What it adds to the library:
- one tracker state per source (keyed by `res.source`; the images of one list, `res.video.group`, are one
  sequence), and ids unique across the whole stream: two cameras
  batched together never share an id, and neither do a source's tracks before and after it restarts;
- time, not calls: the frames a source skipped (dropped by a full buffer, lost while reconnecting, vid_stride
  aside) are fed to ByteTrack as frames without detections, so its lost-track buffer counts the source's time
  and its Kalman filter predicts across the gap; a long gap costs at most `lost_seconds` worth of empty steps;
- restarts: a source that reconnected (`res.reconnects` changed) or whose frame index went back (played again)
  starts with no tracks;
- low-score detections (ByteTrack's second match) reach the tracker, but are handed back only where they
  continued a track;
- one object, one track: boxes of different classes on one object (class_agnostic) are reduced to the
  highest-scoring one before the tracker sees them;
- each id goes to the very detection its track took (by the score the track copied), not to the nearest box.

Nothing here imports supervision until a tracker is made, and nothing imports the runtime: any object with the
Detections fields (boxes, scores, class_ids, source, frame_index, timestamp, video, reconnects, select()) works.
"""
import math
import warnings

import numpy as np

from ..errors import Yolov6EdgeError
from .config import TrackerConfig, tracker_config

EXTRA = "pip install 'yolov6-edge[track]'"
# supervision's ByteTrack is deprecated upstream (docs/TRACKING.md says why we use it); the notice is for
# supervision's own users, not ours
_DEPRECATION = r"The `ByteTrack` was deprecated"


def load_bytetrack():
    """supervision's ByteTrack class, or one line saying what to install."""
    try:
        import supervision as sv
    except ImportError:
        raise Yolov6EdgeError(f"track: tracking needs ByteTrack from supervision, which is not installed: "
                              f"{EXTRA}") from None
    warnings.filterwarnings("ignore", message=_DEPRECATION, category=FutureWarning)
    cls = getattr(sv, "ByteTrack", None)
    if cls is None or not hasattr(cls, "update_with_tensors"):
        raise Yolov6EdgeError(f"track: supervision {getattr(sv, '__version__', '?')} has no ByteTrack (removed in "
                              f"0.31): {EXTRA} (installs supervision<0.31)")
    return cls


def _iou(a, b):
    """IoU matrix of [N,4] and [M,4] xyxy boxes."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area = lambda x: (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])  # noqa: E731
    union = area(a)[:, None] + area(b)[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def agnostic_keep(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """Greedy class-agnostic NMS over the (few) boxes a class-aware NMS kept: a boolean mask of the boxes to keep
    (the highest-scoring of each group overlapping by IoU >= iou)."""
    keep = np.ones(len(boxes), bool)
    overlap = _iou(boxes, boxes) >= iou
    np.fill_diagonal(overlap, False)
    if not overlap.any():
        return keep
    for i in np.argsort(-scores, kind="stable"):
        if keep[i]:
            keep[overlap[i] & (scores <= scores[i])] = False
    return keep


class SourceTracker:
    """ByteTrack for one source: `update(boxes, scores, steps)` -> the ByteTrack id of each box (-1: none)."""

    def __init__(self, config: TrackerConfig, rate: float, high_conf: float, new_track_conf: float):
        self.config = config
        self.rate = rate  # tracker steps per second of the source
        self.max_lost = max(1, int(round(config.lost_seconds * rate)))
        self._bt = load_bytetrack()(track_activation_threshold=high_conf,
                                    lost_track_buffer=self.max_lost, minimum_matching_threshold=1 - config.match_iou,
                                    frame_rate=30, minimum_consecutive_frames=config.min_frames)
        self._bt.det_thresh = new_track_conf  # supervision fixes it at high_conf + 0.1; ours may say otherwise
        self._empty = np.zeros((0, 5), np.float32)

    def alive(self) -> set:
        """ByteTrack ids of the tracks it still holds (seen, or lost but not yet removed)."""
        return {t.external_track_id for t in self._bt.tracked_tracks + self._bt.lost_tracks}

    def update(self, boxes: np.ndarray, scores: np.ndarray, steps: int = 1) -> np.ndarray:
        # frames the source skipped are frames without detections: tracks age and their motion is predicted.
        # Past max_lost + 2 nothing changes (supervision 0.30 keeps a removed track in its lost list for one more
        # frame, where it can still be matched: + 2, not + 1)
        for _ in range(min(steps - 1, self.max_lost + 2)):
            self._bt.update_with_tensors(self._empty)
        n = len(boxes)
        if n:
            tensors = np.empty((n, 5), np.float32)
            tensors[:, :4], tensors[:, 4] = boxes, scores
        else:
            tensors = self._empty
        tracks = self._bt.update_with_tensors(tensors)
        ids = np.full(n, -1, np.int64)
        if not tracks or not n:
            return ids
        # ByteTrack returns tracks, not the detections they took. Each track updated in this frame took exactly
        # one detection and copied its score (the float32 we gave it), so the score names the detection; only
        # boxes with equal scores need their boxes compared (with the track's filtered box).
        frame = self._bt.frame_id
        by_score = {}
        for i, s in enumerate(tensors[:, 4].tolist()):
            by_score.setdefault(s, []).append(i)
        tied = []
        for t in tracks:
            if t.frame_id != frame:
                continue
            took = by_score.get(float(t.score))
            if took is None:
                continue
            if len(took) == 1:
                ids[took[0]] = t.external_track_id
            else:
                tied.append(t)
        for t in tied:  # rare: several detections with the very same score
            took = [i for i in by_score[float(t.score)] if ids[i] < 0]
            if took:
                best = int(np.argmax(_iou(tensors[took, :4].astype(np.float64), t.tlbr[None].astype(np.float64))))
                ids[took[best]] = t.external_track_id
        return ids


class StreamTracker:
    """Track ids for the Detections of a stream of one or more sources (see the module's docstring)."""

    def __init__(self, track=True, conf: float = 0.25, vid_stride: int = 1, iou: float = 0.45):
        """track: True, "bytetrack", a TrackerConfig or a dict of its fields. conf: the detector's own threshold
        (the default high_conf; detections under it are returned only where they continued a track). vid_stride:
        the frames a stream keeps (indices still count every frame). iou: the detector's NMS IoU (with
        class_agnostic, boxes of different classes overlapping by at least this much are one object)."""
        self.config = cfg = tracker_config(track) or TrackerConfig()
        load_bytetrack()  # a missing extra fails here, before any frame
        self.conf = float(conf)
        self.high_conf = cfg.high_conf if cfg.high_conf is not None else self.conf
        new = cfg.new_track_conf if cfg.new_track_conf is not None else self.high_conf + 0.1
        self.new_track_conf = new if new <= 1.0 else self.high_conf
        self.stride = max(1, int(vid_stride))
        self.iou = float(iou)
        self._sources = {}  # source name -> _SourceState
        self._next_id = 1

    @property
    def nms_conf(self) -> float:
        """The score NMS should keep down to so that ByteTrack sees its low-score detections."""
        low = self.config.low_conf
        return min(self.conf, self.high_conf) if low is None else min(self.conf, low)

    def update(self, res):
        """Set `res.track_ids` (int64 [K]); returns res, without the low-score detections that continued no
        track."""
        state = self._state(res)
        boxes = np.asarray(res.boxes, np.float32).reshape(-1, 4)
        scores = np.asarray(res.scores, np.float32).reshape(-1)
        if self.config.class_agnostic and len(boxes) > 1:
            classes = np.asarray(res.class_ids).reshape(-1)
            if (classes != classes[0]).any():  # one class: its NMS already did this
                keep = agnostic_keep(boxes, scores, self.iou)
                if not keep.all():
                    res, boxes, scores = res.select(keep), boxes[keep], scores[keep]
        local = state.tracker.update(boxes, scores, state.steps(res))
        ids = local  # ByteTrack's ids -> the stream's, in place
        for i in np.flatnonzero(local >= 0).tolist():
            t = int(local[i])
            ids[i] = state.ids.get(t) or self._new_id(state, t)
        state.forget_dead_ids()
        res.track_ids = ids
        keep = (scores >= self.conf) | (ids >= 0)
        return res if keep.all() else res.select(keep)

    def reset(self, source=None) -> None:
        """Forget the tracks of one source (of all with None); ids already given are never given again."""
        for name in list(self._sources) if source is None else [source]:
            if name in self._sources:
                self._sources[name].restart()

    def summary(self) -> dict:
        """Source (or image list) -> how many objects got an id."""
        return {key: state.given for key, state in self._sources.items()}

    def _new_id(self, state, local) -> int:
        state.ids[local] = self._next_id
        state.given += 1
        self._next_id += 1
        return state.ids[local]

    def _state(self, res):
        video = getattr(res, "video", None)
        key = getattr(video, "group", None) or res.source  # the images of one list are one sequence
        state = self._sources.get(key)
        if state is None:
            fps = getattr(video, "fps", None) or self.config.fps
            state = self._sources[key] = _SourceState(self, fps / self.stride)
        elif state.restarted(res):
            state.restart()
        return state


class _SourceState:
    """One source's tracker, its ids (ByteTrack's -> the stream's), and its previous frame."""

    PRUNE_EVERY = 256  # updates between dropping the ids of tracks ByteTrack has removed

    def __init__(self, owner, rate):
        self.owner, self.rate, self.stride = owner, rate, owner.stride
        self.given = 0  # ids given to this source's objects, over restarts too
        self.restart()

    def restart(self):
        o = self.owner
        self.tracker = SourceTracker(o.config, self.rate, o.high_conf, o.new_track_conf)
        self.ids = {}
        self.last = None  # (frame_index, timestamp, reconnects) of the previous result
        self.updates = 0

    def restarted(self, res) -> bool:
        """The source reconnected, or its frame index went back (it plays again)."""
        if self.last is None:
            return False
        index, _, reconnects = self.last
        now = res.frame_index
        return (getattr(res, "reconnects", 0) or 0) != reconnects or (
            now is not None and index is not None and now <= index)

    def steps(self, res) -> int:
        """Tracker steps since this source's previous result: the frame-index gap (every frame the source
        produced, dropped ones included, at one step per kept frame), or the time gap at the source's rate where
        that is clearly longer (a live source that stalled without reconnecting) or there are no indices."""
        index, ts = res.frame_index, res.timestamp
        steps = 1
        if self.last is not None:
            last_index, last_ts, _ = self.last
            if index is not None and last_index is not None:
                steps = (index - last_index) // self.stride
            if ts is not None and last_ts is not None and math.isfinite(ts - last_ts):
                by_time = (ts - last_ts) * self.rate
                if by_time > steps + 1.5 or index is None or last_index is None:
                    steps = int(round(by_time))
        self.last = (index, ts, getattr(res, "reconnects", 0) or 0)
        return max(1, steps)

    def forget_dead_ids(self):
        self.updates += 1
        if self.updates % self.PRUNE_EVERY == 0:
            alive = self.tracker.alive()
            self.ids = {k: v for k, v in self.ids.items() if k in alive}


def track(results, track=True, conf: float = 0.0, vid_stride: int = 1, iou: float = 0.45):
    """Yield the results of any stream of Detections with track ids (see StreamTracker)."""
    tracker = StreamTracker(track, conf=conf, vid_stride=vid_stride, iou=iou)
    for res in results:
        yield tracker.update(res)
