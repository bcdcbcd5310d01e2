"""Issue 26, inputs that gave silent wrong results or hung: special files (fifos, devices) refused by type before
reading, the caller's arrays copied on intake by Detector.stream, the container's rotation applied by the PyAV
decoder as OpenCV applies it, and eval mapping a COCO-named model to the annotation file's own category ids."""
import json
import os
import subprocess
import sys
import textwrap

import cv2
import numpy as np
import pytest

from conftest import shared_path
from reliability_common import model_and_images, write_images
from yolov6_edge.errors import Yolov6EdgeError


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return model_and_images(tmp_path_factory.mktemp("rel_sources"))


# ---- special files: refused by type, never opened ----------------------------------------------------------------

SPECIAL = """
    import json, os, sys
    from yolov6_edge.errors import Yolov6EdgeError
    d = {d!r}
    fifo = lambda name: (os.mkfifo(os.path.join(d, name)), os.path.join(d, name))[1]
    from yolov6_edge.runtime.images import read_image
    from yolov6_edge.runtime.detector import Detector
    from yolov6_edge.runtime.sources import open_sources
    from yolov6_edge.weights import load_model
    from yolov6_edge.eval.coco import load_annotations
    from yolov6_edge.quant.data import list_images
    from yolov6_edge.quant.cache import read_cache
    from yolov6_edge.cli.info import describe
    cases = {{
        "image fifo": lambda: read_image(fifo("a.jpg")),
        "image /dev/zero": lambda: read_image("/dev/zero"),
        "onnx fifo": lambda: Detector(fifo("m.onnx")),
        "checkpoint fifo": lambda: load_model(fifo("m.pt")),
        "param fifo": lambda: load_model(fifo("n.param")),
        "info fifo": lambda: describe(fifo("i.onnx")),
        "annotations fifo": lambda: load_annotations(fifo("ann.json")),
        "annotations /dev/zero": lambda: load_annotations("/dev/zero"),
        "image list fifo": lambda: list_images(fifo("list.txt")),
        "calibration cache fifo": lambda: read_cache(fifo("c.calib.json"), {{}}),
        "video fifo": lambda: open_sources(fifo("v.mp4")),
        "stream of an image fifo": lambda: list(Detector({onnx!r}).stream([fifo("s.jpg")])),
    }}
    out = {{}}
    for name, call in cases.items():
        try:
            call()
            out[name] = "no error"
        except Yolov6EdgeError as e:
            out[name] = str(e)
    print(json.dumps(out))
"""


def test_fifos_and_devices_are_refused_by_type_before_reading(tmp_path, work):
    """Before: open() of a fifo blocked forever (a hang); /dev/zero was read until memory ran out."""
    res = subprocess.run([sys.executable, "-c", textwrap.dedent(SPECIAL.format(d=str(tmp_path),
                                                                                   onnx=str(work / "tiny.onnx")))],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-3000:]
    out = json.loads(res.stdout.strip().splitlines()[-1])
    for name, msg in out.items():
        assert "\n" not in msg and ("fifo" in msg or "character device" in msg), (name, msg)


def test_a_camera_device_path_is_opened_as_a_camera_not_read_as_a_file(tmp_path):
    """/dev/video0 is a legitimate source: a character device given as a source is a camera (V4L2), never read
    as a video file. /dev/null stands in for a device that is no camera."""
    from yolov6_edge.runtime.sources import LiveCapture, open_source

    src = open_source("/dev/null")
    assert isinstance(src, LiveCapture) and src.device and src.info.name == "camera /dev/null"
    with pytest.raises(Yolov6EdgeError, match="cannot open the camera"):
        src.open()


def test_cli_predict_refuses_a_fifo_image_with_one_line(tmp_path, work, capsys):
    from reliability_common import one_line_error
    from yolov6_edge.cli.main import main

    os.mkfifo(tmp_path / "x.jpg")
    assert main(["predict", str(work / "tiny.onnx"), str(tmp_path / "x.jpg"), "-o", str(tmp_path / "out")]) == 2
    assert "fifo" in one_line_error(capsys, tmp_path / "x.jpg")


