"""Detector.stream() and `predict` on videos: on short videos the tests write themselves (OpenCV VideoWriter)."""
import json
import socket
import time

import cv2
import numpy as np
import pytest

from standin_models import tiny_contract_onnx
from yolov6_edge import Detector
from yolov6_edge.cli.main import main
from yolov6_edge.errors import Yolov6EdgeError

FPS, SIZE, FRAMES = 10.0, (96, 64), 12  # (W, H)


def write_video(path, n=FRAMES, fps=FPS, size=SIZE, fourcc="MJPG", seed=0):
    """n frames of noise with a bright box moving across: each frame differs, so each gets its own result."""
    rng = np.random.default_rng(seed)
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, size)
    assert w.isOpened(), f"OpenCV cannot write {fourcc} here"
    for i in range(n):
        img = rng.integers(0, 120, (size[1], size[0], 3), dtype=np.uint8)
        x = 4 + 6 * i
        cv2.rectangle(img, (x, 10), (x + 24, 40), (40, 220, 250), -1)
        w.write(img)
    w.release()
    return path


def decoded_frames(path):
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    out = []
    while True:
        ok, img = cap.read()
        if not ok:
            return out
        out.append(img)


def assert_same(a, b):
    """a stream result equals a per-frame call, and there is something to compare (an empty result equals an
    empty result whatever the stream did)."""
    assert len(b) > 0, "the seeded tiny model finds something on every test frame"
    assert len(a) == len(b), (len(a), len(b))
    np.testing.assert_allclose(a.boxes, b.boxes, atol=1e-3)
    np.testing.assert_allclose(a.scores, b.scores, atol=1e-5)
    assert a.class_ids.tolist() == b.class_ids.tolist()


def one_line(e, name):
    text = str(e.value) if hasattr(e, "value") else str(e)
    assert "\n" not in text and str(name) in text, text
    return text


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    d = tmp_path_factory.mktemp("stream")
    tiny_contract_onnx(d / "tiny.onnx", img_size=(64, 64), seed=0)  # seeded: the same detections every run
    write_video(d / "a.avi")
    write_video(d / "b.mp4", n=7, fps=25.0, size=(80, 48), fourcc="mp4v", seed=1)
    return d


@pytest.fixture(scope="module")
def det(tiny):
    return Detector(tiny / "tiny.onnx", conf=0.2)


@pytest.mark.parametrize("batch, stride", [(1, 1), (3, 1), (4, 2)])
def test_every_frame_gets_its_result_equal_to_a_per_frame_call(tiny, det, batch, stride):
    frames = decoded_frames(tiny / "a.avi")
    assert len(frames) == FRAMES
    results = list(det.stream(tiny / "a.avi", batch=batch, vid_stride=stride, decoder="opencv"))
    kept = list(range(0, FRAMES, stride))
    assert [r.frame_index for r in results] == kept
    assert [r.timestamp for r in results] == pytest.approx([i / FPS for i in kept], abs=1e-6)
    assert {r.source for r in results} == {str(tiny / "a.avi")}
    for r in results:
        assert_same(r, det(frames[r.frame_index]))
        assert r.image_shape == (SIZE[1], SIZE[0]) and r.frame is None
        assert r.to_dict()["frame_index"] == r.frame_index


def test_two_videos_side_by_side_each_complete_and_in_order(tiny, det):
    stream = det.stream([tiny / "a.avi", tiny / "b.mp4"], batch=4, keep_frames=True, decoder="opencv")
    results = list(stream)
    for name, n, fps in (("a.avi", FRAMES, FPS), ("b.mp4", 7, 25.0)):
        mine = [r for r in results if r.source == str(tiny / name)]
        assert [r.frame_index for r in mine] == list(range(n))
        assert [r.timestamp for r in mine] == pytest.approx([i / fps for i in range(n)], abs=1e-6)
        assert mine[0].video.fps == fps and mine[0].video.frame_count == n
        for r, frame in zip(mine, decoded_frames(tiny / name)):
            np.testing.assert_array_equal(r.frame, frame)
            assert_same(r, det(frame))
    stats = stream.stats()
    assert stats["frames_done"] == FRAMES + 7 and stats["frames_dropped"] == 0 and 0 < stats["model_busy"] <= 1


