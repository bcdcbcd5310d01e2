"""Bad input gives one-line errors naming the file (issue 2, runtime part), and leaves no partial files."""
import cv2
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from yolov6_edge.cli.main import main
from yolov6_edge.errors import Yolov6EdgeError
from yolov6_edge.runtime.images import check_array, expand_sources, read_image


def _one_line_naming(err, path):
    msg = str(err.value)
    assert "\n" not in msg and str(path) in msg, msg
    return msg


@pytest.fixture
def jpeg(tmp_path):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (64, 80, 3), dtype=np.uint8)
    path = tmp_path / "ok.jpg"
    cv2.imwrite(str(path), img)
    return path


def test_missing_file(tmp_path):
    with pytest.raises(Yolov6EdgeError) as e:
        read_image(tmp_path / "nope.jpg")
    assert "no such file" in _one_line_naming(e, tmp_path / "nope.jpg")


def test_zero_byte_file(tmp_path):
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(Yolov6EdgeError) as e:
        read_image(tmp_path / "empty.jpg")
    assert "empty" in _one_line_naming(e, tmp_path / "empty.jpg")


def test_truncated_jpeg(tmp_path, jpeg):
    bad = tmp_path / "cut.jpg"
    data = jpeg.read_bytes()
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(Yolov6EdgeError) as e:
        read_image(bad)
    assert "corrupt" in _one_line_naming(e, bad)


def test_text_file_renamed_jpg(tmp_path):
    bad = tmp_path / "notes.jpg"
    bad.write_text("this is not an image\n")
    with pytest.raises(Yolov6EdgeError) as e:
        read_image(bad)
    assert "not an image" in _one_line_naming(e, bad)


def test_folder_given_as_image(tmp_path):
    with pytest.raises(Yolov6EdgeError) as e:
        read_image(tmp_path)
    assert "folder" in _one_line_naming(e, tmp_path)


def test_grayscale_is_expanded_to_three_equal_channels(tmp_path):
    gray = np.arange(48 * 64, dtype=np.uint32).reshape(48, 64).astype(np.uint8)
    cv2.imwrite(str(tmp_path / "g.png"), gray)
    img = read_image(tmp_path / "g.png")
    assert img.shape == (48, 64, 3) and img.dtype == np.uint8
    assert all(np.array_equal(img[..., c], gray) for c in range(3))


def test_bgra_drops_alpha_and_16_bit_becomes_8_bit(tmp_path):
    rng = np.random.default_rng(1)
    bgra = rng.integers(0, 256, (20, 30, 4), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "a.png"), bgra)
    np.testing.assert_array_equal(read_image(tmp_path / "a.png"), bgra[..., :3])
    deep = rng.integers(0, 65536, (20, 30, 3), dtype=np.uint16)
    cv2.imwrite(str(tmp_path / "d.png"), deep)
    np.testing.assert_array_equal(read_image(tmp_path / "d.png"), (deep >> 8).astype(np.uint8))


@pytest.mark.parametrize("arr, problem", [
    (np.zeros((0, 10, 3), np.uint8), "empty"),
    (np.zeros((10, 10, 3), np.float32), "dtype"),
    (np.zeros((10, 10), np.uint8), "HxWx3"),
    (np.zeros((10, 10, 4), np.uint8), "HxWx3"),
])
def test_bad_arrays(arr, problem):
    with pytest.raises(Yolov6EdgeError, match=problem) as e:
        check_array(arr, "image array #0")
    _one_line_naming(e, "image array #0")


def test_sources_that_match_nothing(tmp_path):
    with pytest.raises(Yolov6EdgeError, match="no image files"):
        expand_sources([tmp_path])
    with pytest.raises(Yolov6EdgeError, match="matches no image"):
        expand_sources([str(tmp_path / "*.jpg")])
    with pytest.raises(Yolov6EdgeError, match="no such file"):
        expand_sources([tmp_path / "missing.jpg"])


def _add_onnx(path):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 8, 8])
    graph = helper.make_graph([helper.make_node("Add", ["x", "x"], ["y"])], "add", [x], [y])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


def test_onnx_that_is_not_ours(tmp_path):
    from yolov6_edge.runtime.detector import Detector

    path = tmp_path / "add.onnx"
    _add_onnx(path)
    with pytest.raises(Yolov6EdgeError) as e:
        Detector(path)
    msg = _one_line_naming(e, path)
    assert "boxes" in msg and "scores" in msg


def test_truncated_and_garbage_onnx(tmp_path):
    from yolov6_edge.runtime.detector import Detector

    _add_onnx(tmp_path / "add.onnx")
    cut = tmp_path / "cut.onnx"
    cut.write_bytes((tmp_path / "add.onnx").read_bytes()[:40])
    for path in (cut, tmp_path / "empty.onnx"):
        path.touch()
        with pytest.raises(Yolov6EdgeError) as e:
            Detector(path)
        _one_line_naming(e, path)


def test_unknown_model_suffix(tmp_path):
    from yolov6_edge.runtime.detector import Detector

    (tmp_path / "m.tflite").write_bytes(b"x")
    with pytest.raises(Yolov6EdgeError, match="unknown model file type") as e:
        Detector(tmp_path / "m.tflite")
    _one_line_naming(e, tmp_path / "m.tflite")


def test_truncated_checkpoint(tmp_path):
    pytest.importorskip("yolov6_edge.weights.checkpoint", reason="checkpoint loader not in this checkout yet")
    from yolov6_edge.models.lite import build_lite
    from yolov6_edge.runtime.detector import Detector
    from yolov6_edge.weights.checkpoint import save_checkpoint

    save_checkpoint(build_lite("yolov6lite-s"), tmp_path / "full.pt")
    cut = tmp_path / "cut.pt"
    cut.write_bytes((tmp_path / "full.pt").read_bytes()[:5000])
    with pytest.raises(Yolov6EdgeError) as e:
        Detector(cut)
    _one_line_naming(e, cut)


def test_cli_prints_one_line_and_exits_2_and_export_leaves_nothing(tmp_path, capsys, jpeg):
    out = tmp_path / "out"
    (tmp_path / "model.pt").write_bytes(b"not a checkpoint")
    assert main(["export", str(tmp_path / "missing.param"), "-o", str(out / "m.onnx")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "missing.param" in err
    _add_onnx(tmp_path / "add.onnx")
    assert main(["predict", str(tmp_path / "add.onnx"), str(jpeg), "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "add.onnx" in err
    assert not out.exists() or list(out.iterdir()) == []