def test_an_image_file_over_a_gibibyte_is_refused_before_it_is_read(tmp_path):
    from yolov6_edge.runtime.images import read_image

    big = tmp_path / "huge.jpg"
    with open(big, "wb") as f:  # sparse: no disk used
        f.write(b"\xff\xd8")
        f.truncate((1 << 30) + 1)
    with pytest.raises(Yolov6EdgeError, match="GiB") as e:
        read_image(big)
    assert str(big) in str(e.value) and "\n" not in str(e.value)


def test_a_video_opencv_cannot_open_is_one_line_with_ffmpegs_reason(tmp_path, capfd):
    """Before: FFmpeg's own lines ('moov atom not found', an OpenCV WARN) came before our error line."""
    from yolov6_edge.runtime.sources import VideoFile

    path = tmp_path / "cut.mp4"
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (64, 48))
    for i in range(5):
        w.write(np.full((48, 64, 3), 40 * i, np.uint8))
    w.release()
    path.write_bytes(path.read_bytes()[:200])  # the index (moov) is at the end: gone
    capfd.readouterr()
    with pytest.raises(Yolov6EdgeError, match="moov atom not found") as e:
        VideoFile(path, decoder="opencv").open()
    assert "\n" not in str(e.value)
    assert capfd.readouterr().err == ""


# ---- Detector.stream(iterable) copies what it takes ----------------------------------------------------------------

def test_stream_of_one_refilled_buffer_gives_each_frame_its_own_detections(work):
    """Before: a capture loop that refills one buffer got other frames' detections (the stream reads ahead)."""
    from yolov6_edge.runtime.detector import Detector

    rng = np.random.default_rng(3)
    frames = [rng.integers(0, 256, (60, 80, 3), dtype=np.uint8) for _ in range(12)]
    for f, k in zip(frames, range(12)):
        f[5 + k:35 + k, 10:40] = 240  # a bright box that moves: detections differ frame to frame
    det = Detector(work / "tiny.onnx", conf=0.05)
    want = [det(f) for f in frames]
    buffer = np.empty_like(frames[0])

    def capture():
        for f in frames:
            buffer[...] = f  # the same memory every time, as cv2.VideoCapture.read(buffer) does
            yield buffer

    got = list(det.stream(capture(), batch=4, queue=8, keep_frames=True))
    assert len(got) == len(frames)
    for g, w, f in zip(got, want, frames):
        np.testing.assert_array_equal(g.frame, f)
        np.testing.assert_allclose(g.boxes, w.boxes, atol=1e-4)
        np.testing.assert_array_equal(g.class_ids, w.class_ids)


# ---- the container's rotation ----------------------------------------------------------------------------------

def test_display_rotation_from_the_matrix_or_the_legacy_tag():
    from yolov6_edge.runtime.sources import display_rotation, rotate

    assert [display_rotation(r) for r in (None, 0, 90, -90, 180, -180, 270, 89.6, float("nan"))] == \
        [0, 0, 90, 270, 180, 180, 270, 90, 0]
    assert [display_rotation(None, t) for t in ("90", "270", "180", "bogus", None)] == [270, 90, 180, 0, 0]
    assert display_rotation(90, "270") == 90  # the matrix wins over the tag
    img = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    np.testing.assert_array_equal(rotate(img, 90), np.rot90(img, 1))  # counter-clockwise
    np.testing.assert_array_equal(rotate(img, 270), np.rot90(img, -1))
    np.testing.assert_array_equal(rotate(img, 180), np.rot90(img, 2))
    assert rotate(img, 0) is img