def test_truncated_video_keeps_the_frames_before_the_fault(tiny, det, tmp_path):
    data = (tiny / "a.avi").read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) * 6 // 10])
    got = []
    with pytest.raises(Yolov6EdgeError) as e:
        for r in det.stream(cut, decoder="opencv"):
            got.append(r)
    assert "truncated or corrupt" in one_line(e, cut)
    # compared with what OpenCV decodes of the cut file: the last frame before the cut may be partly decoded
    frames = decoded_frames(cut)
    assert 0 < len(got) == len(frames) < FRAMES and [r.frame_index for r in got] == list(range(len(got)))
    for r in got:
        assert_same(r, det(frames[r.frame_index]))


def test_a_damaged_file_in_a_folder_does_not_stop_the_files_after_it(tiny, det, tmp_path):
    data = (tiny / "a.avi").read_bytes()
    (tmp_path / "1.avi").write_bytes(data)
    (tmp_path / "2.avi").write_bytes(data[: len(data) // 2])
    (tmp_path / "3.avi").write_bytes(data)
    got = []
    with pytest.raises(Yolov6EdgeError) as e:
        for r in det.stream(tmp_path, decoder="opencv"):
            got.append(r)
    assert "truncated or corrupt" in one_line(e, tmp_path / "2.avi")
    per_file = {n: [r.frame_index for r in got if r.source == str(tmp_path / n)] for n in ("1.avi", "2.avi", "3.avi")}
    assert per_file["1.avi"] == per_file["3.avi"] == list(range(FRAMES))
    assert 0 < len(per_file["2.avi"]) < FRAMES


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("scheme", ["rtsp", "http"])
def test_unreachable_url_fails_fast_on_one_line(det, scheme):
    url = f"{scheme}://127.0.0.1:{closed_port()}/live"
    t0 = time.monotonic()
    with pytest.raises(Yolov6EdgeError) as e:
        det.stream(url, timeout=5)
    assert time.monotonic() - t0 < 4
    assert "cannot open the stream" in one_line(e, url)


def test_missing_camera_and_bad_sources_are_one_line(det, tmp_path):
    with pytest.raises(Yolov6EdgeError, match="cannot open the camera"):
        det.stream(97)
    with pytest.raises(Yolov6EdgeError, match="no such file"):
        det.stream(tmp_path / "missing.mp4")
    (tmp_path / "x.mp4").write_bytes(b"not a video at all" * 10)
    with pytest.raises(Yolov6EdgeError, match="cannot open as a video"):
        det.stream(tmp_path / "x.mp4", decoder="opencv")
    with pytest.raises(Yolov6EdgeError, match="policy"):
        det.stream(tmp_path / "x.mp4", policy="latest")


class SlowBackend:
    """A stand-in model that takes `delay` seconds a call, so the frames come faster than it takes them."""

    layout, input_size, names, max_batch = "boxes_xyxy+scores", (32, 32), ["thing"], 8

    def __init__(self, delay):
        self.delay, self.calls = delay, 0

    def __call__(self, blob):
        self.calls += 1
        time.sleep(self.delay)
        n = blob.shape[0]
        boxes = np.tile(np.float32([[2, 2, 20, 20]]), (n, 1, 1))
        return boxes, np.full((n, 1, 1), 0.9, np.float32)


def burst(n=40):
    return (np.full((24, 32, 3), i, np.uint8) for i in range(n))


@pytest.mark.parametrize("policy", ["drop-oldest", "drop-newest"])
def test_drop_policies_say_which_frames_were_dropped(policy):
    det = Detector(SlowBackend(0.03))
    stream = det.stream(burst(80), policy=policy, queue=2)
    results = list(stream)
    done = [r.frame_index for r in results]
    dropped = [i for _, i in stream.dropped]
    assert dropped and sorted(done + dropped) == list(range(80))  # every frame: a result or reported dropped
    assert done == sorted(done) and stream._frames.high_water <= 2
    assert stream.stats()["frames_dropped"] == len(dropped)
    if policy == "drop-oldest":
        assert done[-1] == 79  # the model ends on the latest frame
    else:
        assert done[:2] == [0, 1]  # the first frames keep their places; later ones are dropped


def test_block_policy_keeps_every_frame_and_memory_bounded_under_a_slow_consumer():
    det = Detector(SlowBackend(0.0))
    stream = det.stream(burst(60), policy="block", queue=3, batch=2)
    it = iter(stream)
    first = next(it)
    # a slow consumer: the decoder must stop, not read on into memory; wait until the count stands still
    seen = []
    while len(seen) < 3 or len(set(seen[-3:])) > 1:
        time.sleep(0.1)
        seen.append(stream.stats()["frames_decoded"])
        assert len(seen) < 50, seen
    ahead = seen[-1] - 1
    # the decoder's frame waiting to go in + the frames lane (3) + letterbox, inference and NMS holding a batch
    # each + three 2-batch buffers after them + the rest of the batch being yielded
    assert ahead <= 1 + 3 + 3 * 2 + 3 * 2 * 2 + 1, ahead
    rest = list(it)
    assert [first.frame_index] + [r.frame_index for r in rest] == list(range(60))
    assert not stream.dropped and stream._frames.high_water <= 3


def test_a_camera_that_disconnects_reconnects_then_ends_with_one_line(det, monkeypatch):
    import yolov6_edge.runtime.sources as sources

    class FakeCapture:
        def __init__(self, n):
            self.left = n

        def isOpened(self):
            return True

        def grab(self):
            self.left -= 1
            return self.left >= 0

        def retrieve(self):
            return True, np.full((48, 64, 3), 100, np.uint8)

        def get(self, prop):
            return 0.0

        def release(self):
            pass

    opened = iter([FakeCapture(5), FakeCapture(3)])
    monkeypatch.setattr(sources.LiveCapture, "_capture", lambda self: next(opened, None))
    monkeypatch.setattr(sources.time, "sleep", lambda s: None)
    got = []
    stream = det.stream(3, reconnect=2)  # a camera: drop-oldest by default, and this one is faster than the model
    with pytest.raises(Yolov6EdgeError) as e:
        for r in stream:
            got.append(r)
    assert "stopped delivering frames after 8 frames and 2 attempts to reconnect" in one_line(e, "camera 3")
    assert sorted([r.frame_index for r in got] + [i for _, i in stream.dropped]) == list(range(8))
    assert got[-1].frame_index == 7
    assert all(r.video.live for r in got)


# ---- the command line ---------------------------------------------------------------------------------------

def read_video(path):
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    info = (int(cap.get(cv2.CAP_PROP_FRAME_COUNT)), cap.get(cv2.CAP_PROP_FPS),
            (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))))
    return info, len(decoded_frames(path))


