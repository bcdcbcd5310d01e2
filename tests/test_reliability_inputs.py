"""Issue 17, inputs: no silent wrong result (edge argument values, poisoned caches, degenerate annotation files,
foreign ONNX outputs, damaged JPEGs, inconsistent checkpoints), and every unclear case becomes one line naming
its input (exit 2 from the CLI), never a traceback."""
import json
import math
import struct
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import shared_path
from reliability_common import (one_line_error, one_line_raised, run_python, tiny_checkpoint, tiny_onnx,
                                write_images)
from yolov6_edge.cli.main import main
from yolov6_edge.errors import Yolov6EdgeError


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("rel_inputs")
    tiny_onnx(d / "tiny.onnx")
    tiny_onnx(d / "tiny_b1.onnx", batch=1)
    tiny_checkpoint(d / "m.pt")
    imgs = d / "imgs"
    write_images(imgs, ["a.jpg", "b.jpg", "c.png"])
    return d


def _argparse_refuses(argv, capsys, option):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    assert option in capsys.readouterr().err


# ---- silent wrong results: argument edge values ----------------------------------------------------------------

@pytest.mark.parametrize("option, value", [("--batch", "-1"), ("--batch", "0"), ("--num", "0"), ("--num", "-1")])
def test_calibrate_refuses_batch_and_num_below_one(models, capsys, option, value):
    _argparse_refuses(["calibrate", str(models / "m.pt"), "--images", str(models / "imgs"), "-o",
                       str(models / "never.onnx"), option, value], capsys, option)


def test_calibration_library_refuses_batch_and_num_below_one(models):
    from yolov6_edge.quant.data import list_images, num_batches

    for num in (0, -1, 1.5):
        with pytest.raises(Yolov6EdgeError, match="positive integer"):
            list_images(models / "imgs", num)
    for batch in (0, -1):
        with pytest.raises(Yolov6EdgeError, match="positive integer"):
            num_batches(list_images(models / "imgs"), batch)
    assert len(list_images(models / "imgs", 2)) == 2 and len(list_images(models / "imgs", None)) == 3


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -1.0, "all zero"])
def test_calibration_cache_with_unusable_ranges_is_refused(tmp_path, value):
    from yolov6_edge.quant.cache import read_cache, write_cache

    key = {"model_hash": "m", "images_hash": "i"}
    amax = {"a": 0.0, "b": 0.0} if value == "all zero" else {"a": 1.0, "b": value}
    path = tmp_path / "m.calib.json"
    path.write_text(json.dumps({"version": 1, **key, "amax": amax, "channel_scales": {}}))
    with pytest.raises(Yolov6EdgeError, match="unusable") as e:
        read_cache(path, key)  # before: reused, an INT8 model that outputs nothing (or NaN)
    one_line_raised(e, path)
    with pytest.raises(Yolov6EdgeError, match="no cache written"):
        write_cache(tmp_path / "new.calib.json", amax, key)
    assert not (tmp_path / "new.calib.json").exists()
    if value != "all zero":
        path.write_text(json.dumps({"version": 1, **key, "amax": {"a": 1.0}, "channel_scales": {"a": [1.0, value]}}))
        with pytest.raises(Yolov6EdgeError, match="channel scale"):
            read_cache(path, key)


def test_calibration_cache_with_a_few_dead_layers_is_used(tmp_path):
    # a layer whose input is zero on every image has range 0 (a random net has a few); the quantizer clamps it
    from yolov6_edge.quant.cache import read_cache, write_cache

    key = {"model_hash": "m", "images_hash": "i"}
    write_cache(tmp_path / "m.calib.json", {"a": 0.0, "b": 2.5}, key, {"b": [1.0, 0.01]})
    assert read_cache(tmp_path / "m.calib.json", key) == ({"a": 0.0, "b": 2.5}, {"b": [1.0, 0.01]})


