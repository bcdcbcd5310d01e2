"""The video half of `yolov6-edge predict`: video files, cameras and stream URLs through Detector.stream().

Video files (given, or found in folders and globs) are played one after another; cameras and URLs are read
side by side, batched together with the files. With --save each source gets NAME.mp4 (annotated, the source's
size and frame rate) and NAME.jsonl (one record per frame) in the output folder, moved there when the run ends:
also when a source faults (the frames before the fault keep their results; the fault is then reported on one
line, exit 2) and when the run is stopped with Ctrl-C, SIGTERM or q in the --show window (for cameras and URLs
that is how a run ends: exit 0).

--track gives every detection an object id (ByteTrack; the extra `[track]`); --line and --zone (which imply
--track) count objects crossing lines and standing in zones: per-frame counts in the .jsonl, a table at the end
and, with --save, summary.json (docs/TRACKING.md).
"""
import argparse
import collections
import glob
import json
import os
import sys
from pathlib import Path

from ..errors import Yolov6EdgeError, fail
from .checks import count, positive_int, seconds

SUMMARY = "summary.json"
# runtime.buffer.POLICIES and runtime.sources.DECODERS (not imported here: --help stays free of OpenCV)
POLICIES = ("auto", "block", "drop-oldest", "drop-newest")
DECODERS = ("auto", "opencv", "pyav")


def _spec(parse):
    def parse_arg(text):
        from ..errors import Yolov6EdgeError

        try:
            return parse(text)
        except Yolov6EdgeError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
    return parse_arg


def add_stream_args(p) -> None:
    g = p.add_argument_group("videos, cameras and stream URLs")
    g.add_argument("--save", action="store_true",
                   help="write NAME.mp4 (annotated, same size and fps) and NAME.jsonl (detections per frame) for "
                        "each video, camera or URL (images are always written)")
    g.add_argument("--show", action="store_true", help="show annotated frames in a window where a display exists "
                                                       "(q stops)")
    g.add_argument("--vid-stride", type=positive_int, default=1, help="keep every N-th frame (default 1)")
    g.add_argument("--batch", type=positive_int, default=1, help="frames per model call (default 1)")
    g.add_argument("--queue", type=positive_int, default=4, help="frames buffered per source (default 4)")
    g.add_argument("--buffer-policy", choices=POLICIES, default="auto",
                   help="when a source's buffer is full: block (every frame gets a result), drop-oldest or "
                        "drop-newest; auto (default): drop-oldest for cameras and live URLs, block for files")
    g.add_argument("--reconnect", type=count, default=0, metavar="N",
                   help="attempts to reopen a camera or URL that stops delivering frames (default 0)")
    g.add_argument("--timeout", type=seconds, default=10.0, metavar="S",
                   help="seconds to wait for a URL to answer (default 10)")
    g.add_argument("--decoder", choices=DECODERS, default="auto",
                   help="video files: opencv, pyav (pip install 'yolov6-edge[video]') or auto (pyav where installed)")
    from ..track.counting import ANCHORS, parse_line, parse_zone

    t = p.add_argument_group("tracking and counting (pip install 'yolov6-edge[track]')")
    t.add_argument("--track", action="store_true", help="give each detection an object id that it keeps across "
                                                         "frames (ByteTrack); ids and short trails are drawn")
    t.add_argument("--line", type=_spec(parse_line), nargs="+", action="extend", default=[],
                   metavar="[NAME=]X1,Y1,X2,Y2",
                   help="count tracked objects crossing this line (pixels; repeatable): in = to the right-hand "
                        "side walking from (X1,Y1) to (X2,Y2), i.e. downwards for a line drawn left to right")
    t.add_argument("--zone", type=_spec(parse_zone), nargs="+", action="extend", default=[],
                   metavar="[NAME=]X1,Y1,X2,Y2,X3,Y3,...",
                   help="report how many tracked objects stand inside this polygon in each frame (repeatable)")
    t.add_argument("--anchor", choices=ANCHORS, default="bottom-center",
                   help="the point of a box that crosses lines and stands in zones (default bottom-center: where "
                        "objects touch the ground)")