def test_predict_save_writes_video_like_its_input_and_json_lines(tiny, tmp_path, capsys):
    src = tmp_path / "in"
    src.mkdir()
    (src / "clip.avi").write_bytes((tiny / "a.avi").read_bytes())
    cv2.imwrite(str(src / "still.jpg"), np.full((40, 50, 3), 90, np.uint8))
    out = tmp_path / "out"
    assert main(["predict", str(tiny / "tiny.onnx"), str(src), str(tiny / "b.mp4"), "--save", "-o", str(out),
                 "--conf", "0.2", "--batch", "2", "--decoder", "opencv"]) == 0
    for stem, n, fps, size in (("clip", FRAMES, FPS, SIZE), ("b", 7, 25.0, (80, 48))):
        (count, got_fps, got_size), decodable = read_video(out / f"{stem}.mp4")
        assert (count, decodable, got_size) == (n, n, size) and got_fps == pytest.approx(fps)
        lines = [json.loads(ln) for ln in (out / f"{stem}.jsonl").read_text().splitlines()]
        assert [ln["frame_index"] for ln in lines] == list(range(n))
        assert [ln["timestamp"] for ln in lines] == pytest.approx([i / fps for i in range(n)])
        assert all(len(ln["boxes"]) == len(ln["scores"]) == len(ln["class_ids"]) for ln in lines)
        assert all(ln["boxes"] for ln in lines), "the seeded tiny model finds something on every frame"
    assert len(json.loads((out / "detections.json").read_text())["images"]) == 1  # the still image
    assert "frames/s" in capsys.readouterr().out
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_predict_on_a_truncated_video_keeps_its_results_and_says_why_on_one_line(tiny, tmp_path, capsys):
    data = (tiny / "a.avi").read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) * 6 // 10])
    out = tmp_path / "out"
    assert main(["predict", str(tiny / "tiny.onnx"), str(cut), "--save", "-o", str(out), "--vid-stride", "2",
                 "--decoder", "opencv"]) == 2
    err = [ln for ln in capsys.readouterr().err.splitlines() if "error:" in ln]
    assert len(err) == 1 and "truncated or corrupt" in err[0] and str(cut) in err[0]
    lines = (out / "cut.jsonl").read_text().splitlines()
    assert 0 < len(lines) < FRAMES // 2
    assert [json.loads(ln)["frame_index"] for ln in lines] == list(range(0, 2 * len(lines), 2))
    assert read_video(out / "cut.mp4")[1] == len(lines)