@pytest.mark.parametrize("value", ["0", "-1"])
def test_eval_refuses_batch_below_one(models, capsys, value):
    _argparse_refuses(["eval", str(models / "tiny.onnx"), "--images", str(models / "imgs"), "--ann",
                       str(models / "none.json"), "--batch", value], capsys, "--batch")


def test_evaluate_library_refuses_batch_below_one(models, labelled_images):
    from yolov6_edge.eval.coco import evaluate

    imgs, ann = labelled_images
    for batch in (0, -1):
        with pytest.raises(Yolov6EdgeError, match="batch"):
            evaluate(models / "tiny.onnx", imgs, ann, batch=batch, progress=False)


def _coco(images=True, annotations=True, categories=True):
    data = {"images": [{"id": 1, "file_name": "0.png", "height": 60, "width": 80}] if images else [],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [20, 10, 30, 30], "area": 900,
                             "iscrowd": 0}] if annotations else [],
            "categories": [{"id": k, "name": f"c{k}"} for k in (1, 2, 3)] if categories else []}
    return data


def _broken(kind):
    data = _coco()
    if kind in ("images", "annotations", "categories"):
        data[kind] = []
    elif kind == "duplicate image id":
        data["images"].append({"id": 1, "file_name": "1.png", "height": 60, "width": 80})
    elif kind == "no bbox":
        del data["annotations"][0]["bbox"]
    elif kind == "no image id":
        del data["images"][0]["id"]
    elif kind == "nan bbox":
        data["annotations"][0]["bbox"] = [1, 2, float("nan"), 3]
    elif kind == "unknown image":
        data["annotations"][0]["image_id"] = 7
    elif kind == "not a dict":
        data = [data]
    return data


@pytest.mark.parametrize("kind", ["images", "annotations", "categories", "duplicate image id", "no bbox",
                                  "no image id", "nan bbox", "unknown image", "not a dict"])
def test_eval_refuses_degenerate_annotation_files(models, labelled_images, tmp_path, capsys, kind):
    imgs, _ = labelled_images
    ann = tmp_path / "bad.json"
    ann.write_text(json.dumps(_broken(kind)))
    assert main(["eval", str(models / "tiny.onnx"), "--images", str(imgs), "--ann", str(ann)]) == 2
    one_line_error(capsys, ann)


def test_annotation_files_without_area_or_annotation_ids_are_scored(models, labelled_images, tmp_path):
    from yolov6_edge.eval.coco import evaluate

    imgs, ann = labelled_images
    data = json.loads(ann.read_text())
    for a in data["annotations"]:
        del a["area"], a["id"]
    (tmp_path / "lean.json").write_text(json.dumps(data))
    full = evaluate(models / "tiny.onnx", imgs, ann, progress=False)
    lean = evaluate(models / "tiny.onnx", imgs, tmp_path / "lean.json", progress=False)
    assert lean["AP"] == full["AP"]


@pytest.mark.parametrize("args", [["--conf", "7"], ["--iou", "-1"], ["--max-det", "0"], ["--conf", "nan"]])
def test_export_end2end_refuses_settings_that_never_detect(models, capsys, args):
    _argparse_refuses(["export", str(models / "m.pt"), "-o", str(models / "never.onnx"), "--end2end"] + args,
                      capsys, args[0])


@pytest.mark.parametrize("kw", [{"conf": 7.0}, {"iou": -1.0}, {"max_det": 0}, {"opset": 5}, {"opset": 99}])
def test_export_library_refuses_them_before_tracing(models, tmp_path, kw):
    from yolov6_edge.export.onnx import export_onnx

    with pytest.raises(Yolov6EdgeError) as e:
        export_onnx(models / "missing.pt", tmp_path / "x.onnx", end2end=True, **kw)  # refused before loading
    one_line_raised(e, tmp_path / "x.onnx")


def test_export_opset_5_is_one_line(models, tmp_path, capsys):
    assert main(["export", str(models / "m.pt"), "-o", str(tmp_path / "x.onnx"), "--opset", "5"]) == 2
    assert "opset" in one_line_error(capsys, tmp_path / "x.onnx")
    assert not (tmp_path / "x.onnx").exists()


