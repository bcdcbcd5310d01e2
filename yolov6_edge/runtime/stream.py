"""Detector.stream(): detections for every frame of videos, cameras and URLs, with the stages overlapped.

    for res in Detector("m.onnx").stream("video.mp4", batch=4):
        print(res.frame_index, res.timestamp, res.boxes)

Four kinds of thread, joined by bounded buffers (runtime/buffer.py):

    decoder (one per source) -> [frames, per source] -> letterbox -> [batches] -> inference -> [batches] -> NMS
    (+ tracking) -> [results] -> the caller's loop

Decoding, letterbox, inference and NMS run at the same time on different frames: OpenCV's decoder, our
native ops and ONNX Runtime release the GIL, so while the model runs on batch k the next batch is decoded and
letterboxed and the previous one goes through NMS. The model is the bottleneck by design; `Stream.stats()`
says what fraction of the wall time it was busy.

Memory is bounded: each source's frame lane holds `queue` frames (at least `batch`), the other buffers two
batches. When a source's lane is full, its policy decides:
- "block": the decoder waits; every frame gets a result (files, image lists, iterables: the default);
- "drop-oldest": the oldest waiting frame is dropped, so the model sees the latest frame (cameras and live
  URLs: the default);
- "drop-newest": the new frame is dropped.
Only frames waiting for the model are dropped: a frame that was letterboxed always gets its result. Dropped
frames show as gaps in `frame_index` and are counted in `Stream.dropped` / `stats()`.

Faults of a source (a truncated file, a camera that disconnects) end that source only: its frames decoded
before the fault get their results, the other sources go on, and once every result is out the stream raises
the fault as one Yolov6EdgeError line (`errors` lists all of them). Anything else (the model failing) stops
the stream at once.

With `track` (True, "bytetrack" or a TrackerConfig: the optional extra `[track]`), the NMS thread also gives each
detection a track id (yolov6_edge/track, docs/TRACKING.md): frames reach it in order within each source, so one
tracker per source sees its frames in order, dropped frames as gaps in time.
"""
import collections
import threading
import time

from .. import arguments
from ..errors import Yolov6EdgeError, fail
from ..track.config import tracker_config
from .buffer import POLICIES, Cancelled, LaneBuffer
from .sources import Playlist, check_source_options, open_sources

# inter-stage buffers hold this many batches: one being filled while one waits is enough to hide jitter
STAGE_DEPTH = 2
# how many dropped (source, frame index) pairs Stream.dropped keeps; the counts are exact
DROPPED_KEPT = 1000
# frames per model call and per source buffer: beyond these a value is a typo that would exhaust memory
MAX_BATCH = 1024
MAX_QUEUE = 1024  # frames a source may hold waiting: 1024 1080p frames are already 6 GB


