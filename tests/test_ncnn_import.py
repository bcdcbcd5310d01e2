"""NCNN importer: reading .param/.bin exactly, clear errors, and the imported YOLOv6Lite against ncnn itself."""
import json
import re
import shutil

import cv2
import numpy as np
import pytest
import torch

from conftest import shared_path
from yolov6_edge.errors import Yolov6EdgeError
from yolov6_edge.weights.ncnn import FP16_TAG, fill_model, load_ncnn_model, read_ncnn, read_param

pytestmark = pytest.mark.shared  # every test here reads the official NCNN files from ../shared

SIZES = {"s": 546_790, "m": 778_733, "l": 1_084_557}


def lite_param(size):
    return shared_path("weights", "yolov6lite", f"yolov6-lite-{size}.param")


def letterbox_rgb(bgr, size=320):
    """Independent reference of the model's input: centred letterbox, pad 114, RGB, /255, CHW float32."""
    h, w = bgr.shape[:2]
    r = min(size / h, size / w)
    nh, nw = round(h * r), round(w * r)
    top, left = (size - nh) // 2, (size - nw) // 2
    canvas = np.full((size, size, 3), 114, np.uint8)
    canvas[top:top + nh, left:left + nw] = cv2.resize(bgr, (nw, nh), interpolation=cv2.INTER_LINEAR)
    blob = np.ascontiguousarray(canvas[:, :, ::-1].transpose(2, 0, 1)).astype(np.float32) / 255
    return blob, (r, left, top)


def expected_bin_size(layers):
    # Recomputed from the .param numbers alone: per conv a 4-byte tag, fp16 weights padded to 4 bytes,
    # then fp32 biases.
    total = 0
    for layer in layers:
        if layer.type in ("Convolution", "ConvolutionDepthWise"):
            n = layer.params[6]
            total += 4 + (n * 2 + 3) // 4 * 4 + (4 * layer.params[0] if layer.params.get(5) else 0)
    return total


@pytest.mark.parametrize("size", sorted(SIZES))
def test_bin_is_consumed_exactly_and_counts_match(size):
    path = lite_param(size)
    graph = read_ncnn(path)
    convs = [layer for layer in graph.layers if layer.type in ("Convolution", "ConvolutionDepthWise")]
    assert len(graph.layers) == 377 and len(convs) == 154
    assert expected_bin_size(graph.layers) == path.with_suffix(".bin").stat().st_size
    assert sum(a.size for layer in convs for a in layer.weights.values()) == SIZES[size]
    raw = path.with_suffix(".bin").read_bytes()
    assert int.from_bytes(raw[:4], "little") == FP16_TAG  # the first conv's weights are fp16-tagged


def test_array_params_are_parsed():
    layers = read_param(lite_param("s"))
    slices = [layer for layer in layers if layer.type == "Slice"]
    assert slices and slices[0].params[0] == [24, 24] and slices[0].params[1] == 0
    hswish = next(layer for layer in layers if layer.type == "HardSwish")
    assert hswish.params[0] == pytest.approx(1 / 6, abs=1e-6) and hswish.params[1] == 0.5


def copy_pair(tmp_path, size="s"):
    param = lite_param(size)
    shutil.copy(param, tmp_path / "m.param")
    shutil.copy(param.with_suffix(".bin"), tmp_path / "m.bin")
    return tmp_path / "m.param", tmp_path / "m.bin"


def assert_one_line_error(excinfo, path, words):
    msg = str(excinfo.value)
    assert "\n" not in msg and str(path) in msg and re.search(words, msg), msg


def test_truncated_bin_names_the_file(tmp_path):
    param, bin_ = copy_pair(tmp_path)
    bin_.write_bytes(bin_.read_bytes()[:-10])
    with pytest.raises(Yolov6EdgeError) as e:
        load_ncnn_model(param)
    assert_one_line_error(e, bin_, "truncated.*10 bytes missing")


