"""Tracking and counting on streams (yolov6_edge/track, docs/TRACKING.md), on videos the tests write: coloured
squares moving along known paths, found by a stand-in detector that really looks for them (track_scenes.py).
The counting geometry is also checked on its own, against hand-worked cases."""
import importlib.util
import json
import sys
import time

import cv2
import numpy as np
import pytest

from track_scenes import COLOURS, SIZE, ColourBoxBackend, draw_frame, ids_by_colour, write_scene
from yolov6_edge import Detector
from yolov6_edge.errors import Yolov6EdgeError
from yolov6_edge.runtime.results import Detections
from yolov6_edge.runtime.sources import Frame, Source, VideoInfo
from yolov6_edge.track import TrackerConfig
from yolov6_edge.track.counting import Counter, Line, Zone, inside_polygon, parse_line, parse_zone
from yolov6_edge.track.tracker import StreamTracker

pytestmark = pytest.mark.skipif(importlib.util.find_spec("supervision") is None,
                                reason="the [track] extra (supervision) is not installed")


def run(det, source, **kw):
    kw.setdefault("decoder", "opencv")
    return list(det.stream(source, track=kw.pop("track", True), **kw))


def one_id(ids):
    """The id an object kept (ids of -1, before its track is confirmed, aside); fails if it had two."""
    kept = [i for i in ids if i >= 0]
    assert kept and len(set(kept)) == 1, ids
    return kept[0]


def test_a_slowly_moving_object_keeps_one_id(tmp_path):
    write_scene(tmp_path / "a.avi", {0: lambda t: (5 + 2 * t, 40 + 0.5 * t)}, 50)
    results = run(Detector(ColourBoxBackend(n=1)), tmp_path / "a.avi", batch=4)
    assert len(results) == 50 and all(len(r) == 1 for r in results)
    ids = ids_by_colour(results)[0]
    assert ids[1:] == [ids[1]] * 49 and ids[1] >= 1  # confirmed from its second frame, then never changes
    assert all(r.track_ids.dtype == np.int64 for r in results)
    assert results[5].to_dict()["detections"][0]["track_id"] == ids[1]


@pytest.mark.parametrize("dy, name", [(4, "partly hidden"), (0, "wholly hidden for a few frames")])
def test_two_crossing_objects_keep_their_ids(tmp_path, dy, name):
    # square 0 passes behind square 1 (drawn last): its box shrinks, its score drops, then (dy=0) it is gone
    # for a few frames and comes back on the far side
    paths = {0: lambda t: (10 + 3 * t, 50), 1: lambda t: (130 - 3 * t, 50 + dy)}
    write_scene(tmp_path / "x.avi", paths, 40, order=[0, 1])
    results = run(Detector(ColourBoxBackend(n=2)), tmp_path / "x.avi")
    ids = ids_by_colour(results)
    if dy == 0:
        assert len(ids[0]) < 40  # the hidden square was really lost for some frames
    a, b = one_id(ids[0]), one_id(ids[1])
    assert a != b


def test_reset_forgets_tracks_but_never_gives_an_id_again():
    # reset() forgets tracks but never gives an id again
    tracker = StreamTracker(True)
    res = [_dets([[10 + 2 * t, 10, 30 + 2 * t, 30]], t) for t in range(5)]
    first = [tracker.update(r).track_ids[0] for r in res]
    tracker.reset()
    again = [tracker.update(_dets([[10 + 2 * t, 10, 30 + 2 * t, 30]], 10 + t)).track_ids[0] for t in range(5)]
    assert one_id(first) != one_id(again)


def _dets(boxes, index, source="cam", ts=None, fps=10.0, reconnects=0, scores=None, classes=None):
    boxes = np.array(boxes, np.float32).reshape(-1, 4)
    n = len(boxes)
    classes = np.zeros(n, np.int64) if classes is None else np.array(classes, np.int64)
    d = Detections(boxes, np.full(n, 0.9, np.float32) if scores is None else np.array(scores, np.float32),
                   classes, [f"class {c}" for c in classes], (120, 160), source)
    d.frame_index, d.timestamp = index, (index / fps if ts is None else ts)
    d.video, d.reconnects = VideoInfo(source, fps=fps, live=True), reconnects
    return d