def _constant_outputs_onnx(path, boxes_shape, scores_shape, meta=None, input_shape=("batch", 3, 64, 64)):
    """A foreign 'detector' whose outputs are constants of the given shapes, whatever the batch."""
    rng = np.random.default_rng(0)
    boxes = (rng.random(boxes_shape) * 60).astype(np.float32)
    scores = rng.random(scores_shape).astype(np.float32)
    nodes = [helper.make_node("Constant", [], ["boxes"], value=numpy_helper.from_array(boxes)),
             helper.make_node("Constant", [], ["scores"], value=numpy_helper.from_array(scores))]
    graph = helper.make_graph(nodes, "foreign", [helper.make_tensor_value_info("images", TensorProto.FLOAT,
                                                                               list(input_shape))],
                              [helper.make_tensor_value_info("boxes", TensorProto.FLOAT, list(boxes_shape)),
                               helper.make_tensor_value_info("scores", TensorProto.FLOAT, list(scores_shape))])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    for k, v in (meta or {"input_size": "[64, 64]"}).items():
        model.metadata_props.append(onnx.StringStringEntryProto(key=k, value=v))
    onnx.save(model, path)
    return path


@pytest.mark.parametrize("boxes, scores", [((1, 20, 4), (1, 20, 3)), ((20, 4), (20, 3)), ((3, 20, 5), (3, 20, 3)),
                                           ((3, 20, 4), (3, 21, 3))])
def test_foreign_onnx_outputs_of_the_wrong_shape_are_refused_naming_the_file(tmp_path, boxes, scores):
    from yolov6_edge.runtime.detector import Detector

    path = _constant_outputs_onnx(tmp_path / "foreign.onnx", boxes, scores)
    imgs = [np.full((40, 50, 3), 100 + i, np.uint8) for i in range(3)]
    with pytest.raises(Yolov6EdgeError) as e:
        Detector(path, conf=0.1)(imgs)  # before: 1 result for 3 images, or a ValueError from batched_nms
    one_line_raised(e, path)


@pytest.mark.parametrize("size", ["[0, 64]", "[100000, 100000]", '"big"', "[64]", "[32, 32]", "[64.5, 64]"])
def test_bad_input_size_metadata_is_refused_naming_the_file(tmp_path, size):
    from yolov6_edge.runtime.detector import Detector

    shape = (None, 3, 64, 64) if size == "[32, 32]" else ("batch", 3, "h", "w")
    path = _constant_outputs_onnx(tmp_path / "meta.onnx", (1, 20, 4), (1, 20, 3), {"input_size": size},
                                  input_shape=shape)
    with pytest.raises(Yolov6EdgeError) as e:
        Detector(path)
    assert "input_size" in one_line_raised(e, path)