def test_bin_with_extra_bytes_names_the_file(tmp_path):
    param, bin_ = copy_pair(tmp_path)
    bin_.write_bytes(bin_.read_bytes() + b"\0" * 8)
    with pytest.raises(Yolov6EdgeError) as e:
        load_ncnn_model(param)
    assert_one_line_error(e, bin_, "8 bytes left")


def test_garbage_param_names_the_file(tmp_path):
    param, _ = copy_pair(tmp_path)
    param.write_text("hello\nthis is not a graph\n")
    with pytest.raises(Yolov6EdgeError) as e:
        load_ncnn_model(param)
    assert_one_line_error(e, param, "not an NCNN text .param")


def test_bad_layer_line_names_file_and_line(tmp_path):
    param, _ = copy_pair(tmp_path)
    lines = param.read_text().splitlines()
    lines[3] = lines[3].replace(" 0=24 ", " 0=x ", 1)  # the first Convolution
    param.write_text("\n".join(lines) + "\n")
    with pytest.raises(Yolov6EdgeError) as e:
        load_ncnn_model(param)
    assert_one_line_error(e, param, "line 4: .*bad parameter '0=x'")


def test_dangling_blob_names_file_and_line(tmp_path):
    param, _ = copy_pair(tmp_path)
    lines = param.read_text().splitlines()
    lines[4] = lines[4].replace(" 1 2 ", " nowhere 2 ", 1)  # the first HardSwish reads an unknown blob
    param.write_text("\n".join(lines) + "\n")
    with pytest.raises(Yolov6EdgeError) as e:
        load_ncnn_model(param)
    assert_one_line_error(e, param, "line 5: layer hswish_154 reads blob 'nowhere'")


def test_missing_bin_names_it(tmp_path):
    param, bin_ = copy_pair(tmp_path)
    bin_.unlink()
    with pytest.raises(Yolov6EdgeError) as e:
        load_ncnn_model(param)
    assert_one_line_error(e, bin_, "no such file")


def test_wrong_model_size_names_the_first_mismatch():
    from yolov6_edge.models.lite import build_lite

    graph = read_ncnn(lite_param("s"))
    with pytest.raises(Yolov6EdgeError) as e:
        fill_model(build_lite("yolov6lite-m").fuse(), graph)
    assert_one_line_error(e, graph.param_path, r"layer \S+ \(line \d+\) does not match our [\w.]+: ")


@pytest.mark.parametrize("size", sorted(SIZES))
def test_load_detects_size_and_fills_everything(size):
    model, info = load_ncnn_model(lite_param(size))
    assert info == {"model_name": f"yolov6lite-{size}", "names": model.names, "fused": True, "source": "ncnn"}
    assert model.is_fused and not model.training and len(model.names) == 80
    assert sum(p.numel() for p in model.parameters()) == SIZES[size]


def test_load_model_dispatches_param_files():
    from yolov6_edge.weights import load_model

    model, info = load_model(lite_param("s"))
    assert info["model_name"] == "yolov6lite-s" and info["fused"]