def test_a_frame_gap_ages_tracks_by_time_not_by_calls():
    cfg = TrackerConfig(lost_seconds=0.5)  # 5 frames at 10 fps
    box = lambda t: [[10 + t, 10, 30 + t, 30]]  # noqa: E731
    # frames 0-9, then 0.3 s without results (3 frames dropped), then on: the same object
    tracker = StreamTracker(cfg)
    ids = [tracker.update(_dets(box(t), t)).track_ids[0] for t in list(range(10)) + list(range(13, 20))]
    one_id(ids)
    # frames 0-9, then one call 2 s later: by calls it is one frame later, by time the track was lost long ago
    tracker = StreamTracker(cfg)
    before = [tracker.update(_dets(box(t), t)).track_ids[0] for t in range(10)]
    after = [tracker.update(_dets(box(9), t)).track_ids[0] for t in range(30, 33)]
    assert one_id(before) != one_id(after)


def test_a_reconnect_starts_the_source_afresh_and_no_id_is_given_twice():
    tracker = StreamTracker(True)
    box = [[10, 10, 30, 30]]
    before = [tracker.update(_dets(box, t)).track_ids[0] for t in range(5)]
    after = [tracker.update(_dets(box, t, reconnects=1)).track_ids[0] for t in range(5, 10)]
    assert one_id(before) != one_id(after)
    replay = [tracker.update(_dets(box, t, reconnects=1)).track_ids[0] for t in range(3)]  # index went back
    assert one_id(replay) not in (one_id(before), one_id(after))


def test_low_score_detections_only_continue_tracks():
    assert StreamTracker(True, conf=0.25).nms_conf == pytest.approx(0.25)  # by default the detector's conf
    tracker = StreamTracker(TrackerConfig(low_conf=0.1), conf=0.25)
    assert tracker.nms_conf == pytest.approx(0.1)
    box = [[10, 10, 30, 30]]
    ids = [tracker.update(_dets(box, t)).track_ids[0] for t in range(4)]
    kept = tracker.update(_dets(box, 4, scores=[0.15]))  # under conf, but it continues the track: kept
    assert len(kept) == 1 and kept.track_ids[0] == one_id(ids)
    alone = tracker.update(_dets([[100, 80, 120, 100]], 0, source="other", scores=[0.15]))  # nothing to continue
    assert len(alone) == 0 and alone.track_ids.shape == (0,)


def test_two_boxes_of_different_classes_on_one_object_are_one_track():
    # a small model's car-and-truck pair on one vehicle: one track (the higher-scoring box), not two; boxes of
    # different classes that do not overlap are two objects either way
    def frames(tracker):
        out = []
        for t in range(6):
            one = [10 + 2 * t, 10, 40 + 2 * t, 30]
            other = [100, 60, 120, 90]
            out.append(tracker.update(_dets([one, [one[0] + 1, 11, one[2] + 1, 31], other], t,
                                            scores=[0.6, 0.8, 0.7], classes=[2, 7, 0])))
        return out
    merged = frames(StreamTracker(True, iou=0.45))
    assert all(len(r) == 2 and list(r.class_ids) == [7, 0] for r in merged)  # the 0.8 box of the pair is kept
    assert len({int(r.track_ids[0]) for r in merged[1:]}) == 1 and merged[-1].track_ids[0] != merged[-1].track_ids[1]
    both = frames(StreamTracker({"class_agnostic": False}))
    assert all(len(r) == 3 for r in both)
    assert len({int(i) for r in both[1:] for i in r.track_ids}) == 3  # the pair became two tracks