@pytest.mark.parametrize("degrees", [90, 270, 180])
def test_pyav_decoder_turns_a_phone_video_as_opencv_does(tmp_path, degrees):
    """A video with a display matrix (what phones write), made here with PyAV: before, the PyAV decoder gave the
    stored (sideways) frames and boxes in the wrong frame; OpenCV turned them."""
    av = pytest.importorskip("av", reason="PyAV not installed (pip install 'yolov6-edge[video]')")
    from yolov6_edge.runtime.sources import VideoFile

    path = tmp_path / "phone.mp4"
    out = av.open(str(path), "w")
    stream = out.add_stream("mpeg4", rate=10)
    stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
    if not hasattr(stream, "set_display_rotation"):
        out.close()
        pytest.skip(f"PyAV {av.__version__} cannot write a display matrix (VideoStream.set_display_rotation)")
    stream.set_display_rotation(degrees)
    for _ in range(6):
        img = np.full((48, 64, 3), 40, np.uint8)
        img[2:12, 3:23] = (0, 0, 250)  # a red mark at the top left of the stored picture
        for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="bgr24")):
            out.mux(packet)
    for packet in stream.encode():
        out.mux(packet)
    out.close()
    opencv = [f.image for f in VideoFile(path, decoder="opencv").open().frames()]
    source = VideoFile(path, decoder="pyav").open()
    pyav = [f.image for f in source.frames()]
    assert len(pyav) == len(opencv) == 6
    want_shape = (64, 48, 3) if degrees in (90, 270) else (48, 64, 3)
    assert opencv[0].shape == want_shape  # OpenCV's own behaviour, the reference
    for a, b in zip(pyav, opencv):
        assert a.shape == b.shape
        assert np.abs(a.astype(int) - b).mean() < 2.0
    assert tuple(source.info.size) == (want_shape[1], want_shape[0])


# ---- eval: a COCO-named model against the file's own category ids ------------------------------------------------

def test_contiguous_coco_ids_score_the_same_as_the_official_ids(tmp_path):
    """The same annotations with ids 1..80 instead of the official 1..90: before 5.80 AP against 28.18, exit 0."""
    from yolov6_edge.datasets.coco_names import COCO_CATEGORY_IDS
    from yolov6_edge.eval.coco import evaluate

    param = shared_path("weights", "yolov6lite", "yolov6-lite-s.param")
    val = shared_path("coco", "val")
    data = json.loads((val / "instances.json").read_text())
    keep = sorted(im["id"] for im in data["images"])[:16]
    data["images"] = [im for im in data["images"] if im["id"] in keep]
    data["annotations"] = [a for a in data["annotations"] if a["image_id"] in keep]
    (tmp_path / "official.json").write_text(json.dumps(data))
    contiguous = {old: new for new, old in enumerate(COCO_CATEGORY_IDS, 1)}
    for c in data["categories"]:
        c["id"] = contiguous[c["id"]]
    for a in data["annotations"]:
        a["category_id"] = contiguous[a["category_id"]]
    (tmp_path / "contiguous.json").write_text(json.dumps(data))
    kw = dict(img_size=(320, 320), conf=0.03, progress=False, batch=8)
    official = evaluate(param, val / "images", tmp_path / "official.json", **kw)
    remapped = evaluate(param, val / "images", tmp_path / "contiguous.json", **kw)
    assert official["AP"] > 15 and remapped["AP"] == official["AP"], (official, remapped)


def test_eval_refuses_a_file_whose_categories_the_model_cannot_name(work, tmp_path, capsys):
    from reliability_common import one_line_error
    from yolov6_edge.cli.main import main

    ann = {"images": [{"id": 1, "file_name": "a.jpg", "height": 60, "width": 80}],
           "annotations": [{"id": 1, "image_id": 1, "category_id": 7, "bbox": [20, 10, 30, 30], "area": 900,
                            "iscrowd": 0}],
           "categories": [{"id": 7, "name": "forklift"}, {"id": 8, "name": "c0"}, {"id": 9, "name": "c1"}]}
    (tmp_path / "ann.json").write_text(json.dumps(ann))
    assert main(["eval", str(work / "tiny.onnx"), "--images", str(work / "imgs"), "--ann",
                 str(tmp_path / "ann.json")]) == 2  # before: by position, forklift scored as the model's c0
    assert "forklift" in one_line_error(capsys, tmp_path / "ann.json")