class Stream:
    """An iterable of Detections, one per frame that reached the model, in frame order within each source.

    Each result has `frame_index`, `timestamp` (seconds; None for still images), `source` (the file, camera or
    URL), `video` (its VideoInfo: fps, size, frame count), `reconnects`, with keep_frames `frame` (the BGR
    image) and with track `track_ids`.
    Use it as a context manager or iterate it to the end; breaking out of the loop and calling close() (or
    dropping the object) stops the threads.
    """

    def __init__(self, detector, source, batch: int = 1, queue: int = 4, policy: str = "auto",
                 vid_stride: int = 1, reconnect: int = 0, timeout: float = 10.0, keep_frames: bool = False,
                 decoder: str = "auto", track=None):
        # every argument checked before a source is opened or a thread started (arguments.py: the CLI's checks)
        batch = arguments.integer(batch, "batch", 1, MAX_BATCH)
        queue = arguments.integer(queue, "queue", 1, MAX_QUEUE)
        arguments.choice(policy, "policy", ("auto",) + tuple(POLICIES))
        check_source_options(vid_stride, reconnect, timeout, decoder)
        keep_frames = arguments.boolean(keep_frames, "keep_frames")
        self.detector = detector
        detector.backend.stop_spinning()  # ONNX Runtime: spinning pool threads starve the decoder
        self.batch = min(batch, max(1, int(detector.backend.max_batch)))
        self.sources = open_sources(source, vid_stride=vid_stride, reconnect=reconnect, timeout=timeout,
                                    decoder=decoder)
        self.policies = [policy if policy != "auto" else ("drop-oldest" if s.live else "block")
                         for s in self.sources]
        # full batches where nothing is lost by waiting for them; live sources take what is ready (latency)
        self.fill = all(p == "block" for p in self.policies) and not any(s.live for s in self.sources)
        self.keep_frames = keep_frames
        self.tracker = self._tracker(track, vid_stride)
        self.errors = []  # one line per source fault, in the order they happened
        self.dropped = collections.deque(maxlen=DROPPED_KEPT)  # (source name, frame index), the latest ones
        self.dropped_count = collections.Counter()  # source name -> frames dropped
        self._lock = threading.Lock()
        self._frames = LaneBuffer(len(self.sources), max(queue, self.batch), self.policies, self._on_drop)
        self._batches = LaneBuffer(1, STAGE_DEPTH, "block")
        self._outputs = LaneBuffer(1, STAGE_DEPTH, "block")
        self._results = LaneBuffer(1, STAGE_DEPTH, "block")
        self._buffers = (self._frames, self._batches, self._outputs, self._results)
        self._fatal = None
        self._threads = []
        self._time = collections.Counter()  # stage -> seconds of work (waiting excluded)
        self._counts = collections.Counter()  # frames decoded / done
        self._start = self._end = None
        self._started = False

    # ---- the caller's side ---------------------------------------------------------------------------------
    def __iter__(self):
        if self._started:
            raise fail("stream", "a Stream can be iterated once; call Detector.stream() again")
        self._started = True
        self._start = time.perf_counter()
        self._spawn()
        try:
            while True:
                try:
                    batch = self._results.take(1)
                except Cancelled:
                    break
                if not batch:
                    break
                yield from batch[0]
        finally:
            self._end = time.perf_counter()
            self.close()
        if self._fatal is not None:
            raise self._fatal
        if self.errors:
            more = f" (and {len(self.errors) - 1} more source fault(s): Stream.errors)" if len(self.errors) > 1 else ""
            raise Yolov6EdgeError(self.errors[0] + more)

    def close(self) -> None:
        """Stop every thread (a decoder blocked in a network read is left to finish on its own: daemon)."""
        if self._start is not None and self._end is None:
            self._end = time.perf_counter()
        for b in self._buffers:
            b.cancel()
        for t in self._threads:
            if t is not threading.current_thread():
                t.join(timeout=2.0)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def fatal(self):
        """The exception that stopped the whole stream (not a source fault), or None."""
        return self._fatal

    def stats(self) -> dict:
        """Frames, drops, wall time, seconds of work per stage, frames/s and the model's busy fraction."""
        end = self._end or time.perf_counter()
        wall = (end - self._start) if self._start else 0.0
        out = {"frames_decoded": self._counts["decoded"], "frames_done": self._counts["done"],
               "frames_dropped": sum(self.dropped_count.values()), "wall_s": wall,
               "stage_s": {k: self._time[k] for k in ("decode", "pre", "infer", "post")
                           + (("track",) if self.tracker is not None else ())},
               "fps": self._counts["done"] / wall if wall else 0.0,
               "model_busy": self._time["infer"] / wall if wall else 0.0}
        return out

    def _tracker(self, track, vid_stride):
        config = tracker_config(track)
        if config is None:
            return None
        names = [p.name for s in self.sources for p in (s.parts if isinstance(s, Playlist) else [s])]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise fail(twice[0], "given twice: tracking keeps one state per source and tells sources apart by name")
        from ..track.tracker import StreamTracker

        return StreamTracker(config, conf=self.detector.conf, vid_stride=vid_stride,
                             iou=getattr(self.detector, "iou", 0.45))

    # ---- the pipeline --------------------------------------------------------------------------------------
    def _on_drop(self, lane, frame):
        with self._lock:
            self.dropped.append((frame.info.name, frame.index))
            self.dropped_count[frame.info.name] += 1

    def _spawn(self):
        work = [(self._decode, (lane, src), f"decode-{lane}") for lane, src in enumerate(self.sources)]
        work += [(self._letterbox, (), "letterbox"), (self._infer, (), "infer"), (self._nms, (), "nms")]
        for fn, args, name in work:
            t = threading.Thread(target=self._guard, args=(fn, args), name=f"yolov6-edge-{name}", daemon=True)
            self._threads.append(t)
            t.start()

    def _guard(self, fn, args):
        try:
            fn(*args)
        except Cancelled:
            pass
        except BaseException as e:  # noqa: BLE001 - handed to the caller's thread, which raises it
            if self._fatal is None:
                self._fatal = e
            for b in self._buffers:
                b.cancel()

    def _decode(self, lane, source):
        frames = source.frames()
        try:
            while True:
                t0 = time.perf_counter()
                try:
                    frame = next(frames)
                except StopIteration:
                    break
                except Yolov6EdgeError as e:
                    with self._lock:
                        self.errors.append(str(e))
                    break
                with self._lock:  # several decoders add to these
                    self._time["decode"] += time.perf_counter() - t0
                    self._counts["decoded"] += 1
                self._frames.put(lane, frame)
        finally:
            frames.close()
            self._frames.close(lane)

    def _stage(self, key, src, dst, work, n=1, fill=False):
        """One pipeline stage: take from src, run work on what it took (timed under _time[key]), put the result
        into dst; dst is closed when src is drained or the stage fails."""
        try:
            while True:
                got = src.take(n, fill=fill)
                if not got:
                    return
                t0 = time.perf_counter()
                out = work(got)
                self._time[key] += time.perf_counter() - t0
                dst.put(0, out)
        finally:
            dst.close(0)

    def _letterbox(self):
        det = self.detector
        self._stage("pre", self._frames, self._batches,
                    lambda frames: (frames, det.preprocess(f.image for f in frames)), n=self.batch, fill=self.fill)

    def _infer(self):
        det = self.detector
        self._stage("infer", self._batches, self._outputs, lambda got: (got[0][0], det.infer(got[0][1])))

    def _nms(self):
        det = self.detector

        tracker = self.tracker
        # ByteTrack's low-score boxes: NMS goes under the detector's conf only when the tracker asks for it (a
        # RemoteDetector takes no per-call thresholds and says so in one line)
        conf = tracker.nms_conf if tracker is not None and tracker.nms_conf < det.conf else None

        def work(got):
            frames, inferred = got[0]
            results = det.postprocess(inferred, [f.info.name for f in frames], conf=conf)
            for res, frame in zip(results, frames):
                res.frame_index, res.timestamp, res.video = frame.index, frame.timestamp, frame.info
                res.reconnects = frame.reconnects
                if self.keep_frames:
                    res.frame = frame.image
            if tracker is not None:
                t0 = time.perf_counter()
                results = [tracker.update(r) for r in results]
                spent = time.perf_counter() - t0
                self._time["track"] += spent
                self._time["post"] -= spent  # _stage times the whole of work() as "post"
            self._counts["done"] += len(results)
            return results

        self._stage("post", self._outputs, self._results, work)