def test_agnostic_keep_agrees_with_opencv_nms():
    # an independent reference: OpenCV's NMSBoxes (float boxes, class-agnostic, greedy by score)
    from yolov6_edge.track.tracker import agnostic_keep

    rng = np.random.default_rng(3)
    for _ in range(50):
        n = int(rng.integers(1, 25))
        xy = rng.uniform(0, 100, (n, 2))
        wh = rng.uniform(5, 40, (n, 2))
        boxes = np.hstack([xy, xy + wh]).astype(np.float32)
        scores = rng.uniform(0.1, 1.0, n).astype(np.float32)
        keep = agnostic_keep(boxes, scores, 0.45)
        ref = cv2.dnn.NMSBoxes([list(map(float, (*b[:2], *(b[2:] - b[:2])))) for b in boxes],
                               scores.tolist(), 0.0, 0.45)
        assert sorted(np.flatnonzero(keep).tolist()) == sorted(np.asarray(ref).reshape(-1).tolist())


def test_an_id_goes_to_the_detection_its_track_took_not_the_nearest_box():
    # two near-identical boxes of different classes (class_agnostic off): the track matched the confident one
    # (first stage) and its id goes there, although the other box lies exactly on the track's updated box
    cfg = {"class_agnostic": False, "high_conf": 0.5}
    box, moved = [20, 20, 60, 60], [26, 20, 66, 60]
    twin = StreamTracker(cfg, conf=0.2)  # the same frames without the second box: where the track ends up
    for t in range(6):
        twin.update(_dets([box], t, scores=[0.9]))
    twin.update(_dets([moved], 6, scores=[0.9]))
    updated = next(iter(twin._sources.values())).tracker._bt.tracked_tracks[0].tlbr
    assert 0 < abs(updated[0] - moved[0]) < 6  # between the two: the filter blends prediction and detection
    tracker = StreamTracker(cfg, conf=0.2)
    ids = [tracker.update(_dets([box], t, scores=[0.9])).track_ids[0] for t in range(6)]
    res = tracker.update(_dets([moved, updated], 6, scores=[0.9, 0.3], classes=[0, 1]))
    assert list(res.track_ids) == [one_id(ids), -1]


class LiveSquares(Source):
    """A camera stand-in: live, frames as fast as it can (so a slow model makes the buffer drop frames), each with
    its time since the start, a square moving 1 px a frame; `reopen_at` frame: it reconnects there."""

    live = True

    def __init__(self, n=120, name="camera 7", reopen_at=None, fps=30.0):
        self.n, self.reopen_at = n, reopen_at
        self.info = VideoInfo(name, fps=fps, size=SIZE, live=True)

    def frames(self):
        rng = np.random.default_rng(0)
        start = time.monotonic()
        for i in range(self.n):
            img = draw_frame({0: (10 + i, 40)}, rng)
            reconnects = int(self.reopen_at is not None and i >= self.reopen_at)
            yield Frame(img, i, time.monotonic() - start, self.info, reconnects)
            time.sleep(0.002)


def test_a_dropped_frame_on_a_live_source_does_not_reset_ids():
    det = Detector(ColourBoxBackend(n=1, delay=0.02))
    stream = det.stream(LiveSquares(), track=True, queue=2)
    results = list(stream)
    assert stream.dropped_count["camera 7"] > 10  # the buffer really dropped frames
    gaps = np.diff([r.frame_index for r in results])
    assert gaps.max() > 1
    one_id(ids_by_colour(results)[0])
    assert "track" in stream.stats()["stage_s"]


def test_a_live_source_that_reconnects_starts_new_tracks():
    results = run(Detector(ColourBoxBackend(n=1)), LiveSquares(n=40, reopen_at=20), policy="block")
    ids = ids_by_colour(results)[0]
    assert one_id(ids[:20]) != one_id(ids[20:])