def split_sources(specs):
    """(image files, stream items) from the command line: images go to the image path of predict; video files
    become one playlist (in the order given, folders and globs sorted), cameras and URLs one source each."""
    from ..runtime.images import IMAGE_SUFFIXES
    from ..runtime.sources import VIDEO_SUFFIXES, Playlist, is_camera, is_camera_device, is_url

    images, videos, live = [], [], []
    for spec in specs:
        if is_camera(spec) or is_url(spec) or is_camera_device(spec):
            live.append(spec)
            continue
        text = str(spec)
        media = IMAGE_SUFFIXES + VIDEO_SUFFIXES
        if any(c in text for c in "*?["):
            found = [Path(p) for p in sorted(glob.glob(text, recursive=True))
                     if Path(p).is_file() and Path(p).suffix.lower() in media]
            if not found:
                raise fail(text, "the pattern matches no image or video files")
        elif Path(text).is_dir():
            found = sorted(q for q in Path(text).iterdir() if q.is_file() and q.suffix.lower() in media)
            if not found:
                raise fail(text, f"no image or video files in this folder ({', '.join(media)})")
        elif Path(text).exists():
            found = [Path(text)]
        else:
            raise fail(text, "no such file, folder, camera or URL")
        for f in found:
            (images if f.suffix.lower() in IMAGE_SUFFIXES else videos).append(f)
    videos = list(dict.fromkeys(videos))
    streams = ([Playlist("videos", videos) if len(videos) > 1 else videos[0]] if videos else []) + live
    return images, streams


def _names(sources) -> dict:
    """Output stem for every source name a result can carry: the video's stem, camera0, stream0, ..."""
    from ..runtime.sources import LiveCapture, Playlist, VideoFile

    taken, out, n_stream = {"detections"}, {}, 0
    for src in sources:
        parts = src.parts if isinstance(src, Playlist) else [src]
        for part in parts:
            if isinstance(part, VideoFile):
                stem = part.path.stem
            elif isinstance(part, LiveCapture) and isinstance(part.target, int):
                stem = f"camera{part.target}"
            elif isinstance(part, LiveCapture) and part.device:  # /dev/video2 -> camera_video2
                stem = f"camera_{Path(part.target).name}"
            else:
                stem, n_stream = f"stream{n_stream}", n_stream + 1
            name, k = stem, 0
            while name.lower() in taken:
                k += 1
                name = f"{stem}_{k}"
            taken.add(name.lower())
            out[part.name] = name
    return out


def _total(sources, stride):
    """Frames the progress bar expects (None when a source is live or does not say)."""
    import cv2

    from ..runtime.sources import Playlist, VideoFile

    total = 0
    for src in sources:
        parts = src.parts if isinstance(src, Playlist) else [src]
        for part in parts:
            if getattr(part, "live", False) or not isinstance(part, VideoFile):
                return None
            count = part.info.frame_count
            if count is None and len(parts) <= 100:  # playlist files are opened when played; peek at the count
                cap = cv2.VideoCapture(str(part.path), cv2.CAP_FFMPEG)
                count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or None
                cap.release()
            if not count:
                return None
            total += (count + stride - 1) // stride
    return total


def _display_problem():
    import cv2

    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return "no display (DISPLAY is not set)"
    try:
        cv2.namedWindow("yolov6-edge")
        cv2.destroyWindow("yolov6-edge")
    except cv2.error:
        return "this OpenCV has no window support (opencv-python-headless; pip install opencv-python for --show)"
    return None