@pytest.mark.parametrize("size", sorted(SIZES))
def test_matches_ncnn_reference_outputs(size):
    """Our PyTorch model vs the ncnn runtime on the same real letterboxed image, per level, before decoding.

    Both sides use the same fp16 weights widened to fp32 (ncnn's fp16 storage/arithmetic switched off), so
    they differ only by fp32 summation order: scores agree to 1e-4; the distances (values up to ~15 stride
    units after ~60 layers) to 2e-3 absolute. Measured: scores <= 6e-6, distances <= 5e-4.
    """
    ncnn = pytest.importorskip("ncnn")
    param = lite_param(size)
    image = shared_path("coco", "val", "images", "000000000139.jpg")
    blob, _ = letterbox_rgb(cv2.imread(str(image)))
    model, _ = load_ncnn_model(param)
    with torch.no_grad():
        levels = model.forward_levels(torch.from_numpy(blob)[None])

    net = ncnn.Net()
    net.opt.use_fp16_storage = net.opt.use_fp16_packed = net.opt.use_fp16_arithmetic = False
    net.opt.num_threads = 1
    net.load_param(str(param))
    net.load_model(str(param.with_suffix(".bin")))
    ex = net.create_extractor()
    ex.input("in0", ncnn.Mat(blob))
    for i, (cls, reg) in enumerate(levels):
        ret, out = ex.extract(f"out{i}")
        ref = np.array(out)
        assert ret == 0 and ref.shape == (84, 320 // model.strides[i], 320 // model.strides[i])
        np.testing.assert_allclose(torch.sigmoid(cls)[0].numpy(), ref[:80], rtol=0, atol=1e-4)
        np.testing.assert_allclose(reg[0].numpy(), ref[80:], rtol=0, atol=2e-3)


def iou(a, b):
    lt, rb = np.maximum(a[:2], b[:2]), np.minimum(a[2:], b[2:])
    inter = np.prod(np.clip(rb - lt, 0, None))
    return inter / (np.prod(a[2:] - a[:2]) + np.prod(b[2:] - b[:2]) - inter)


def test_lite_l_finds_the_large_annotated_objects():
    """Every large (area > 20000 px) annotated object of a real COCO image gets a detection of its class
    at IoU > 0.5 (decoded boxes mapped back to the original image; top-scoring box per class and object)."""
    from yolov6_edge.datasets.coco_names import COCO_CATEGORY_IDS

    name = "000000183709.jpg"
    image = shared_path("coco", "val", "images", name)
    coco = json.loads(shared_path("coco", "val", "instances.json").read_text())
    image_id = next(i["id"] for i in coco["images"] if i["file_name"] == name)
    targets = [a for a in coco["annotations"] if a["image_id"] == image_id and a["area"] > 20000]
    assert targets

    blob, (r, left, top) = letterbox_rgb(cv2.imread(str(image)))
    model, _ = load_ncnn_model(lite_param("l"))
    with torch.no_grad():
        boxes, scores = (t[0].numpy() for t in model(torch.from_numpy(blob)[None]))
    boxes = (boxes - [left, top, left, top]) / r
    for ann in targets:
        x, y, w, h = ann["bbox"]
        gt = np.array([x, y, x + w, y + h])
        cls = COCO_CATEGORY_IDS.index(ann["category_id"])
        keep = scores[:, cls] > 0.25
        best = max((iou(b, gt) for b in boxes[keep]), default=0.0)
        assert best > 0.5, f"{model.names[cls]} at {gt.round()} not found (best IoU {best:.2f})"


def test_cli_import_ncnn_writes_our_checkpoint(tmp_path):
    pytest.importorskip("yolov6_edge.weights.checkpoint", reason="weights/checkpoint.py not built yet")
    from yolov6_edge.cli.main import main

    param = lite_param("s")
    out = tmp_path / "lite-s.pt"
    assert main(["import-ncnn", str(param), "-o", str(out)]) == 0
    ckpt = torch.load(out, weights_only=True)
    assert ckpt["format"] == "yolov6-edge" and ckpt["model_name"] == "yolov6lite-s"
    assert ckpt["fused"] is True and ckpt["num_classes"] == 80 and ckpt["names"][0] == "person"
    model, _ = load_ncnn_model(param)
    for key, value in model.state_dict().items():
        assert torch.equal(ckpt["state_dict"][key], value), key
    assert [p.name for p in tmp_path.iterdir()] == ["lite-s.pt"]  # no temp file left behind


def test_cli_import_ncnn_bad_file_is_one_line(tmp_path, capsys):
    pytest.importorskip("yolov6_edge.weights.checkpoint", reason="weights/checkpoint.py not built yet")
    from yolov6_edge.cli.main import main

    bad = tmp_path / "bad.param"
    bad.write_text("garbage\n")
    (tmp_path / "bad.bin").write_bytes(b"")
    assert main(["import-ncnn", str(bad), "-o", str(tmp_path / "x.pt")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and str(bad) in err and "not an NCNN text .param" in err
    assert not (tmp_path / "x.pt").exists()