def test_two_sources_batched_together_do_not_share_ids_or_state(tmp_path):
    paths = {0: lambda t: (5 + 3 * t, 30), 1: lambda t: (140 - 3 * t, 70)}
    write_scene(tmp_path / "a.avi", paths, 30, seed=1)
    write_scene(tmp_path / "b.avi", paths, 30, seed=2)  # the same paths: one shared state would merge them
    det = Detector(ColourBoxBackend(n=2))
    both = run(det, [tmp_path / "a.avi", tmp_path / "b.avi"], batch=4)
    by_source = {s: [r for r in both if r.source == s] for s in {r.source for r in both}}
    assert len(by_source) == 2 and all(len(v) == 30 for v in by_source.values())
    ids = {s: {k: one_id(v) for k, v in ids_by_colour(rs).items()} for s, rs in by_source.items()}
    a, b = ids.values()
    assert len(set(a.values()) | set(b.values())) == 4  # four objects, four ids
    alone = run(det, tmp_path / "a.avi")  # each source is tracked as if it were alone
    pattern = lambda rs: [sorted((int(c), t >= 0) for c, t in zip(r.class_ids, r.track_ids)) for r in rs]  # noqa
    assert pattern(alone) == pattern(by_source[str(tmp_path / "a.avi")])


def test_the_same_source_twice_with_tracking_is_refused(tmp_path):
    write_scene(tmp_path / "a.avi", {0: lambda t: (5 + t, 30)}, 3)
    with pytest.raises(Yolov6EdgeError, match="given twice") as e:
        Detector(ColourBoxBackend(n=1)).stream([tmp_path / "a.avi", tmp_path / "a.avi"], track=True)
    assert "\n" not in str(e.value)


def test_line_counts_equal_the_objects_that_crossed(tmp_path):
    # a horizontal line y=60 from x=20 to x=140. Square 0 goes down across it (in), 1 goes up (out), 2 goes down
    # and back up (in, then out), 3 moves along beside it without crossing, 4 goes down past its right end
    paths = {0: lambda t: (30, 10 + 3 * t), 1: lambda t: (70, 100 - 3 * t),
             2: lambda t: (100, 20 + 3 * t if t < 16 else 68 - 4 * (t - 16)),
             3: lambda t: (5 + 3 * t, 75), 4: lambda t: (145, 10 + 3 * t)}
    write_scene(tmp_path / "c.avi", paths, 32)
    counter = Counter([Line((20, 60), (140, 60), "gate")], [Zone(((0, 70), (160, 70), (160, 120), (0, 120)), "low")])
    records = [counter.update(r) for r in run(Detector(ColourBoxBackend(n=5)), tmp_path / "c.avi")]
    gate = counter.summary()[str(tmp_path / "c.avi")]["lines"][0]
    assert (gate["in"], gate["out"]) == (2, 2), gate
    assert gate["in_by_class"] == {"square0": 1, "square2": 1} and gate["out_by_class"] == {"square1": 1,
                                                                                            "square2": 1}
    crossings = [i for r in records for i in r["lines"][0]["crossed_in"] + r["lines"][0]["crossed_out"]]
    assert len(crossings) == 4 and records[-1]["lines"][0]["in"] == 2
    assert max(r["zones"][0]["count"] for r in records) >= 2


# ---- the counting geometry on its own -------------------------------------------------------------------------
def _feed(counter, tracks, source="s"):
    """tracks: list over frames of {id: box}; returns the counter's records."""
    out = []
    for i, frame in enumerate(tracks):
        ids = list(frame)
        d = _dets([frame[k] for k in ids] or np.zeros((0, 4)), i, source=source)
        d.track_ids = np.array(ids, np.int64)
        out.append(counter.update(d))
    return out


def _box_at(x, y, w=10, h=20):  # bottom-centre anchor at (x, y)
    return [x - w / 2, y - h, x + w / 2, y]