def test_predict_on_an_unreachable_url_is_one_line_and_writes_nothing(tiny, tmp_path, capsys):
    url = f"rtsp://user:secret@127.0.0.1:{closed_port()}/cam"
    assert main(["predict", str(tiny / "tiny.onnx"), url, "--save", "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot open the stream" in err[0] and "secret" not in err[0]
    assert not (tmp_path / "out").exists()


def test_stream_stops_ort_spinning_and_gives_the_same_results(tiny, det):
    two = Detector(tiny / "tiny.onnx", conf=0.2, threads=2)
    assert two.backend.spinning
    results = list(two.stream(tiny / "b.mp4", decoder="opencv"))
    assert not two.backend.spinning and len(results) == 7
    for r, frame in zip(results, decoded_frames(tiny / "b.mp4")):
        assert_same(r, det(frame))


def test_pyav_decoder_gives_container_times_and_the_frames_opencv_gives(tiny, det, tmp_path):
    pytest.importorskip("av", reason="PyAV not installed (pip install 'yolov6-edge[video]')")
    for name, n, fps in (("a.avi", FRAMES, FPS), ("b.mp4", 7, 25.0)):
        results = list(det.stream(tiny / name, decoder="pyav", keep_frames=True, vid_stride=2))
        assert [r.frame_index for r in results] == list(range(0, n, 2))
        assert [r.timestamp for r in results] == pytest.approx([i / fps for i in range(0, n, 2)], abs=1e-6)
        frames = decoded_frames(tiny / name)
        for r in results:
            np.testing.assert_array_equal(r.frame, frames[r.frame_index])
    data = (tiny / "a.avi").read_bytes()
    (tmp_path / "cut.avi").write_bytes(data[: len(data) * 6 // 10])
    got = []
    with pytest.raises(Yolov6EdgeError) as e:
        for r in det.stream(tmp_path / "cut.avi", decoder="pyav"):
            got.append(r)
    assert "truncated or corrupt" in one_line(e, tmp_path / "cut.avi") and 0 < len(got) < FRAMES


def test_show_without_a_display_says_so_once_and_goes_on(tiny, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert main(["predict", str(tiny / "tiny.onnx"), str(tiny / "b.mp4"), "--show", "--save", "-o",
                 str(tmp_path / "out"), "--decoder", "opencv"]) == 0
    err = [ln for ln in capsys.readouterr().err.splitlines() if "--show" in ln]
    assert len(err) == 1 and "ignored" in err[0]
    assert len((tmp_path / "out" / "b.jsonl").read_text().splitlines()) == 7


def test_ctrl_c_keeps_what_was_recorded(tiny, tmp_path, capsys, monkeypatch):
    from yolov6_edge.runtime import stream_writer

    write = stream_writer.StreamWriter.write

    def interrupted_after_three(self, res, annotated=None, extra=None):
        if self.frames == 3:
            raise KeyboardInterrupt
        write(self, res, annotated, extra)

    monkeypatch.setattr(stream_writer.StreamWriter, "write", interrupted_after_three)
    out = tmp_path / "out"
    assert main(["predict", str(tiny / "tiny.onnx"), str(tiny / "a.avi"), "--save", "-o", str(out),
                 "--decoder", "opencv"]) == 130  # a file: interrupted; a camera would end with 0
    assert "stopped by Ctrl-C" in capsys.readouterr().err
    assert len((out / "a.jsonl").read_text().splitlines()) == 3 and read_video(out / "a.mp4")[1] == 3


def test_a_backend_that_letterboxes_on_the_device_gets_the_images(tiny, det):
    from yolov6_edge import ops

    class OnDevice:  # what the TensorRT backend offers: letterbox + inference in one call (infer_images)
        def __init__(self, inner):
            self.inner, self.calls = inner, []
            self.layout, self.input_size, self.names, self.max_batch = inner.layout, inner.input_size, inner.names, 4

        def __call__(self, blob):
            raise AssertionError("the stream must hand images to infer_images, not a blob")

        def infer_images(self, images, center=True):
            self.calls.append(len(images))
            blob, params = ops.letterbox(images, size=self.input_size, center=center)
            return self.inner(blob), params

    backend = OnDevice(det.backend)
    results = list(Detector(backend, conf=0.2).stream(tiny / "a.avi", batch=3, decoder="opencv"))
    assert backend.calls == [3] * (FRAMES // 3)
    for r, frame in zip(results, decoded_frames(tiny / "a.avi")):
        assert_same(r, det(frame))