def _jpeg_variants(tmp_path):
    src = shared_path("coco", "val", "images", "000000000139.jpg")
    data = src.read_bytes()
    cut = tmp_path / "cut_with_eoi.jpg"
    cut.write_bytes(data[: len(data) // 2] + b"\xff\xd9")
    garbled = bytearray(data)
    rng = np.random.default_rng(0)
    for i in rng.integers(1000, len(data) - 10, 20):
        garbled[i] = rng.integers(0, 256)
    bad = tmp_path / "garbled.jpg"
    bad.write_bytes(bytes(garbled))
    return src, cut, bad


def test_damaged_jpegs_that_opencv_decodes_anyway_are_errors_naming_the_file(tmp_path, models, capsys):
    from yolov6_edge.runtime.images import read_image

    src, cut, garbled = _jpeg_variants(tmp_path)
    assert read_image(src).shape == (426, 640, 3)
    for path in (cut, garbled):
        with pytest.raises(Yolov6EdgeError, match="Corrupt JPEG data") as e:
            read_image(path)
        one_line_raised(e, path)
        assert main(["predict", str(models / "tiny.onnx"), str(path), "-o", str(tmp_path / "out")]) == 2
        one_line_error(capsys, path)


def test_damaged_jpegs_can_be_warnings_instead(tmp_path, monkeypatch):
    from yolov6_edge.runtime.images import read_image

    _, cut, _ = _jpeg_variants(tmp_path)
    with pytest.warns(UserWarning, match="used as decoded"):
        assert read_image(cut, corrupt="warn").shape == (426, 640, 3)
    monkeypatch.setenv("YOLOV6_EDGE_CORRUPT_IMAGES", "warn")
    with pytest.warns(UserWarning, match=str(cut)):
        read_image(cut)


def _checkpoint_with(tmp_path, **header):
    import torch

    base = tiny_checkpoint(tmp_path / "base.pt")
    ckpt = torch.load(base, weights_only=True)
    ckpt.update(header)
    torch.save(ckpt, tmp_path / "bad.pt")
    return tmp_path / "bad.pt"


@pytest.mark.parametrize("header", [{"names": ["a", "b"]}, {"num_classes": -5}, {"num_classes": 10**12},
                                    {"names": [1, 2, 3]}, {"num_classes": 3.0}, {"state_dict": {"x": 5}}])
def test_checkpoint_headers_that_disagree_are_refused(tmp_path, header):
    from yolov6_edge.weights import load_model

    path = _checkpoint_with(tmp_path, **header)
    with pytest.raises(Yolov6EdgeError) as e:
        load_model(path)  # before: names of 2 for 3 classes accepted; -5 / 10^12 a torch RuntimeError
    one_line_raised(e, path)


# ---- unclear: one line naming the input ------------------------------------------------------------------------

@pytest.mark.parametrize("kw", [{"img_size": 0}, {"img_size": -64}, {"img_size": "320"}, {"img_size": 320.0},
                                {"img_size": (320,)}, {"conf": "0.5"}, {"conf": None}, {"iou": math.nan},
                                {"max_det": 0}, {"max_det": 2.5}])
def test_bad_detector_arguments_are_one_line(models, kw):
    from yolov6_edge.runtime.detector import Detector

    with pytest.raises(Yolov6EdgeError) as e:
        Detector(models / "m.pt", **kw)
    one_line_raised(e, models / "m.pt")


def test_max_det_beyond_int32_means_no_limit(models):
    from yolov6_edge.runtime.detector import Detector

    img = np.full((50, 60, 3), 90, np.uint8)
    want = Detector(models / "tiny.onnx", conf=0.01, max_det=10**6)(img)
    got = Detector(models / "tiny.onnx", conf=0.01, max_det=2**31)(img)  # before: a pybind TypeError
    np.testing.assert_array_equal(got.boxes, want.boxes)


@pytest.mark.parametrize("source", [None, 5, b"\xff\xd8", 3.5, {"a": 1}])
def test_calling_a_detector_on_something_that_is_not_an_image_is_one_line(models, source):
    from yolov6_edge.runtime.detector import Detector

    det = Detector(models / "tiny.onnx")
    with pytest.raises(Yolov6EdgeError, match=f"got {type(source).__name__}") as e:
        det(source)
    one_line_raised(e)


def test_predict_img_0_0_is_one_line(models, capsys):
    assert main(["predict", str(models / "m.pt"), str(models / "imgs"), "--img", "0", "0", "-o",
                 str(models / "never")]) == 2
    one_line_error(capsys, "--img")


@pytest.mark.parametrize("shape", ["cyclic", "deep"])
def test_cyclic_or_very_deep_official_module_tree_is_one_line(tmp_path, shape):
    import torch

    from official_standins import fake_yolov6_package, new_instance
    from yolov6_edge.weights import load_model

    limit = sys.getrecursionlimit()
    with fake_yolov6_package() as cls:
        model = new_instance(cls("yolov6.models.yolo", "Model"))
        if shape == "cyclic":
            model._modules["loop"] = model  # a damaged file: the tree points back at itself
        else:
            node = model
            for _ in range(3000):
                child = new_instance(cls("yolov6.models.yolo", "Model"))
                node._modules["c"] = child
                node = child
            sys.setrecursionlimit(20000)  # to write it; reading it back runs at the default limit
        try:
            torch.save({"model": model, "ema": None}, tmp_path / f"{shape}.pt")
        finally:
            sys.setrecursionlimit(limit)
    with pytest.raises(Yolov6EdgeError) as e:
        load_model(tmp_path / f"{shape}.pt")  # before: RecursionError
    one_line_raised(e, tmp_path / f"{shape}.pt")


def test_float_count_in_a_param_file_is_one_line(tmp_path):
    from yolov6_edge.weights import load_model
    from yolov6_edge.weights.ncnn import FP16_TAG

    param = tmp_path / "m.param"
    param.write_text("7767517\n2 2\nInput in0 0 1 in0\nConvolution conv0 1 1 in0 out0 0=4 1=3 5=1 6=648.5\n")
    param.with_suffix(".bin").write_bytes(struct.pack("<I", FP16_TAG) + bytes(4000))
    with pytest.raises(Yolov6EdgeError, match="6=648.5") as e:
        load_model(param)  # before: TypeError (slice indices) deep in the .bin walk
    one_line_raised(e, param)


def test_bench_batch_other_than_a_fixed_batch_is_one_line(models, capsys):
    assert main(["bench", str(models / "tiny_b1.onnx"), "--batch", "4", "--iters", "1", "--warmup", "0"]) == 2
    assert "exactly 1" in one_line_error(capsys, models / "tiny_b1.onnx")


def test_info_on_an_empty_onnx_or_a_folder_is_one_line(tmp_path, capsys):
    (tmp_path / "empty.onnx").write_bytes(b"")
    assert main(["info", str(tmp_path / "empty.onnx")]) == 2  # before: rc 0 with an empty description
    assert "empty" in one_line_error(capsys, tmp_path / "empty.onnx")
    (tmp_path / "m.onnx").mkdir()
    assert main(["info", str(tmp_path / "m.onnx")]) == 2
    assert "folder" in one_line_error(capsys, tmp_path / "m.onnx")  # before: "no such file"
    (tmp_path / "zeros.onnx").write_bytes(bytes(64))
    assert main(["info", str(tmp_path / "zeros.onnx")]) == 2
    one_line_error(capsys, tmp_path / "zeros.onnx")


# A runtime-only install: torch (or pycocotools) absent. None in sys.modules makes `import torch` raise
# ModuleNotFoundError exactly as a missing package does.
NO_TORCH = """
    import sys
    for name in {blocked!r}:
        sys.modules[name] = None
    from yolov6_edge.cli.main import main
    sys.exit(main({argv!r}))
"""


@pytest.mark.parametrize("command, blocked", [("export", ["torch"]), ("calibrate", ["torch"]), ("demo", ["torch"]),
                                              ("eval", ["pycocotools", "pycocotools.coco"])])
def test_runtime_only_install_says_what_to_install(models, labelled_images, command, blocked):
    imgs, ann = labelled_images
    argv = {"export": ["export", str(models / "m.pt"), "-o", str(models / "x.onnx")],
            "calibrate": ["calibrate", str(models / "m.pt"), "--images", str(imgs), "-o", str(models / "q.onnx")],
            "demo": ["demo", "--weights", str(models / "m.pt"), "-o", str(models / "demo")],
            "eval": ["eval", str(models / "tiny.onnx"), "--images", str(imgs), "--ann", str(ann)]}[command]
    out = run_python(NO_TORCH.format(blocked=blocked, argv=argv))
    assert out.returncode == 2, out.stderr[-2000:]
    err = out.stderr.strip().splitlines()
    assert len(err) == 1 and "pip install" in err[0] and blocked[0] in err[0], err