def test_direction_band_segment_and_occlusion():
    line = Line((0, 50), (100, 50), "l")  # drawn left to right: in = downwards
    c = Counter([line])
    down = [{1: _box_at(50, y)} for y in range(30, 80, 5)]
    assert _feed(c, down)[-1]["lines"][0]["in"] == 1
    c = Counter([line])
    assert _feed(c, down[::-1])[-1]["lines"][0]["out"] == 1
    # a box whose bottom jitters 1 px around the line (band: 2 px of its 20 px height) is never counted
    c = Counter([line])
    jitter = [{1: _box_at(50, 50 + (1 if i % 2 else -1))} for i in range(20)]
    rec = _feed(c, [{1: _box_at(50, 40)}] + jitter)
    assert (rec[-1]["lines"][0]["in"], rec[-1]["lines"][0]["out"]) == (0, 0)
    # one that stops on the line and then goes on counts once
    stop = [{1: _box_at(50, y)} for y in (30, 40)] + jitter + [{1: _box_at(50, y)} for y in (60, 70)]
    c = Counter([line])
    rec = _feed(c, stop)
    assert (rec[-1]["lines"][0]["in"], rec[-1]["lines"][0]["out"]) == (1, 0)
    # passing beyond the segment's end does not count; crossing while hidden (id kept) does
    c = Counter([line])
    rec = _feed(c, [{1: _box_at(120, y), 2: _box_at(50, y)} for y in (30, 40)] + [{}] * 5
                + [{1: _box_at(120, y), 2: _box_at(50, y)} for y in (60, 70)])
    assert rec[-1]["lines"][0]["in"] == 1
    assert [r["lines"][0]["crossed_in"] for r in rec if r["lines"][0]["crossed_in"]] == [[2]]
    # unconfirmed detections (-1) never count
    c = Counter([line])
    assert _feed(c, [{-1: _box_at(50, y)} for y in (30, 70)])[-1]["lines"][0]["in"] == 0
    # the centre anchor: a box centred above the line whose bottom is below it is not yet across
    c = Counter([line], anchor="center")
    assert _feed(c, [{1: _box_at(50, 45)}, {1: _box_at(50, 58)}])[-1]["lines"][0]["in"] == 0


def test_zone_occupancy_and_polygon_test_agree_with_opencv():
    rng = np.random.default_rng(0)
    poly = np.array([(10, 10), (90, 20), (60, 50), (95, 90), (5, 80)], np.float64)
    pts = rng.uniform(0, 100, (500, 2))
    ours = inside_polygon(pts, poly)
    ref = np.array([cv2.pointPolygonTest(poly.astype(np.float32).reshape(-1, 1, 2), (float(x), float(y)), True)
                    for x, y in pts])
    clear = np.abs(ref) > 1e-6  # a point on an edge may fall either way
    assert (ours[clear] == (ref[clear] > 0)).all()
    c = Counter(zones=[Zone(tuple(map(tuple, poly)), "z")])
    rec = _feed(c, [{1: _box_at(30, 40), 2: _box_at(98, 98)}, {1: _box_at(30, 40), 2: _box_at(30, 60)}])
    assert [r["zones"][0]["count"] for r in rec] == [1, 2] and rec[-1]["zones"][0]["track_ids"] == [1, 2]
    assert c.summary()["s"]["zones"][0]["objects"] == 2


@pytest.mark.parametrize("text, problem", [("1,2,3", "expected 4 numbers"), ("a,b,c,d", "numbers"),
                                           ("5,5,5,5", "same point"), ("1,2,nan,4", "finite")])
def test_bad_line_specs_are_one_line(text, problem):
    with pytest.raises(Yolov6EdgeError, match=problem) as e:
        parse_line(text)
    assert "\n" not in str(e.value) and text in str(e.value)


def test_line_and_zone_specs():
    assert parse_line("gate=0,10,100,10.5") == Line((0, 10), (100, 10.5), "gate")
    assert parse_line("0,1,2,3", 3).name == "line3"
    assert parse_zone("p=0,0,10,0,10,10").points == ((0, 0), (10, 0), (10, 10))
    for bad, problem in (("0,0,1,1", "at least 3 points"), ("0,0,1,1,2,2", "no area"), ("0,0,1,1,2", "3 points")):
        with pytest.raises(Yolov6EdgeError, match=problem):
            parse_zone(bad)


