"""Where a stream's frames come from: video files, cameras, stream URLs, folders and globs, image lists and the
caller's own iterables. Every source yields `Frame`s (HxWx3 uint8 BGR, its index in the source, a timestamp,
the name it was given) and ends with a one-line Yolov6EdgeError naming it where it could not go on.

- Video files are read with OpenCV (FFmpeg), or with PyAV where it is installed (`pip install
  'yolov6-edge[video]'`), which gives each frame its presentation time from the container. OpenCV's times come
  from its position property, falling back to index / fps.
- Cameras (`0`, `1`, ...) and URLs (rtsp://, http://, ...) are live: their timestamp is seconds since the source
  was opened (a camera's own clock is not comparable between devices). A URL whose server announces a frame
  count (a file served over HTTP) is read like a file.
- A video that stops before the frame count its header announces is reported as truncated or corrupt after its
  last good frame; a camera or URL that stops delivering frames is reported as disconnected, after `reconnect`
  attempts to open it again where asked.
- A folder or glob becomes a playlist, played in name order: videos one after another, runs of images as image
  lists. A file that fails does not stop the files after it; the faults are reported when the playlist ends.

`vid_stride=N` keeps every N-th frame of videos, cameras and URLs (indices keep counting every frame).
"""
import glob
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import cv2
import numpy as np

from .. import arguments
from ..errors import Yolov6EdgeError, fail
from ..files import is_char_device, regular_file
from . import images as image_io

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".m4v", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".ts",
                  ".mts", ".m2ts", ".3gp", ".gif", ".asf", ".ogv")
URL_PREFIXES = ("rtsp://", "rtsps://", "rtmp://", "rtmps://", "http://", "https://", "udp://", "tcp://",
                "srt://")
# Containers whose frame count comes from an index; for the others FFmpeg estimates it from the duration, so a
# frame or two short of it is not a fault.
EXACT_COUNT_SUFFIXES = (".avi", ".mp4", ".mov", ".m4v", ".3gp")
DECODERS = ("auto", "opencv", "pyav")
FFMPEG_PREFIX = re.compile(r"^\[[^]]*\]\s*")  # "[tcp @ 0x55d0...] " before FFmpeg's messages


@dataclass
class VideoInfo:
    """What is known about a source before its frames: shared by all of its frames."""

    name: str
    fps: Optional[float] = None  # None: unknown (images, iterables, a camera that does not say)
    size: Optional[tuple] = None  # (W, H) of the frames, where known
    frame_count: Optional[int] = None  # as announced by the file; None for live sources
    live: bool = False
    group: Optional[str] = None  # still images of one list: the list's name (a tracker follows the run)


@dataclass
class Frame:
    image: np.ndarray  # HxWx3 uint8 BGR
    index: int  # position in its source, counting skipped (vid_stride) frames
    timestamp: Optional[float]  # seconds from the start of the source; None for still images
    info: VideoInfo
    reconnects: int = 0  # times a live source was reopened before this frame (trackers restart on a change)


def is_url(text) -> bool:
    return isinstance(text, str) and text.lower().startswith(URL_PREFIXES)


def is_camera(item) -> bool:
    if isinstance(item, bool):
        return False
    return isinstance(item, (int, np.integer)) or (isinstance(item, str) and item.isdigit())


def is_camera_device(item) -> bool:
    """A camera given by its device file (/dev/video0): a character device, opened as a live camera."""
    return isinstance(item, (str, Path)) and not is_url(str(item)) and is_char_device(item)


def _is_image_item(item) -> bool:
    return isinstance(item, np.ndarray) or (isinstance(item, (str, Path)) and not is_url(str(item))
                                            and Path(item).suffix.lower() in image_io.IMAGE_SUFFIXES)


def _fps(value) -> Optional[float]:
    # OpenCV reports 0 (or a nonsense 90000 / 1000 for some streams) when it does not know
    return float(value) if 0 < value < 1000 else None


class Source:
    """One sequence of frames. open() fails fast (bad path, unreachable URL); frames() runs in the decoder
    thread and may raise after yielding, with the frames before the fault already out."""

    live = False
    info: VideoInfo

    def open(self) -> "Source":
        return self

    def frames(self):
        raise NotImplementedError

    @property
    def name(self) -> str:
        return self.info.name