# ---- still photos: the EXIF orientation, as for videos ----------------------------------------------------------

def _with_exif_orientation(jpeg: bytes, orientation: int) -> bytes:
    import struct

    ifd = struct.pack("<H", 1) + struct.pack("<HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack("<I", 0)
    payload = b"Exif\x00\x00" + b"II*\x00" + struct.pack("<I", 8) + ifd
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_a_phone_photo_is_read_the_way_it_is_shown(tmp_path, orientation):
    """EXIF orientation 6 (a phone held upright): before, read_image gave the stored, sideways picture (it decoded
    with IMREAD_UNCHANGED, which ignores the tag); cv2.imread, the reference here, turns it."""
    from yolov6_edge.runtime.images import read_image

    img = np.full((40, 60, 3), 30, np.uint8)
    img[:10, :20] = (0, 0, 255)
    path = tmp_path / "photo.jpg"
    path.write_bytes(_with_exif_orientation(cv2.imencode(".jpg", img)[1].tobytes(), orientation))
    want = cv2.imread(str(path))
    got = read_image(path)
    assert got.shape == want.shape == ((60, 40, 3) if orientation in (6, 8) else (40, 60, 3))
    np.testing.assert_array_equal(got, want)


def test_eval_refuses_an_image_whose_size_differs_from_its_annotation(work, tmp_path, capsys):
    """A resized copy of an annotated image: before, scored against boxes in other pixels (AP near 0, exit 0)."""
    from reliability_common import one_line_error
    from yolov6_edge.cli.main import main

    imgs = tmp_path / "imgs"
    write_images(imgs, ["a.jpg"], shape=(30, 40))  # annotated below as 80x60
    ann = {"images": [{"id": 1, "file_name": "a.jpg", "height": 60, "width": 80}],
           "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [20, 10, 30, 30], "area": 900,
                            "iscrowd": 0}], "categories": [{"id": 1, "name": "c0"}]}
    (tmp_path / "ann.json").write_text(json.dumps(ann))
    assert main(["eval", str(work / "tiny.onnx"), "--images", str(imgs), "--ann", str(tmp_path / "ann.json")]) == 2
    assert "80x60" in one_line_error(capsys, imgs / "a.jpg")


def test_a_damaged_video_whose_stream_has_no_codec_is_one_line_with_pyav(tmp_path):
    """Found by the fuzz run (seed 26, case 6372): PyAV opened a damaged mp4 whose video stream had no codec
    context, and reading its size was an AttributeError traceback. The same file is made here: the fuzz
    fixture's clip, cut as that case cut it."""
    import fuzz

    pytest.importorskip("av", reason="PyAV not installed (pip install 'yolov6-edge[video]')")
    from yolov6_edge.runtime.sources import VideoFile

    path = tmp_path / "clip.mp4"
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (96, 72))
    for i in range(10):  # fuzz.Fixtures' clip
        frame = np.full((72, 96, 3), 30 + 20 * i, np.uint8)
        frame[10 + i:40 + i, 20:60] = 230
        w.write(frame)
    w.release()
    rng = np.random.default_rng([26, 6372])
    assert fuzz.pick(rng, ["video", "damaged video", "arrays", "images", "mixed list"]) == "damaged video"
    data, how = fuzz.mutate_bytes(rng, path.read_bytes())
    path.write_bytes(data)
    try:
        VideoFile(path, decoder="pyav").open()
    except Yolov6EdgeError as e:  # before: AttributeError: 'NoneType' object has no attribute 'width'
        assert "\n" not in str(e) and str(path) in str(e)