# ---- the command line -----------------------------------------------------------------------------------------
@pytest.fixture
def fake_model(tmp_path, monkeypatch):
    """`predict` on a model file whose backend is the colour-square detector."""
    import yolov6_edge.runtime.detector as detector

    path = tmp_path / "squares.onnx"
    path.write_bytes(b"stand-in")
    real = detector.open_backend
    monkeypatch.setattr(detector, "open_backend", lambda model, *a, **k: (
        ColourBoxBackend(n=5) if str(model) == str(path) else real(model, *a, **k)))
    return path


def test_predict_track_with_lines_and_zones_writes_ids_counts_and_a_summary(tmp_path, fake_model, capsys):
    from yolov6_edge.cli.main import main

    paths = {0: lambda t: (30, 10 + 3 * t), 1: lambda t: (70, 100 - 3 * t)}
    video = write_scene(tmp_path / "road.avi", paths, 32)
    out = tmp_path / "out"
    rc = main(["predict", str(fake_model), str(video), "--save", "-o", str(out), "--line", "gate=20,60,140,60",
               "--zone", "0,70,160,70,160,120,0,120", "--decoder", "opencv"])
    assert rc == 0
    lines = [json.loads(s) for s in (out / "road.jsonl").read_text().splitlines()]
    assert len(lines) == 32 and all(len(r["track_ids"]) == len(r["boxes"]) for r in lines)
    assert lines[-1]["lines"] == [{"name": "gate", "in": 1, "out": 1, "crossed_in": [], "crossed_out": []}]
    assert lines[-1]["zones"][0]["name"] == "zone0" and "count" in lines[-1]["zones"][0]
    summary = json.loads((out / "summary.json").read_text())
    src = summary["sources"][str(video)]
    assert src["frames"] == 32 and src["tracks"] == 2 and src["lines"][0]["in"] == 1
    cap = cv2.VideoCapture(str(out / "road.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 32
    cap.release()
    printed = capsys.readouterr().out
    assert "line gate" in printed and "in 1, out 1" in printed and "objects tracked" in printed


@pytest.mark.parametrize("args, problem", [(["--line", "1,2,3"], "expected 4 numbers"),
                                           (["--zone", "0,0,5,5"], "at least 3 points")])
def test_predict_refuses_bad_lines_and_zones_in_one_line(tmp_path, fake_model, capsys, args, problem):
    from yolov6_edge.cli.main import main

    with pytest.raises(SystemExit) as e:
        main(["predict", str(fake_model), "v.avi"] + args)
    assert e.value.code == 2
    assert problem in capsys.readouterr().err.strip().splitlines()[-1]


def test_predict_refuses_a_line_outside_the_frames(tmp_path, fake_model, capsys):
    from yolov6_edge.cli.main import main

    video = write_scene(tmp_path / "v.avi", {0: lambda t: (5, 5)}, 2)
    assert main(["predict", str(fake_model), str(video), "--line", "5000,5000,6000,6000"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "wholly outside the 160x120 frames" in err[0], err


@pytest.mark.skipif(False, reason="runs with and without the extra")
def test_without_the_extra_track_says_what_to_install_in_one_line(tmp_path, fake_model, capsys, monkeypatch):
    from yolov6_edge.cli.main import main

    monkeypatch.setitem(sys.modules, "supervision", None)  # import supervision -> ImportError
    video = write_scene(tmp_path / "v.avi", {0: lambda t: (5, 5)}, 2)
    assert main(["predict", str(fake_model), str(video), "--track"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pip install 'yolov6-edge[track]'" in err[0], err
    with pytest.raises(Yolov6EdgeError, match=r"yolov6-edge\[track\]"):
        Detector(ColourBoxBackend(n=1)).stream(video, track=True)
    assert [len(r) for r in Detector(ColourBoxBackend(n=1)).stream(video)] == [1, 1]  # no tracking: no need


def test_tracker_settings_are_checked():
    for bad in ({"high_conf": 2}, {"low_conf": 0.5, "high_conf": 0.3}, {"lost_seconds": -1}, {"min_frames": 0},
                {"nope": 1}, {"new_track_conf": -0.1}, {"match_iou": float("nan")}, {"class_agnostic": "yes"}):
        with pytest.raises(Yolov6EdgeError):
            StreamTracker(bad)
    with pytest.raises(Yolov6EdgeError, match="unknown tracker"):
        StreamTracker("sort")
    assert StreamTracker("ByteTrack").config.algorithm == "bytetrack"
    t = StreamTracker(True, conf=0.3)  # thresholds follow the detector's conf unless set
    assert (t.high_conf, t.new_track_conf) == pytest.approx((0.3, 0.4))
    t = StreamTracker({"high_conf": 0.5, "new_track_conf": 0.45}, conf=0.3)
    assert (t.high_conf, t.new_track_conf, t.nms_conf) == pytest.approx((0.5, 0.45, 0.3))
    assert len(COLOURS) >= 5


@pytest.mark.shared
def test_a_real_detector_keeps_one_id_on_a_person_walking_across(tmp_path, shared):
    """YOLOv6Lite-S (the official weights in ../shared) on a COCO person cut out along its outline, walking slowly
    across a blurred street-like background: one person, one id (confirmed from its second frame)."""
    from yolov6_edge.export.onnx import export_onnx

    param = shared("weights", "yolov6lite", "yolov6-lite-s.param")
    folder = shared("coco", "val")
    data = json.loads((folder / "instances.json").read_text())
    images = {im["id"]: im for im in data["images"]}
    people = [a for a in data["annotations"] if a["category_id"] == 1 and not a["iscrowd"]
              and isinstance(a["segmentation"], list) and a["bbox"][3] > 150 and a["bbox"][0] > 2
              and a["bbox"][0] + a["bbox"][2] < images[a["image_id"]]["width"] - 2]
    person = max(people, key=lambda a: a["area"])
    img = cv2.imread(str(folder / "images" / images[person["image_id"]]["file_name"]))
    x, y, w, h = (int(round(v)) for v in person["bbox"])
    mask = np.zeros(img.shape[:2], np.uint8)
    for poly in person["segmentation"]:
        cv2.fillPoly(mask, [np.array(poly).reshape(-1, 2).round().astype(np.int32)], 255)
    scale = 200 / h
    patch = cv2.resize(img[y:y + h, x:x + w], None, fx=scale, fy=scale)
    alpha = cv2.resize(mask[y:y + h, x:x + w], (patch.shape[1], patch.shape[0]))[..., None] / 255.0
    background = cv2.GaussianBlur(cv2.resize(img, (480, 270)), (0, 0), 14)
    writer = cv2.VideoWriter(str(tmp_path / "walk.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 15.0, (480, 270))
    for t in range(30):
        frame = background.astype(np.float64)
        x0, y0 = 20 + 8 * t, 40
        region = frame[y0:y0 + patch.shape[0], x0:x0 + patch.shape[1]]
        region[:] = alpha * patch + (1 - alpha) * region
        writer.write(frame.astype(np.uint8))
    writer.release()
    export_onnx(param, tmp_path / "lite_s.onnx", img_size=(320, 320))
    # Lite-S scores this person 0.1-0.5 and often boxes it twice: ByteTrack's second match (low_conf) and a looser
    # match (match_iou) carry its track through the weak frames
    from yolov6_edge.track.tracker import _iou

    results = run(Detector(tmp_path / "lite_s.onnx"), tmp_path / "walk.avi",
                  track=TrackerConfig(low_conf=0.1, match_iou=0.1))
    on_person = []  # per frame: the ids of the boxes on the person (we know where it is)
    for t, r in enumerate(results):
        truth = np.array([[20 + 8 * t, 40, 20 + 8 * t + patch.shape[1], 40 + patch.shape[0]]], np.float64)
        overlap = _iou(truth, r.boxes.astype(np.float64))[0] if len(r) else np.zeros(0)
        on_person.append({int(i) for i, o in zip(r.track_ids, overlap) if o >= 0.3 and i >= 0})
    ids = set().union(*on_person)
    assert len(ids) == 1, on_person  # one person, one id: never a second one on it
    assert sum(bool(f) for f in on_person) >= 27, on_person  # and it holds it in (nearly) every frame