class VideoFile(Source):
    def __init__(self, path, vid_stride: int = 1, decoder: str = "auto"):
        self.path = Path(path)
        self.stride = vid_stride
        self.decoder = _pick_decoder(decoder)
        self.info = VideoInfo(str(self.path))
        self._cap = None

    def open(self):
        if not self.path.exists():
            raise fail(self.path, "no such file")
        if self.path.is_dir():
            raise fail(self.path, "is a folder, not a video")
        regular_file(self.path, "video")  # a fifo would block the decoder; cameras are opened as LiveCapture
        if self.path.stat().st_size == 0:
            raise fail(self.path, "file is empty (zero bytes)")
        if self.decoder == "pyav":
            self._container = _pyav_open(self.path)
            stream = self._container.streams.video[0]
            fps = _fps(float(stream.average_rate or 0))
            self.info = VideoInfo(str(self.path), fps, (stream.codec_context.width, stream.codec_context.height),
                                  int(stream.frames) or None)
            return self
        # what FFmpeg prints about a file it cannot open ("moov atom not found") is caught: the user gets one line
        with image_io._stderr_captured() as printed:
            cap = cv2.VideoCapture(str(self.path), cv2.CAP_FFMPEG)
        said = [FFMPEG_PREFIX.sub("", ln) for ln in printed if "WARN" not in ln]
        if not cap.isOpened():
            cap.release()
            why = f": {said[-1][:120]}" if said else ""
            raise fail(self.path, "cannot open as a video (not a video file, an unsupported codec, or corrupt or "
                                  f"truncated before its first frame{why})")
        if said:
            print("\n".join(said), file=sys.stderr)
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        self.info = VideoInfo(str(self.path), _fps(cap.get(cv2.CAP_PROP_FPS)), size, count if count > 0 else None)
        self._cap = cap
        return self

    def frames(self):
        if self.decoder == "pyav":
            yield from self._pyav_frames()
            return
        cap, self._cap = self._cap or self.open()._cap, None
        pos = 0
        last_ts = -1.0
        try:
            while True:
                keep = pos % self.stride == 0
                ok = cap.grab()
                image = None
                if ok and keep:
                    ok, image = cap.retrieve()
                if not ok:
                    break
                if keep:
                    ts = self._timestamp(cap, pos, last_ts)
                    last_ts = ts
                    yield Frame(image_io.to_bgr8(image, self.path), pos, ts, self.info)
                pos += 1
        finally:
            cap.release()
        self._check_end(pos)

    def _timestamp(self, cap, pos, last) -> float:
        ms = cap.get(cv2.CAP_PROP_POS_MSEC)
        # position property: the time of the frame just grabbed; trust it only while it moves forward
        if ms > 0 or pos == 0:
            ts = round(ms / 1000.0, 6)
            if ts > last or pos == 0:
                return ts
        return pos / self.info.fps if self.info.fps else float(pos)

    def _check_end(self, decoded: int) -> None:
        count = self.info.frame_count
        if decoded == 0:
            raise fail(self.path, "no frame could be decoded (not a video, an unsupported codec, or corrupt)")
        slack = 0 if self.path.suffix.lower() in EXACT_COUNT_SUFFIXES else max(2, count // 100 if count else 0)
        if count and decoded < count - slack:
            raise fail(self.path, f"decoding stopped at frame {decoded} of the {count} the file announces "
                                  "(truncated or corrupt)")

    def _pyav_frames(self):
        import av

        container = getattr(self, "_container", None) or _pyav_open(self.path)
        self._container = None
        pos = 0
        fault = None
        try:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            turn = None
            try:
                for frame in container.decode(stream):
                    if turn is None:  # phone videos: the container says how to turn the picture for display
                        turn = display_rotation(getattr(frame, "rotation", None), stream.metadata.get("rotate"))
                        if turn in (90, 270) and self.info.size:
                            self.info.size = self.info.size[::-1]
                    if pos % self.stride == 0:
                        ts = float(frame.time) if frame.time is not None else (
                            pos / self.info.fps if self.info.fps else float(pos))
                        yield Frame(rotate(frame.to_ndarray(format="bgr24"), turn), pos, ts, self.info)
                    pos += 1
            except av.error.FFmpegError as e:  # damaged data past the last good frame
                fault = str(e).splitlines()[0][:200]
        finally:
            container.close()
        if fault and pos:
            raise fail(self.path, f"decoding stopped at frame {pos} (corrupt or truncated: {fault})")
        self._check_end(pos)


# counter-clockwise quarter turns -> the cv2.rotate code that applies them
_ROTATE_CODES = {90: cv2.ROTATE_90_COUNTERCLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_CLOCKWISE}


def display_rotation(frame_rotation=None, rotate_tag=None) -> int:
    """How far to turn decoded frames counter-clockwise for display (0, 90, 180 or 270), as OpenCV's FFmpeg
    reader does on its own: from the frame's display matrix (PyAV's VideoFrame.rotation, counter-clockwise
    degrees), else from the stream's legacy 'rotate' tag (clockwise degrees, older muxers). Flips in the
    matrix are not applied (OpenCV does not apply them either)."""
    degrees = None
    if isinstance(frame_rotation, (int, float)) and not isinstance(frame_rotation, bool) and frame_rotation == \
            frame_rotation:
        degrees = float(frame_rotation)
    elif rotate_tag is not None:
        try:
            degrees = -float(rotate_tag)
        except (TypeError, ValueError):
            degrees = None
    if not degrees:
        return 0
    return int(round(degrees / 90.0)) % 4 * 90


def rotate(image: np.ndarray, turn: int) -> np.ndarray:
    """`image` turned counter-clockwise by `turn` degrees (a multiple of 90)."""
    code = _ROTATE_CODES.get(turn or 0)
    return image if code is None else cv2.rotate(image, code)


def _pick_decoder(decoder: str) -> str:
    if decoder not in DECODERS:
        raise fail("decoder", f"must be one of {', '.join(DECODERS)}, got {decoder!r}")
    if decoder == "opencv":
        return decoder
    try:
        import av  # noqa: F401
    except ImportError:
        if decoder == "pyav":
            raise fail("decoder", "pyav needs PyAV: pip install 'yolov6-edge[video]' (or: pip install av)") from None
        return "opencv"
    return "pyav"


def _pyav_open(path):
    import av

    try:
        container = av.open(str(path))
    except av.error.FFmpegError as e:
        raise fail(path, f"cannot open as a video ({str(e).splitlines()[0][:200]})") from None
    if not container.streams.video:
        container.close()
        raise fail(path, "has no video stream")
    if container.streams.video[0].codec_context is None:  # a damaged header, or a codec this FFmpeg lacks
        container.close()
        raise fail(path, "cannot open as a video: its video stream has no codec that can decode it (damaged or "
                         "unsupported)")
    return container


class LiveCapture(Source):
    """A camera index or a stream URL, read with OpenCV; reconnects up to `reconnect` times after a drop."""

    live = True

    def __init__(self, target, vid_stride: int = 1, reconnect: int = 0, timeout: float = 10.0):
        self.target = int(target) if is_camera(target) else str(target)
        self.device = is_camera_device(self.target)  # /dev/video0: a camera by its device file
        self.stride = vid_stride
        self.reconnect = reconnect
        self.timeout = timeout
        label = (f"camera {self.target}" if isinstance(self.target, int) or self.device else
                 _redact(self.target))
        self.info = VideoInfo(label, live=True)
        self._cap = None

    def _capture(self):
        # What OpenCV and FFmpeg print while opening ("Connection refused", "404 Not Found") is caught, so a
        # failure is one line that says why, not a page of warnings.
        with image_io._stderr_captured() as printed:
            if isinstance(self.target, int):
                cap = cv2.VideoCapture(self.target)
            elif self.device:  # V4L2 only: FFmpeg would probe any other device (/dev/zero) by reading it
                cap = cv2.VideoCapture(self.target, getattr(cv2, "CAP_V4L2", cv2.CAP_ANY))
            else:
                ms = int(self.timeout * 1000)
                cap = cv2.VideoCapture(self.target, cv2.CAP_FFMPEG,
                                       [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms])
        self._said = [ln for ln in printed if "WARN" not in ln and "backend is generally available" not in ln]
        if cap.isOpened():
            return cap
        cap.release()
        return None

    def open(self):
        cap = self._capture()
        if cap is None:
            said = ": " + _redact(FFMPEG_PREFIX.sub("", self._said[-1]))[:200] if self._said else ""
            what = ("cannot open the camera (no such device, not a camera, or in use)"
                    if isinstance(self.target, int) or self.device else
                    f"cannot open the stream{said or ' (unreachable, refused, or not a video)'} (timeout "
                    f"{self.timeout:g} s)")
            raise fail(self.info.name, what)
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        self.live = isinstance(self.target, int) or self.device or count <= 0  # a file served over HTTP is not live
        size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        self.info = VideoInfo(self.info.name, _fps(cap.get(cv2.CAP_PROP_FPS)), size if all(size) else None,
                              None if self.live else count, self.live)
        self._cap = cap
        return self

    def frames(self):
        cap, self._cap = self._cap or self.open()._cap, None
        start = time.monotonic()
        pos, attempts, reopened = 0, 0, 0
        try:
            while True:
                ok = cap.grab()
                image = None
                if ok and pos % self.stride == 0:
                    ok, image = cap.retrieve()
                if ok:
                    attempts = 0
                    if image is not None:
                        ts = time.monotonic() - start if self.live else cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
                        yield Frame(image_io.to_bgr8(image, self.info.name), pos, ts, self.info, reopened)
                    pos += 1
                    continue
                cap.release()
                cap = None
                if not self.live and pos >= (self.info.frame_count or 0):
                    return  # the end of a file served over HTTP
                while cap is None and attempts < self.reconnect:
                    attempts += 1
                    time.sleep(min(0.5 * 2 ** (attempts - 1), 8.0))
                    cap = self._capture()
                if cap is not None:
                    reopened += 1  # what was tracked before the cut is not assumed to be where it was
                if cap is None:
                    tried = f" and {self.reconnect} attempts to reconnect" if self.reconnect else ""
                    raise fail(self.info.name, f"stopped delivering frames after {pos} frames{tried} "
                                               "(disconnected?)")
        finally:
            if cap is not None:
                cap.release()


def _redact(url: str) -> str:
    # rtsp://user:password@host/... -> rtsp://user:***@host/...: names appear in logs and error lines
    scheme, sep, rest = url.partition("://")
    cred, at, host = rest.rpartition("@")
    if at and ":" in cred:
        cred = cred.split(":", 1)[0] + ":***"
    return scheme + sep + cred + at + host


def intake(image, name) -> np.ndarray:
    """A caller's array, checked and copied: a stream decodes ahead of the model, so a capture loop that refills
    one buffer would otherwise hand the model (and keep_frames) other frames' pixels. Measured: 0.03 ms for
    640x480 and 0.44 ms for 1920x1080, 3% and 15% of letterboxing the same frame
    (benchmarks/results/stream_intake_copy.md), and far less than inference."""
    checked = image_io.check_array(image, name)
    return checked.copy() if np.may_share_memory(checked, image) else checked


class ImageList(Source):
    """Still images (paths or arrays), one frame each; index = position in the list, timestamp None."""

    def __init__(self, items, name=None):
        self.items = list(items)
        first = self.items[0] if self.items else None
        label = name or (str(first) if isinstance(first, (str, Path)) else "image arrays")
        self.info = VideoInfo(label, frame_count=len(self.items))

    def frames(self):
        for i, item in enumerate(self.items):
            if isinstance(item, np.ndarray):
                image, name = intake(item, f"image array #{i}"), f"image array #{i}"
            else:
                image, name = image_io.load(item, i)
            yield Frame(image, i, None, VideoInfo(name, size=(image.shape[1], image.shape[0]), frame_count=1,
                                                  group=self.info.name))


class IterableSource(Source):
    """The caller's own frames (any iterable of HxWx3 uint8 BGR arrays); timestamp: seconds since the first.
    Each array is copied as it is taken (intake), so the caller may reuse its buffer at once."""

    def __init__(self, iterable, name="frames"):
        self.iterable = iterable
        self.info = VideoInfo(name)

    def frames(self):
        start = None
        for i, image in enumerate(self.iterable):
            start = time.monotonic() if start is None else start
            yield Frame(intake(image, f"{self.info.name} #{i}"), i, time.monotonic() - start, self.info)


class Playlist(Source):
    """Files played one after another (a folder or a glob): videos, and runs of images as image lists."""

    def __init__(self, name, files, vid_stride=1, decoder="auto"):
        self.info = VideoInfo(str(name))
        self.parts = []
        images = []
        for f in files:
            if Path(f).suffix.lower() in image_io.IMAGE_SUFFIXES:
                images.append(f)
                continue
            if images:
                self.parts.append(ImageList(images))
                images = []
            self.parts.append(VideoFile(f, vid_stride, decoder))
        if images:
            self.parts.append(ImageList(images))

    def frames(self):
        faults = []
        for part in self.parts:
            try:
                part.open()
                yield from part.frames()
            except Yolov6EdgeError as e:
                faults.append(str(e))
        if faults:
            more = f" (and {len(faults) - 1} more file(s) failed)" if len(faults) > 1 else ""
            raise Yolov6EdgeError(faults[0] + more)


def _media_files(paths) -> list:
    return [Path(p) for p in paths
            if Path(p).is_file() and Path(p).suffix.lower() in image_io.IMAGE_SUFFIXES + VIDEO_SUFFIXES]


def open_source(item, vid_stride: int = 1, reconnect: int = 0, timeout: float = 10.0, decoder: str = "auto"):
    """One Source for a path, glob, folder, camera index, URL, image array or iterable of arrays (not opened)."""
    if isinstance(item, Source):
        return item
    if isinstance(item, np.ndarray):
        return ImageList([item])
    if is_camera(item) or is_url(item) or is_camera_device(item):
        return LiveCapture(item, vid_stride, reconnect, timeout)
    if isinstance(item, (str, Path)):
        text = str(item)
        if any(c in text for c in "*?["):
            files = _media_files(sorted(glob.glob(text, recursive=True)))
            if not files:
                raise fail(text, "the pattern matches no image or video files")
            return Playlist(text, files, vid_stride, decoder)
        path = Path(item)
        if path.is_dir():
            files = _media_files(sorted(path.iterdir()))
            if not files:
                raise fail(path, "no image or video files in this folder")
            return Playlist(path, files, vid_stride, decoder)
        if not path.exists():
            raise fail(path, "no such file, folder, camera or URL")
        if path.suffix.lower() in image_io.IMAGE_SUFFIXES:
            return ImageList([path])
        return VideoFile(path, vid_stride, decoder)  # any other file: let the decoder say whether it is a video
    if hasattr(item, "__iter__") and not isinstance(item, (bytes, dict)):
        return IterableSource(item)
    raise fail(type(item).__name__, "expected a video, image, folder or glob path, a camera index, a URL, an image "
                                    "array or an iterable of arrays")


def check_source_options(vid_stride, reconnect, timeout, decoder) -> None:
    """The source options of stream() and `predict`, checked before anything is opened."""
    arguments.integer(vid_stride, "vid_stride", 1)
    arguments.integer(reconnect, "reconnect", 0, arguments.MAX_RECONNECT)
    arguments.seconds(timeout, "timeout")
    arguments.choice(decoder, "decoder", DECODERS)


def open_sources(source, vid_stride: int = 1, reconnect: int = 0, timeout: float = 10.0, decoder: str = "auto"):
    """Sources for stream(): a list of images is one image list; any other list gives one source per item,
    read side by side (several cameras); anything else is one source. Each is opened here, so a bad path or
    an unreachable URL fails before the first frame."""
    check_source_options(vid_stride, reconnect, timeout, decoder)
    if isinstance(source, (list, tuple)):
        if not source:
            raise fail("source", "the list of sources is empty")
        if all(_is_image_item(s) for s in source):
            sources = [ImageList(source)]
        else:
            sources = [open_source(s, vid_stride, reconnect, timeout, decoder) for s in source]
    else:
        sources = [open_source(source, vid_stride, reconnect, timeout, decoder)]
    for s in sources:
        s.open()
    return sources