def run_streams(args, det, items) -> int:
    import contextlib

    import cv2
    from tqdm import tqdm

    from ..atomic import staged_folder
    from ..runtime.draw import draw
    from ..runtime.stream_writer import VIDEO_SUFFIX, StreamWriter
    from ..track.annotate import draw_counts
    from .checks import check_output_folder, check_outputs, model_files
    from .main import Terminated

    show = args.show
    track = args.track or bool(args.line or args.zone)
    if show and (problem := _display_problem()):
        print(f"yolov6-edge predict: --show ignored: {problem}", file=sys.stderr)
        show = False
    draw_video = args.save and not args.no_draw
    stream = det.stream(items, batch=args.batch, queue=args.queue, policy=args.buffer_policy,
                        vid_stride=args.vid_stride, reconnect=args.reconnect, timeout=args.timeout,
                        keep_frames=draw_video or show, decoder=args.decoder, track=True if track else None)
    counter, trails = _counting(args, stream.sources) if track else (None, None)
    stems = _names(stream.sources)
    out_dir = None
    if args.save:
        out_dir = check_output_folder(args.output)
        outputs = [(out_dir / (s + ".jsonl"), "detections (JSON Lines)") for s in stems.values()]
        outputs += [(out_dir / (s + VIDEO_SUFFIX), "annotated video") for s in stems.values()] if draw_video else []
        outputs += [(out_dir / SUMMARY, "tracking summary")] if track else []
        inputs = [Path(n) for n in stems if Path(n).is_file()] + model_files(args.model)
        check_outputs(inputs, outputs)
    live = all(s.live for s in stream.sources)
    frames, boxes = collections.Counter(), collections.Counter()
    writers, current_file = {}, None
    fault = stopped = None
    problems = []  # outputs that could not be written (a video on a full disk): reported after the rest is kept
    bar = tqdm(total=_total(stream.sources, args.vid_stride), desc="predict", unit="frame")
    with (staged_folder(out_dir) if args.save else contextlib.nullcontext()) as stage:
        try:
            for res in stream:
                key = res.source
                frames[key] += 1
                boxes[key] += len(res)
                counts = counter.update(res) if counter is not None else None
                annotated = draw(res.frame, res) if (draw_video or show) else None
                if trails is not None:
                    trails.update(res)
                    if annotated is not None:
                        trails.draw(annotated, res)
                        draw_counts(annotated, counts or {}, counter.lines, counter.zones)
                if args.save:
                    if key not in writers:
                        if not res.video.live:  # files play one after another: the previous one is done
                            if current_file in writers:
                                problems.append(writers[current_file].close())
                            current_file = key
                        writers[key] = StreamWriter(stage, stems.get(key, "stream"), res.video, args.vid_stride,
                                                    video=draw_video, shown_folder=out_dir)
                    writers[key].write(res, annotated, counts)
                if show:
                    cv2.imshow(key, annotated)
                    if cv2.waitKey(1) & 0xFF == ord("q"):
                        stopped = "q"
                        break
                bar.update(1)
        except Yolov6EdgeError as e:
            if stream.fatal is not None:
                raise  # the model or the pipeline failed: nothing is kept
            fault = str(e)
        except KeyboardInterrupt:
            stopped = "Ctrl-C"
        except Terminated as e:
            stopped = e
        finally:
            bar.close()
            stream.close()
            for w in writers.values():  # closing twice is harmless: the second says nothing
                problems.append(w.close())
            if show:
                cv2.destroyAllWindows()
            if track and stage is not None:
                summary = _track_summary(args, stream, counter, frames)
                (stage / SUMMARY).write_text(json.dumps(summary, indent=1) + "\n")
    if track:
        _print_counts(_track_summary(args, stream, counter, frames))
    problems = [p for p in dict.fromkeys(problems) if p]
    _summary(stream, frames, boxes, out_dir, failed=bool(problems))
    if problems or fault:
        more = [fault] if fault else []
        lines = problems + more
        extra = f" (and {len(lines) - 1} more problem(s): {'; '.join(lines[1:])[:300]})" if len(lines) > 1 else ""
        raise Yolov6EdgeError(lines[0] + extra)
    if stopped is None or stopped == "q":
        return 0
    how = stopped if isinstance(stopped, str) else f"signal {stopped.signum}"
    print(f"yolov6-edge predict: stopped by {how}" + (f"; results so far saved in {out_dir}" if out_dir else ""),
          file=sys.stderr)
    if live:
        return 0  # a camera run ends this way
    return 130 if isinstance(stopped, str) else 128 + stopped.signum


def _summary(stream, frames, boxes, out_dir, failed=False) -> None:
    stats = stream.stats()
    for key, n in frames.items():
        dropped = stream.dropped_count.get(key, 0)
        print(f"{key}: {n} frames, {boxes[key] / max(n, 1):.1f} detections per frame"
              + (f", {dropped} frames dropped (buffer full)" if dropped else ""))
    saved = (f"; wrote {out_dir}" + (" except what is reported below" if failed else "") if out_dir
             else "; use --save to write annotated videos and JSON Lines")
    print(f"{stats['frames_done']} frames at {stats['fps']:.1f} frames/s; model busy "
          f"{100 * stats['model_busy']:.0f}% of the time{saved}")


def _counting(args, sources):
    """The Counter for --line/--zone (checked against each source's frame size where it is known) and the
    trails drawn behind tracked objects."""
    from ..runtime.sources import Playlist
    from ..track.annotate import Trails
    from ..track.counting import Counter, check_in_frame

    counter = Counter(args.line, args.zone, anchor=args.anchor)
    for src in sources:
        for part in src.parts if isinstance(src, Playlist) else [src]:
            if part.info.size:
                check_in_frame(part.info.size, args.line, args.zone, part.name)
    return counter, Trails(anchor=args.anchor)


def _track_summary(args, stream, counter, frames) -> dict:
    per_source = counter.summary() if counter is not None else {}
    tracks = stream.tracker.summary() if stream.tracker is not None else {}
    out = {"model": str(args.model), "anchor": args.anchor, "sources": {}}
    for key, n in frames.items():
        entry = {"frames": n, "tracks": tracks.get(key, 0)}
        entry.update({k: v for k, v in per_source.get(key, {}).items() if k in ("lines", "zones")})
        out["sources"][key] = entry
    return out


def _print_counts(summary) -> None:
    rows = []
    for key, s in summary["sources"].items():
        rows.append((key, "objects tracked", str(s["tracks"])))
        for ln in s.get("lines", []):
            rows.append((key, f"line {ln['name']}", f"in {ln['in']}, out {ln['out']}"))
        for z in s.get("zones", []):
            rows.append((key, f"zone {z['name']}", f"{z['objects']} objects, at most {z['max_count']} at once"))
    widths = [max(len(r[i]) for r in rows + [("source", "what", "count")]) for i in range(3)]
    for r in [("source", "what", "count")] + rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
